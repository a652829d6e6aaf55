//===- CheckpointTest.cpp - kill -9 at every step of a checkpoint commit --===//
//
// A child process commits a checkpoint and is killed (SIGKILL) before the
// k-th step that changes the disk, for every k; the checkpoint that
// `latest` names then must load and hold, bit for bit, the old contents or
// the new ones. Both the first save of a step, a resave of the step latest
// names, and a resave of an older step; with RENAME_EXCHANGE and without.
//
//===----------------------------------------------------------------------===//

#include "pprt/Checkpoint.h"
#include "pprt/Files.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace pprt;
namespace fs = std::filesystem;

namespace {

std::vector<float> payload(float seed) {
  std::vector<float> v(64);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = seed + 0.001f * i;
  return v;
}

std::string metaOf(int64_t step, int64_t position) {
  Checkpoint c;
  c.step = step;
  c.position = position;
  c.schedule = "1f1b";
  c.stages = 1;
  return checkpointJson(c);
}

/// Writes step `step` (tensor w = payload(seed)) through the staging
/// folder and commits it; `killAt` >= 0: SIGKILL before that step.
void save(const std::string &root, int64_t step, float seed, int killAt,
          bool noExchange) {
  ASSERT_TRUE(prepareCheckpoint(root, step).isOk());
  std::vector<float> w = payload(seed);
  NamedTensor t{"w", TensorDesc{DType::F32, {(int64_t)w.size()}}, w.data()};
  ASSERT_TRUE(writeSafetensors(checkpointStaging(root, step) +
                                   "/stage0.safetensors",
                               {t})
                  .isOk());
  CommitHooks hooks;
  hooks.noExchange = noExchange;
  hooks.beforeRename = [&](int at) {
    if (at == killAt)
      ::kill(::getpid(), SIGKILL);
  };
  Status st = commitCheckpoint(root, step, metaOf(step, (int64_t)seed), hooks);
  ASSERT_TRUE(st.isOk()) << st.message();
}

/// The step and seed of the checkpoint `latest` names, checking it loads.
std::pair<int64_t, float> loadLatest(const std::string &root) {
  auto ck = findCheckpoint(root, "");
  EXPECT_TRUE(ck.isOk()) << ck.status().message();
  if (!ck.isOk())
    return {-1, -1};
  auto tensors = CheckpointTensors::load(ck->dir);
  EXPECT_TRUE(tensors.isOk()) << tensors.status().message();
  if (!tensors.isOk())
    return {-1, -1};
  const Weights::Entry *e = tensors->find("w");
  EXPECT_NE(e, nullptr);
  if (!e)
    return {-1, -1};
  float seed = (float)ck->position;
  std::vector<float> want = payload(seed);
  EXPECT_EQ(e->bytes, (int64_t)(want.size() * 4));
  EXPECT_EQ(std::memcmp(e->data, want.data(), want.size() * 4), 0)
      << ck->dir << " does not hold what step " << ck->step << " saved";
  return {ck->step, seed};
}

/// Runs save() in a child killed before step `killAt`; true when it was
/// killed (false: the commit has fewer steps and completed).
bool saveInChild(const std::string &root, int64_t step, float seed, int killAt,
                 bool noExchange) {
  pid_t pid = ::fork();
  if (pid == 0) {
    save(root, step, seed, killAt, noExchange);
    ::_exit(testing::Test::HasFailure() ? 2 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    return true;
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return false;
}

struct Case {
  const char *name;
  // The checkpoints present before (step, seed), the last one latest.
  std::vector<std::pair<int64_t, float>> before;
  int64_t step;
};

void killAtEveryStep(const Case &c, bool noExchange) {
  std::string root = testing::TempDir() + "/ck-" + c.name +
                     (noExchange ? "-noexchange" : "") + "-" +
                     std::to_string(::getpid());
  float newSeed = 99;
  for (int killAt = 0;; ++killAt) {
    SCOPED_TRACE(std::string(c.name) + ", killed before step " +
                 std::to_string(killAt));
    fs::remove_all(root);
    for (auto [step, seed] : c.before)
      save(root, step, seed, -1, noExchange);
    bool killed = saveInChild(root, c.step, newSeed, killAt, noExchange);
    // Before the first checkpoint is named, there is none to load.
    bool none = c.before.empty() && !fs::exists(root + "/latest");
    auto [step, seed] = none ? std::make_pair(int64_t(-1), -1.0f)
                             : loadLatest(root);
    if (!killed) {
      EXPECT_EQ(step, c.step);
      EXPECT_EQ(seed, newSeed);
      ASSERT_GT(killAt, 2) << "the commit should have several steps";
      break;
    }
    // The previous checkpoint or the new one, nothing else.
    bool old = !c.before.empty() && step == c.before.back().first &&
               seed == c.before.back().second;
    bool fresh = step == c.step && seed == newSeed;
    EXPECT_TRUE(old || fresh || none) << "latest names step " << step << ", seed "
                              << seed;
    // A run resumed from there saves again and completes.
    save(root, c.step, newSeed + 1, -1, noExchange);
    EXPECT_EQ(loadLatest(root), std::make_pair(c.step, newSeed + 1));
    ASSERT_LT(killAt, 20);
  }
  fs::remove_all(root);
}

const Case kCases[] = {
    {"first", {}, 1},
    {"next", {{10, 1}}, 11},
    // Resumed from step 10 with latest at step 11 (a NaN rolled back):
    // step 11 is saved again.
    {"resave-latest", {{10, 1}, {11, 2}}, 11},
    {"resave-older", {{10, 1}, {11, 2}}, 10},
};

} // namespace

TEST(CheckpointCommit, KilledAtEveryStepLatestLoads) {
  for (const Case &c : kCases)
    killAtEveryStep(c, /*noExchange=*/false);
}

TEST(CheckpointCommit, KilledAtEveryStepLatestLoadsWithoutExchange) {
  for (const Case &c : kCases)
    killAtEveryStep(c, /*noExchange=*/true);
}

TEST(CheckpointCommit, StaleStagingIsCleared) {
  std::string root = testing::TempDir() + "/ck-stale-" + std::to_string(getpid());
  fs::remove_all(root);
  fs::create_directories(checkpointStaging(root, 3) + "/junk");
  ASSERT_TRUE(prepareCheckpoint(root, 3).isOk());
  EXPECT_TRUE(fs::is_empty(checkpointStaging(root, 3)));
  fs::remove_all(root);
}

// latest and checkpoint.json are files a user may have been handed: latest
// naming a folder outside, or a step that is not a number, is an error.
TEST(FindCheckpoint, HostileLatestAndDescriptionAreErrors) {
  std::string root = testing::TempDir() + "/ck-hostile-" + std::to_string(getpid());
  fs::remove_all(root);
  fs::create_directories(root + "/ck");
  fs::create_directories(root + "/outside");
  auto write = [](const std::string &path, const std::string &text) {
    FILE *f = std::fopen(path.c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  };
  write(root + "/outside/checkpoint.json", "{\"step\": 3}");
  write(root + "/ck/latest", "../outside\n");
  auto out = findCheckpoint(root + "/ck", "--resume ");
  ASSERT_FALSE(out.isOk());
  EXPECT_NE(out.status().message().find("leaves its folder"), std::string::npos)
      << out.status().message();

  fs::create_directories(root + "/ck/step-3");
  write(root + "/ck/latest", "step-3\n");
  write(root + "/ck/step-3/checkpoint.json", "{\"step\": \"x\"}");
  out = findCheckpoint(root + "/ck", "--resume ");
  ASSERT_FALSE(out.isOk());
  EXPECT_NE(out.status().message().find("'step' must be an integer"),
            std::string::npos)
      << out.status().message();

  write(root + "/ck/step-3/checkpoint.json", "{\"step\": 3, \"data_position\": 7}");
  out = findCheckpoint(root + "/ck", "--resume ");
  ASSERT_TRUE(out.isOk()) << out.status().message();
  EXPECT_EQ(out->step, 3);
  EXPECT_EQ(out->position, 7);
  EXPECT_EQ(out->schedule, "");
  fs::remove_all(root);
}

// What checkpointJson writes, findCheckpoint reads back.
TEST(FindCheckpoint, ReadsWhatCheckpointJsonWrites) {
  std::string root = testing::TempDir() + "/ck-json-" + std::to_string(getpid());
  fs::remove_all(root);
  fs::create_directories(root);
  Checkpoint c;
  c.step = 12;
  c.position = 40;
  c.schedule = "zb\"h1";
  c.stages = 3;
  std::string text = checkpointJson(c);
  EXPECT_EQ(text.back(), '\n');
  FILE *f = std::fopen((root + "/checkpoint.json").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  auto out = findCheckpoint(root, "--resume ");
  ASSERT_TRUE(out.isOk()) << out.status().message();
  EXPECT_EQ(out->dir, root);
  EXPECT_EQ(out->step, 12);
  EXPECT_EQ(out->position, 40);
  EXPECT_EQ(out->schedule, "zb\"h1");
  EXPECT_EQ(out->stages, 3);
  fs::remove_all(root);
}
