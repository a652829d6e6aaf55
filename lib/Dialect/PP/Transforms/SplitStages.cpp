//===- SplitStages.cpp - -pp-split-stages ---------------------------------===//

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

#include "pprt/Vocabulary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#include <map>

namespace ppc::pp {
#define GEN_PASS_DEF_PPSPLITSTAGESPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
struct SplitStages : ppc::pp::impl::PPSplitStagesPassBase<SplitStages> {
  using PPSplitStagesPassBase::PPSplitStagesPassBase;
  void runOnOperation() override;
};

enum Phase { Fwd = 0, BwdB = 1, BwdW = 2 };
const char *phaseName(int p) {
  return p == Fwd ? pprt::kPhaseFwd : p == BwdB ? pprt::kPhaseBwdB : pprt::kPhaseBwdW;
}
/// A stage function: (stage, phase).
using Group = std::pair<int, int>;

void SplitStages::runOnOperation() {
  ModuleOp module = getOperation();
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main) {
    module.emitError("has no @main to split");
    return signalPassFailure();
  }
  Block &body = main.getBody().front();
  FreeOps isFree;
  auto ret = cast<func::ReturnOp>(body.getTerminator());

  // The stage and phase of every computed value.
  DenseMap<Operation *, Group> groupOf;
  int numStages = 0;
  bool training = false;
  for (Operation &op : body) {
    if (isFree(&op) || &op == ret)
      continue;
    auto stage = op.getAttrOfType<IntegerAttr>(kStageAttr);
    if (!stage || stage.getInt() < 0) {
      op.emitError("has no stage: run -pp-partition first");
      return signalPassFailure();
    }
    bool backward = op.hasAttr(kPhaseAttr);
    training |= backward;
    groupOf[&op] = {stage.getInt(), backward ? BwdW : Fwd};
    numStages = std::max<int>(numStages, stage.getInt() + 1);
  }
  int numRanks = numStages;
  // The schedule places the stages on ranks (round robin, or in a V).
  sched::Kind placement = sched::Kind::Interleaved;
  if (auto info = module->getAttrOfType<DictionaryAttr>(kPartitionAttr)) {
    if (auto s = info.getAs<IntegerAttr>("stages"))
      numStages = std::max<int>(numStages, s.getInt());
    if (auto r = info.getAs<IntegerAttr>("ranks"))
      numRanks = r.getInt();
    if (auto name = info.getAs<StringAttr>("schedule"))
      if (auto kind = sched::parseKind(name.getValue()))
        placement = *kind;
  }
  // -recompute: backward ops read their stage's forward values from clones
  // made in the backward, so that only the stage's inputs are kept.
  if (recompute) {
    SmallVector<Operation *> backwardOps;
    for (Operation &op : body) {
      auto it = groupOf.find(&op);
      if (it != groupOf.end() && it->second.second != Fwd)
        backwardOps.push_back(&op);
    }
    DenseMap<Value, Value> again;
    OpBuilder b(module.getContext());
    auto sameStageForward = [&](Value v, int stage) {
      Operation *def = v.getDefiningOp();
      if (!def || isFree(def))
        return false;
      auto g = groupOf.find(def);
      return g != groupOf.end() && g->second == Group{stage, Fwd};
    };
    std::function<Value(Value, int)> recomputed = [&](Value v, int stage) {
      if (!sameStageForward(v, stage))
        return v;
      if (Value done = again.lookup(v))
        return done;
      Operation *def = v.getDefiningOp();
      IRMapping map;
      for (Value operand : def->getOperands())
        map.map(operand, recomputed(operand, stage));
      Operation *clone = b.clone(*def, map);
      clone->setAttr(kPhaseAttr, b.getStringAttr(pprt::kPhaseBwd));
      clone->setAttr(kRecomputeAttr, b.getUnitAttr());
      groupOf[clone] = {stage, BwdW};
      for (auto [from, to] : llvm::zip(def->getResults(), clone->getResults()))
        again[from] = to;
      return again.lookup(v);
    };
    for (Operation *op : backwardOps) {
      int stage = groupOf[op].first;
      b.setInsertionPoint(op);
      for (OpOperand &operand : op->getOpOperands())
        if (sameStageForward(operand.get(), stage))
          operand.set(recomputed(operand.get(), stage));
    }
  }

  // Each stage's backward splits into B, what the gradients it sends to
  // earlier stages need, and W, the rest (weight gradients).
  for (Operation &op : llvm::reverse(body)) {
    auto it = groupOf.find(&op);
    if (it == groupOf.end() || it->second.second == Fwd)
      continue;
    bool b = it->second.second == BwdB;
    for (Operation *user : op.getUsers()) {
      auto u = groupOf.find(user);
      if (u != groupOf.end() && u->second.first != it->second.first)
        b = true;
    }
    if (!b)
      continue;
    it->second.second = BwdB;
    for (Value operand : op.getOperands())
      if (Operation *def = operand.getDefiningOp()) {
        auto d = groupOf.find(def);
        if (d != groupOf.end() && d->second.second != Fwd &&
            d->second.first == it->second.first)
          d->second.second = BwdB;
      }
  }
  for (auto &[op, g] : groupOf)
    if (g.second != Fwd)
      op->setAttr(kPhaseAttr,
                  StringAttr::get(module.getContext(), phaseName(g.second)));
  std::vector<Group> groups;
  for (int s = 0; s < numStages; ++s)
    for (int p = Fwd; p <= (training ? BwdW : Fwd); ++p)
      groups.push_back({s, p});

  auto groupOfValue = [&](Value v) -> std::optional<Group> {
    Operation *def = v.getDefiningOp();
    if (!def || isFree(def))
      return std::nullopt;
    return groupOf.lookup(def);
  };

  // What crosses: activations forward and gradients backward, per
  // (producer, consumer) stage pair, in the order they are produced; and
  // what a stage keeps from one of its functions to a later one (stash).
  std::map<std::pair<int, int>, llvm::SetVector<Value>> activations, gradients;
  std::map<std::pair<Group, Group>, llvm::SetVector<Value>> stash;
  std::map<Group, llvm::SetVector<Value>> inputsOf;
  auto use = [&](Value operand, Group g, Operation *user) -> LogicalResult {
    if (isa<BlockArgument>(operand)) {
      inputsOf[g].insert(operand);
      return success();
    }
    std::optional<Group> from = groupOfValue(operand);
    if (!from || *from == g)
      return success();
    auto [s, q] = *from;
    auto [t, p] = g;
    if (s == t) {
      stash[{*from, g}].insert(operand);
      return success();
    }
    if (q == Fwd) {
      if (s > t) {
        user->emitError("uses a value of later stage ")
            << s << " on stage " << t
            << ": stages must follow a topological order";
        return failure();
      }
      activations[{s, t}].insert(operand);
      if (p != Fwd)
        stash[{{t, Fwd}, g}].insert(operand);
      return success();
    }
    if (s < t || p == Fwd) {
      user->emitError("uses a gradient of earlier stage ")
          << s << " on stage " << t;
      return failure();
    }
    gradients[{s, t}].insert(operand);
    if (p != BwdB)
      stash[{{t, BwdB}, g}].insert(operand);
    return success();
  };
  for (Operation &op : body) {
    if (&op == ret || isFree(&op))
      continue;
    for (Value operand : op.getOperands())
      if (failed(use(operand, groupOf[&op], &op)))
        return signalPassFailure();
  }
  // Outputs (the model's, or the loss and gradients) stay where they are
  // computed; outputs that are inputs or constants come from the last
  // stage's forward.
  std::map<Group, SmallVector<unsigned>> outputsOf;
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    std::optional<Group> g = groupOfValue(v);
    if (!g) {
      g = Group{numStages - 1, Fwd};
      if (isa<BlockArgument>(v))
        inputsOf[*g].insert(v);
    }
    outputsOf[*g].push_back(i);
  }
  // Keep the sorted order of the model's inputs for each function.
  for (auto &[g, inputs] : inputsOf) {
    SmallVector<Value> sorted(inputs.begin(), inputs.end());
    llvm::sort(sorted, [](Value a, Value b) {
      return cast<BlockArgument>(a).getArgNumber() <
             cast<BlockArgument>(b).getArgNumber();
    });
    inputs = llvm::SetVector<Value>(sorted.begin(), sorted.end());
  }
  // Stash slots, numbered per stage.
  std::map<std::pair<Group, Group>, std::vector<int64_t>> stashIds;
  {
    std::map<int, int64_t> next;
    for (auto &[key, values] : stash)
      for (size_t i = 0; i < values.size(); ++i)
        stashIds[key].push_back(next[key.first.first]++);
  }

  // The model's inputs, used or not, so that the runtime knows them all.
  OpBuilder builder(module.getContext());
  SmallVector<Attribute> modelInputs;
  for (BlockArgument arg : main.getArguments()) {
    auto name = main.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr);
    modelInputs.push_back(builder.getDictionaryAttr(
        {builder.getNamedAttr("name", name ? name : builder.getStringAttr("")),
         builder.getNamedAttr("type", TypeAttr::get(arg.getType()))}));
  }
  module->setAttr(kModelInputsAttr, builder.getArrayAttr(modelInputs));
  builder.setInsertionPoint(main);
  for (Group g : groups) {
    auto [s, phase] = g;
    // Arguments: model inputs, then stashed values; results: outputs, then
    // values stashed for later functions of this stage.
    SmallVector<Type> argTypes, resultTypes;
    SmallVector<std::pair<Value, int64_t>> stashIn, stashOut;
    for (auto &[key, values] : stash)
      for (auto [i, v] : llvm::enumerate(values)) {
        if (key.second == g)
          stashIn.push_back({v, stashIds[key][i]});
        if (key.first == g)
          stashOut.push_back({v, stashIds[key][i]});
      }
    auto &inputs = inputsOf[g];
    auto &outputs = outputsOf[g];
    for (Value v : inputs)
      argTypes.push_back(v.getType());
    for (auto &[v, id] : stashIn)
      argTypes.push_back(v.getType());
    for (unsigned i : outputs)
      resultTypes.push_back(ret.getOperand(i).getType());
    for (auto &[v, id] : stashOut)
      resultTypes.push_back(v.getType());
    auto func = func::FuncOp::create(
        builder, main.getLoc(),
        ("stage" + llvm::Twine(s) + "_" + phaseName(phase)).str(),
        builder.getFunctionType(argTypes, resultTypes));
    func->setAttr(kStageAttr, builder.getI64IntegerAttr(s));
    func->setAttr(kRankAttr,
                  builder.getI64IntegerAttr(sched::stageRankOf(
                      placement, s, numStages, numRanks)));
    if (training)
      func->setAttr(kPhaseAttr, builder.getStringAttr(phaseName(phase)));
    for (auto [i, v] : llvm::enumerate(inputs))
      if (auto name = main.getArgAttr(cast<BlockArgument>(v).getArgNumber(),
                                      kNameAttr))
        func.setArgAttr(i, kNameAttr, name);
    for (auto [i, entry] : llvm::enumerate(stashIn))
      func.setArgAttr(inputs.size() + i, kStashAttr,
                      builder.getI64IntegerAttr(entry.second));
    for (auto [i, index] : llvm::enumerate(outputs))
      for (NamedAttribute a : main.getResultAttrDict(index)
                                  ? main.getResultAttrDict(index).getValue()
                                  : ArrayRef<NamedAttribute>{})
        func.setResultAttr(i, a.getName(), a.getValue());
    for (auto [i, entry] : llvm::enumerate(stashOut))
      func.setResultAttr(outputs.size() + i, kStashAttr,
                         builder.getI64IntegerAttr(entry.second));

    OpBuilder b = OpBuilder::atBlockBegin(func.addEntryBlock());
    IRMapping map;
    for (auto [i, v] : llvm::enumerate(inputs))
      map.map(v, func.getArgument(i));
    for (auto [i, entry] : llvm::enumerate(stashIn))
      map.map(entry.first, func.getArgument(inputs.size() + i));
    // Activations arrive in the forward, gradients in B.
    auto &messages = phase == Fwd ? activations : gradients;
    if (phase != BwdW)
      for (auto &[key, values] : messages) {
        if (key.second != s)
          continue;
        SmallVector<Type> types;
        for (Value v : values)
          types.push_back(v.getType());
        auto recv = RecvOp::create(b, main.getLoc(), types, key.first);
        for (auto [v, r] : llvm::zip(values, recv.getValues()))
          map.map(v, r);
      }
    auto cloneFree = [&](Operation *op) {
      for (Value operand : op->getOperands())
        isFree.cloneInto(operand, b, map);
    };
    for (Operation &op : body) {
      if (&op == ret || isFree(&op) || groupOf[&op] != g)
        continue;
      cloneFree(&op);
      b.clone(op, map);
    }
    if (phase != BwdW)
      for (auto &[key, values] : messages) {
        if (key.first != s)
          continue;
        SmallVector<Value> mapped;
        for (Value v : values)
          mapped.push_back(map.lookup(v));
        SendOp::create(b, main.getLoc(), mapped, key.second);
      }
    SmallVector<Value> results;
    for (unsigned i : outputs) {
      Value v = ret.getOperand(i);
      isFree.cloneInto(v, b, map);
      results.push_back(map.lookup(v));
    }
    for (auto &[v, id] : stashOut)
      results.push_back(map.lookup(v));
    func::ReturnOp::create(b, ret.getLoc(), results);
  }
  main.erase();
}
} // namespace
