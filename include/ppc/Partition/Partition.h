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

#include "ppc/Partition/Device.h"
#include "ppc/Schedule/Schedule.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <map>
#include <string>
#include <vector>

namespace ppc {

/// The cost annotation -pp-annotate-cost puts on each op.
constexpr llvm::StringLiteral kCostAttr = "pp.cost";
/// The stage -pp-partition gives each op.
constexpr llvm::StringLiteral kStageAttr = "pp.stage";
/// On a pp.param used on several stages: those stages.
constexpr llvm::StringLiteral kTiedAttr = "pp.tied";
/// On backward ops: "bwd" (-pp-autodiff), then "bwd_b" or "bwd_w"
/// (-pp-split-stages); with kFwdIndexAttr, the forward op (numbered among
/// the ops without a phase) whose stage they take.
constexpr llvm::StringLiteral kPhaseAttr = "pp.phase";
constexpr llvm::StringLiteral kFwdIndexAttr = "pp.fwd_index";
/// On the module: the device profile the costs were computed for.
constexpr llvm::StringLiteral kDeviceAttr = "pp.device";
/// On the module: the partition's options and predicted figures.
constexpr llvm::StringLiteral kPartitionAttr = "pp.partition";

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
  double memoryBytes = 0;

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
  int numStages() const { return ranks * virtualStages; }
};

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

/// "1.5 GB", "640 KB": decimal units, three digits.
std::string formatBytes(double bytes);

/// Stage memory in the simulator's model: parameters (four copies when
/// training: weights, gradients, two AdamW moments) plus the activations of
/// every micro-batch in flight.
int64_t stateBytes(int64_t paramBytes, sched::Kind kind);

} // namespace ppc

#endif // PPC_PARTITION_PARTITION_H
