//===- SessionInternal.h - what the session's files share -------*- C++ -*-===//
//
// The started ranks of this process, and the pieces of a run that the
// inference loop (SessionInference.cpp), the training loop
// (SessionTraining.cpp) and the reports (SessionReports.cpp) share.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_SESSIONINTERNAL_H
#define PPRT_SESSIONINTERNAL_H

#include "pprt/Checkpoint.h"
#include "pprt/Executor.h"
#include "pprt/Session.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pprt {

/// The ranks of this process, started and loaded.
struct Session::State {
  SessionOptions o;
  SessionSummary summary;
  std::unique_ptr<Plan> plan; // executors hold a reference: never moved
  std::string transport;      // local | mpi, as resolved
  // Declared in the order they are built: destroyed in reverse, the
  // executors first.
  std::unique_ptr<Transport> mpi; // this process's rank of an MPI world
  bool mpiStarted = false;        // MPI initialised by this session
  bool errorOnRankZero = false;   // the error is everyone's; rank 0 says it
  std::unique_ptr<LocalWorld> world;
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::unique_ptr<Transport>> transports; // local: one a rank
  std::vector<std::unique_ptr<Executor>> executors;   // one a rank
  int firstRank = 0;
  int threadBudget = 1; // this machine's threads, shared by its ranks

  int count() const { return (int)executors.size(); }
  bool underMpi() const { return mpi != nullptr; }
  /// Runs f(i) for each rank i of this process, side by side (threads when
  /// local); the first failure that is not a peer gone (Unavailable) is
  /// the cause, the others report waiting for it. A local rank that fails
  /// aborts its transport so that no other waits for it.
  Status eachRank(const std::function<Status(int)> &f);
  /// Every rank of the run has reached this point.
  Status barrier();
};

namespace session {

/// Seconds on a steady clock.
double seconds();
/// Seeded inputs: floats in [-1, 1), integers 0 or 1, booleans.
HostTensor randomInput(const Plan::Io &io, int microbatches, uint64_t seed);
/// "12.3 MB".
std::string humanBytes(double bytes);
/// ", K pipeline ranks x D replicas" when data parallel, else "".
std::string replicasText(const Plan &plan);

/// --data: one array per model input, samples on the input's batch axis
/// (0, or 1 for a sequence-first model; an input without one is the same
/// for every batch), checked against the plan and taken in batches from a
/// position on, wrapping.
class TrainingData {
public:
  /// Reads and checks the files; without any, one seeded random batch.
  static StatusOr<TrainingData> load(const SessionOptions &o, const Plan &plan);
  /// The batch of samples from `position` on, into io.inputs; returns the
  /// position of the next batch.
  int64_t fill(BatchIO &io, int64_t position) const;

private:
  std::map<std::string, HostTensor> arrays;
  std::map<std::string, int> axes; // batch axis per input
  int64_t batch = 0, samples = -1; // -1: random, one batch
};

Status runInference(Session::State &s);
Status runTraining(Session::State &s);
/// --resume D: every executor of this process loads the checkpoint.
StatusOr<Checkpoint> resume(Session::State &s);

/// --trace FILE: the events of every rank of this process (one file per
/// process under MPI), with the stashes' peaks when training.
Status writeTrace(const Session::State &s,
                  const std::vector<std::vector<TraceEvent>> &traces);
/// --profile FILE: mean microseconds per run of every op by ONNX node (the
/// format of ppc -cost-table), and the kernels that take the most on `err`.
Status writeProfile(const Session::State &s);
/// --calibrate FILE: a device file for ppc -device= (docs/partitioning.md):
/// the ops' forward times from this run, the cores this machine's ranks
/// share, and the transport's latency and bandwidth from a ping-pong
/// between world ranks 0 and 1 (every process of an MPI run takes part;
/// world rank 0 writes the file, with every process's ops).
Status writeCalibration(Session::State &s);

} // namespace session
} // namespace pprt

#endif // PPRT_SESSIONINTERNAL_H
