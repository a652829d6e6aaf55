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

namespace {
/// Per rank, the time it idles between the start of its first compute and
/// the end of its last: the bubble a zero-bubble schedule removes (the
/// start-up offset of later ranks overlaps the previous step's tail).
std::vector<double> innerIdle(const RunResult &r, int ranks) {
  std::vector<double> first(ranks, 1e300), last(ranks, 0), busy(ranks, 0);
  for (const Event &e : r.events) {
    Op op = e.action.op;
    if (op != Op::Fwd && op != Op::Bwd && op != Op::BwdB && op != Op::BwdW)
      continue;
    first[e.rank] = std::min(first[e.rank], e.start);
    last[e.rank] = std::max(last[e.rank], e.end);
    busy[e.rank] += e.end - e.start;
  }
  std::vector<double> idle(ranks);
  for (int i = 0; i < ranks; ++i)
    idle[i] = last[i] - first[i] - busy[i];
  return idle;
}
} // namespace

TEST(Schedule, ZBH2AndZBVHaveNoBubbleWhenFEqualsBEqualsW) {
  // The papers' claim holds once the warm-up is full: M >= 2K-1 (ZB-H2's
  // first rank runs 2K-1 forwards before its first B; fewer micro-batches
  // leave the gap open, as they do in the papers' figures).
  for (int k : {2, 4, 8})
    for (int m : {2 * k - 1, 2 * k, 3 * k}) {
      // ZB-H2: one stage per rank, F = B = W = 1.
      Topology h2 = Topology::chain(k, k);
      RunResult r = simulate(Kind::ZBH2, h2, m, uniformCosts(k, 1, 1, 1));
      for (int rank = 0; rank < k; ++rank)
        EXPECT_NEAR(innerIdle(r, k)[rank], 0, 1e-9)
            << "zb-h2 K=" << k << " M=" << m << " rank " << rank;
      // The parallelogram: rank r starts at r F and runs M (F+B+W) on end.
      EXPECT_DOUBLE_EQ(r.stepTime, m * 3.0 + (k - 1));
      EXPECT_EQ(r.peakInflight[0], 2 * k - 1) << "K=" << k << " M=" << m;
      // ZB-V: 2K stages of half a rank's share each.
      Topology v = Topology::chain(2 * k, k, Kind::ZBV);
      Costs c = uniformCosts(2 * k, 0.5, 0.5, 0.5);
      c.stashBytes.assign(2 * k, 50);
      RunResult rv = simulate(Kind::ZBV, v, m, c);
      for (int rank = 0; rank < k; ++rank)
        EXPECT_NEAR(innerIdle(rv, k)[rank], 0, 1e-9)
            << "zb-v K=" << k << " M=" << m << " rank " << rank;
      // 1F1B's peak, K micro-batches of a rank's share, on every rank.
      RunResult r1 = simulate(Kind::OneFOneB, h2, m, uniformCosts(k, 1, 1, 1));
      for (int rank = 0; rank < k; ++rank)
        EXPECT_LE(rv.peakStashBytes[rank], r1.peakStashBytes[0])
            << "zb-v K=" << k << " M=" << m << " rank " << rank;
      EXPECT_EQ(rv.peakStashBytes[0], r1.peakStashBytes[0])
          << "zb-v K=" << k << " M=" << m;
    }
}

TEST(Schedule, VPlacement) {
  Topology v = Topology::chain(8, 4, Kind::ZBV);
  EXPECT_EQ(v.stageRank, (std::vector<int>{0, 1, 2, 3, 3, 2, 1, 0}));
  std::string error;
  EXPECT_FALSE(generate(Kind::ZBV, Topology::chain(8, 4), 8, error));
  EXPECT_NE(error.find("placed in a V"), std::string::npos) << error;
  EXPECT_FALSE(generate(Kind::ZBH2, Topology::chain(8, 4), 8, error));
}

TEST(ScheduleVerify, BrokenZeroBubbleSchedulesAreRejected) {
  std::string error;
  // ZB-V: a W moved before its B.
  Topology v = Topology::chain(4, 2, Kind::ZBV);
  Schedule s = *generate(Kind::ZBV, v, 4, error);
  auto &r0 = s.ranks[0];
  size_t b = find(r0, {Op::BwdB, 3, 0, -1});
  size_t w = find(r0, {Op::BwdW, 3, 0, -1});
  ASSERT_LT(b, w);
  std::swap(r0[b], r0[w]);
  RunResult r = run(s, v);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 0);
  EXPECT_EQ(r.step, (int)b);
  EXPECT_NE(r.message.find("before its input gradient"), std::string::npos)
      << r.message;
  EXPECT_NE(r.table.find("[w3.0]"), std::string::npos) << r.table;
  // ZB-V: the turn of the V (stage 1 -> 2 on rank 1) is local; a missing
  // send from rank 0 to rank 1 deadlocks rank 1.
  s = *generate(Kind::ZBV, v, 4, error);
  auto &fresh = s.ranks[0];
  fresh.erase(fresh.begin() + find(fresh, {Op::SendAct, 0, 2, 1}));
  r = run(s, v);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 1);
  EXPECT_NE(r.message.find("recv_act stage 1 mb 2 from stage 0"),
            std::string::npos) << r.message;
  EXPECT_NE(r.table.find("rank 1"), std::string::npos);
  // ZB-H2: two receives swapped.
  Topology h = Topology::chain(4, 4);
  s = *generate(Kind::ZBH2, h, 8, error);
  auto &r2 = s.ranks[2];
  size_t a0 = find(r2, {Op::RecvAct, 2, 0, 1});
  size_t a1 = find(r2, {Op::RecvAct, 2, 1, 1});
  std::swap(r2[a0], r2[a1]);
  r = run(s, h);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 2);
  EXPECT_NE(r.message.find("out of order"), std::string::npos) << r.message;
}

TEST(Schedule, SkipConnectionIntoTheV) {
  // 0 -> 1 -> 2 -> 3 and 1 -> 3 in a V on 2 ranks: rank 0 (stages 0, 3)
  // sends rank 1 (stages 1, 2) activations of stage 0 and gradients of
  // stage 3 for both 2 and 1 on one channel, which rank 1 takes in the
  // order they were sent.
  for (Kind kind : {Kind::ZBV, Kind::VHalf, Kind::DualPipeV})
    for (int k : {2, 4}) {
      Topology topo = Topology::chain(2 * k, k, kind);
      topo.consumers[1].push_back(2 * k - 1);
      std::string error;
      auto s = generate(kind, topo, 2 * k, error);
      ASSERT_TRUE(s) << error;
      RunResult r = run(*s, topo);
      EXPECT_TRUE(r.ok) << kindName(kind).str() << " K=" << k << ": "
                        << r.message << "\n" << r.table;
    }
}

TEST(Schedule, VHalfHoldsAboutHalfOf1F1B) {
  for (int k : {2, 4, 8})
    for (int m : {2 * k, 4 * k}) {
      Topology v = Topology::chain(2 * k, k, Kind::VHalf);
      Costs c = uniformCosts(2 * k, 0.5, 0.5, 0.5);
      c.stashBytes.assign(2 * k, 50);
      RunResult r = simulate(Kind::VHalf, v, m, c);
      Topology h = Topology::chain(k, k);
      RunResult r1 = simulate(Kind::OneFOneB, h, m, uniformCosts(k, 1, 1, 1));
      RunResult zv = simulate(Kind::ZBV, v, m, c);
      // K+1 half-share activations: (K+1)/2K of 1F1B's K on stage 0.
      for (int rank = 0; rank < k; ++rank)
        EXPECT_LE(r.peakStashBytes[rank], 50 * (k + 1))
            << "K=" << k << " M=" << m << " rank " << rank;
      EXPECT_LE(2 * r.peakStashBytes[0], r1.peakStashBytes[0]);
      // Its bubble lies between ZB-V's and 1F1B's.
      EXPECT_LT(r.stepTime, r1.stepTime) << "K=" << k << " M=" << m;
      EXPECT_GE(r.stepTime, zv.stepTime) << "K=" << k << " M=" << m;
    }
}

TEST(Schedule, LoopedBFSBubbleMatchesTheory) {
  // Like interleaved: (K-1)/(V*M) of the ideal step M(F+B), for M >= K;
  // every stage holds all M micro-batches, as GPipe.
  for (int k : {2, 4})
    for (int v : {2, 4})
      for (int m : {k, 2 * k, 4 * k}) {
        Topology topo = Topology::chain(k * v, k);
        Costs c = uniformCosts(k * v, 1.0 / v, 1.0 / v, 1.0 / v);
        RunResult r = simulate(Kind::LoopedBFS, topo, m, c);
        double ideal = m * 3.0;
        double theory = double(k - 1) / (v * m);
        EXPECT_NEAR((r.stepTime - ideal) / ideal, theory, 1e-9)
            << "K=" << k << " V=" << v << " M=" << m;
        for (int s = 0; s < k * v; ++s)
          EXPECT_EQ(r.peakInflight[s], m);
      }
}

TEST(Schedule, DualPipeVVerifies) {
  // torch's order for every K and M >= 2K, under uneven costs too; it needs
  // 2K micro-batches.
  for (int k : {2, 4, 8})
    for (int m : {2 * k, 2 * k + 1, 4 * k})
      for (auto [f, b, w] : {std::tuple{1.0, 1.0, 1.0}, {1.0, 2.0, 1.0},
                             {1.0, 1.5, 0.5}}) {
        Topology v = Topology::chain(2 * k, k, Kind::DualPipeV);
        RunResult r = simulate(Kind::DualPipeV, v, m, uniformCosts(2 * k, f, b, w));
        EXPECT_TRUE(r.ok) << "K=" << k << " M=" << m;
      }
  std::string error;
  EXPECT_FALSE(generate(Kind::DualPipeV, Topology::chain(8, 4, Kind::DualPipeV),
                        6, error));
  EXPECT_NE(error.find("use -microbatches=8 or more"), std::string::npos)
      << error;
}

TEST(Schedule, InterleavedZBVerifiesAndMatchesTheory) {
  // torch's order for every K, V and M its rounds allow (M a multiple of
  // max(1, M / K)), under uneven costs too.
  for (int k : {2, 3, 4, 8})
    for (int v : {1, 2, 3, 4})
      for (int m = 1; m <= 4 * k + 1; ++m) {
        if (m % std::max(1, m / k) != 0)
          continue;
        for (auto [f, b, w] : {std::tuple{1.0, 1.0, 1.0}, {1.0, 2.0, 1.0},
                               {1.0, 1.5, 0.5}}) {
          Topology topo = Topology::chain(k * v, k);
          RunResult r = simulate(Kind::InterleavedZB, topo, m,
                                 uniformCosts(k * v, f / v, b / v, w / v));
          EXPECT_TRUE(r.ok) << "K=" << k << " V=" << v << " M=" << m;
        }
      }
  // With a rank's share costing F, B, W (1/V of it a stage) and M a
  // multiple of K: ZB-H1's idle (K-1)(F+B-W), cut V-fold by the
  // interleaving, over the ideal M(F+B+W); the W's held back fill the rest.
  // Every rank holds at most K micro-batches of its share (V*K stage
  // activations), 1F1B's peak on stage 0, against interleaved 1F1B's more.
  for (int k : {2, 4, 8})
    for (int v : {1, 2, 4})
      for (int m : {k, 2 * k, 4 * k})
        for (double w : {1.0, 0.5}) {
          Topology topo = Topology::chain(k * v, k);
          Costs c = uniformCosts(k * v, 1.0 / v, 1.0 / v, w / v);
          RunResult r = simulate(Kind::InterleavedZB, topo, m, c);
          EXPECT_NEAR(r.stepTime, m * (2 + w) + (k - 1) * (2 - w) / v, 1e-9)
              << "K=" << k << " V=" << v << " M=" << m << " W=" << w;
          for (int rank = 0; rank < k; ++rank)
            EXPECT_LE(r.peakStashBytes[rank], 100 * v * k)
                << "K=" << k << " V=" << v << " M=" << m << " rank " << rank;
          EXPECT_EQ(r.peakStashBytes[0], 100 * v * k);
          if (v > 1 && m > k) {
            RunResult i = simulate(Kind::Interleaved, topo, m, c);
            EXPECT_LT(r.stepTime, i.stepTime) << "K=" << k << " V=" << v;
            EXPECT_LT(r.peakStashBytes[0], i.peakStashBytes[0])
                << "K=" << k << " V=" << v << " M=" << m;
          }
        }
  std::string error;
  EXPECT_FALSE(generate(Kind::InterleavedZB, Topology::chain(8, 4), 9, error));
  EXPECT_NE(error.find("multiple of 2 (have 9)"), std::string::npos) << error;
  EXPECT_FALSE(generate(Kind::InterleavedZB, Topology::chain(6, 4), 4, error));
  EXPECT_NE(error.find("same number of virtual stages"), std::string::npos)
      << error;
}

TEST(ScheduleVerify, BrokenInterleavedZBIsRejected) {
  std::string error;
  Topology topo = Topology::chain(8, 4);
  // A W moved before its B.
  Schedule s = *generate(Kind::InterleavedZB, topo, 8, error);
  auto &r3 = s.ranks[3];
  size_t b = find(r3, {Op::BwdB, 7, 0, -1});
  size_t w = find(r3, {Op::BwdW, 7, 0, -1});
  ASSERT_LT(b, w);
  std::swap(r3[b], r3[w]);
  RunResult r = run(s, topo);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.step, (int)b);
  EXPECT_NE(r.message.find("before its input gradient"), std::string::npos)
      << r.message;
  EXPECT_NE(r.table.find("[w7.0]"), std::string::npos) << r.table;
  // The wrap from the last rank's first chunk to rank 0's second (stage 3
  // -> 4) left unsent: rank 0 waits forever.
  s = *generate(Kind::InterleavedZB, topo, 8, error);
  auto &last = s.ranks[3];
  last.erase(last.begin() + find(last, {Op::SendAct, 3, 1, 4}));
  r = run(s, topo);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 0);
  EXPECT_NE(r.message.find("recv_act stage 4 mb 1 from stage 3"),
            std::string::npos) << r.message;
  EXPECT_NE(r.table.find("rank 3"), std::string::npos) << r.table;
  // Two gradients taken off one channel in the wrong order.
  s = *generate(Kind::InterleavedZB, topo, 8, error);
  auto &r1 = s.ranks[1];
  size_t g0 = find(r1, {Op::RecvGrad, 5, 0, 6});
  size_t g1 = find(r1, {Op::RecvGrad, 5, 1, 6});
  ASSERT_LT(g1, r1.size());
  std::swap(r1[g0], r1[g1]);
  r = run(s, topo);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rank, 1);
  EXPECT_NE(r.message.find("out of order"), std::string::npos) << r.message;
}
