//===- Checkpoint.h - committing a training checkpoint ----------*- C++ -*-===//
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
/// files there: writes its checkpoint.json (`meta`), renames the folder to
/// ROOT/step-N and points ROOT/latest at it.
Status commitCheckpoint(const std::string &root, int64_t step,
                        const std::string &meta,
                        const CommitHooks &hooks = {});

} // namespace pprt

#endif // PPRT_CHECKPOINT_H
