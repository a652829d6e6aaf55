//===- ScheduleTest.cpp - generators and simulator against theory ---------===//

#include "ppc/Schedule/Schedule.h"

#include <gtest/gtest.h>

using namespace ppc::sched;

namespace {
Costs uniformCosts(int stages, double f, double b, double w, double link = 0) {
  Costs c;
  c.fwd.assign(stages, f);
  c.bwdB.assign(stages, b);
  c.bwdW.assign(stages, w);
  c.stashBytes.assign(stages, 100);
  c.transfer = [link](int, int) { return link; };
  return c;
}

RunResult simulate(Kind kind, const Topology &topo, int m, const Costs &c) {
  std::string error;
  auto s = generate(kind, topo, m, error, &c);
  EXPECT_TRUE(s) << error;
  RunResult r = run(*s, topo, &c);
  EXPECT_TRUE(r.ok) << r.message << "\n" << r.table;
  return r;
}
} // namespace

TEST(Schedule, GPipeAnd1F1BBubbleMatchesTheory) {
  for (Kind kind : {Kind::GPipe, Kind::OneFOneB})
    for (int k : {2, 4, 8})
      for (int m : {k, 2 * k, 16}) {
        Topology topo = Topology::chain(k, k);
        RunResult r = simulate(kind, topo, m, uniformCosts(k, 1, 1, 1));
        double theory = double(k - 1) / (m + k - 1);
        EXPECT_NEAR(r.bubble, theory, 0.01 * theory)
            << kindName(kind).str() << " K=" << k << " M=" << m;
        EXPECT_DOUBLE_EQ(r.stepTime, (m + k - 1) * 3.0);
      }
}

TEST(Schedule, InferenceIsGPipeForward) {
  Topology topo = Topology::chain(4, 4);
  RunResult r = simulate(Kind::Inference, topo, 8, uniformCosts(4, 1, 1, 1));
  EXPECT_DOUBLE_EQ(r.stepTime, 8 + 3);
  EXPECT_NEAR(r.bubble, 3.0 / 11, 1e-9);
}

TEST(Schedule, SharedCoresAtLeastRanksChangeNothing) {
  Topology topo = Topology::chain(4, 4);
  Costs alone = uniformCosts(4, 1, 2, 1, 0.25);
  RunResult base = simulate(Kind::OneFOneB, topo, 8, alone);
  for (int cores : {4, 8}) {
    Costs c = alone;
    c.cores = cores;
    RunResult r = simulate(Kind::OneFOneB, topo, 8, c);
    EXPECT_DOUBLE_EQ(r.stepTime, base.stepTime) << cores << " cores";
    ASSERT_EQ(r.events.size(), base.events.size());
    for (size_t i = 0; i < r.events.size(); ++i)
      EXPECT_DOUBLE_EQ(r.events[i].end, base.events[i].end);
  }
}

TEST(Schedule, SharedCoresSlowRanksThatComputeAtOnce) {
  // Two stages on one core, F = 1, two micro-batches: rank 0's second
  // forward and rank 1's first share the core from t = 1 at half speed
  // each, so both end at 3; rank 1's second forward runs alone to 4.
  Topology two = Topology::chain(2, 2);
  Costs c = uniformCosts(2, 1, 1, 1);
  c.cores = 1;
  RunResult r = simulate(Kind::Inference, two, 2, c);
  EXPECT_DOUBLE_EQ(r.stepTime, 4);
  for (const Event &e : r.events) {
    if (e.action.op != Op::Fwd)
      continue;
    double end = e.rank == 0 ? (e.action.mb == 0 ? 1 : 3)
                             : (e.action.mb == 0 ? 3 : 4);
    EXPECT_DOUBLE_EQ(e.end, end) << "rank " << e.rank << " mb " << e.action.mb;
  }
  // On one core the step is all the work, whatever the schedule.
  Topology four = Topology::chain(4, 4);
  Costs one = uniformCosts(4, 1, 1, 1);
  one.cores = 1;
  EXPECT_DOUBLE_EQ(simulate(Kind::Inference, four, 8, one).stepTime, 32);
  EXPECT_DOUBLE_EQ(simulate(Kind::OneFOneB, four, 8, one).stepTime, 96);
  // On two, at least half the work and at least the unshared step.
  one.cores = 2;
  double t = simulate(Kind::Inference, four, 8, one).stepTime;
  EXPECT_GE(t, 16);
  EXPECT_LT(t, 32);
}

TEST(Schedule, AllReduceStartsAtEachRanksLastBackward) {
  // 1F1B, F = 1, B = 2: rank r's last backward ends 2r before the pipeline's
  // (T), so its all-reduce overlaps the backwards still running upstream.
  int k = 4, m = 8;
  double t = (m + k - 1) * 3.0;
  Topology topo = Topology::chain(k, k);
  Costs c = uniformCosts(k, 1, 1, 1);
  c.allReduce = {0, 0, 0, 10};
  RunResult r = simulate(Kind::OneFOneB, topo, m, c);
  ASSERT_EQ(r.gradsReady.size(), 4u);
  for (int rank = 0; rank < k; ++rank)
    EXPECT_DOUBLE_EQ(r.gradsReady[rank], t - 2 * rank);
  EXPECT_DOUBLE_EQ(r.stepTime, t - 6 + 10);
  // The update follows the all-reduce; ZeRO-1 splits the collective
  // around it and ends at the same time.
  c.allReduce = {4, 4, 4, 4};
  c.optimizer = {1, 1, 1, 1};
  EXPECT_DOUBLE_EQ(simulate(Kind::OneFOneB, topo, m, c).stepTime, t + 5);
  c.zero = true;
  RunResult z = simulate(Kind::OneFOneB, topo, m, c);
  EXPECT_DOUBLE_EQ(z.stepTime, t + 5);
  ASSERT_EQ(z.tail.size(), 12u);
  EXPECT_EQ(z.tail[0].kind, TailEvent::ReduceScatter);
  EXPECT_DOUBLE_EQ(z.tail[1].start, t + 2);
  EXPECT_EQ(z.tail[2].kind, TailEvent::AllGather);
  // An inference schedule has no gradients.
  EXPECT_DOUBLE_EQ(simulate(Kind::Inference, topo, m, c).stepTime, m + k - 1);
}

TEST(Schedule, InterleavedBubbleMatchesTheory) {
  // Each of the K*V virtual stages costs 1/V of a rank's model share, so the
  // ideal step is M*(F+B) and the bubble (K-1)/(V*M) of it (Narayanan et al.).
  for (int k : {2, 4})
    for (int v : {2, 4})
      for (int m : {k, 2 * k, 4 * k}) {
        Topology topo = Topology::chain(k * v, k);
        double f = 1.0 / v, b = 2.0 / v;
        Costs c = uniformCosts(k * v, f, b / 2, b / 2);
        RunResult r = simulate(Kind::Interleaved, topo, m, c);
        double ideal = m * 3.0;
        double theory = double(k - 1) / (v * m);
        EXPECT_NEAR((r.stepTime - ideal) / ideal, theory, 0.01 * theory)
            << "K=" << k << " V=" << v << " M=" << m;
      }
}

TEST(Schedule, ZBH1IdleMatchesTheory) {
  for (int k : {2, 4, 8})
    for (double w : {1.0, 0.5}) {
      int m = 2 * k;
      double f = 1, b = 1;
      Topology topo = Topology::chain(k, k);
      RunResult r = simulate(Kind::ZBH1, topo, m, uniformCosts(k, f, b, w));
      for (int rank = 0; rank < k; ++rank)
        EXPECT_NEAR(r.stepTime - r.busy[rank], (k - 1) * (f + b - w), 1e-9)
            << "K=" << k << " W=" << w << " rank " << rank;
    }
}

TEST(Schedule, PeakInflightMicrobatches) {
  int k = 4;
  Topology topo = Topology::chain(k, k);
  for (int m : {2 * k, k}) {
    RunResult r1 = simulate(Kind::OneFOneB, topo, m, uniformCosts(k, 1, 1, 1));
    RunResult rg = simulate(Kind::GPipe, topo, m, uniformCosts(k, 1, 1, 1));
    for (int i = 0; i < k; ++i) {
      EXPECT_EQ(r1.peakInflight[i], std::min(k - i, m)) << "stage " << i;
      EXPECT_EQ(rg.peakInflight[i], m) << "stage " << i;
      EXPECT_EQ(r1.peakStashBytes[i], 100 * std::min(k - i, m));
    }
  }
}

TEST(Schedule, SkipConnectionSendsDirectly) {
  // 0 -> 1 -> 2 -> 3 and 0 -> 3.
  Topology topo = Topology::chain(4, 4);
  topo.consumers[0].push_back(3);
  std::string error;
  for (Kind kind : {Kind::Inference, Kind::GPipe, Kind::OneFOneB, Kind::ZBH1}) {
    auto s = generate(kind, topo, 4, error);
    ASSERT_TRUE(s) << error;
    RunResult r = run(*s, topo);
    EXPECT_TRUE(r.ok) << kindName(kind).str() << ": " << r.message;
    int direct = 0;
    for (const Action &a : s->ranks[0])
      direct += a.op == Op::SendAct && a.peer == 3;
    EXPECT_EQ(direct, 4);
  }
}

TEST(Schedule, GeneratorErrors) {
  std::string error;
  EXPECT_FALSE(generate(Kind::OneFOneB, Topology::chain(4, 4), 2, error));
  EXPECT_NE(error.find("use -microbatches=4 or more"), std::string::npos)
      << error;
  EXPECT_FALSE(generate(Kind::Interleaved, Topology::chain(8, 4), 6, error));
  EXPECT_NE(error.find("multiple of 4"), std::string::npos) << error;
  EXPECT_FALSE(generate(Kind::GPipe, Topology::chain(8, 4), 8, error));
}

namespace {
Schedule gpipe(int k, int m) {
  std::string error;
  return *generate(Kind::GPipe, Topology::chain(k, k), m, error);
}
size_t find(const std::vector<Action> &list, Action a) {
  return std::find(list.begin(), list.end(), a) - list.begin();
}
} // namespace

TEST(ScheduleVerify, MissingSendDeadlocks) {
  Schedule s = gpipe(2, 2);
  auto &r0 = s.ranks[0];
  r0.erase(r0.begin() + find(r0, {Op::SendAct, 0, 1, 1}));
  RunResult r = run(s, Topology::chain(2, 2));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 1);
  EXPECT_NE(r.message.find("deadlock: rank 1 step"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("recv_act stage 1 mb 1 from stage 0"),
            std::string::npos) << r.message;
  EXPECT_NE(r.table.find("rank 0"), std::string::npos);
}

TEST(ScheduleVerify, SwappedPairIsOutOfOrder) {
  Schedule s = gpipe(2, 2);
  auto &r1 = s.ranks[1];
  size_t a = find(r1, {Op::RecvAct, 1, 0, 0});
  size_t b = find(r1, {Op::RecvAct, 1, 1, 0});
  std::swap(r1[a], r1[b]);
  RunResult r = run(s, Topology::chain(2, 2));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.step, (int)a);
  EXPECT_NE(r.message.find("out of order"), std::string::npos) << r.message;
}

TEST(ScheduleVerify, BackwardBeforeForward) {
  Schedule s = gpipe(2, 2);
  auto &r1 = s.ranks[1];
  size_t f = find(r1, {Op::Fwd, 1, 1, -1});
  size_t b = find(r1, {Op::Bwd, 1, 1, -1});
  Action bwd = r1[b];
  r1.erase(r1.begin() + b);
  r1.insert(r1.begin() + f, bwd);
  RunResult r = run(s, Topology::chain(2, 2));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 1);
  EXPECT_NE(r.message.find("before its forward"), std::string::npos)
      << r.message;
}

TEST(ScheduleVerify, MissingMicrobatch) {
  Schedule s = gpipe(1, 2);
  auto &r0 = s.ranks[0];
  r0.erase(r0.begin() + find(r0, {Op::Bwd, 0, 1, -1}));
  RunResult r = run(s, Topology::chain(1, 1));
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("micro-batch 1 never runs backward on stage 0"),
            std::string::npos) << r.message;
}
