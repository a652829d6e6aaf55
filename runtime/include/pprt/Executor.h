//===- Executor.h - one rank walking its action list ------------*- C++ -*-===//

#ifndef PPRT_EXECUTOR_H
#define PPRT_EXECUTOR_H

#include "pprt/Backend.h"
#include "pprt/Files.h"
#include "pprt/Plan.h"
#include "pprt/Transport.h"

#include <map>
#include <string>
#include <vector>

namespace pprt {

/// What one rank did, for --trace.
struct TraceEvent {
  int rank;
  Action action;
  double start, end; // seconds since the run began
};

/// The whole batch: inputs by name, and the outputs being filled.
struct BatchIO {
  std::map<std::string, HostTensor> inputs;
  std::map<std::string, HostTensor> outputs;
};

/// Runs rank `rank`'s actions of `plan` once (one batch). Forward schedules
/// (inference, gpipe, ...) run their forward actions; backward actions are
/// an error until training lands. The error names rank, action and
/// micro-batch.
class Executor {
public:
  Executor(const Plan &plan, int rank, Backend &backend, Transport &transport);
  /// Loads and prepares this rank's stage programs.
  Status load();
  /// `io.outputs` must be allocated (allocateOutputs) before.
  Status runBatch(BatchIO &io, std::vector<TraceEvent> *trace,
                  double timeOrigin);
  /// Per-op times of this rank's stages (after enableProfile and a run).
  void enableProfile(bool on);
  std::vector<PreparedStage::OpTime> profile() const;

private:
  struct Loaded {
    std::unique_ptr<StageProgram> program;
    std::unique_ptr<PreparedStage> prepared;
  };
  Status forward(int stage, int mb, BatchIO &io);

  const Plan &plan;
  int rank;
  Backend &backend;
  Transport &transport;
  std::map<int, Loaded> stages;
  // Messages received or to send, by (stage, peer stage, micro-batch).
  std::map<std::tuple<int, int, int>, std::vector<uint8_t>> inbox, outbox;
};

/// The shape of a whole batch (what pprun reads and writes) of a tensor
/// whose micro-batch shape is `microbatch`: M micro-batches along axis 0.
TensorDesc wholeBatch(const TensorDesc &microbatch, int microbatches);

/// Checks every model input against the plan (name, dtype, whole-batch
/// shape) and allocates the outputs.
Status checkInputs(const Plan &plan, const BatchIO &io);
void allocateOutputs(const Plan &plan, BatchIO &io);

} // namespace pprt

#endif // PPRT_EXECUTOR_H
