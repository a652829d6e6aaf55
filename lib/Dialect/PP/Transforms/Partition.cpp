//===- Partition.cpp - -pp-partition --------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPPARTITIONPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
struct Partition : ppc::pp::impl::PPPartitionPassBase<Partition> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](Operation *at, const llvm::Twine &message) {
      at->emitError(message);
      signalPassFailure();
    };
    auto func = module.lookupSymbol<func::FuncOp>("main");
    if (!func)
      return fail(module, "has no @main to partition");
    if (stages < 1)
      return fail(module, "-stages=" + llvm::Twine(stages) +
                              ": needs at least one stage");
    if (virtualStages < 1)
      return fail(module, "-virtual-stages must be at least 1");
    if (dataParallel < 1)
      return fail(module, "-data-parallel must be at least 1");
    if (zero != 0 && zero != 1)
      return fail(module, "-zero=" + llvm::Twine(zero) + ": expected 0 or 1");
    std::optional<sched::Kind> kind = sched::parseKind(schedule);
    if (!kind)
      return fail(module, "unknown schedule '" + schedule + "' (" +
                              sched::kindNames() + ")");
    if (sched::isVShaped(*kind) && virtualStages != 2)
      return fail(module, "-schedule=" + schedule + " runs two stages per "
                              "rank: -virtual-stages=2");
    if (virtualStages > 1 && !sched::takesVirtualStages(*kind) &&
        !sched::isVShaped(*kind))
      return fail(module, "-virtual-stages=" + llvm::Twine(virtualStages) +
                              " needs -schedule=interleaved");
    std::optional<OpGraph> graph = OpGraph::build(func);
    if (!graph)
      return signalPassFailure();
    PartitionOptions options;
    options.ranks = stages;
    options.virtualStages = virtualStages;
    options.microbatches = microbatches > 0 ? microbatches : stages;
    options.schedule = *kind;
    options.memoryLimit = memoryLimit;
    options.dataParallel = dataParallel;
    options.zero = zero;
    options.optimizerCopies = optimizerStateCopies(module);
    options.updateInStep = updateInStep;
    PartitionResult result = partitionBy(method, *graph, options);
    if (!result.ok())
      return fail(func, result.error);
    Evaluation e = evaluate(*graph, result.assignment, options);
    if (!e.error.empty())
      return fail(func, e.error);

    Builder b(module.getContext());
    std::vector<llvm::SmallVector<int64_t>> paramStages(graph->paramBytes.size());
    for (auto [i, node] : llvm::enumerate(graph->nodes)) {
      int stage = result.assignment[i];
      node.op->setAttr(kStageAttr, b.getI64IntegerAttr(stage));
      for (int p : node.params)
        if (!llvm::is_contained(paramStages[p], stage))
          paramStages[p].push_back(stage);
    }
    // Backward ops take the stage of their forward op.
    std::vector<Operation *> forward;
    for (Operation &op : func.getBody().front())
      if (!op.hasAttr(kPhaseAttr) && !isa<func::ReturnOp>(op))
        forward.push_back(&op);
    for (Operation &op : func.getBody().front()) {
      if (!op.hasAttr(kPhaseAttr))
        continue;
      auto index = op.getAttrOfType<IntegerAttr>(kFwdIndexAttr);
      Operation *fwd = index && index.getInt() >= 0 &&
                               index.getInt() < (int64_t)forward.size()
                           ? forward[index.getInt()]
                           : nullptr;
      auto stage = fwd ? fwd->getAttrOfType<IntegerAttr>(kStageAttr) : nullptr;
      if (!stage) {
        if (FreeOps()(&op))
          continue;
        return fail(&op, "backward op without a staged forward op (" +
                             llvm::Twine(kFwdIndexAttr) + ")");
      }
      op.setAttr(kStageAttr, stage);
    }
    for (auto [p, list] : llvm::enumerate(paramStages))
      if (list.size() > 1 && graph->paramOps[p]) {
        llvm::sort(list);
        graph->paramOps[p]->setAttr(kTiedAttr, b.getDenseI64ArrayAttr(list));
      }
    SmallVector<NamedAttribute> info = {
            b.getNamedAttr("bubble", b.getF64FloatAttr(e.bubble)),
            b.getNamedAttr("method", b.getStringAttr(method)),
            b.getNamedAttr("microbatches",
                           b.getI64IntegerAttr(options.microbatches)),
            b.getNamedAttr("ranks", b.getI64IntegerAttr(stages)),
            b.getNamedAttr("schedule", b.getStringAttr(schedule)),
            b.getNamedAttr("stages", b.getI64IntegerAttr(options.numStages())),
            b.getNamedAttr("step_time", b.getF64FloatAttr(e.stepTime))};
    // Data parallelism only where it is used: one replica's module is what
    // it was without it.
    if (dataParallel != 1)
      info.push_back(
          b.getNamedAttr("data_parallel", b.getI64IntegerAttr(dataParallel)));
    if (zero)
      info.push_back(b.getNamedAttr("zero", b.getI64IntegerAttr(zero)));
    if (updateInStep)
      info.push_back(b.getNamedAttr("update_in_step", b.getUnitAttr()));
    module->setAttr(kPartitionAttr, b.getDictionaryAttr(info));
  }
};
} // namespace
