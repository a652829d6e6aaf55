//===- VerifySchedule.cpp - -pp-verify-schedule ---------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/PipelineIR.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPVERIFYSCHEDULEPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
struct VerifySchedule : ppc::pp::impl::PPVerifySchedulePassBase<VerifySchedule> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto ops = llvm::to_vector(module.getOps<ScheduleOp>());
    if (ops.size() != 1) {
      module.emitError("expected one pp.schedule, found ") << ops.size();
      return signalPassFailure();
    }
    std::optional<StagePipeline> pipeline = readStages(module);
    if (!pipeline)
      return signalPassFailure();
    ScheduleOp op = ops.front();
    ArrayRef<int64_t> ranks = op.getStageRanks();
    if ((int)ranks.size() != pipeline->topology.numStages() ||
        !llvm::equal(ranks, pipeline->topology.stageRank)) {
      op.emitError("stage_ranks do not match the stage functions' pp.rank");
      return signalPassFailure();
    }
    sched::RunResult r = sched::run(readSchedule(op), pipeline->topology);
    if (r.ok)
      return;
    // Point at the action at fault when there is one.
    Operation *at = op;
    if (r.rank >= 0 && r.step >= 0)
      for (auto rank : op.getBody().front().getOps<RankOp>())
        if (rank.getRank() == r.rank) {
          auto actions = llvm::to_vector(rank.getBody().front().getOps<ActionOp>());
          if (r.step < (int)actions.size())
            at = actions[r.step];
        }
    at->emitError(r.message).attachNote(op.getLoc())
        << "rank x step table:\n" << r.table;
    signalPassFailure();
  }
};
} // namespace
