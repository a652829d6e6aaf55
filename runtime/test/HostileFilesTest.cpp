//===- HostileFilesTest.cpp - broken and edited artifacts: errors, never crashes -===//
//
// Each test breaks one file of a valid pipeline (TestPipeline.h) the way a
// careless or hostile editor would, and expects a one-line error naming
// the file instead of an abort, a crash, or a run that computes zeros.
//
//===----------------------------------------------------------------------===//

#include "TestPipeline.h"

#include "pprt/Executor.h"
#include "pprt/Plan.h"
#include "pprt/Program.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <thread>

using namespace pprt;
using namespace pprt::test;
using Json = nlohmann::json;

namespace {

std::string freshDir(const std::string &name) {
  std::string dir = testing::TempDir() + "/hostile-" + name;
  std::string cmd = "rm -rf '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(writePipeline(dir));
  return dir;
}

/// Plan::load of the pipeline with pipeline.json replaced by `plan`.
StatusOr<Plan> loadWith(const std::string &name, const Json &plan) {
  std::string dir = freshDir(name);
  EXPECT_TRUE(writeFile(dir + "/pipeline.json", plan.dump()));
  return Plan::load(dir);
}

#define EXPECT_ERROR(expr, text)                                               \
  do {                                                                         \
    auto _r = (expr);                                                          \
    ASSERT_FALSE(_r.isOk()) << "expected an error containing: " << (text);     \
    EXPECT_NE(_r.status().message().find(text), std::string::npos)             \
        << _r.status().message();                                              \
    EXPECT_EQ(_r.status().message().find('\n'), std::string::npos);            \
  } while (0)

StatusOr<std::unique_ptr<StageProgram>> loadProgram(const std::string &name,
                                                    const ProgramSpec &spec) {
  std::string path = testing::TempDir() + "/hostile-" + name + ".ppx";
  EXPECT_TRUE(writeFile(path, buildProgram(spec)));
  auto weights = std::make_shared<Weights>();
  return StageProgram::load(path, weights);
}

} // namespace

TEST(HostilePlan, TheValidPipelineLoadsAndRuns) {
  std::string dir = freshDir("valid");
  auto plan = Plan::load(dir);
  ASSERT_TRUE(plan.isOk()) << plan.status().message();
  auto backend = createCpuBackend(1);
  LocalWorld world(2, 10);
  BatchIO io;
  HostTensor x{{DType::F32, {4, 4}}, std::vector<uint8_t>(64)};
  float *xs = reinterpret_cast<float *>(x.bytes.data());
  for (int i = 0; i < 16; ++i)
    xs[i] = i % 3 == 0 ? -1.f : 1.f;
  io.inputs["x"] = x;
  ASSERT_TRUE(checkInputs(*plan, io).isOk());
  allocateOutputs(*plan, io);
  std::vector<std::unique_ptr<Transport>> transports;
  std::vector<std::unique_ptr<Executor>> executors;
  for (int r = 0; r < 2; ++r) {
    transports.push_back(world.transport(r));
    executors.push_back(
        std::make_unique<Executor>(*plan, r, *backend, *transports.back()));
    ASSERT_TRUE(executors.back()->load().isOk());
  }
  Status st[2];
  std::thread t([&] { st[1] = executors[1]->runBatch(io, nullptr, 0); });
  st[0] = executors[0]->runBatch(io, nullptr, 0);
  t.join();
  ASSERT_TRUE(st[0].isOk()) << st[0].message();
  ASSERT_TRUE(st[1].isOk()) << st[1].message();
  const float *y = reinterpret_cast<const float *>(io.outputs["y"].bytes.data());
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(y[i], (i % 3 == 0 ? 0.f : 1.f) + float(i % 4 + 1)) << i;
}

// Finding 4: JSON type errors threw out of Plan::load (nlohmann's
// type_error); now they are errors naming the field.
TEST(HostilePlan, JsonTypeErrorsAreErrors) {
  Json p = planJson();
  p["ranks"] = "two";
  EXPECT_ERROR(loadWith("ranks-string", p), "'ranks' must be an integer");
  p = planJson();
  p["stages"][0] = 5;
  EXPECT_ERROR(loadWith("stage-number", p), "stages[0] is not an object");
  p = planJson();
  p["stages"][1]["outputs"][0]["shape"] = {2, "four"};
  EXPECT_ERROR(loadWith("shape-string", p), "'shape' must hold integers");
  p = planJson();
  p["schedule"]["ranks"][0][0] = "fwd";
  EXPECT_ERROR(loadWith("action-string", p), "is not an object");
  p = planJson();
  p["schedule"]["ranks"][0][0]["mb"] = 1.5;
  EXPECT_ERROR(loadWith("mb-float", p), "'mb' must be an integer");
  p = planJson();
  p["training"] = {{"optimizer", {{"lr", "fast"}}}};
  EXPECT_ERROR(loadWith("lr-string", p), "'lr' must be a number");
}

// Finding 4: out-of-range stage, rank and peer indices reached map::at (an
// abort) in the executor; now Plan::load refuses them.
TEST(HostilePlan, IndicesOutOfRangeAreRefused) {
  Json p = planJson();
  p["stages"][1]["rank"] = 7;
  EXPECT_ERROR(loadWith("rank-7", p), "'rank' must be an integer in [0, 1]");
  p = planJson();
  p["schedule"]["ranks"][0][1]["peer"] = 9;
  EXPECT_ERROR(loadWith("peer-9", p), "'peer' must be an integer in [0, 1]");
  p = planJson();
  p["schedule"]["ranks"][1][1]["stage"] = -1;
  EXPECT_ERROR(loadWith("stage-neg", p), "'stage' must be an integer");
  p = planJson();
  p["schedule"]["ranks"][1][1]["mb"] = 2;
  EXPECT_ERROR(loadWith("mb-2", p), "'mb' must be an integer in [0, 1]");
  p = planJson();
  p["stages"][0]["stage"] = 1;
  EXPECT_ERROR(loadWith("stage-twice", p), "must be listed in order");
}

// Finding 4: ranks=100000 made pprun allocate ranks^2 queues.
TEST(HostilePlan, HugeRankCountsAreRefused) {
  Json p = planJson();
  p["ranks"] = 100000;
  for (int r = 2; r < 100000; ++r)
    p["schedule"]["ranks"].push_back(Json::array());
  EXPECT_ERROR(loadWith("ranks-100000", p), "'ranks' must be an integer in [1, 1024]");
}

// Finding 4: an output shape that disagreed with the program made the
// executor copy past the output tensor (SIGBUS); now the plan is checked
// against its programs.
TEST(HostilePlan, IoThatDisagreesWithTheProgramIsRefused) {
  Json p = planJson();
  p["stages"][1]["outputs"][0]["shape"] = {1, 1};
  EXPECT_ERROR(loadWith("output-shape", p),
               "output 'y' is F32[1x1] in the plan, F32[2x4] in");
  p = planJson();
  p["stages"][0]["inputs"][0]["shape"] = {1, 4};
  p["inputs"][0]["shape"] = {1, 4};
  EXPECT_ERROR(loadWith("input-shape", p), "input 'x' is F32[1x4] in the plan");
  p = planJson();
  p["stages"][1]["outputs"][0]["name"] = "z";
  EXPECT_ERROR(loadWith("output-name", p), "has output 'y', which the plan");
}

// Finding 5: a schedule whose rank skipped a micro-batch ran and returned
// zeros for it; now the schedule is run once over all ranks at load.
TEST(HostilePlan, AScheduleSkippingAMicrobatchIsRefused) {
  Json p = planJson();
  auto &rank1 = p["schedule"]["ranks"][1];
  rank1.erase(3); // fwd of micro-batch 1
  rank1.erase(2); // its recv_act
  EXPECT_ERROR(loadWith("skip-mb", p),
               "micro-batch 1 never runs forward on stage 1");
  p = planJson();
  p["schedule"]["ranks"][1].erase(0); // recv of micro-batch 0
  EXPECT_ERROR(loadWith("no-recv", p), "needs the activations of stage 0");
  p = planJson();
  std::swap(p["schedule"]["ranks"][1][0], p["schedule"]["ranks"][1][2]);
  std::swap(p["schedule"]["ranks"][1][1], p["schedule"]["ranks"][1][3]);
  EXPECT_ERROR(loadWith("out-of-order", p), "the next message on that channel");
  p = planJson();
  p["schedule"]["ranks"][1].push_back(
      {{"op", "fwd"}, {"stage", 1}, {"mb", 0}});
  EXPECT_ERROR(loadWith("twice", p), "a second time");
}

// Finding 8: entries such as ../x.ppx were opened outside the plan's folder.
TEST(HostilePlan, EntriesOutsideTheFolderAreRefused) {
  Json p = planJson();
  p["stages"][0]["program"] = "../stage0.ppx";
  EXPECT_ERROR(loadWith("dotdot", p), "stage 0 program: path '../stage0.ppx' leaves its folder");
  p = planJson();
  p["stages"][1]["weights"] = "/etc/passwd";
  EXPECT_ERROR(loadWith("absolute", p), "is absolute");
}

// Finding 6: a program whose checksum was recomputed after an edit.
TEST(HostileProgram, ArenaOffsetsNearInt64MaxAreRefused) {
  ProgramSpec s = stage0Spec();
  s.buffers[1].offset = INT64_MAX - 8; // offset + bytes wrapped negative
  EXPECT_ERROR(loadProgram("arena-wrap", s), "lies outside the arena");
}

TEST(HostileProgram, KernelsWithTheWrongOperandsAreRefused) {
  ProgramSpec s = stage0Spec();
  s.instrs = {{"slice", {}, {1}, {}}}; // segfaulted in the kernel
  EXPECT_ERROR(loadProgram("slice-none", s),
               "has 0 operands and 1 results, the kernel takes 1 and 1");
  s.instrs = {{"slice", {0}, {1}, {}}}; // no starts or steps
  EXPECT_ERROR(loadProgram("slice-attrs", s), "attribute 'starts' has 0 values");
  s.instrs = {{"transpose", {0}, {1}, {{"perm", {1, 1}, true}}}};
  EXPECT_ERROR(loadProgram("perm", s), "'perm' is not a permutation");
  s.instrs = {{"matmul", {0, 0}, {1}, {}}};
  EXPECT_ERROR(loadProgram("matmul", s), "inner dimensions differ");
}

TEST(HostileProgram, AResizedBufferIsRefused) {
  // The result grown to 2x8 inside a larger arena: relu wrote past what
  // its operand holds (heap corruption through the executor's copies).
  ProgramSpec s = stage0Spec();
  s.arenaBytes = 96;
  s.buffers[1].shape = {2, 8};
  EXPECT_ERROR(loadProgram("resized", s), "needs equal shapes");
  ProgramSpec c = stage0Spec();
  c.buffers[0] = {fb::BufferKind::Constant, fb::DType::F32, {2, 4}, 0, "",
                  std::vector<uint8_t>(16)};
  EXPECT_ERROR(loadProgram("constant", c), "a constant has the wrong size");
}

TEST(HostileProgram, AHugeArenaIsAnError) {
  ProgramSpec s = stage0Spec();
  s.arenaBytes = int64_t(1) << 62; // threw bad_alloc
  EXPECT_ERROR(loadProgram("huge-arena", s), "arena of");
}

TEST(HostileProgram, UnknownElementTypesAndKindsAreRefused) {
  ProgramSpec s = stage0Spec();
  s.buffers[1].dtype = static_cast<fb::DType>(100);
  EXPECT_ERROR(loadProgram("dtype", s), "unknown element type");
}

// Finding 4 and 12d: safetensors headers.
namespace {
StatusOr<Weights> loadWeights(const std::string &name, const std::string &bytes) {
  std::string path = testing::TempDir() + "/hostile-" + name + ".safetensors";
  EXPECT_TRUE(writeFile(path, bytes));
  return Weights::load(path);
}
std::string withHeader(const std::string &json, const std::string &data) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out.push_back(char((uint64_t(json.size()) >> (8 * i)) & 0xff));
  return out + json + data;
}
} // namespace

TEST(HostileWeights, HeaderTypeErrorsAreErrors) {
  std::string data(16, '\0');
  EXPECT_ERROR(loadWeights("dtype-number", withHeader(
      R"({"w": {"dtype": 5, "shape": [4], "data_offsets": [0, 16]}})", data)),
      "'dtype' must be a string");
  EXPECT_ERROR(loadWeights("shape-string", withHeader(
      R"({"w": {"dtype": "F32", "shape": ["a"], "data_offsets": [0, 16]}})", data)),
      "'shape' must hold integers");
  EXPECT_ERROR(loadWeights("offsets-string", withHeader(
      R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": ["x", 16]}})", data)),
      "'data_offsets' must hold integers");
  EXPECT_ERROR(loadWeights("offsets-negative", withHeader(
      R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}})", data)),
      "'data_offsets' must hold integers");
  EXPECT_ERROR(loadWeights("entry-array", withHeader(R"({"w": [1, 2]})", data)),
               "tensor 'w' is not an object");
}

TEST(HostileWeights, AHeaderLengthShortenedIntoItsPaddingIsCaught) {
  std::string good = buildSafetensors({{"b", {4}, {1, 2, 3, 4}}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | (uint8_t)good[i];
  ASSERT_EQ(good[8 + n - 1], ' ') << "the test needs a padded header";
  ASSERT_TRUE(loadWeights("padded", good).isOk());
  std::string shifted = good;
  shifted[0] = char(n - 1); // one byte of padding becomes data
  EXPECT_ERROR(loadWeights("shifted", shifted), "corrupt header");
  // Overlapping and gapped tensors.
  std::string data(32, '\0');
  EXPECT_ERROR(loadWeights("overlap", withHeader(
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
          "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})", data)),
      "overlap");
}

// Finding 7: the .npy reader.
namespace {
StatusOr<HostTensor> loadNpy(const std::string &name, const std::string &header,
                             int major = 1, size_t dataBytes = 64) {
  std::string h = header;
  while ((10 + h.size() + 1) % 64)
    h += ' ';
  h += '\n';
  std::string out("\x93NUMPY", 6);
  out.push_back(char(major));
  out.push_back(0);
  out.push_back(char(h.size() & 0xff));
  out.push_back(char(h.size() >> 8));
  out += h + std::string(dataBytes, '\0');
  std::string path = testing::TempDir() + "/hostile-" + name + ".npy";
  EXPECT_TRUE(writeFile(path, out));
  return readNpy(path);
}
} // namespace

TEST(HostileNpy, MalformedShapesAreErrors) {
  ASSERT_TRUE(loadNpy("good", "{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (4, 4), }").status().isOk())
      << loadNpy("good2", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }").status().message();
  // std::stoll threw on both.
  EXPECT_ERROR(loadNpy("letters", "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (a, 32), }"),
               "'shape' holds something other than a size");
  EXPECT_ERROR(loadNpy("huge", "{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (99999999999999999999,), }"),
               "does not fit 64 bits");
  EXPECT_ERROR(loadNpy("overflow", "{'descr': '<f4', 'fortran_order': False, "
                                   "'shape': (4294967296, 4294967296), }"),
               "overflows 64 bits");
  EXPECT_ERROR(loadNpy("unclosed", "{'descr': '<f4', 'fortran_order': False, "
                                   "'shape': (4, 4"),
               "malformed .npy header");
  EXPECT_ERROR(loadNpy("no-shape", "{'descr': '<f4', 'fortran_order': False}"),
               "lacks");
}

TEST(HostileNpy, TheFormatVersionIsChecked) {
  EXPECT_ERROR(loadNpy("v9", "{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (4, 4), }",
                       9),
               ".npy format version 9.0");
}
