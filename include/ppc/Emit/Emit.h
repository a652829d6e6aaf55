//===- Emit.h - the output directory of `ppc -stages=K -o DIR` --*- C++ -*-===//

#ifndef PPC_EMIT_EMIT_H
#define PPC_EMIT_EMIT_H

#include "ppc/Dialect/PP/IR/WeightStore.h"
#include "ppc/Partition/DeviceSplits.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <algorithm>
#include <string>
#include <vector>

namespace ppc {

/// Everything the emitters describe, gathered once from the final module.
struct PipelineSummary {
  std::string model, device, method, schedule;
  /// The global batch: `dataParallel` replicas x `microbatches` (per
  /// replica) micro-batches.
  int64_t batch = 0, microbatches = 1;
  int ranks = 1, virtualStages = 1;
  /// Replicas of the pipeline (world ranks = ranks x dataParallel) and
  /// ZeRO-1 (optimizer state sharded over each replica group).
  int dataParallel = 1, zero = 0;
  bool updateInStep = false; // the optimizer update ends the step
  int64_t microbatchSize() const {
    return batch / std::max<int64_t>(microbatches * dataParallel, 1);
  }
  StagePipeline pipeline;
  sched::Schedule plan;
  sched::RunResult run; // the simulated plan, with events
  /// Per stage, the same figures the partition methods are compared on.
  std::vector<Evaluation::Stage> stages;
  /// Per rank: its parameters, gradients, optimizer state (with and
  /// without ZeRO-1) and peak activations, its gradient all-reduce over
  /// the replicas and its optimizer update.
  std::vector<RankState> rankStates;
  bool training = false;
  /// One line per partition method (and schedule, for -schedule=auto).
  using Alternative = ppc::Alternative;
  std::vector<Alternative> alternatives;
  /// With -devices=N: every (stages, data-parallel) split of N and schedule
  /// that was simulated, the chosen one marked.
  using DeviceCandidate = ppc::DeviceCandidate;
  int devices = 0;
  std::vector<DeviceCandidate> candidates;
};

/// Gathers the summary of a split and scheduled module.
std::optional<PipelineSummary> summarize(mlir::ModuleOp module,
                                         std::string &error);

std::string pipelineJson(const PipelineSummary &s, mlir::ModuleOp module);
std::string reportText(const PipelineSummary &s);
std::string reportJson(const PipelineSummary &s);
std::string timelineSvg(const PipelineSummary &s);
std::string chromeTrace(const PipelineSummary &s);

/// DIR/stage<k>.ppx and DIR/stage<k>.safetensors for every stage function
/// of a split, scheduled and memory-planned module.
llvm::Error writeStagePrograms(mlir::ModuleOp module, const WeightStore &store,
                               llvm::StringRef dir);

/// The file of a stage's program for `phase`: stage<k>.ppx for the forward
/// (and inference), stage<k>.bwd_b.ppx and stage<k>.bwd_w.ppx.
std::string stageProgramFile(int64_t stage, llvm::StringRef phase);

/// Writes `contents` to DIR/NAME through a temporary file and a rename, so a
/// reader never sees half a file.
llvm::Error writeAtomically(llvm::StringRef dir, llvm::StringRef name,
                            llvm::StringRef contents);
/// The same, with the contents streamed by `write`.
llvm::Error writeAtomically(llvm::StringRef dir, llvm::StringRef name,
                            llvm::function_ref<void(llvm::raw_ostream &)> write);

} // namespace ppc

#endif // PPC_EMIT_EMIT_H
