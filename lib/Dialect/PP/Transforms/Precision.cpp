//===- Precision.cpp - -pp-precision: bf16/fp16 products ------------------===//
//
// The products of the graph (forward and backward) read their factors in
// the low precision and return f32; everything else stays f32. See
// Passes.td and docs/precision.md.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPDialect.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"
#include "pprt/LossScaler.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSet.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPPRECISIONPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {

/// The operand numbers of `op` that are factors of a product, or none when
/// `op` is not a product.
SmallVector<unsigned, 2> factorOperands(Operation *op) {
  if (isa<MatMulOp, GemmOp, ConvOp, ConvInputGradOp, ConvFilterGradOp>(op))
    return {0, 1};
  return {};
}

bool isF32Tensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getElementType().isF32();
}

/// The parameters autocast would cast to the low precision as a product's
/// bias: gemm's C and conv's bias, and a parameter added to a product's
/// result (a linear exported as MatMul + Add).
llvm::StringSet<> biasParameters(func::FuncOp func) {
  llvm::StringSet<> names;
  auto param = [](Value v) -> StringRef {
    if (auto get = v.getDefiningOp<GetParamOp>())
      return get.getName();
    return "";
  };
  auto isProduct = [](Value v) {
    Operation *def = v.getDefiningOp();
    return def && !factorOperands(def).empty();
  };
  func.walk([&](Operation *op) {
    if (isa<GemmOp, ConvOp>(op) && op->getNumOperands() > 2)
      if (StringRef name = param(op->getOperand(2)); !name.empty())
        names.insert(name);
    if (auto add = dyn_cast<AddOp>(op))
      for (auto [x, y] : {std::pair{add->getOperand(0), add->getOperand(1)},
                          std::pair{add->getOperand(1), add->getOperand(0)}})
        if (StringRef name = param(x); !name.empty() && isProduct(y))
          names.insert(name);
  });
  return names;
}

/// Rewrites one function. `low` is bf16 or f16.
class Lowering {
public:
  /// `roundResults`: every product's result is rounded to `low` (and
  /// widened for its f32 readers), as autocast returns products in the
  /// low type: fp16 training, whose loss scaler must see what overflows
  /// fp16's range where torch's does.
  Lowering(func::FuncOp func, Type low, bool roundResults)
      : func(func), low(low), roundResults(roundResults) {}

  void run();

private:
  func::FuncOp func;
  Type low;
  bool roundResults;
  DenseMap<Value, Value> lowered;              // f32 value -> its low copy
  DenseMap<Operation *, Operation *> replaced; // erased fwd op -> its copy

  Value lower(Value v);
  static void copyPhase(Operation *from, Operation *to);
};

/// A backward op's copy of a value keeps its phase and forward op, so that
/// it stays on the stage and in the function (B or W) of what it copies.
void Lowering::copyPhase(Operation *from, Operation *to) {
  if (!from)
    return;
  for (StringRef name : {StringRef(kPhaseAttr), StringRef(kFwdIndexAttr)})
    if (Attribute a = from->getAttr(name))
      to->setAttr(name, a);
}

/// `v` (f32) in the low precision: one copy per value, however many
/// products read it.
Value Lowering::lower(Value v) {
  if (Value done = lowered.lookup(v))
    return done;
  auto type = cast<RankedTensorType>(v.getType());
  auto lowType = type.clone(low);
  Operation *def = v.getDefiningOp();
  OpBuilder b(func.getContext());
  Value result;
  if (auto widen = dyn_cast_or_null<CastOp>(def);
      widen && widen.getInput().getType() == lowType) {
    // Widened from the low precision already: read what was widened.
    result = widen.getInput();
  } else if (def && isa<TransposeOp, ReshapeOp>(def) &&
             isF32Tensor(def->getOperand(0))) {
    // Layout moves the same bytes in either precision: redo it on the low
    // copy, so that what is kept for the backward is the low copy.
    Value input = lower(def->getOperand(0));
    b.setInsertionPointAfter(def);
    Operation *copy = b.clone(*def);
    copy->setOperand(0, input);
    copy->getResult(0).setType(lowType);
    result = copy->getResult(0);
  } else {
    if (def)
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
    Operation *narrow = CastOp::create(b, v.getLoc(), lowType, v);
    copyPhase(def, narrow);
    result = narrow->getResult(0);
  }
  lowered[v] = result;
  return result;
}

void Lowering::run() {
  Block &body = func.getBody().front();
  // The forward ops as -pp-autodiff numbered them (pp.fwd_index).
  SmallVector<Operation *> forward;
  for (Operation &op : body)
    if (!op.hasAttr(kPhaseAttr) && !isa<func::ReturnOp>(op))
      forward.push_back(&op);

  SmallVector<Operation *> products;
  for (Operation &op : body) {
    SmallVector<unsigned, 2> factors = factorOperands(&op);
    if (factors.empty() || !isF32Tensor(op.getResult(0)) ||
        !llvm::all_of(factors, [&](unsigned i) {
          return isF32Tensor(op.getOperand(i));
        }))
      continue;
    products.push_back(&op);
  }
  llvm::StringSet<> biases;
  if (roundResults)
    biases = biasParameters(func);
  if (roundResults)
    for (Operation *op : products) {
      // r -> cast to low -> cast back: the readers of r read the widened
      // copy, and a product reading it reads the low copy (lower()).
      Value r = op->getResult(0);
      OpBuilder b(op->getContext());
      b.setInsertionPointAfter(op);
      Operation *narrow = CastOp::create(
          b, op->getLoc(), cast<RankedTensorType>(r.getType()).clone(low), r);
      copyPhase(op, narrow);
      Operation *widen =
          CastOp::create(b, op->getLoc(), r.getType(), narrow->getResult(0));
      copyPhase(op, widen);
      r.replaceAllUsesExcept(widen->getResult(0), narrow);
    }
  for (Operation *op : products)
    for (unsigned i : factorOperands(op))
      op->setOperand(i, lower(op->getOperand(i)));

  // Autocast computes a bias's gradient in the low precision too (the
  // gradient of its low copy): each micro-batch's is rounded.
  if (roundResults) {
    Operation *ret = body.getTerminator();
    for (unsigned i = 0; i < ret->getNumOperands(); ++i) {
      auto name = func.getResultAttrOfType<StringAttr>(i, kGradAttr);
      Value g = ret->getOperand(i);
      if (!name || !biases.contains(name.getValue()) || !isF32Tensor(g))
        continue;
      OpBuilder b(ret);
      Operation *def = g.getDefiningOp();
      Operation *narrow = CastOp::create(
          b, g.getLoc(), cast<RankedTensorType>(g.getType()).clone(low), g);
      copyPhase(def, narrow);
      Operation *widen =
          CastOp::create(b, g.getLoc(), g.getType(), narrow->getResult(0));
      copyPhase(def, widen);
      ret->setOperand(i, widen->getResult(0));
    }
  }

  // What the backward reads of the forward is kept in the low precision
  // too: each backward reader of an f32 forward activation reads its low
  // copy, widened by a cast of its own (so that the cast lands in the
  // reader's function, B or W). Parameters and constants are read again
  // where used, never kept, and stay as they are. So do the results a
  // backward op reads of its own forward op (softmax's and layer_norm's):
  // a partition may cut between that op and the cast after it, and the
  // backward, on the op's stage, cannot read a later stage.
  FreeOps isFree;
  OpBuilder builder(func.getContext());
  for (Operation &op : body) {
    if (!op.hasAttr(kPhaseAttr) || isa<func::ReturnOp>(op))
      continue;
    auto index = op.getAttrOfType<IntegerAttr>(kFwdIndexAttr);
    Operation *fwd = index && index.getInt() >= 0 &&
                             index.getInt() < (int64_t)forward.size()
                         ? forward[index.getInt()]
                         : nullptr;
    for (OpOperand &use : op.getOpOperands()) {
      Value v = use.get();
      Operation *def = v.getDefiningOp();
      if (!isF32Tensor(v) || (def && def->hasAttr(kPhaseAttr)) || isFree(v) ||
          !fwd || !llvm::is_contained(fwd->getOperands(), v))
        continue;
      Value low = lower(v);
      builder.setInsertionPoint(&op);
      Operation *widen = CastOp::create(builder, op.getLoc(), v.getType(), low);
      copyPhase(&op, widen);
      use.set(widen->getResult(0));
    }
  }

  // Layout ops whose only readers were products are dead now; a forward
  // one hands its number to its low copy.
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body))) {
      Value copy = op.getNumResults() == 1 ? lowered.lookup(op.getResult(0))
                                           : Value();
      if (!isa<TransposeOp, ReshapeOp>(op) || !op.use_empty() || !copy ||
          !copy.getDefiningOp())
        continue;
      replaced[&op] = copy.getDefiningOp();
      lowered.erase(op.getResult(0));
      op.erase();
      changed = true;
    }
  }

  // Renumber: the casts added to the forward shift the numbers.
  DenseMap<Operation *, int64_t> index;
  for (Operation &op : body)
    if (!op.hasAttr(kPhaseAttr) && !isa<func::ReturnOp>(op))
      index[&op] = index.size();
  Builder b(func.getContext());
  for (Operation &op : body) {
    auto old = op.getAttrOfType<IntegerAttr>(kFwdIndexAttr);
    if (!old || old.getInt() < 0 || old.getInt() >= (int64_t)forward.size())
      continue;
    Operation *fwd = forward[old.getInt()];
    while (Operation *next = replaced.lookup(fwd))
      fwd = next;
    auto it = index.find(fwd);
    if (it != index.end())
      op.setAttr(kFwdIndexAttr, b.getI64IntegerAttr(it->second));
  }
}

struct PrecisionPass : ppc::pp::impl::PPPrecisionPassBase<PrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    Type low;
    if (precision == "fp32")
      return;
    if (precision == "bf16")
      low = BFloat16Type::get(context);
    else if (precision == "fp16")
      low = Float16Type::get(context);
    else {
      module.emitError() << "unknown precision '" << precision
                         << "' (fp32, bf16 or fp16)";
      return signalPassFailure();
    }
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      // fp16's range: gradients below 6e-8 vanish and the products'
      // factors overflow past 65504, so training needs the loss scaler
      // (-pp-autodiff's loss-scale; pprt/LossScaler.h).
      bool training = false;
      for (unsigned i = 0; i < func.getNumResults(); ++i)
        training |= bool(func.getResultAttr(i, kGradAttr));
      if (low.isF16() && training &&
          !module.lookupSymbol(pprt::kLossScaleParam)) {
        func.emitError() << "precision fp16 for training needs loss scaling "
                            "(-pp-autodiff's loss-scale, ppc -loss-scale)";
        return signalPassFailure();
      }
      Lowering(func, low, low.isF16() && training).run();
    }
  }
};

} // namespace
