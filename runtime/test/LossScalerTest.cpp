//===- LossScalerTest.cpp - GradScaler's update, and its checkpoint -------===//
//
// The scale after each step of a pattern of overflowing and good steps,
// against the sequence torch.amp.GradScaler gives (torch 2.x:
// GradScaler("cpu", init_scale=2**24, growth_interval=3), update() after
// steps whose found_inf is the pattern below); and checkpoint.json keeping
// the scaler's state.
//
//===----------------------------------------------------------------------===//

#include "pprt/Checkpoint.h"
#include "pprt/Files.h"
#include "pprt/LossScaler.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace pprt;

TEST(LossScaler, FollowsGradScaler) {
  LossScaler s{16777216.0f, 0};
  // inf, inf, good x3 (growth), good, inf (reset), good x3, good x2.
  const bool inf[] = {1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
  const float want[] = {8388608,  4194304,  4194304, 4194304,
                        8388608,  8388608,  4194304, 4194304,
                        4194304,  8388608,  8388608, 8388608};
  const int64_t tracker[] = {0, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2};
  for (size_t i = 0; i < sizeof inf; ++i) {
    s.update(inf[i], 2.0f, 0.5f, 3);
    EXPECT_EQ(s.scale, want[i]) << "after step " << i + 1;
    EXPECT_EQ(s.growthTracker, tracker[i]) << "after step " << i + 1;
  }
  EXPECT_EQ(s.inverse(), 1.0f / 8388608.0f);
}

TEST(LossScaler, GrowthStopsAtTheLargestFloat) {
  LossScaler s{3e38f, 0};
  s.update(false, 2.0f, 0.5f, 1);
  EXPECT_EQ(s.scale, 3e38f); // 6e38 is inf in a float: kept as it was
  EXPECT_EQ(s.growthTracker, 0);
}

TEST(LossScaler, CheckpointKeepsTheScaler) {
  std::string root = ::testing::TempDir() + "/loss-scaler-ck";
  std::filesystem::remove_all(root);
  Checkpoint c;
  c.step = 7;
  c.position = 28;
  c.schedule = "1f1b";
  c.stages = 2;
  c.lossScale = 32768;
  c.growthTracker = 2;
  c.optimizerSteps = 5;
  ASSERT_TRUE(prepareCheckpoint(root, 7).isOk());
  ASSERT_TRUE(commitCheckpoint(root, 7, checkpointJson(c)).isOk());
  auto ck = findCheckpoint(root, "");
  ASSERT_TRUE(ck.isOk()) << ck.status().message();
  EXPECT_EQ(ck->lossScale, 32768);
  EXPECT_EQ(ck->growthTracker, 2);
  EXPECT_EQ(ck->optimizerSteps, 5);
  // Without loss scaling: none of the keys, and the optimizer's count is
  // the step.
  c.lossScale = 0;
  EXPECT_EQ(checkpointJson(c).find("loss_scale"), std::string::npos);
  ASSERT_TRUE(prepareCheckpoint(root, 8).isOk());
  c.step = 8;
  ASSERT_TRUE(commitCheckpoint(root, 8, checkpointJson(c)).isOk());
  ck = findCheckpoint(root, "");
  ASSERT_TRUE(ck.isOk()) << ck.status().message();
  EXPECT_EQ(ck->lossScale, 0);
  EXPECT_EQ(ck->optimizerSteps, 8);
  std::filesystem::remove_all(root);
}
