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
#include "mlir/IR/IRMapping.h"

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

/// The number under `key` of a dictionary attribute (pp.cost, pp.device),
/// integer or float; `otherwise` when the dictionary or the key is missing.
double attrNumber(mlir::DictionaryAttr dict, llvm::StringRef key,
                  double otherwise = 0);

/// Ops a stage re-creates where it needs them instead of receiving them:
/// parameter reads, constants, and side-effect-free ops computed from those
/// alone (an exporter's mask Not, a weight Transpose). They get no stage of
/// their own; each stage that uses one clones it with what it is computed
/// from, and its cost counts towards every op that uses it.
class FreeOps {
public:
  bool operator()(mlir::Operation *op);
  bool operator()(mlir::Value v) { return (*this)(v.getDefiningOp()); }

  /// Clones the free op defining `v` (and, first, its free operands) at the
  /// builder's insertion point unless `map` has it already.
  void cloneInto(mlir::Value v, mlir::OpBuilder &builder, mlir::IRMapping &map);

private:
  llvm::DenseMap<mlir::Operation *, bool> memo;
};

} // namespace ppc

#endif // PPC_PARTITION_PIPELINEIR_H
