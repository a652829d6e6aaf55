//===- SplitStages.cpp - -pp-split-stages ---------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

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
  void runOnOperation() override;
};

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

  // The stage of every computed value.
  DenseMap<Operation *, int> stageOf;
  int numStages = 0;
  for (Operation &op : body) {
    if (isFree(&op) || &op == ret)
      continue;
    auto stage = op.getAttrOfType<IntegerAttr>(kStageAttr);
    if (!stage || stage.getInt() < 0) {
      op.emitError("has no stage: run -pp-partition first");
      return signalPassFailure();
    }
    stageOf[&op] = stage.getInt();
    numStages = std::max<int>(numStages, stage.getInt() + 1);
  }
  int numRanks = numStages;
  if (auto info = module->getAttrOfType<DictionaryAttr>(kPartitionAttr)) {
    if (auto s = info.getAs<IntegerAttr>("stages"))
      numStages = std::max<int>(numStages, s.getInt());
    if (auto r = info.getAs<IntegerAttr>("ranks"))
      numRanks = r.getInt();
  }
  auto valueStage = [&](Value v) -> int {
    Operation *def = v.getDefiningOp();
    if (!def || isFree(def))
      return -1;
    return stageOf.lookup(def);
  };

  // What crosses: for each (producer, consumer) stage pair, the values in the
  // order they are produced.
  std::map<std::pair<int, int>, llvm::SetVector<Value>> crossing;
  std::vector<llvm::SetVector<Value>> inputsOf(numStages);
  for (Operation &op : body) {
    if (&op == ret || isFree(&op))
      continue;
    int s = stageOf[&op];
    for (Value operand : op.getOperands()) {
      if (isa<BlockArgument>(operand)) {
        inputsOf[s].insert(operand);
        continue;
      }
      int from = valueStage(operand);
      if (from < 0 || from == s)
        continue;
      if (from > s) {
        op.emitError("uses a value of later stage ")
            << from << " on stage " << s
            << ": stages must follow a topological order";
        return signalPassFailure();
      }
      crossing[{from, s}].insert(operand);
    }
  }
  // Outputs stay on the stage that computes them; outputs that are inputs
  // or constants come from the last stage.
  std::vector<SmallVector<unsigned>> outputsOf(numStages);
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    int s = valueStage(v);
    if (s < 0) {
      s = numStages - 1;
      if (isa<BlockArgument>(v))
        inputsOf[s].insert(v);
    }
    outputsOf[s].push_back(i);
  }
  // Keep the sorted order of the model's inputs for each stage.
  for (auto &inputs : inputsOf) {
    SmallVector<Value> sorted(inputs.begin(), inputs.end());
    llvm::sort(sorted, [](Value a, Value b) {
      return cast<BlockArgument>(a).getArgNumber() <
             cast<BlockArgument>(b).getArgNumber();
    });
    inputs = llvm::SetVector<Value>(sorted.begin(), sorted.end());
  }

  // The model's inputs, used or not, so that the runtime knows them all.
  OpBuilder builder(module.getContext());
  SmallVector<Attribute> modelInputs;
  for (BlockArgument arg : main.getArguments()) {
    auto name = main.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "pp.name");
    modelInputs.push_back(builder.getDictionaryAttr(
        {builder.getNamedAttr("name", name ? name : builder.getStringAttr("")),
         builder.getNamedAttr("type", TypeAttr::get(arg.getType()))}));
  }
  module->setAttr("pp.model_inputs", builder.getArrayAttr(modelInputs));
  builder.setInsertionPoint(main);
  for (int s = 0; s < numStages; ++s) {
    SmallVector<Type> argTypes, resultTypes;
    for (Value v : inputsOf[s])
      argTypes.push_back(v.getType());
    for (unsigned i : outputsOf[s])
      resultTypes.push_back(ret.getOperand(i).getType());
    auto func = func::FuncOp::create(
        builder, main.getLoc(), ("stage" + llvm::Twine(s) + "_fwd").str(),
        builder.getFunctionType(argTypes, resultTypes));
    func->setAttr(kStageAttr, builder.getI64IntegerAttr(s));
    func->setAttr("pp.rank", builder.getI64IntegerAttr(s % numRanks));
    for (auto [i, v] : llvm::enumerate(inputsOf[s]))
      if (auto name = main.getArgAttr(cast<BlockArgument>(v).getArgNumber(),
                                      "pp.name"))
        func.setArgAttr(i, "pp.name", name);
    for (auto [i, index] : llvm::enumerate(outputsOf[s]))
      if (auto name = main.getResultAttr(index, "pp.name"))
        func.setResultAttr(i, "pp.name", name);

    OpBuilder b = OpBuilder::atBlockBegin(func.addEntryBlock());
    IRMapping map;
    for (auto [i, v] : llvm::enumerate(inputsOf[s]))
      map.map(v, func.getArgument(i));
    for (auto &[key, values] : crossing) {
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
      if (&op == ret || isFree(&op) || stageOf[&op] != s)
        continue;
      cloneFree(&op);
      b.clone(op, map);
    }
    for (auto &[key, values] : crossing) {
      if (key.first != s)
        continue;
      SmallVector<Value> mapped;
      for (Value v : values)
        mapped.push_back(map.lookup(v));
      SendOp::create(b, main.getLoc(), mapped, key.second);
    }
    SmallVector<Value> results;
    for (unsigned i : outputsOf[s]) {
      Value v = ret.getOperand(i);
      isFree.cloneInto(v, b, map);
      results.push_back(map.lookup(v));
    }
    func::ReturnOp::create(b, ret.getLoc(), results);
  }
  main.erase();
}
} // namespace
