//===- CommTest.cpp - collectives: member-order sums, checked headers -----===//

#include "pprt/Comm.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <thread>

using namespace pprt;

namespace {
/// The local transport seen as if between processes, so that the host
/// staging messenger runs over it.
class AsIfRemote : public Transport {
public:
  explicit AsIfRemote(std::unique_ptr<Transport> t) : t(std::move(t)) {}
  int rank() const override { return t->rank(); }
  int size() const override { return t->size(); }
  Status send(int to, std::vector<uint8_t> m) override {
    return t->send(to, std::move(m));
  }
  StatusOr<std::vector<uint8_t>> recv(int from) override {
    return t->recv(from);
  }
  void abort(const std::string &why) override { t->abort(why); }

private:
  std::unique_ptr<Transport> t;
};

/// Runs f(comm) on every rank of a local world of `n`, side by side; the
/// messengers are in-process or host staging.
void onRanks(int n, bool staging, const std::function<void(Comm &)> &f) {
  LocalWorld world(n, 10);
  std::vector<std::unique_ptr<Transport>> links;
  std::vector<std::unique_ptr<Comm>> comms;
  for (int r = 0; r < n; ++r) {
    auto t = world.transport(r);
    links.push_back(staging ? std::make_unique<AsIfRemote>(std::move(t))
                            : std::move(t));
    comms.push_back(createComm(*links.back()));
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] { f(*comms[r]); });
  for (auto &t : threads)
    t.join();
}

/// Values whose sum depends on the order it is taken in.
std::vector<float> values(int rank, int64_t n) {
  std::mt19937 rng(rank + 1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (auto &x : v)
    x = u(rng) * std::pow(10.0f, float(rng() % 8));
  return v;
}

std::vector<float> memberOrderSum(const Group &g, int64_t n) {
  std::vector<float> sum = values(g[0], n);
  for (size_t j = 1; j < g.size(); ++j) {
    auto v = values(g[j], n);
    for (int64_t i = 0; i < n; ++i)
      sum[i] += v[i];
  }
  return sum;
}
} // namespace

class Collectives : public ::testing::TestWithParam<bool> {};

TEST_P(Collectives, AllReduceIsTheMemberOrderSumOnEveryMember) {
  const int64_t n = 1001;
  Group all = {0, 1, 2, 3};
  auto want = memberOrderSum(all, n);
  onRanks(4, GetParam(), [&](Comm &c) {
    auto v = values(c.rank(), n);
    ASSERT_TRUE(c.allReduceSum(all, v.data(), n).isOk());
    EXPECT_EQ(0, std::memcmp(v.data(), want.data(), n * 4)) << c.rank();
  });
}

TEST_P(Collectives, ReduceScatterThenGatherEqualsAllReduceWhateverTheBounds) {
  const int64_t n = 517;
  Group all = {0, 1, 2};
  auto want = memberOrderSum(all, n);
  std::vector<int64_t> bounds = {0, 0, 400, n}; // member 0's piece empty
  onRanks(3, GetParam(), [&](Comm &c) {
    auto v = values(c.rank(), n);
    ASSERT_TRUE(c.reduceScatterSum(all, v.data(), bounds).isOk());
    int me = memberIndex(all, c.rank());
    EXPECT_EQ(0, std::memcmp(v.data() + bounds[me], want.data() + bounds[me],
                             (bounds[me + 1] - bounds[me]) * 4));
    ASSERT_TRUE(c.allGather(all, v.data(), bounds).isOk());
    EXPECT_EQ(0, std::memcmp(v.data(), want.data(), n * 4));
  });
}

TEST_P(Collectives, GroupsOfAWorldKeepTheirOwnCount) {
  // Ranks 0,1 and 2,3 reduce in pairs, then all four gather: a member of
  // several groups stays in step with each.
  onRanks(4, GetParam(), [&](Comm &c) {
    Group pair = c.rank() < 2 ? Group{0, 1} : Group{2, 3};
    for (int round = 0; round < 3; ++round) {
      auto v = values(c.rank() + round, 64);
      ASSERT_TRUE(c.allReduceSum(pair, v.data(), 64).isOk());
    }
    std::vector<uint8_t> mine(c.rank() + 1, uint8_t(c.rank()));
    auto all = c.allGatherBytes({0, 1, 2, 3}, mine);
    ASSERT_TRUE(all.isOk()) << all.status().message();
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ((*all)[j], std::vector<uint8_t>(j + 1, uint8_t(j)));
    int64_t x = c.rank() == 2 ? 42 : 0;
    ASSERT_TRUE(c.broadcast({0, 1, 2, 3}, 2, &x, sizeof x).isOk());
    EXPECT_EQ(x, 42);
    EXPECT_TRUE(c.barrier({0, 1, 2, 3}).isOk());
  });
}

TEST_P(Collectives, MembersInDifferentCollectivesFailLoudly) {
  onRanks(2, GetParam(), [&](Comm &c) {
    float v[4] = {1, 2, 3, 4};
    Status st = c.rank() == 0 ? c.allReduceSum({0, 1}, v, 4)
                              : c.barrier({0, 1});
    ASSERT_FALSE(st.isOk());
    EXPECT_EQ(st.code(), StatusCode::DataLoss) << st.message();
    EXPECT_NE(st.message().find("expected"), std::string::npos);
  });
}

INSTANTIATE_TEST_SUITE_P(Messengers, Collectives, ::testing::Bool(),
                         [](const auto &info) {
                           return info.param ? "HostStaging" : "InProcess";
                         });
