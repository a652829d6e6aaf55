//===- Seeds.cpp - the fuzzers' seed corpora ------------------------------===//
//
// pprt-fuzz-seeds DIR writes valid files of every format into
// DIR/{ppx,safetensors,npy,plan}, built the way the tests build them
// (test/TestPipeline.h), so that no binary corpus is kept in the tree.
//
//===----------------------------------------------------------------------===//

#include "../test/TestPipeline.h"

#include "pprt/Files.h"

#include <cstdio>
#include <sys/stat.h>

using namespace pprt;
using namespace pprt::test;

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pprt-fuzz-seeds DIR\n");
    return 1;
  }
  std::string dir = argv[1];
  ::mkdir(dir.c_str(), 0755);
  for (const char *sub : {"ppx", "safetensors", "npy", "plan", "pipeline"})
    ::mkdir((dir + "/" + sub).c_str(), 0755);
  bool ok = writePipeline(dir + "/pipeline");
  ok &= writeFile(dir + "/ppx/stage0.ppx", buildProgram(stage0Spec()));
  ok &= writeFile(dir + "/ppx/stage1.ppx", buildProgram(stage1Spec()));
  // A few more kernels, so the fuzzer starts from their attributes.
  ProgramSpec s = stage0Spec();
  s.instrs = {{"transpose", {0}, {1}, {{"perm", {0, 1}, true}}}};
  ok &= writeFile(dir + "/ppx/transpose.ppx", buildProgram(s));
  s.instrs = {{"slice", {0}, {1},
               {{"starts", {0, 0}, true}, {"steps", {1, 1}, true}}}};
  ok &= writeFile(dir + "/ppx/slice.ppx", buildProgram(s));
  s.instrs = {{"softmax", {0}, {1}, {{"axis", {}, false, 1}}}};
  ok &= writeFile(dir + "/ppx/softmax.ppx", buildProgram(s));
  s.instrs = {{"reduce_sum", {0}, {1}, {{"axes", {}, true}}}};
  s.buffers[1].shape = {1};
  ok &= writeFile(dir + "/ppx/reduce.ppx", buildProgram(s));
  ok &= writeFile(dir + "/safetensors/one.safetensors",
                  buildSafetensors({{"b", {4}, {1, 2, 3, 4}}}));
  ok &= writeFile(dir + "/safetensors/two.safetensors",
                  buildSafetensors({{"w", {2, 2}, {1, 2, 3, 4}},
                                    {"b", {2}, {5, 6}}}));
  ok &= writeFile(dir + "/safetensors/empty.safetensors", buildSafetensors({}));
  HostTensor t{{DType::F32, {2, 3}}, std::vector<uint8_t>(24, 1)};
  ok &= writeNpy(dir + "/npy/f32.npy", t).isOk();
  HostTensor i{{DType::I64, {4}}, std::vector<uint8_t>(32, 2)};
  ok &= writeNpy(dir + "/npy/i64.npy", i).isOk();
  HostTensor scalar{{DType::U8, {}}, std::vector<uint8_t>(1, 3)};
  ok &= writeNpy(dir + "/npy/scalar.npy", scalar).isOk();
  ok &= writeFile(dir + "/plan/pipeline.json", planJson().dump(2));
  auto train = planJson();
  train["training"] = {{"optimizer", {{"kind", "sgd"}, {"lr", 0.1}}},
                       {"parameters", nlohmann::json::array()}};
  ok &= writeFile(dir + "/plan/training.json", train.dump());
  if (!ok) {
    std::fprintf(stderr, "pprt-fuzz-seeds: cannot write into %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
