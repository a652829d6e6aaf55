//===- PipelineIR.h - the pipeline as IR and as plain structures -*- C++ -*-===//
//
// After -pp-split-stages a module holds one function per stage and, after
// -pp-build-schedule, a pp.schedule. These read them into the schedule
// model (topology, costs, action lists) and write action lists back.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_PARTITION_PIPELINEIR_H
#define PPC_PARTITION_PIPELINEIR_H

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Schedule/Schedule.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>

namespace ppc {

struct StagePipeline {
  std::vector<mlir::func::FuncOp> stages; // by stage index
  sched::Topology topology;
  /// Bytes of the message from stage a to stage b, per micro-batch.
  std::map<std::pair<int, int>, int64_t> messages;
  sched::Costs costs;
  int numRanks() const { return topology.numRanks(); }
};

/// The stage functions of `module` (`pp.stage`, `pp.rank` on each) and the
/// costs summed from their ops' `pp.cost`. Emits an error and returns
/// nothing when the module has not been split.
std::optional<StagePipeline> readStages(mlir::ModuleOp module);

sched::Schedule readSchedule(pp::ScheduleOp op);
pp::ScheduleOp writeSchedule(mlir::OpBuilder &builder, mlir::Location loc,
                             const sched::Schedule &schedule,
                             llvm::ArrayRef<int> stageRanks);

int64_t tensorBytes(mlir::Type type);

} // namespace ppc

#endif // PPC_PARTITION_PIPELINEIR_H
