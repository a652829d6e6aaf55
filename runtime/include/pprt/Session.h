//===- Session.h - running a compiled pipeline: inference and training -*- C++ -*-===//
//
// What `pprun` does once its flags are parsed, as library code that tests
// drive: start the ranks of this process (threads of a local world, or this
// process's rank of an MPI job), run inference iterations or the training
// loop (batches of --data, metrics, eval, checkpoints and resume), and
// write outputs, traces and profiles. Every failure is a returned Status:
// the session never prints an error and never exits (pprun prints the one
// line). Progress and summary lines go to the FILEs the options name.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_SESSION_H
#define PPRT_SESSION_H

#include "pprt/Plan.h"
#include "pprt/Status.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pprt {

/// Everything a run is told: pprun's flags, by the same names.
struct SessionOptions {
  std::string dir;       // the pipeline, written by ppc
  std::string outputDir; // --output-dir; "" is DIR/outputs
  /// --transport: local | mpi; "" is mpi under a launcher, else local.
  std::string transport;
  std::string backend = "cpu"; // cpu | cuda
  bool tf32 = false;
  int threads = 0;     // this machine's thread budget; 0: its cores
  double timeout = 30; // seconds a rank waits for a peer
  // Inference (and --eval).
  std::vector<std::pair<std::string, std::string>> inputs; // NAME, FILE.npy
  int iterations = 0; // 0: 1, or 4 on random inputs
  std::string trace, profile;
  /// --calibrate FILE: this machine as `ppc -device=FILE` reads it (the
  /// ops' measured times, the cores the ranks share, the transport's
  /// latency and bandwidth).
  std::string calibrate;
  /// Whether ops are timed (--profile or --calibrate).
  bool profiling() const { return !profile.empty() || !calibrate.empty(); }
  // Training (a pipeline compiled with ppc -train).
  std::vector<std::pair<std::string, std::string>> data; // NAME, FILE.npy
  int steps = 0, saveEvery = 0;
  std::string metrics, checkpointDir, resume, saveGradients;
  bool eval = false;

  /// The command line that started this process: re-run under mpirun for
  /// --transport=mpi outside a launcher.
  std::vector<std::string> command;
  /// Summary lines (pprun: stdout) and the --profile kernel table and the
  /// progress line (pprun: stderr); nullptr: not written.
  std::FILE *out = nullptr, *err = nullptr;
  /// Redraw a progress line on `err` (pprun: when stderr is a terminal).
  bool progress = false;
};

/// The ranks of a run of `plan`, over all processes: one per pipeline rank.
/// (The one place that counts them: data-parallel replicas multiply it.)
int worldRanks(const Plan &plan);

/// What a run measured on the ranks of this process.
struct SessionSummary {
  // Training: the step the run started from (a checkpoint's, or 0), and
  // each step's loss and gradient norm, in order.
  int64_t startStep = 0;
  std::vector<double> losses, gradNorms;
  // Loss scaling (ppc -loss-scale): each step's scale, and whether the
  // step was skipped (inf or NaN gradients).
  std::vector<double> lossScales;
  std::vector<bool> skipped;
  // Inference: the FNV-1a checksum of the outputs this process wrote, and
  // the mean time of a timed batch.
  uint64_t checksum = 0;
  double secondsPerBatch = 0;
};

/// One run of a pipeline: start(), run(), then finish() (or abort() after
/// a failure).
class Session {
public:
  explicit Session(SessionOptions options);
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Loads and checks the plan and starts this process's ranks: the
  /// transport (local threads, or MPI: with --transport=mpi outside a
  /// launcher, the command re-runs under mpirun, and this returns only
  /// if that cannot start), the backends (the machine's thread budget
  /// shared by its ranks), one loaded executor per rank.
  Status start();
  /// After start(): inference iterations, or the training loop. Outputs,
  /// metrics, checkpoints, gradients, trace and profile as the options say.
  Status run();
  /// After a success: closes the MPI world.
  void finish();
  /// After a failure, once it is reported: tells the other processes that
  /// this one failed (MPI: MPI_Abort at once, which does not return;
  /// local: nothing left to do, the failed rank's transport is aborted).
  void abort(const std::string &why);
  /// Whether the failure is every process's alike and rank 0 reports it
  /// for all (mpirun started a different number of processes than the
  /// pipeline has ranks): then this process stays silent.
  bool errorReportedByRankZero() const;

  /// After start(): the plan, and the world ranks this process runs.
  const Plan &plan() const;
  int firstRank() const;
  int rankCount() const;
  const SessionSummary &summary() const;

  struct State;

private:
  std::unique_ptr<State> s;
};

} // namespace pprt

#endif // PPRT_SESSION_H
