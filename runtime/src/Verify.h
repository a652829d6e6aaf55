//===- Verify.h - checking loaded artifacts before they run -----*- C++ -*-===//
//
// A .ppx checksum catches accidents, not edits, so nothing in a program or
// a plan is trusted until checked here: every buffer inside the arena,
// every instruction's operand and result counts, attributes and shapes as
// its kernel reads them, the plan's inputs and outputs against the
// programs', and the schedule run once over all ranks (as ppc's
// -pp-verify-schedule does) so that every micro-batch runs once per stage.
// Errors are one line naming the file.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_VERIFY_H
#define PPRT_VERIFY_H

#include "pprt/Plan.h"
#include "pprt/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pprt {
namespace fb {
struct StageProgram;
}

/// The largest arena a program may ask for (a hostile arena_bytes would
/// otherwise end in bad_alloc).
constexpr int64_t kMaxArenaBytes = int64_t(1) << 40;

/// Checks the .ppx container in [p, p + size) (magic, version, checksum,
/// FlatBuffer verifier) and the program in it (verifyProgram); returns its
/// root, which points into the bytes.
StatusOr<const fb::StageProgram *>
checkStageProgram(const uint8_t *p, size_t size, const std::string &path);

/// Checks a program against what the runtime and its kernels read.
Status verifyProgram(const fb::StageProgram &program, const std::string &path);

/// Checks a parsed plan (`path`: its pipeline.json) against the programs
/// it names, and its schedule.
Status verifyPlan(const Plan &plan, const std::string &path);

/// The schedule of `plan` over the stage graph (`consumers[s]`: the stages
/// stage s sends activations to), run as the executor runs it: every
/// receive matched in order per pair of ranks, no deadlock, every
/// micro-batch once per stage (forward; training also backward and weight
/// gradient), nothing sent that no rank receives.
Status verifySchedule(const Plan &plan,
                      const std::vector<std::vector<int>> &consumers,
                      const std::string &path);

} // namespace pprt

#endif // PPRT_VERIFY_H
