//===- BuildSchedule.cpp - -pp-build-schedule -----------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPBUILDSCHEDULEPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
struct BuildSchedule : ppc::pp::impl::PPBuildSchedulePassBase<BuildSchedule> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<sched::Kind> kind = sched::parseKind(schedule);
    if (!kind) {
      module.emitError("unknown schedule '")
          << schedule << "' (" << sched::kindNames() << ")";
      return signalPassFailure();
    }
    std::optional<StagePipeline> pipeline = readStages(module);
    if (!pipeline)
      return signalPassFailure();
    int m = microbatches > 0 ? microbatches : pipeline->numRanks();
    std::string error;
    auto s = sched::generate(*kind, pipeline->topology, m, error,
                             &pipeline->costs);
    if (!s) {
      module.emitError(error);
      return signalPassFailure();
    }
    for (auto old : llvm::make_early_inc_range(module.getOps<ScheduleOp>()))
      old.erase();
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    writeSchedule(builder, module.getLoc(), *s, pipeline->topology.stageRank);
  }
};
} // namespace
