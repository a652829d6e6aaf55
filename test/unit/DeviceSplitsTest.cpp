//===- DeviceSplitsTest.cpp - the choice among -devices=N splits ----------===//

#include "ppc/Partition/DeviceSplits.h"

#include <gtest/gtest.h>

#include <limits>

using namespace ppc;

namespace {
/// A candidate with the figures of an evaluated split: it fits when
/// `error` is empty.
DeviceCandidate candidate(int stages, double stepTime, int64_t peakMemory,
                          std::string error = "") {
  DeviceCandidate c;
  c.stages = stages;
  c.dataParallel = 8 / stages;
  c.microbatches = stages;
  c.alternative.method = "cost";
  c.alternative.evaluation.stepTime = stepTime;
  c.alternative.evaluation.peakMemory = peakMemory;
  c.alternative.error = std::move(error);
  return c;
}

int chosenCount(const std::vector<DeviceCandidate> &cs) {
  int n = 0;
  for (const DeviceCandidate &c : cs)
    n += c.alternative.chosen;
  return n;
}

/// A chain of `ops` ops, each with 1 MB of parameters, 100 KB of activation
/// and 1 ms of forward, on a device of `memory` bytes.
OpGraph chain(int ops, double memory) {
  OpGraph g;
  for (int i = 0; i < ops; ++i) {
    OpNode n;
    n.op = nullptr;
    n.name = "op" + std::to_string(i);
    n.time = 1e-3;
    n.flops = 1000;
    n.activationBytes = 100000;
    n.params = {i};
    if (i)
      n.producers = {i - 1};
    g.nodes.push_back(n);
    g.paramBytes.push_back(1000000);
    g.paramOps.push_back(nullptr);
    if (i)
      g.edges.push_back({i - 1, {i}, 100000, mlir::Value()});
  }
  g.linkBandwidth = 1e10;
  g.memoryBytes = memory;
  g.memoryBandwidth = 1e12;
  return g;
}

PartitionOptions split(int stages, int dataParallel, double memoryLimit) {
  PartitionOptions o;
  o.ranks = stages;
  o.microbatches = stages;
  o.dataParallel = dataParallel;
  o.schedule = sched::Kind::OneFOneB;
  o.memoryLimit = memoryLimit;
  o.optimizerCopies = 0;
  o.updateInStep = true;
  return o;
}
} // namespace

TEST(DeviceSplits, ChoosesTheFastestThatFits) {
  std::vector<DeviceCandidate> cs = {
      candidate(1, 3e-3, 900),
      candidate(2, 1e-3, 2000, "needs 2 KB per device, over 1 KB"),
      candidate(4, 2e-3, 500),
      candidate(8, 2.5e-3, 400),
  };
  std::string error;
  std::optional<size_t> chosen = chooseCandidate(cs, 8, 1000, error);
  ASSERT_TRUE(chosen);
  EXPECT_EQ(*chosen, 2u);
  EXPECT_TRUE(error.empty());
  EXPECT_TRUE(cs[2].alternative.chosen);
  EXPECT_EQ(chosenCount(cs), 1);
  // The faster candidate over the limit keeps its error, not chosen.
  EXPECT_FALSE(cs[1].alternative.chosen);
  EXPECT_FALSE(cs[1].alternative.error.empty());
}

TEST(DeviceSplits, FirstOfEqualsWins) {
  std::vector<DeviceCandidate> cs = {candidate(1, 2e-3, 100),
                                     candidate(2, 1e-3, 100),
                                     candidate(4, 1e-3, 100)};
  std::string error;
  EXPECT_EQ(chooseCandidate(cs, 4, 0, error), std::optional<size_t>(1));
  EXPECT_EQ(chosenCount(cs), 1);
}

TEST(DeviceSplits, NoneFitsSaysTheLeastMemoryNeeded) {
  std::vector<DeviceCandidate> cs = {
      candidate(1, 3e-3, 4000000, "needs 4 MB per device, over 1 MB"),
      candidate(2, 2e-3, 2000000, "needs 2 MB per device, over 1 MB"),
      candidate(4, 0, 0, "-batch=6 does not split into 2 x 4 micro-batches")};
  std::string error;
  EXPECT_FALSE(chooseCandidate(cs, 4, 1e6, error));
  EXPECT_EQ(chosenCount(cs), 0);
  EXPECT_EQ(error, "-devices=4: no split into stages x data-parallel replicas "
                   "and schedule fits -memory-limit=1 MB; the least memory "
                   "any needs is 2 MB per device");
}

TEST(DeviceSplits, NoneFitsWithoutFiguresSaysWhy) {
  std::vector<DeviceCandidate> cs = {
      candidate(2, 0, 0, "-batch=6 does not split into 2 x 2 micro-batches"),
      candidate(1, 0, 0, "-batch=6 does not split into 1 x 4 micro-batches")};
  std::string error;
  EXPECT_FALSE(chooseCandidate(cs, 4, 0, error));
  EXPECT_EQ(error, "-devices=4: no split into stages x data-parallel replicas "
                   "and schedule fits the device's memory (-batch=6 does not "
                   "split into 1 x 4 micro-batches)");
}

TEST(DeviceSplits, OverTheLimitKeepsItsFigures) {
  OpGraph g = chain(4, 1e12);
  Alternative unlimited = evaluateCandidate(
      g, "uniform", split(1, 1, std::numeric_limits<double>::infinity()));
  ASSERT_TRUE(unlimited.error.empty()) << unlimited.error;
  int64_t need = unlimited.evaluation.peakMemory;
  ASSERT_GT(need, 0);

  Alternative over = evaluateCandidate(g, "uniform", split(1, 1, need / 2));
  EXPECT_EQ(over.error, "needs " + formatBytes(need) + " per device, over " +
                            formatBytes(need / 2));
  EXPECT_EQ(over.evaluation.peakMemory, need);
  EXPECT_GT(over.evaluation.stepTime, 0);

  // Without -memory-limit the device's memory is the cap.
  OpGraph small = chain(4, need / 2);
  Alternative device = evaluateCandidate(small, "uniform", split(1, 1, 0));
  EXPECT_EQ(device.error, over.error);
}

TEST(DeviceSplits, SplitsOfOneGraphUnderALimit) {
  // One stage holds every parameter; two stages halve them but pay a
  // transfer and a bubble. Under a limit between the two, only the
  // pipeline fits, and it is chosen though one stage is faster.
  OpGraph g = chain(4, 1e12);
  double inf = std::numeric_limits<double>::infinity();
  Alternative one = evaluateCandidate(g, "uniform", split(1, 2, inf));
  Alternative two = evaluateCandidate(g, "uniform", split(2, 1, inf));
  ASSERT_TRUE(one.error.empty() && two.error.empty());
  ASSERT_LT(two.evaluation.peakMemory, one.evaluation.peakMemory);
  ASSERT_LT(one.evaluation.stepTime, two.evaluation.stepTime);
  double limit = (one.evaluation.peakMemory + two.evaluation.peakMemory) / 2.0;

  std::vector<DeviceCandidate> cs(2);
  cs[0].stages = 1, cs[0].dataParallel = 2;
  cs[0].alternative = evaluateCandidate(g, "uniform", split(1, 2, limit));
  cs[1].stages = 2, cs[1].dataParallel = 1;
  cs[1].alternative = evaluateCandidate(g, "uniform", split(2, 1, limit));
  EXPECT_EQ(cs[0].alternative.error.rfind("needs ", 0), 0u)
      << cs[0].alternative.error;
  EXPECT_TRUE(cs[1].alternative.error.empty()) << cs[1].alternative.error;

  std::string error;
  EXPECT_EQ(chooseCandidate(cs, 2, limit, error), std::optional<size_t>(1));
  EXPECT_TRUE(cs[1].alternative.chosen);
  EXPECT_FALSE(cs[0].alternative.chosen);

  // A limit under both: nothing fits, and the error names the smaller need.
  for (DeviceCandidate &c : cs) {
    c.alternative = evaluateCandidate(
        g, "uniform", split(c.stages, c.dataParallel, 1000));
    EXPECT_FALSE(c.alternative.error.empty());
  }
  EXPECT_FALSE(chooseCandidate(cs, 2, 1000, error));
  EXPECT_NE(error.find("the least memory any needs is " +
                       formatBytes(two.evaluation.peakMemory)),
            std::string::npos)
      << error;
}
