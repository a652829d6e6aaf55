//===- SessionTest.cpp - runs through the library's session ---------------===//
//
// What pprun does, driven as a library: a two-stage training pipeline
// (TestPipeline.h) trained on --data that wraps, its losses against the
// same model and SGD computed here; a checkpoint saved and resumed giving
// the losses of an uninterrupted run, bit for bit; inference writing its
// outputs; and errors returned as a Status, never an exit.
//
//===----------------------------------------------------------------------===//

#include "pprt/Session.h"

#include "pprt/Checkpoint.h"
#include "pprt/Files.h"

#include "TestPipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace pprt;
namespace fs = std::filesystem;

namespace {

constexpr int kSamples = 6, kFeatures = 4, kBatch = 4;

class SessionTest : public testing::Test {
protected:
  void SetUp() override {
    root = testing::TempDir() + "/session-" +
           testing::UnitTest::GetInstance()->current_test_info()->name() +
           "-" + std::to_string(getpid());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }

  /// x and t, kSamples samples (not a whole number of batches: the
  /// batches wrap), and options training on them quietly.
  SessionOptions trainingOptions(const std::string &pipeline) {
    for (int i = x.size(); i < kSamples * kFeatures; ++i) {
      x.push_back(0.25f * (i % 7) - 0.5f);
      t.push_back(0.1f * (i % 5));
    }
    auto npy = [&](const std::string &name, const std::vector<float> &v) {
      HostTensor h{{DType::F32, {kSamples, kFeatures}},
                   std::vector<uint8_t>(v.size() * 4)};
      std::memcpy(h.bytes.data(), v.data(), h.bytes.size());
      std::string path = root + "/" + name + ".npy";
      EXPECT_TRUE(writeNpy(path, h).isOk());
      return path;
    };
    SessionOptions o;
    o.dir = pipeline;
    o.data = {{"x", npy("x", x)}, {"t", npy("t", t)}};
    o.threads = 2;
    return o;
  }

  /// The model and SGD of writeTrainingPipeline, in double: each step's
  /// loss.
  std::vector<double> referenceLosses(int steps, double lr) {
    std::vector<double> w = {0.5, 1, 1.5, 2}, b = {0.1, 0.2, 0.3, 0.4};
    std::vector<double> losses;
    int position = 0;
    for (int step = 0; step < steps; ++step) {
      std::vector<double> gw(kFeatures), gb(kFeatures);
      double loss = 0;
      for (int i = 0; i < kBatch; ++i) {
        int row = (position + i) % kSamples;
        for (int f = 0; f < kFeatures; ++f) {
          double xi = x[row * kFeatures + f], ti = t[row * kFeatures + f];
          double d = xi * w[f] + b[f] - ti;
          loss += d * d / 16;
          double g = 2.0 / 16 * d;
          gb[f] += g;
          gw[f] += g * xi;
        }
      }
      for (int f = 0; f < kFeatures; ++f) {
        w[f] -= lr * gw[f];
        b[f] -= lr * gb[f];
      }
      losses.push_back(loss);
      position = (position + kBatch) % kSamples;
    }
    return losses;
  }

  std::string root;
  std::vector<float> x, t;
};

Status runSession(const SessionOptions &o, SessionSummary *summary = nullptr) {
  Session session(o);
  Status st = session.start();
  if (st.isOk())
    st = session.run();
  if (st.isOk()) {
    if (summary)
      *summary = session.summary();
    session.finish();
  }
  return st;
}

TEST_F(SessionTest, TrainsOnWrappingBatchesAndWritesMetrics) {
  std::string dir = root + "/train";
  ASSERT_TRUE(test::writeTrainingPipeline(dir, {{"kind", "sgd"}, {"lr", 0.1}}));
  SessionOptions o = trainingOptions(dir);
  o.steps = 4;
  o.metrics = root + "/metrics.jsonl";
  SessionSummary summary;
  Status st = runSession(o, &summary);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(summary.startStep, 0);
  std::vector<double> want = referenceLosses(4, 0.1);
  ASSERT_EQ(summary.losses.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(summary.losses[i], want[i], 1e-5 * std::abs(want[i]))
        << "step " << i + 1;
  // The model learns.
  EXPECT_LT(summary.losses.back(), summary.losses.front());
  // One metrics line a step, numbered, with the loss.
  std::ifstream in(o.metrics);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_NE(line.find("{\"step\": " + std::to_string(lines) + ", \"loss\": "),
              std::string::npos)
        << line;
    EXPECT_NE(line.find("\"grad_norm\""), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 4);
}

TEST_F(SessionTest, ResumedRunGivesTheLossesOfAnUninterruptedOne) {
  std::string dir = root + "/train";
  // AdamW: its moments must come back from the checkpoint too.
  ASSERT_TRUE(test::writeTrainingPipeline(dir, {{"kind", "adamw"}, {"lr", 0.05}}));
  SessionOptions o = trainingOptions(dir);
  o.steps = 4;
  o.saveEvery = 2;
  o.checkpointDir = root + "/ck";
  SessionSummary whole;
  Status st = runSession(o, &whole);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(whole.losses.size(), 4u);

  // Every saved checkpoint is described: step, data position, schedule.
  auto ck = findCheckpoint(o.checkpointDir, "");
  ASSERT_TRUE(ck.isOk()) << ck.status().message();
  EXPECT_EQ(ck->step, 4);
  EXPECT_EQ(ck->position, (4 * kBatch) % kSamples);
  EXPECT_EQ(ck->schedule, "gpipe");
  EXPECT_EQ(ck->stages, 2);
  auto two = findCheckpoint(o.checkpointDir + "/step-2", "");
  ASSERT_TRUE(two.isOk()) << two.status().message();
  EXPECT_EQ(two->position, (2 * kBatch) % kSamples);

  SessionOptions r = o;
  r.resume = o.checkpointDir + "/step-2";
  r.checkpointDir = root + "/ck2";
  SessionSummary resumed;
  st = runSession(r, &resumed);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(resumed.startStep, 2);
  ASSERT_EQ(resumed.losses.size(), 2u);
  EXPECT_EQ(resumed.losses[0], whole.losses[2]);
  EXPECT_EQ(resumed.losses[1], whole.losses[3]);

  // Asked for steps the checkpoint has done already: an error, not a run.
  SessionOptions late = r;
  late.steps = 2;
  st = runSession(late);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("--steps 2: the checkpoint is at step 2 already"),
            std::string::npos)
      << st.message();
}

TEST_F(SessionTest, BadDataIsAnErrorNotAnExit) {
  std::string dir = root + "/train";
  ASSERT_TRUE(test::writeTrainingPipeline(dir, {{"kind", "sgd"}}));
  SessionOptions o = trainingOptions(dir);
  HostTensor wide{{DType::F32, {kSamples, 5}},
                  std::vector<uint8_t>(kSamples * 5 * 4)};
  std::string path = root + "/wide.npy";
  ASSERT_TRUE(writeNpy(path, wide).isOk());
  o.data[0].second = path;
  o.metrics = root + "/metrics.jsonl";
  Status st = runSession(o);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
  EXPECT_EQ(st.message(), "--data x=" + path +
                              ": samples of shape F32[6x5], the model takes "
                              "F32[4x4] per batch (samples on axis 0)");
  // Nothing was trained, so nothing was written.
  EXPECT_FALSE(fs::exists(o.metrics));

  // An input the model does not have; --input on a training run.
  o = trainingOptions(dir);
  o.data.push_back({"z", path});
  st = runSession(o);
  EXPECT_NE(st.message().find("the model has no input 'z'"), std::string::npos)
      << st.message();
  o = trainingOptions(dir);
  o.inputs = {{"x", path}};
  st = runSession(o);
  EXPECT_NE(st.message().find("--input is for inference"), std::string::npos)
      << st.message();
}

TEST_F(SessionTest, InferenceWritesOutputs) {
  std::string dir = root + "/infer";
  ASSERT_TRUE(test::writePipeline(dir));
  HostTensor in{{DType::F32, {4, 4}}, std::vector<uint8_t>(64)};
  float *v = reinterpret_cast<float *>(in.bytes.data());
  for (int i = 0; i < 16; ++i)
    v[i] = i % 3 - 1.0f;
  ASSERT_TRUE(writeNpy(root + "/x.npy", in).isOk());
  SessionOptions o;
  o.dir = dir;
  o.inputs = {{"x", root + "/x.npy"}};
  o.outputDir = root + "/out";
  SessionSummary summary;
  Status st = runSession(o, &summary);
  ASSERT_TRUE(st.isOk()) << st.message();
  auto y = readNpy(root + "/out/y.npy");
  ASSERT_TRUE(y.isOk()) << y.status().message();
  ASSERT_EQ(y->bytes.size(), 64u);
  const float *got = reinterpret_cast<const float *>(y->bytes.data());
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(got[i], std::max(v[i], 0.0f) + (i % 4 + 1)) << i;
  EXPECT_NE(summary.checksum, 0u);

  // Training flags on an inference pipeline.
  o.steps = 3;
  st = runSession(o);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("need a pipeline compiled with ppc -train"),
            std::string::npos)
      << st.message();
}

TEST_F(SessionTest, StartFailuresAreReturned) {
  std::string dir = root + "/infer";
  ASSERT_TRUE(test::writePipeline(dir));
  fs::remove(dir + "/stage1.ppx");
  SessionOptions o;
  o.dir = dir;
  Session session(o);
  Status st = session.start();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("stage1.ppx"), std::string::npos) << st.message();
  session.abort(st.message()); // local: nothing else to tell

  o.dir = root + "/nowhere";
  Session none(o);
  st = none.start();
  EXPECT_EQ(st.code(), StatusCode::NotFound) << st.message();

  o.dir = dir;
  o.transport = "carrier-pigeon";
  Session flag(o);
  st = flag.start();
  EXPECT_EQ(st.message(), "--transport=carrier-pigeon: expected local or mpi");
}

} // namespace
