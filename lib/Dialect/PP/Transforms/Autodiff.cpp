//===- Autodiff.cpp - -pp-autodiff ----------------------------------------===//
//
// Appends the loss to @main and builds the backward in reverse op order from
// each op's gradient rule (GradientOpInterface, lib/Dialect/PP/IR/
// Gradients.cpp). Gradients of one activation are summed on the stage that
// produced it (the add takes its producer's pp.fwd_index). Chains computed
// only from parameters (a transposed weight) are differentiated per use,
// on the consumer's stage, so that no gradient is summed across uses in the
// graph: each use of a parameter is its own output, and the runtime sums
// them in use order, which keeps the result bitwise independent of the
// partition. Batch normalisation's new running statistics become outputs
// marked `pp.state = NAME`: the runtime writes them over parameter NAME
// after each training forward.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Dialect/PP/IR/PPDialect.h"
#include "ppc/Dialect/PP/IR/WeightStore.h"
#include "ppc/Partition/PipelineIR.h"
#include "pprt/LossScaler.h"

#include "pprt/Vocabulary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPAUTODIFFPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
/// Tags every op the gradient rules create with the forward op it belongs
/// to (for its stage).
struct Tagger : OpBuilder::Listener {
  Operation *current = nullptr;
  DenseMap<Operation *, Operation *> forwardOf;
  std::vector<Operation *> created;
  void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override {
    forwardOf[op] = current;
    created.push_back(op);
  }
};

std::string nodeName(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return op->getName().getStringRef().str();
}

struct Autodiff : ppc::pp::impl::PPAutodiffPassBase<Autodiff> {
  using PPAutodiffPassBase::PPAutodiffPassBase;
  void runOnOperation() override;
};

/// Declares `pp.param constant @"pp.loss_scale" : tensor<f32>` before
/// @main, its bytes (`value`) in the weight store.
LogicalResult declareLossScale(ModuleOp module, func::FuncOp main,
                               double value) {
  if (module.lookupSymbol(pprt::kLossScaleParam))
    return main.emitError() << "the model already has a parameter '"
                            << pprt::kLossScaleParam << "'";
  WeightStore &store =
      module.getContext()->getLoadedDialect<PPDialect>()->getWeightStore();
  float scale = float(value);
  std::string bytes(reinterpret_cast<const char *>(&scale), sizeof scale);
  if (!store.addOwned(pprt::kLossScaleParam, std::move(bytes)))
    return main.emitError() << "the weight store holds '"
                            << pprt::kLossScaleParam << "' already";
  OpBuilder b(main);
  ParamOp::create(b, main.getLoc(), pprt::kLossScaleParam,
                  RankedTensorType::get({}, b.getF32Type()),
                  /*constant=*/true);
  return success();
}

void Autodiff::runOnOperation() {
  ModuleOp module = getOperation();
  auto main = module.lookupSymbol<func::FuncOp>("main");
  auto fail = [&](Operation *at, const Twine &message) {
    at->emitError(message);
    signalPassFailure();
  };
  if (!main)
    return fail(module, "has no @main to differentiate");
  if (microbatches < 1)
    return fail(module, "-microbatches must be at least 1");
  if (dataParallel < 1)
    return fail(module, "-data-parallel must be at least 1");
  Block &body = main.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  if (ret.getNumOperands() == 0)
    return fail(main, "has no outputs to put a loss on");

  // The output the loss reads.
  unsigned outIndex = 0;
  std::string names;
  if (!lossOn.empty()) {
    bool found = false;
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      auto name = main.getResultAttrOfType<StringAttr>(i, kNameAttr);
      std::string n = name ? name.str() : "";
      names += (names.empty() ? "" : ", ") + n;
      if (n == lossOn) {
        outIndex = i;
        found = true;
      }
    }
    if (!found)
      return fail(main, "-loss-on=" + lossOn + ": the model has no output '" +
                            lossOn + "' (its outputs: " + names + ")");
  }
  Value out = ret.getOperand(outIndex);
  auto outType = cast<RankedTensorType>(out.getType());
  if (!isa<FloatType>(outType.getElementType()))
    return fail(main, "the loss output is " + llvm::Twine("not a float tensor"));
  Location loc = out.getLoc();
  OpBuilder b(ret);
  auto f32 = b.getF32Type();
  auto lossType = RankedTensorType::get({1}, f32);
  // Every replica's micro-batches add up to the global batch: the sum of
  // their losses and gradients is the mean's.
  double m = double(microbatches * dataParallel);

  // The loss, and the seed of the backward.
  Operation *lossOp = nullptr;
  Value seedValue, seed; // seed: gradient of seedValue
  auto addLabels = [&](RankedTensorType type) -> Value {
    if (failed(main.insertArgument(
            main.getNumArguments(), type,
            b.getDictionaryAttr(
                {b.getNamedAttr(kNameAttr, b.getStringAttr(labels))}),
            loc)))
      return {};
    // The labels carry the batch where the output does (the importer's
    // pp.batch_axes: axis 1 for a sequence-first model).
    if (auto axes = module->getAttrOfType<DictionaryAttr>(kBatchAxesAttr))
      if (auto name = main.getResultAttrOfType<StringAttr>(outIndex, kNameAttr))
        if (auto axis = axes.getAs<IntegerAttr>(name.getValue())) {
          if (axis.getInt() >= type.getRank())
            return fail(main, "the labels have no axis " +
                                  llvm::Twine(axis.getInt()) +
                                  " for the batch of output '" +
                                  name.getValue() + "'"),
                   Value();
          NamedAttrList entries(axes);
          entries.set(labels, axis);
          module->setAttr(kBatchAxesAttr, entries.getDictionary(b.getContext()));
        }
    return main.getArgument(main.getNumArguments() - 1);
  };
  for (unsigned i = 0; i < main.getNumArguments(); ++i)
    if (auto name = main.getArgAttrOfType<StringAttr>(i, kNameAttr))
      if (name.getValue() == labels)
        return fail(main, "-labels=" + labels +
                              ": the model already has an input of that name");
  if (loss == "cross-entropy") {
    if (outType.getRank() < 1)
      return fail(main, "cross-entropy needs an output whose last axis holds "
                        "the classes; it is a scalar");
    auto labelsType = RankedTensorType::get(outType.getShape().drop_back(),
                                            b.getI64Type());
    Value labelArg = addLabels(labelsType);
    if (!labelArg)
      return;
    double positions = std::max<int64_t>(1, labelsType.getNumElements());
    lossOp = CrossEntropyOp::create(
        b, loc, TypeRange{lossType}, ValueRange{out, labelArg},
        ArrayRef<NamedAttribute>{
            b.getNamedAttr("scale", b.getF64FloatAttr(1.0 / (positions * m)))});
  } else if (loss == "mse") {
    Value target = addLabels(outType);
    if (!target)
      return;
    double n = std::max<int64_t>(1, outType.getNumElements());
    lossOp = MseLossOp::create(
        b, loc, TypeRange{lossType}, ValueRange{out, target},
        ArrayRef<NamedAttribute>{
            b.getNamedAttr("scale", b.getF64FloatAttr(1.0 / (n * m)))});
  } else if (loss == "output") {
    if (outType.getNumElements() != 1)
      return fail(main, "-loss=output: output " + llvm::Twine(outIndex) +
                            " is not a scalar (it has " +
                            llvm::Twine(outType.getNumElements()) +
                            " elements)");
    // The reported loss is the output over M; so is its gradient.
    Value scale = splatConstant(
        b, loc, RankedTensorType::get({}, outType.getElementType()), 1.0 / m);
    Value flat = out;
    if (outType.getShape() != lossType.getShape() ||
        outType.getElementType() != f32)
      flat = ReshapeOp::create(b, loc, TypeRange{RankedTensorType::get(
                                          {1}, outType.getElementType())},
                               ValueRange{out}, ArrayRef<NamedAttribute>{})
                 ->getResult(0);
    lossOp = MulOp::create(b, loc, TypeRange{flat.getType()},
                           ValueRange{flat, scale}, ArrayRef<NamedAttribute>{});
    seedValue = out;
    seed = splatConstant(b, loc, outType, 1.0 / m);
  } else {
    return fail(main, "-loss=" + loss + ": expected cross-entropy, mse or output");
  }
  Value lossValue = lossOp->getResult(0);

  // Values that depend on a trainable parameter: only they need gradients.
  DenseSet<Value> needs;
  auto trainable = [&](GetParamOp get) {
    auto param = module.lookupSymbol<ParamOp>(get.getNameAttr());
    return param && !param.getConstant() &&
           isa<FloatType>(get.getType().getElementType());
  };
  for (Operation &op : body) {
    bool need = false;
    if (auto get = dyn_cast<GetParamOp>(op))
      need = trainable(get);
    for (Value v : op.getOperands())
      need |= needs.contains(v);
    if (need)
      for (Value r : op.getResults())
        if (isa<FloatType>(cast<RankedTensorType>(r.getType()).getElementType()))
          needs.insert(r);
  }

  // The sweep.
  Tagger tagger;
  b.setListener(&tagger);
  FreeOps isFree;
  DenseMap<Value, Value> grads;
  struct ParamGrad {
    std::string name;
    Value grad;
  };
  std::vector<ParamGrad> paramGrads;
  bool failed = false;

  // deliver: hands gradient g of v to v's producer (or records a parameter
  // use); applyRule: runs an op's rule and delivers its operands' gradients.
  std::function<void(Operation *, ArrayRef<Value>)> applyRule;
  std::function<void(Value, Value)> deliver = [&](Value v, Value g) {
    if (!needs.contains(v) || failed)
      return;
    Operation *def = v.getDefiningOp();
    if (!def)
      return; // a model input
    if (auto get = dyn_cast<GetParamOp>(def)) {
      paramGrads.push_back({get.getName().str(), g});
      return;
    }
    if (isFree(def)) {
      // Differentiate the parameter-only chain here, for this use, on the
      // consumer's stage.
      SmallVector<Value> dy(def->getNumResults());
      dy[cast<OpResult>(v).getResultNumber()] = g;
      applyRule(def, dy);
      return;
    }
    auto it = grads.find(v);
    if (it == grads.end()) {
      grads[v] = g;
      return;
    }
    // Summed where the activation was produced.
    Operation *saved = tagger.current;
    tagger.current = def;
    it->second = AddOp::create(b, def->getLoc(), TypeRange{g.getType()},
                               ValueRange{it->second, g},
                               ArrayRef<NamedAttribute>{})
                     ->getResult(0);
    tagger.current = saved;
  };

  applyRule = [&](Operation *op, ArrayRef<Value> dy) {
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule) {
      op->emitError("node '" + nodeName(op) + "' (" +
                    op->getName().getStringRef() +
                    ") has no gradient rule: the loss depends on it");
      failed = true;
      return;
    }
    SmallVector<Value> dx(op->getNumOperands());
    if (mlir::failed(rule.buildGradient(b, dy, dx))) {
      failed = true;
      return;
    }
    for (auto [operand, d] : llvm::zip(op->getOperands(), dx))
      if (d)
        deliver(operand, d);
  };
  auto differentiate = [&](Operation *op, ArrayRef<Value> dy) {
    tagger.current = op;
    applyRule(op, dy);
  };

  // Forward ops, in order, before anything was added.
  std::vector<Operation *> forward;
  for (Operation &op : body)
    if (&op != ret.getOperation())
      forward.push_back(&op);

  // Loss scaling: the seed times the loss scale, a parameter the runtime
  // writes every step (pprt/LossScaler.h).
  Value lossScaleValue;
  if (lossScale > 0) {
    if (mlir::failed(declareLossScale(module, main, lossScale)))
      return signalPassFailure();
    tagger.current = lossOp;
    lossScaleValue = GetParamOp::create(
        b, loc, RankedTensorType::get({}, f32),
        FlatSymbolRefAttr::get(module.getContext(), pprt::kLossScaleParam));
  }
  auto scaled = [&](Value g) -> Value {
    if (!lossScaleValue)
      return g;
    if (cast<RankedTensorType>(g.getType()).getElementType() != f32) {
      emitError(loc) << "loss scaling needs an f32 gradient of the loss; it is "
                     << g.getType();
      failed = true;
      return g;
    }
    return MulOp::create(b, loc, TypeRange{g.getType()},
                         ValueRange{g, lossScaleValue},
                         ArrayRef<NamedAttribute>{})
        ->getResult(0);
  };
  if (seedValue) {
    tagger.current = lossOp;
    grads[seedValue] = scaled(seed);
    // The seed constant and the scaling belong to the loss, not the backward.
  } else {
    // differentiate(lossOp), with the gradients it delivers scaled.
    tagger.current = lossOp;
    auto rule = cast<GradientOpInterface>(lossOp);
    SmallVector<Value> dy(1), dx(lossOp->getNumOperands());
    if (mlir::failed(rule.buildGradient(b, dy, dx)))
      failed = true;
    for (auto [operand, d] : llvm::zip(lossOp->getOperands(), dx))
      if (d && !failed)
        deliver(operand, scaled(d));
  }
  for (auto it = forward.rbegin(); it != forward.rend() && !failed; ++it) {
    Operation *op = *it;
    if (isFree(op) || op == lossOp)
      continue;
    SmallVector<Value> dy;
    bool any = false;
    for (Value r : op->getResults()) {
      dy.push_back(grads.lookup(r));
      any |= bool(dy.back());
    }
    if (!any)
      continue;
    bool operandNeeds = false;
    for (Value v : op->getOperands())
      operandNeeds |= needs.contains(v);
    if (!operandNeeds)
      continue;
    differentiate(op, dy);
  }
  b.setListener(nullptr);
  if (failed)
    return signalPassFailure();
  if (paramGrads.empty())
    return fail(main, "no trainable parameter reaches the loss");

  // The new outputs: the loss, the model's outputs (for evaluation), then
  // one gradient per parameter use.
  SmallVector<Value> results{lossValue};
  SmallVector<DictionaryAttr> resultAttrs;
  resultAttrs.push_back(
      b.getDictionaryAttr({b.getNamedAttr(kNameAttr, b.getStringAttr("loss"))}));
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (v != lossValue) {
      results.push_back(v);
      resultAttrs.push_back(main.getResultAttrDict(i)
                                ? main.getResultAttrDict(i)
                                : b.getDictionaryAttr({}));
    }
  for (ParamGrad &p : paramGrads)
    results.push_back(p.grad);
  // State updates: values the runtime writes over a parameter after each
  // training forward (batch normalisation's running statistics).
  SmallVector<std::pair<Value, StringAttr>> states;
  for (Operation *op : forward)
    if (auto bn = dyn_cast<BatchNormTrainOp>(op))
      for (auto [from, to] : {std::pair{bn.getRunningMean(), bn.getNewRunningMean()},
                              std::pair{bn.getRunningVar(), bn.getNewRunningVar()}})
        if (auto get = from.getDefiningOp<GetParamOp>())
          states.push_back({to, get.getNameAttr().getAttr()});
  for (auto &[v, name] : states)
    results.push_back(v);
  ret->setOperands(results);
  SmallVector<Type> resultTypes;
  for (Value v : results)
    resultTypes.push_back(v.getType());
  main.setType(b.getFunctionType(main.getArgumentTypes(), resultTypes));
  llvm::StringMap<int64_t> uses;
  for (ParamGrad &p : paramGrads)
    resultAttrs.push_back(b.getDictionaryAttr(
        {b.getNamedAttr(kGradAttr, b.getStringAttr(p.name)),
         b.getNamedAttr(kUseAttr, b.getI64IntegerAttr(uses[p.name]++))}));
  for (auto &[v, name] : states)
    resultAttrs.push_back(
        b.getDictionaryAttr({b.getNamedAttr(kStateAttr, name)}));
  main.setAllResultAttrs(resultAttrs);

  // Dead code: unused gradient parts.
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
      if (&op != ret.getOperation() && op.use_empty() && isPure(&op)) {
        tagger.forwardOf.erase(&op);
        op.erase();
        changed = true;
      }
  }

  // Number the forward ops; backward ops name theirs.
  DenseSet<Operation *> backward;
  for (auto &[op, fwd] : tagger.forwardOf)
    backward.insert(op);
  DenseMap<Operation *, int64_t> index;
  for (Operation &op : body)
    if (&op != ret.getOperation() && !backward.contains(&op))
      index[&op] = index.size();
  for (Operation &op : body) {
    if (!backward.contains(&op))
      continue;
    Operation *fwd = tagger.forwardOf.lookup(&op);
    op.setAttr(kPhaseAttr, b.getStringAttr(pprt::kPhaseBwd));
    op.setAttr(kFwdIndexAttr, b.getI64IntegerAttr(index.lookup(fwd)));
  }
}
} // namespace
