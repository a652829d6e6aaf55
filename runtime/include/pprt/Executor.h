//===- Executor.h - one rank walking its action list ------------*- C++ -*-===//

#ifndef PPRT_EXECUTOR_H
#define PPRT_EXECUTOR_H

#include "pprt/Backend.h"
#include "pprt/Comm.h"
#include "pprt/Files.h"
#include "pprt/LossScaler.h"
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

/// The global gradient norm is summed from squares over chunks of this many
/// elements of each parameter, each chunk computed by one rank (8 bytes of
/// it cross to the host on a GPU).
constexpr int64_t kNormChunk = 1 << 16;

/// The whole batch: inputs by name, and the outputs being filled.
struct BatchIO {
  std::map<std::string, HostTensor> inputs;
  std::map<std::string, HostTensor> outputs;
};

/// Runs world rank `rank`'s actions of `plan` once (one batch): those of
/// its pipeline rank, on its replica's micro-batches. Inference (and a
/// training schedule compiled without -train) runs the forward actions. A
/// training plan (ppc -train) runs forward and backward of every
/// micro-batch, accumulates each parameter's gradient over micro-batches
/// and then over its uses in use order (exchanging the uses of tied
/// parameters between the ranks that hold them), sums it over the replicas
/// (ppc -data-parallel: in member order, each stage's as soon as its last
/// backward has run here), and applies the optimizer (-zero=1: each replica
/// to its shard, then the parameters are gathered). The error names rank,
/// action and micro-batch.
class Executor {
public:
  Executor(const Plan &plan, int rank, Backend &backend, Transport &transport);
  ~Executor();
  /// Loads and prepares this rank's stage programs.
  Status load();
  /// `io.outputs` must be allocated (allocateOutputs) before. Training: one
  /// step, optimizer included; `step` numbers it in errors.
  Status runBatch(BatchIO &io, std::vector<TraceEvent> *trace,
                  double timeOrigin);
  /// Per-op times of this rank's stages (after enableProfile and a run).
  void enableProfile(bool on);
  std::vector<PreparedStage::OpTime> profile() const;

  /// Training: the forward actions only (the loss and outputs on the
  /// current weights), nothing kept for a backward, no update.
  void setEvalMode(bool on);
  /// After a training step: its loss (the sum of the micro-batches' scaled
  /// losses: the mean over the batch) and the global gradient norm, known
  /// on every rank.
  double lastLoss() const { return lastLoss_; }
  double lastGradNorm() const { return lastGradNorm_; }
  int64_t stepsDone() const { return step_; }
  /// Loss scaling (ppc -loss-scale): the scale the last step's backward
  /// ran with, and whether that step was skipped (a gradient was inf or
  /// NaN on some rank: no update anywhere, the scale backed off).
  bool lossScaling() const { return scaling_; }
  double lastLossScale() const { return lastScale_; }
  bool lastSkipped() const { return lastSkipped_; }
  /// The scaler's state for the next step, and the optimizer steps taken
  /// (the steps not skipped): a checkpoint's, and resumed from one.
  const LossScaler &lossScaler() const { return scaler_; }
  int64_t optimizerSteps() const { return updates_; }
  void resumeScaler(const LossScaler &s, int64_t optimizerSteps) {
    scaler_ = s;
    updates_ = optimizerSteps;
  }
  /// Peak bytes, and micro-batches, that a stage of this rank kept for its
  /// backward at once (the activation memory the schedule implies).
  struct StashPeak {
    int stage;
    int64_t bytes;
    int microbatches;
  };
  std::vector<StashPeak> stashPeaks() const;

  /// Checkpoints: this rank's stages' parameters and optimizer state as
  /// DIR/stage<k>.safetensors under the ONNX names, written by replica 0
  /// (whole tensors: the shards of -zero=1 are gathered first, so every
  /// rank calls it at the same time).
  Status saveCheckpoint(const std::string &dir);
  /// Loads every parameter this rank holds (and its optimizer state) from
  /// the stage<k>.safetensors files of DIR, whatever their partition;
  /// `step` continues the step count and (until resumeScaler says
  /// otherwise) the optimizer's.
  Status loadCheckpoint(const std::string &dir, int64_t step);
  /// Data parallel, one process per rank: each replica computed its own
  /// rows of the model outputs of this rank's stages; this gives every
  /// replica all of them (every replica of the rank calls it).
  Status gatherOutputs(BatchIO &io);
  /// Returns when every rank has called it (a checkpoint is complete).
  Status barrier();
  /// Keeps each parameter's summed gradient of the last step (before
  /// clipping) for saveGradients: the gradient checks.
  void keepGradients(bool on) { keepGradients_ = on; }
  Status saveGradients(const std::string &path) const;
  /// Bytes of optimizer state (momentum, Adam's moments) this rank holds
  /// once it has stepped: divided over the replicas under -zero=1.
  int64_t optimizerStateBytes() const;
  int replica() const { return replica_; }
  int pipelineRank() const { return pipeRank_; }
  /// Bytes sent and received through collectives so far.
  int64_t collectiveBytes() const { return comm->collectiveBytes(); }

private:
  enum Phase { Fwd = 0, BwdB = 1, BwdW = 2 };
  struct Loaded {
    std::shared_ptr<Weights> weights;
    std::unique_ptr<StageProgram> program[3];
    std::unique_ptr<PreparedStage> prepared[3];
  };
  Status runProgram(int stage, Phase phase, int mb, BatchIO &io);
  Status transfer(const Action &a);
  Status finishStep(BatchIO &io);
  /// After the parameters were written: every program's caches are stale.
  void parametersChanged();
  /// A sum of the training state, on the backend, kept from step to step
  /// (allocated once); `step` is the step whose sum it holds.
  struct Sum {
    std::unique_ptr<StateVector> vector;
    int64_t step = -1;
  };
  /// `s`'s vector of n elements for this step (allocated on first use);
  /// `first` says whether this step had not written it yet.
  StatusOr<StateVector *> sumOf(Sum &s, int64_t n, bool *first = nullptr);
  /// Gradients of (parameter, use), from other ranks.
  using UseGradients = std::map<std::pair<std::string, int>, Sum>;
  /// The gradient of use `use` of `p` that this rank computed.
  StatusOr<const StateVector *> localUse(const Plan::Param &p, int use) const;
  /// p's gradient of this step, summed over its uses (and replicas), or
  /// null when this rank did not sum it.
  StateVector *totalOf(const std::string &param);
  /// totals[p] = the sum of p's uses in use order: this rank's, and
  /// `received` for the others'.
  Status sumUses(const Plan::Param &p, const UseGradients *received);
  /// Sums each parameter's uses in use order into totals, those of other
  /// ranks exchanged (tied parameters); skips parameters summed already.
  Status exchangeGradients();
  /// Data parallelism: the gradients of bucket `b` summed over the
  /// replica group (under -zero=1 only this replica's shard).
  Status reduceBucket(int b);
  /// Shares the loss and the gradient norm. `scaled`: the gradients are
  /// multiplied by the loss scale, and an inf or NaN among them skips the
  /// step rather than stopping the run.
  Status syncStep(BatchIO &io, bool scaled);
  /// Loss scaling: the scale into the loss-scale parameter of this rank's
  /// stages, before a step's backward reads it.
  Status writeLossScale();
  Status applyOptimizer(float coefficient);
  /// -zero=1: every replica's updated shard of the parameters to all.
  Status gatherParameters();
  /// Replica 0's state updates (running statistics) to the other replicas.
  Status shareStateUpdates();
  /// World rank of `stage` in this rank's replica.
  int rankOf(int stage) const {
    return plan.stages.at(stage).rank * plan.replicas + replica_;
  }
  bool holds(const Plan::Param &p, int pipelineRank) const;

  // Data parallelism: the parameters this rank holds, in buckets (one per
  // stage, of the parameters only it holds and uses; one of the rest,
  // reduced after the tied exchange at the end of the step). Laid out
  // flat, in plan order; `bounds` splits a bucket over the replicas at
  // the boundaries of the squared-norm chunks, so that under -zero=1 each
  // chunk's sum is computed whole, by one replica, as it is without.
  struct Bucket {
    std::vector<const Plan::Param *> params;
    std::vector<int64_t> offsets; // params + 1
    std::vector<int64_t> bounds;  // replicas + 1
    std::vector<float> flat;
  };
  struct Slot {
    int bucket;
    int64_t offset, lo, hi; // this replica's shard: [lo, hi) of the param
  };
  void layOutBuckets();
  /// A bucket's totals into its flat buffer (`pack`), or back.
  Status copyTotals(Bucket &b, bool pack);
  const Slot *slotOf(const std::string &param) const;

  const Plan &plan;
  int rank;
  int pipeRank_ = 0, replica_ = 0;
  Backend &backend;
  std::unique_ptr<Comm> comm;
  Group world, replicaGroup;
  std::map<int, Bucket> buckets; // by stage; -1: the rest
  std::map<std::string, Slot> slots;
  // Per stage of this rank, the index of its last backward action.
  std::map<int, size_t> lastBackward;
  std::map<int, Loaded> stages;
  // Each model input's and output's batch axis (Plan::Io::batchAxis), and
  // scratch for a micro-batch gathered from or placed on a later axis.
  std::map<std::string, int> batchAxes;
  std::vector<uint8_t> rows;
  bool evalMode = false;
  // Messages received or to send, by (kind: 0 activations, 1 gradients;
  // stage, peer stage, micro-batch).
  using MessageKey = std::tuple<int, int, int, int>;
  std::map<MessageKey, Parcel> inbox, outbox;
  // What a stage keeps from one of its programs to a later one, per
  // (stage, micro-batch) and slot.
  std::map<std::pair<int, int>, std::map<int, std::unique_ptr<Kept>>> stash;
  std::map<int, int64_t> stashBytes;
  std::map<int, StashPeak> stashPeak;
  // The training state lives on the backend (StateVector): gradients
  // summed over micro-batches, per (parameter, use); each held parameter's
  // gradient of the step, summed over its uses (and replicas); optimizer
  // state per (stage, parameter): momentum, or Adam's moments (this
  // replica's shard under -zero=1).
  std::map<std::pair<std::string, int>, Sum> gradAcc;
  std::map<std::string, Sum> totals;
  UseGradients tiedReceived;
  std::map<std::pair<int, std::string>, std::unique_ptr<StateVector>> moment1,
      moment2;
  bool keepGradients_ = false;
  std::map<std::string, std::vector<float>> lastGradients_;
  int64_t step_ = 0;
  double lastLoss_ = 0, lastGradNorm_ = 0;
  // Loss scaling: on or not, the scaler, the optimizer steps taken (AdamW's
  // count: a skipped step leaves it), the last step's scale and skip.
  bool scaling_ = false;
  LossScaler scaler_;
  int64_t updates_ = 0;
  double lastScale_ = 0;
  bool lastSkipped_ = false;
};

/// The shape of a whole batch (what pprun reads and writes) of a model input
/// or output `io`: M micro-batches stacked on its batch axis (none for an
/// input the micro-batches share).
TensorDesc wholeBatch(const Plan::Io &io, int microbatches);
/// ... of the plan's whole batch: every replica's micro-batches.
TensorDesc wholeBatch(const Plan &plan, const Plan::Io &io);

/// Rows [start, start + count) along `axis` of a tensor of shape `whole`
/// and `elementBytes`-byte elements: copied out of `wholeBytes` into
/// `part` (dense), or (`place`) from `part` into them.
void copyRows(const std::vector<int64_t> &whole, size_t elementBytes, int axis,
              int64_t start, int64_t count, const uint8_t *from, uint8_t *to,
              bool place);

/// Checks every model input against the plan (name, dtype, whole-batch
/// shape) and allocates the outputs.
Status checkInputs(const Plan &plan, const BatchIO &io);
void allocateOutputs(const Plan &plan, BatchIO &io);

} // namespace pprt

#endif // PPRT_EXECUTOR_H
