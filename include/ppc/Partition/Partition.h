//===- Partition.h - cutting the op DAG into pipeline stages ----*- C++ -*-===//
//
// The op graph of a function annotated by -pp-annotate-cost, the partition
// methods over it (every one cuts a topological order of the DAG into
// contiguous stages), and the evaluation of a partition: per-stage figures and
// the simulated step time of a schedule. -pp-partition, the report and
// -schedule=auto all use these.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_PARTITION_PARTITION_H
#define PPC_PARTITION_PARTITION_H

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Partition/Device.h"
#include "ppc/Schedule/Schedule.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <map>
#include <string>
#include <vector>

namespace ppc {

// The pp.* attribute names (kCostAttr, kStageAttr, ...): PPAttrNames.h.

struct OpNode {
  mlir::Operation *op;
  std::string name; // the ONNX node name
  double time = 0;  // seconds, forward
  int64_t flops = 0, activationBytes = 0;
  llvm::SmallVector<int> params;    // indices into OpGraph::paramBytes
  llvm::SmallVector<int> producers; // node indices (deduplicated)
};

/// A value computed by one node and used by others: the unit of transfer.
struct Edge {
  int producer;
  llvm::SmallVector<int> users; // node indices, deduplicated
  int64_t bytes;
  mlir::Value value;
};

struct OpGraph {
  std::vector<OpNode> nodes; // in the function's (topological) order
  std::vector<Edge> edges;
  std::vector<int64_t> paramBytes;
  std::vector<mlir::Operation *> paramOps; // the pp.param of each index
  double linkBandwidth = 1, linkLatency = 0;
  double memoryBytes = 0, memoryBandwidth = 0;
  int cores = 0; // shared by the ranks (DeviceProfile::cores)

  double transferTime(int64_t bytes) const;

  /// Builds the graph of `func`; fails with a diagnostic when an op lacks its
  /// cost annotation.
  static std::optional<OpGraph> build(mlir::func::FuncOp func);
};

/// What a partition is optimised for.
struct PartitionOptions {
  int ranks = 1;          // -stages
  int virtualStages = 1;  // stages per rank (interleaved)
  int microbatches = 1;
  sched::Kind schedule = sched::Kind::Inference;
  double memoryLimit = 0; // bytes per device; 0: the device's memory
  /// Replicas of the pipeline; each rank's gradients are all-reduced over
  /// its D replicas. ZeRO-1 shards the optimizer state over them.
  int dataParallel = 1;
  bool zero = false;
  /// f32 optimizer state per parameter: AdamW's two moments (2, also when
  /// the optimizer is not known), SGD's momentum buffer (1), plain SGD (0).
  int optimizerCopies = 2;
  /// Whether the optimizer update ends the simulated step (after the
  /// all-reduce). ppc sets it with data parallelism and for every -devices
  /// candidate; a single replica compiled with -stages leaves it off, so
  /// that its predicted step, and the partition chosen by it, stay those of
  /// the pipeline alone.
  bool updateInStep = false;
  int numStages() const { return ranks * virtualStages; }
  bool training() const { return sched::isTraining(schedule); }
};

/// The optimizer state copies of `module`'s `pp.optimizer` (ppc -train):
/// adamw 2, sgd with momentum 1, sgd 0; 2 without one.
int optimizerStateCopies(mlir::ModuleOp module);

/// What a rank holds and does for its parameters, per the options: the
/// weights, and when training their gradients and optimizer state (all
/// f32), the gradient all-reduce over the replicas and the update.
struct RankState {
  int64_t params = 0, gradients = 0;
  int64_t optimizer = 0;          // per rank (divided by D with ZeRO-1)
  int64_t optimizerUnsharded = 0; // the same without ZeRO-1
  int64_t activations = 0;        // peak in flight
  double allReduce = 0;           // seconds
  double update = 0;              // seconds, the optimizer step
  int64_t total() const { return params + gradients + optimizer + activations; }
  int64_t totalUnsharded() const {
    return params + gradients + optimizerUnsharded + activations;
  }
};
/// `paramBytes` of one rank's stages; activations are left 0.
RankState rankState(int64_t paramBytes, const PartitionOptions &options,
                    double linkBandwidth, double linkLatency,
                    double memoryBandwidth);
/// Ring all-reduce of `bytes` over `replicas`: 2(D-1)/D x bytes / bandwidth
/// + 2(D-1) x latency; 0 for one replica.
double allReduceTime(double bytes, int replicas, double linkBandwidth,
                     double linkLatency);
/// Fills `costs.allReduce`, `costs.optimizer` and `costs.zero` from each
/// rank's parameter bytes (nothing for an inference schedule).
void addTailCosts(sched::Costs &costs, llvm::ArrayRef<int64_t> rankParamBytes,
                  const PartitionOptions &options, double linkBandwidth,
                  double linkLatency, double memoryBandwidth);

/// stage[i] for node i, stages numbered along the pipeline.
using Assignment = std::vector<int>;

/// Per-stage figures and the simulated schedule of one partition.
struct Evaluation {
  struct Stage {
    int rank, ops = 0;
    int64_t flops = 0, paramBytes = 0, activationBytes = 0;
    double time = 0;     // forward, seconds
    int64_t memory = 0;  // parameters (and training state) + in-flight
  };
  std::vector<Stage> stages;
  sched::Topology topology;
  /// Bytes per micro-batch from stage a to stage b (a < b), one message each.
  std::map<std::pair<int, int>, int64_t> messages;
  int64_t crossingBytes = 0; // all messages of one micro-batch
  int skipMessages = 0;      // messages to a stage other than the next
  std::optional<sched::Schedule> schedule;
  sched::RunResult run;
  std::string error; // why the schedule could not be built
  double stepTime = 0, bubble = 0;
  int64_t peakMemory = 0; // the fullest device, bytes
  std::vector<RankState> rankStates; // per rank, with activations
  /// The slowest rank's gradient all-reduce, and the fullest device
  /// without ZeRO-1's sharding.
  double allReduce = 0;
  int64_t peakMemoryUnsharded = 0;
  double slowestStage() const;
  double totalStageTime() const;
};

Evaluation evaluate(const OpGraph &graph, const Assignment &assignment,
                    const PartitionOptions &options);

/// The methods. Each returns an assignment or an error message.
struct PartitionResult {
  Assignment assignment;
  std::string error;
  bool ok() const { return error.empty(); }
};
PartitionResult partitionUniform(const OpGraph &graph, int stages);
PartitionResult partitionParameters(const OpGraph &graph, int stages);
PartitionResult partitionType(const OpGraph &graph, int stages,
                              llvm::StringRef regex);
PartitionResult partitionManual(const OpGraph &graph, int stages,
                                llvm::ArrayRef<std::string> cutAfter);
/// Minimises the predicted step time under the memory limit: a bottleneck DP
/// over two topological orders, checked against the other methods by the
/// simulator (docs/partitioning.md).
PartitionResult partitionCost(const OpGraph &graph,
                              const PartitionOptions &options);
/// "uniform", "parameters", "type:REGEX", "manual:A,B", "cost".
PartitionResult partitionBy(llvm::StringRef method, const OpGraph &graph,
                            const PartitionOptions &options);

/// One partition method under one schedule, evaluated: the rows the report
/// compares and -schedule=auto and -devices choose from.
struct Alternative {
  std::string method, schedule, error;
  Evaluation evaluation;
  bool chosen = false;
};
/// Partitions `graph` by `method` under `options` and simulates it; the
/// error says why not (the partition, the schedule, or "does not fit the
/// memory limit": the limit, or the device's memory without one).
Alternative evaluateAlternative(const OpGraph &graph, llvm::StringRef method,
                                const PartitionOptions &options);
/// -schedule=auto's choice side by side: the alternatives of the chosen
/// one's partition method that were simulated, fastest first (those that
/// fit before those that do not), and one line on why the chosen one won
/// against the next fastest that fits: its bubble, its ranks' compute, the
/// bytes it sends, and any faster candidate the memory limit ruled out.
struct ChoiceExplanation {
  std::vector<int> ranked; // indices into the alternatives
  std::string why;
};
ChoiceExplanation explainChoice(llvm::ArrayRef<Alternative> alternatives);

/// "1f1b", "interleaved v2".
std::string scheduleLabel(sched::Kind kind, int virtualStages);

/// "1.5 GB", "640 KB": decimal units, three digits.
std::string formatBytes(double bytes);

/// A stage's parameter memory in the simulator's model: the weights, and
/// when training their gradients and optimizer state (RankState); the
/// activations of every micro-batch in flight come on top.
int64_t stateBytes(int64_t paramBytes, const PartitionOptions &options);

} // namespace ppc

#endif // PPC_PARTITION_PARTITION_H
