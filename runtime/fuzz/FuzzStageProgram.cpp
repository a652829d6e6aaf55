//===- FuzzStageProgram.cpp - libFuzzer: a .ppx, loaded and run -----------===//
//
// The checksum is recomputed on every input (as someone editing the file
// would), so that the fuzzer reaches the FlatBuffer verifier and the
// program verifier. A program that loads is prepared and run once on the
// CPU backend: whatever the verifier lets through must not crash a kernel.
//
//===----------------------------------------------------------------------===//

#include "FuzzFile.h"

#include "pprt/Backend.h"
#include "pprt/Format.h"
#include "pprt/Program.h"

#include "pprt/stage_generated.h"

#include <string>

using namespace pprt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  if (bytes.size() >= kStageProgramHeaderBytes)
    bytes.replace(0, kStageProgramHeaderBytes,
                  stageProgramHeader(bytes.data() + kStageProgramHeaderBytes,
                                     bytes.size() - kStageProgramHeaderBytes));
  std::string path = fuzz::asFile(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), ".ppx");
  auto weights = std::make_shared<Weights>();
  // First without an arena (the checks only), so that the arena is
  // allocated only when it is small enough to run quickly.
  auto checked = StageProgram::load(path, weights, /*hostArena=*/false);
  if (!checked.isOk())
    return 0;
  const fb::StageProgram &p = (*checked)->program();
  if (p.arena_bytes() > (1 << 20) || (p.instrs() && p.instrs()->size() > 64))
    return 0;
  auto program = StageProgram::load(path, weights);
  if (!program.isOk())
    std::abort(); // the same file, checked a moment ago
  static std::unique_ptr<Backend> backend = createCpuBackend(1);
  auto prepared = backend->prepare(**program);
  if (!prepared.isOk())
    return 0;
  Status st = (*prepared)->run();
  (void)st;
  return 0;
}
