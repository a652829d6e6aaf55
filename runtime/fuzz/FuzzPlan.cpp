//===- FuzzPlan.cpp - libFuzzer: pipeline.json, checked against its programs ===//
//
// The input is a pipeline.json for the folder of the test pipeline
// (test/TestPipeline.h), written once at start-up: the plan reader and the
// plan verifier (programs, schedule) run on every input.
//
//===----------------------------------------------------------------------===//

#include "../src/Verify.h"
#include "../test/TestPipeline.h"
#include "FuzzFile.h"

#include "pprt/Plan.h"

using namespace pprt;

namespace {
std::string &pipelineDir() {
  static std::string dir;
  return dir;
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  pipelineDir() = fuzz::scratchDir() + "/pprt-fuzz-plan-" +
                  std::to_string(getpid());
  if (!test::writePipeline(pipelineDir()))
    std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  std::string path = pipelineDir() + "/pipeline.json";
  auto plan = Plan::parse(text, pipelineDir(), path);
  if (!plan.isOk())
    return 0;
  Status st = verifyPlan(*plan, path);
  (void)st;
  return 0;
}
