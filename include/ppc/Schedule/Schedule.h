//===- Schedule.h - pipeline schedules: generate, verify, simulate -*- C++ -*-===//
//
// A schedule is, per rank, the ordered list of actions that rank performs.
// The generators write one for each schedule family; one interpreter runs any
// list over all ranks with blocking receives and buffered sends, and either
// proves that it completes (every recv matched in order, no rank waits
// forever, every forward before its backward, every micro-batch once per
// stage) or says where it goes wrong; given costs it also times it. The
// verifier pass, the simulator and the partitioner all use this one model.
//
// Plain C++ over LLVM's ADTs: no MLIR, so that it is tested directly.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_SCHEDULE_SCHEDULE_H
#define PPC_SCHEDULE_SCHEDULE_H

#include "pprt/Vocabulary.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ppc::sched {

// The schedule and action kinds are the runtime's (pprt/Vocabulary.h, the
// one definition both sides read); pp::ScheduleKind and pp::ActionKind
// (PPPipelineOps.td) are checked against them.
using Kind = pprt::ScheduleKind;
using Op = pprt::ActionKind;

inline llvm::StringRef kindName(Kind kind) {
  return pprt::scheduleKindName(kind);
}
inline std::optional<Kind> parseKind(llvm::StringRef name) {
  return pprt::parseScheduleKind(std::string_view(name.data(), name.size()));
}
inline llvm::StringRef opName(Op op) { return pprt::actionKindName(op); }
/// Whether the schedule runs backward passes (everything but inference).
bool isTraining(Kind kind);
/// The schedule names -schedule= takes, in the order docs list them.
std::string kindNames();

/// Stages per rank: how a schedule places its stages.
/// - one stage a rank (gpipe, 1f1b, zb-h1, zb-h2; inference may take more);
/// - any number V, placed round robin (interleaved, looped-bfs,
///   interleaved-zb): stage s on rank s mod K;
/// - exactly two, placed in a V (zb-v, v-half, dualpipe-v): rank r holds
///   stages r and 2K-1-r, so the first and last stage share rank 0 and the
///   middle two rank K-1.
bool isVShaped(Kind kind);
bool takesVirtualStages(Kind kind);
/// The rank of `stage` of `stages` on `ranks` ranks under `kind`.
int stageRankOf(Kind kind, int stage, int stages, int ranks);

struct Action {
  Op op;
  int stage;
  int mb;
  int peer = -1; // the other stage of a transfer
  bool operator==(const Action &o) const {
    return op == o.op && stage == o.stage && mb == o.mb && peer == o.peer;
  }
};
std::string describe(const Action &a);

/// The stages, where they run and which stages feed which.
struct Topology {
  std::vector<int> stageRank;             // stage -> rank
  std::vector<std::vector<int>> consumers; // stage -> stages it sends to
  int numStages() const { return (int)stageRank.size(); }
  int numRanks() const;
  std::vector<std::vector<int>> producers() const;
  /// A chain s -> s+1 of `stages` stages, stage s on rank s mod `ranks`.
  static Topology chain(int stages, int ranks);
  /// The same chain placed as `kind` places it (stageRankOf).
  static Topology chain(int stages, int ranks, Kind kind);
};

struct Schedule {
  Kind kind = Kind::Inference;
  int microbatches = 1;
  std::vector<std::vector<Action>> ranks;
};

/// Costs the simulator needs, in seconds and bytes.
struct Costs {
  std::vector<double> fwd, bwdB, bwdW; // per stage
  /// Activation bytes a stage keeps per micro-batch until its backward.
  std::vector<int64_t> stashBytes;
  /// Transfer time of one message, stage `from` -> stage `to` (activations;
  /// gradients travel the same bytes the other way).
  std::function<double(int from, int to)> transfer;
  /// Per rank, what follows its last backward (empty: nothing): the
  /// all-reduce of its gradients over the data-parallel replicas, which
  /// starts as soon as that backward ends and overlaps the other ranks'
  /// work, then the optimizer update once the rank's actions are done.
  /// With `zero` (ZeRO-1) the all-reduce is a reduce-scatter before the
  /// update of the rank's shard and an all-gather after it, half each.
  std::vector<double> allReduce, optimizer;
  bool zero = false;
  /// Cores the ranks share (a CPU: the ranks of one machine); 0, or at
  /// least as many as ranks: each rank computes on its own device. With
  /// fewer, n ranks computing at once each progress at cores / n of their
  /// speed (processor sharing), as threads of one machine do.
  int cores = 0;
};

/// Builds the schedule of `kind` for `microbatches` micro-batches. Interleaved
/// takes its virtual stages from the topology (stages / ranks); the V
/// schedules need the V placement (Topology::chain(2K, K, kind)). Returns an
/// error message when the combination cannot be scheduled. ZB-H1, ZB-H2 and
/// V-Half order their actions by the costs when given (unit costs
/// otherwise).
std::optional<Schedule> generate(Kind kind, const Topology &topo,
                                 int microbatches, std::string &error,
                                 const Costs *costs = nullptr);

/// One interval of the simulated timeline.
struct Event {
  int rank;
  Action action;
  double start, end;
};

/// One interval of a rank's step after its actions: the gradient
/// collective and the optimizer update.
struct TailEvent {
  enum Kind { AllReduce, ReduceScatter, Optimizer, AllGather };
  int rank;
  Kind kind;
  double start, end;
};
llvm::StringRef tailName(TailEvent::Kind kind);

struct RunResult {
  bool ok = true;
  // When !ok: where it went wrong and why, and the rank x step table.
  int rank = -1, step = -1;
  std::string message;
  std::string table;
  // When ok and costs were given:
  double stepTime = 0;
  double bubble = 0; // idle fraction of ranks x step time
  std::vector<double> busy;              // per rank, compute seconds
  std::vector<int64_t> peakStashBytes;   // per rank
  std::vector<int> peakInflight;         // per stage, micro-batches held
  std::vector<Event> events;
  std::vector<TailEvent> tail; // with Costs::allReduce / optimizer
  /// Per rank: when its last backward ended (its gradients are ready),
  /// when its step ended; with a tail.
  std::vector<double> gradsReady, rankEnd;
};

/// Runs `s` over `topo`: blocking receives, buffered sends, messages matched
/// in order per (sender, receiver, activation|gradient) channel. With costs it
/// also times every action.
RunResult run(const Schedule &s, const Topology &topo,
              const Costs *costs = nullptr);

/// The rank x step table of `s`, marking (rank, step) when given.
std::string formatTable(const Schedule &s, int markRank = -1,
                        int markStep = -1);

} // namespace ppc::sched

#endif // PPC_SCHEDULE_SCHEDULE_H
