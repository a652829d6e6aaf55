//===- Checkpoint.h - a training checkpoint: its format and commit -*- C++ -*-===//
//
// A checkpoint is a folder, ROOT/step-N, holding stage<k>.safetensors (the
// parameters and optimizer state under the ONNX names, written by each
// rank's Executor) and checkpoint.json (step, data position, schedule and
// stage count, and the loss scaler's state: written by checkpointJson and read by findCheckpoint, here
// alone), with ROOT/latest naming the last complete one.
//
// A checkpoint of step N is written into a staging folder, ROOT/.step-N.tmp,
// and then named: ROOT/step-N, and ROOT/latest naming it. Every step of the
// commit is a rename, so that a process killed at any moment leaves
// `latest` naming a complete checkpoint: the previous one or the new one.
// Resaving a step that exists (a run resumed from an earlier step) swaps
// the new folder in with one atomic exchange, never deleting the old one
// first.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CHECKPOINT_H
#define PPRT_CHECKPOINT_H

#include "pprt/Status.h"

#include <cstdint>
#include <functional>
#include <string>

namespace pprt {

/// What checkpoint.json describes, and where the checkpoint is.
struct Checkpoint {
  std::string dir; // the step-N directory
  int64_t step = 0;
  int64_t position = 0; // the next sample of the training data
  /// The run that saved it (informational: a checkpoint loads into any
  /// partition and schedule); "" and 0 in an older checkpoint.json.
  std::string schedule;
  int64_t stages = 0;
  /// Loss scaling (fp16 training): the scale and growth tracker for the
  /// next step, and the optimizer steps taken (fewer than `step` when
  /// steps were skipped); lossScale 0 and optimizerSteps -1 (= step) in a
  /// run without.
  double lossScale = 0;
  int64_t growthTracker = 0, optimizerSteps = -1;
};

/// The text of checkpoint.json for `c` (its dir is not part of it).
std::string checkpointJson(const Checkpoint &c);

/// `path`: a step-N directory or the checkpoint directory holding latest.
/// Errors start with `flag` (the option that named the path).
StatusOr<Checkpoint> findCheckpoint(const std::string &path,
                                    const std::string &flag);

/// ROOT/.step-N.tmp, where the ranks write step N's stage files.
std::string checkpointStaging(const std::string &root, int64_t step);

/// Creates ROOT and an empty staging folder for step N (removing one that a
/// crashed run left). One rank does this before every rank writes.
Status prepareCheckpoint(const std::string &root, int64_t step);

/// For tests: `beforeRename` is called with 0, 1, ... before each step of
/// the commit that changes what is on disk (a test kills the process
/// there); `noExchange` takes the path of a file system without
/// renameat2(RENAME_EXCHANGE) (NFS), as if the exchange had failed.
struct CommitHooks {
  std::function<void(int)> beforeRename;
  bool noExchange = false;
};

/// Names the staged checkpoint of step N, once every rank has written its
/// files there: writes its checkpoint.json (`meta`: checkpointJson's
/// text), renames the folder to
/// ROOT/step-N and points ROOT/latest at it.
Status commitCheckpoint(const std::string &root, int64_t step,
                        const std::string &meta,
                        const CommitHooks &hooks = {});

} // namespace pprt

#endif // PPRT_CHECKPOINT_H
