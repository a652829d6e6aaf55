//===- Generators.cpp - per-rank action lists of each schedule family -----===//
//
// Each family fixes the order of compute actions on every rank; the transfers
// are then placed the same way for all of them: a receive right before the
// compute that needs it, a send right after the compute that produced it
// (as Megatron-LM's p2p calls sit around each step).
//
//===----------------------------------------------------------------------===//

#include "ppc/Schedule/Schedule.h"

#include <algorithm>
#include <deque>
#include <map>
#include <tuple>
#include <limits>

using namespace ppc::sched;

std::string ppc::sched::kindNames() {
  std::string names;
  for (const pprt::ScheduleKindInfo &k : pprt::kScheduleKinds)
    names += (names.empty() ? "" : ", ") + std::string(k.name);
  return names;
}

bool ppc::sched::isVShaped(Kind kind) {
  return kind == Kind::ZBV || kind == Kind::VHalf || kind == Kind::DualPipeV;
}

bool ppc::sched::takesVirtualStages(Kind kind) {
  return kind == Kind::Interleaved || kind == Kind::LoopedBFS ||
         kind == Kind::InterleavedZB;
}

int ppc::sched::stageRankOf(Kind kind, int stage, int stages, int ranks) {
  if (isVShaped(kind) && stages == 2 * ranks)
    return stage < ranks ? stage : stages - 1 - stage;
  return stage % ranks;
}

bool ppc::sched::isTraining(Kind kind) { return kind != Kind::Inference; }

std::string ppc::sched::describe(const Action &a) {
  std::string s = opName(a.op).str() + " stage " + std::to_string(a.stage) +
                  " mb " + std::to_string(a.mb);
  if (a.op == Op::SendAct || a.op == Op::SendGrad)
    s += " to stage " + std::to_string(a.peer);
  else if (a.op == Op::RecvAct || a.op == Op::RecvGrad)
    s += " from stage " + std::to_string(a.peer);
  return s;
}

int Topology::numRanks() const {
  int n = 0;
  for (int r : stageRank)
    n = std::max(n, r + 1);
  return n;
}

std::vector<std::vector<int>> Topology::producers() const {
  std::vector<std::vector<int>> result(stageRank.size());
  for (int s = 0; s < numStages(); ++s)
    for (int c : consumers[s])
      result[c].push_back(s);
  return result;
}

Topology Topology::chain(int stages, int ranks) {
  return chain(stages, ranks, Kind::Interleaved);
}

Topology Topology::chain(int stages, int ranks, Kind kind) {
  Topology t;
  t.consumers.resize(stages);
  for (int s = 0; s < stages; ++s) {
    t.stageRank.push_back(stageRankOf(kind, s, stages, ranks));
    if (s + 1 < stages)
      t.consumers[s].push_back(s + 1);
  }
  return t;
}

namespace {
using Order = std::vector<std::vector<Action>>; // compute actions per rank

Action compute(Op op, int stage, int mb) { return Action{op, stage, mb, -1}; }

/// The stages of each rank, in stage order.
std::vector<std::vector<int>> stagesByRank(const Topology &topo) {
  std::vector<std::vector<int>> result(topo.numRanks());
  for (int s = 0; s < topo.numStages(); ++s)
    result[topo.stageRank[s]].push_back(s);
  return result;
}

Order inferenceOrder(const Topology &topo, int m) {
  auto byRank = stagesByRank(topo);
  Order order(byRank.size());
  for (size_t r = 0; r < byRank.size(); ++r)
    for (int mb = 0; mb < m; ++mb)
      for (int s : byRank[r])
        order[r].push_back(compute(Op::Fwd, s, mb));
  return order;
}

Order gpipeOrder(const Topology &topo, int m) {
  Order order = inferenceOrder(topo, m);
  auto byRank = stagesByRank(topo);
  for (size_t r = 0; r < byRank.size(); ++r)
    for (int mb = 0; mb < m; ++mb)
      for (auto it = byRank[r].rbegin(); it != byRank[r].rend(); ++it)
        order[r].push_back(compute(Op::Bwd, *it, mb));
  return order;
}

/// 1F1B: K-r-1 warm-up forwards, then one forward and one backward in turn,
/// then the remaining backwards.
Order oneFOneBOrder(const Topology &topo, int m) {
  int k = topo.numStages();
  Order order(k);
  for (int r = 0; r < k; ++r) {
    auto &list = order[r];
    int warm = std::min(k - r - 1, m);
    for (int i = 0; i < warm; ++i)
      list.push_back(compute(Op::Fwd, r, i));
    for (int i = 0; i < m; ++i) {
      if (warm + i < m)
        list.push_back(compute(Op::Fwd, r, warm + i));
      list.push_back(compute(Op::Bwd, r, i));
    }
  }
  return order;
}

/// The zero-bubble family's list scheduler (Qi et al., "Zero Bubble
/// Pipeline Parallelism", ICLR 2024, whose own scheduler is greedy too):
/// backward is split into B (input gradients, on the critical path) and W
/// (weight gradients, which can wait). Ranks are simulated on the stage
/// costs (unit costs when none are given); a free rank runs a ready B, else
/// a ready F that its activation budget allows, else a held-back W, except
/// that more than `maxHeldW` held-back W's force one first. The budget is
/// counted in (stage, micro-batch) activations held between F and B on the
/// rank; a micro-batch that starts on a rank reserves room for all of the
/// rank's stages, so that a rank of two stages never fills its budget with
/// first-stage forwards and starves the second (no deadlock at any budget
/// of at least the rank's stage count). Among ready B's or F's of one rank
/// the one ready first runs, ties going to the later stage.
Order zeroBubbleOrder(const Topology &topo, int m, const Costs *costs,
                      const std::vector<int> &budget, int maxHeldW,
                      std::string &error) {
  int stages = topo.numStages(), k = topo.numRanks();
  auto producers = topo.producers();
  auto byRank = stagesByRank(topo);
  auto cost = [&](const std::vector<double> Costs::*field, int s) {
    return costs ? (costs->*field)[s] : 1.0;
  };
  auto link = [&](int from, int to) {
    if (topo.stageRank[from] == topo.stageRank[to])
      return 0.0;
    return costs && costs->transfer ? costs->transfer(from, to) : 0.0;
  };
  const double unknown = std::numeric_limits<double>::infinity();
  // When each stage's forward and input-gradient of each micro-batch ended.
  std::vector<std::vector<double>> fEnd(stages, std::vector<double>(m, unknown));
  std::vector<std::vector<double>> bEnd(stages, std::vector<double>(m, unknown));
  auto inputReady = [&](int s, int mb) {
    double t = 0;
    for (int p : producers[s])
      t = std::max(t, fEnd[p][mb] + link(p, s));
    return t;
  };
  auto gradReady = [&](int s, int mb) {
    if (topo.consumers[s].empty())
      return fEnd[s][mb]; // the loss
    double t = 0;
    for (int c : topo.consumers[s])
      t = std::max(t, bEnd[c][mb] + link(s, c));
    return t;
  };
  std::vector<double> clock(k, 0);
  std::vector<int> nextF(stages, 0), nextB(stages, 0);
  std::vector<int> held(k, 0), reserved(k, 0);
  std::vector<std::deque<std::pair<int, int>>> pendingW(k);
  Order order(k);
  auto finished = [&](int r) {
    for (int s : byRank[r])
      if (nextB[s] < m)
        return false;
    return pendingW[r].empty();
  };
  // The rank's next B and next F that may run once their inputs are there.
  struct Choice {
    Op op = Op::Fwd;
    int stage = -1;
    double ready = 0;
  };
  auto candidates = [&](int r, Op op) {
    Choice best;
    best.op = op;
    best.ready = unknown;
    for (int i = 0; i < (int)byRank[r].size(); ++i) {
      int s = byRank[r][i];
      double ready;
      if (op == Op::BwdB) {
        if (nextB[s] >= nextF[s])
          continue;
        ready = gradReady(s, nextB[s]);
      } else {
        if (nextF[s] >= m)
          continue;
        if (i == 0 && held[r] + reserved[r] + (int)byRank[r].size() > budget[r])
          continue;
        ready = inputReady(s, nextF[s]);
      }
      if (ready != unknown && (best.stage < 0 || ready <= best.ready))
        best.stage = s, best.ready = ready;
    }
    return best;
  };
  auto decide = [&](int r) {
    double now = clock[r];
    if ((int)pendingW[r].size() > maxHeldW)
      return Choice{Op::BwdW, pendingW[r].front().first, now};
    for (Op op : {Op::BwdB, Op::Fwd}) {
      Choice c = candidates(r, op);
      if (c.stage >= 0 && c.ready <= now)
        return c;
    }
    if (!pendingW[r].empty())
      return Choice{Op::BwdW, pendingW[r].front().first, now};
    return Choice{};
  };
  while (true) {
    // A rank with nothing to do now moves its clock to the next input or
    // gradient it knows of; one waiting on a rank that has not computed it
    // yet stays put until that rank has.
    for (int r = 0; r < k; ++r) {
      if (finished(r) || decide(r).stage >= 0)
        continue;
      double next = std::min(candidates(r, Op::BwdB).ready,
                             candidates(r, Op::Fwd).ready);
      if (next != unknown)
        clock[r] = std::max(clock[r], next);
    }
    // The rank that can act earliest goes first, so that everything it could
    // have received by then is already known.
    int r = -1;
    for (int i = 0; i < k; ++i)
      if (!finished(i) && decide(i).stage >= 0 && (r < 0 || clock[i] < clock[r]))
        r = i;
    if (r < 0)
      break;
    Choice c = decide(r);
    int s = c.stage;
    switch (c.op) {
    case Op::BwdB: {
      int mb = nextB[s]++;
      order[r].push_back(compute(Op::BwdB, s, mb));
      clock[r] += cost(&Costs::bwdB, s);
      bEnd[s][mb] = clock[r];
      pendingW[r].push_back({s, mb});
      --held[r];
      break;
    }
    case Op::Fwd: {
      int mb = nextF[s]++;
      order[r].push_back(compute(Op::Fwd, s, mb));
      clock[r] += cost(&Costs::fwd, s);
      fEnd[s][mb] = clock[r];
      ++held[r];
      // The micro-batch now holds room for the rank's later stages.
      reserved[r] += s == byRank[r].front() ? (int)byRank[r].size() - 1 : -1;
      break;
    }
    default: {
      auto [ws, mb] = pendingW[r].front();
      pendingW[r].pop_front();
      order[r].push_back(compute(Op::BwdW, ws, mb));
      clock[r] += cost(&Costs::bwdW, ws);
      break;
    }
    }
  }
  for (int r = 0; r < k; ++r)
    if (!finished(r)) {
      error = "the activation budget of " + std::to_string(budget[r]) +
              " micro-batches on rank " + std::to_string(r) +
              " leaves its schedule stuck";
      return {};
    }
  return order;
}

/// ZB-H1: rank r keeps at most K-r micro-batches between F and B (1F1B's
/// activation memory) and holds back at most K-1 W's (a W keeps only its
/// layer inputs and output gradients). With equal costs each rank idles
/// (K-1)(F+B-W), the paper's figure (test/unit/ScheduleTest.cpp).
Order zbH1Order(const Topology &topo, int m, const Costs *costs,
                std::string &error) {
  int k = topo.numRanks();
  std::vector<int> budget(k);
  for (int r = 0; r < k; ++r)
    budget[r] = std::min(k - r, m);
  return zeroBubbleOrder(topo, m, costs, budget, k - 1, error);
}

/// ZB-H2 (the same paper, section 3.2): more forwards in the warm-up, 2(K-r)-1
/// on rank r, fill the bubble before the first B, and the W's, held back as
/// long as other work is ready, fill the tail: the trapezoid becomes a
/// parallelogram, and with F = B = W no rank idles once it has started.
/// Rank 0 holds up to 2K-1 micro-batches, against 1F1B's K.
Order zbH2Order(const Topology &topo, int m, const Costs *costs,
                std::string &error) {
  int k = topo.numRanks();
  std::vector<int> budget(k);
  for (int r = 0; r < k; ++r)
    budget[r] = std::min(2 * (k - r) - 1, m);
  return zeroBubbleOrder(topo, m, costs, budget,
                         std::numeric_limits<int>::max(), error);
}

/// ZB-V (Qi et al., "Pipeline Parallelism with Controllable Memory", 2024;
/// torch.distributed.pipelining's ScheduleZBVZeroBubble, whose order this
/// is): 2K stages placed in a V, rank r holding chunk 0 = stage r and chunk
/// 1 = stage 2K-1-r. Warm-up: 2(K-r)-1 forwards of chunk 0, then r pairs of
/// chunk 1 and chunk 0 forwards, then K-r rounds of F B W on chunk 1; the
/// steady state alternates F B W of chunk 0 with F B W of chunk 1; the
/// cool-down runs the remaining B's of both chunks and fills the tail with
/// the W's. The order is built for max(M, 2K-1) micro-batches and the ones
/// past M dropped, as torch does. With F = B = W no rank idles once it has
/// started, and each rank holds at most 2K chunk activations: K micro-batches
/// of its model share, 1F1B's peak on stage 0, on every rank.
Order zbVOrder(const Topology &topo, int m) {
  int k = topo.numRanks(), stages = topo.numStages();
  int count = std::max(2 * k - 1, m);
  Order order(k);
  for (int r = 0; r < k; ++r) {
    auto &list = order[r];
    int s0 = r, s1 = stages - 1 - r;
    int f0 = 0, f1 = 0, b0 = 0, b1 = 0;
    auto add = [&](Op op, int stage, int mb) {
      if (mb < m)
        list.push_back(compute(op, stage, mb));
    };
    for (int i = 0; i < 2 * (k - r) - 1; ++i)
      add(Op::Fwd, s0, f0++);
    for (int i = 0; i < r; ++i) {
      add(Op::Fwd, s1, f1++);
      add(Op::Fwd, s0, f0++);
    }
    for (int i = 0; i < k - r; ++i) {
      add(Op::Fwd, s1, f1++);
      add(Op::BwdB, s1, b1);
      add(Op::BwdW, s1, b1++);
    }
    while (f1 < f0 || f0 < count) {
      if (f0 < count)
        add(Op::Fwd, s0, f0++);
      add(Op::BwdB, s0, b0);
      add(Op::BwdW, s0, b0++);
      add(Op::Fwd, s1, f1++);
      add(Op::BwdB, s1, b1);
      add(Op::BwdW, s1, b1++);
    }
    int w0 = b0, w1 = b1;
    for (int i = 0; i < r; ++i) {
      add(Op::BwdB, s0, b0++);
      add(Op::BwdB, s1, b1++);
    }
    for (int i = 0; i < k - r; ++i) {
      add(Op::BwdB, s0, b0++);
      add(Op::BwdW, s0, w0++);
    }
    while (w1 < b1)
      add(Op::BwdW, s1, w1++);
    while (w0 < b0)
      add(Op::BwdW, s0, w0++);
  }
  return order;
}

/// V-Half (Qi et al., "Pipeline Parallelism with Controllable Memory",
/// 2024): the V placement of ZB-V under about half of 1F1B's activation
/// memory. The paper builds it from a repeated building block whose
/// lifespans it shortens; here the same rules are met by the zero-bubble
/// list scheduler on the V with every rank's budget K+1 half-share
/// activations, (K+1)/2 micro-batches of its model share against 1F1B's K
/// on stage 0, and W's held back while other work is ready. The price is
/// the bubble the paper reports for it: more than ZB-V's, less than 1F1B's
/// at equal costs (test/unit/ScheduleTest.cpp).
Order vHalfOrder(const Topology &topo, int m, const Costs *costs,
                 std::string &error) {
  int k = topo.numRanks();
  std::vector<int> budget(k, k + 1);
  return zeroBubbleOrder(topo, m, costs, budget,
                         std::numeric_limits<int>::max(), error);
}

/// Looped BFS (Lamy-Poirier, "Breadth-First Pipeline Parallelism", 2022;
/// torch.distributed.pipelining's ScheduleLoopedBFS): rank r runs every
/// micro-batch's forward through its first stage, then through its next
/// (stages placed round robin), then the backwards stage by stage from its
/// last. torch walks each stage's backwards from the last micro-batch; here
/// from the first, so that a stage's gradients are summed in micro-batch
/// order as in every other schedule (bitwise the same result); the bubble
/// and GPipe's memory (M micro-batches a stage) are the same either way.
Order loopedBFSOrder(const Topology &topo, int m) {
  auto byRank = stagesByRank(topo);
  Order order(byRank.size());
  for (size_t r = 0; r < byRank.size(); ++r) {
    for (int s : byRank[r])
      for (int mb = 0; mb < m; ++mb)
        order[r].push_back(compute(Op::Fwd, s, mb));
    for (auto it = byRank[r].rbegin(); it != byRank[r].rend(); ++it)
      for (int mb = 0; mb < m; ++mb)
        order[r].push_back(compute(Op::Bwd, *it, mb));
  }
  return order;
}

/// DualPipeV (DeepSeek's DualPipe cut in half, "DualPipeV";
/// torch.distributed.pipelining's ScheduleDualPipeV, whose order this is):
/// the V placement; warm-up 2(K-r-1) first-chunk forwards, r+1 pairs of
/// first- and second-chunk forwards, K-r-1 rounds of a second-chunk B, a
/// held-back W and a second-chunk F; then the steady state of "F&B" pairs,
/// a forward of one chunk beside a whole backward of the other (DualPipe
/// overlaps the two so that one's communication hides under the other's
/// compute; pprun runs them one after the other, F first, so F&B = F + B);
/// the cool-down switches half-way to split B's whose W's fill the tail.
/// Needs M >= 2K.
Order dualPipeVOrder(const Topology &topo, int m) {
  int k = topo.numRanks(), stages = topo.numStages();
  Order order(k);
  for (int r = 0; r < k; ++r) {
    auto &list = order[r];
    int s0 = r, s1 = stages - 1 - r;
    std::vector<int> nextF(stages, 0), nextB(stages, 0);
    std::deque<std::pair<int, int>> weights;
    auto fwd = [&](int s) { list.push_back(compute(Op::Fwd, s, nextF[s]++)); };
    auto bwd = [&](int s, bool split) {
      int mb = nextB[s]++;
      list.push_back(compute(split ? Op::BwdB : Op::Bwd, s, mb));
      if (split)
        weights.push_back({s, mb});
    };
    auto weight = [&] {
      if (weights.empty())
        return;
      list.push_back(compute(Op::BwdW, weights.front().first,
                             weights.front().second));
      weights.pop_front();
    };
    auto fAndB = [&](int f, int b) {
      fwd(f);
      bwd(b, false);
    };
    for (int i = 0; i < 2 * (k - r - 1); ++i)
      fwd(s0);
    for (int i = 0; i < r + 1; ++i) {
      fwd(s0);
      fwd(s1);
    }
    for (int i = 0; i < k - r - 1; ++i) {
      bwd(s1, true);
      weight();
      fwd(s1);
    }
    for (int i = 0; i < m - 2 * k + r + 1; ++i) {
      fAndB(s0, s1);
      fAndB(s1, s0);
    }
    for (int i = 0; i < k - r - 1; ++i) {
      bwd(s1, false);
      fAndB(s1, s0);
    }
    bool split = false;
    int half = (r + 1) / 2;
    for (int i = 0; i < r + 1; ++i) {
      if (i == half && r % 2 == 1)
        split = true;
      bwd(s1, split);
      if (i == half && r % 2 == 0)
        split = true;
      bwd(s0, split);
    }
    for (int i = 0; i < k - r - 1; ++i) {
      weight();
      bwd(s0, split);
    }
    while (!weights.empty())
      weight();
  }
  return order;
}

/// Megatron-LM's interleaved 1F1B: rank r holds stages r, r+K, ..., and
/// forward units go K micro-batches at a time through each of its chunks.
Order interleavedOrder(const Topology &topo, int m) {
  int k = topo.numRanks();
  int v = topo.numStages() / k;
  int total = m * v;
  Order order(k);
  auto unit = [&](int i, bool forward) {
    int chunk = (i / k) % v;
    if (!forward)
      chunk = v - 1 - chunk;
    int mb = (i / (k * v)) * k + i % k;
    return std::make_pair(chunk, mb);
  };
  for (int r = 0; r < k; ++r) {
    auto &list = order[r];
    int warm = m == k ? total : std::min((k - r - 1) * 2 + (v - 1) * k, total);
    auto fwd = [&](int i) {
      auto [chunk, mb] = unit(i, true);
      list.push_back(compute(Op::Fwd, chunk * k + r, mb));
    };
    auto bwd = [&](int i) {
      auto [chunk, mb] = unit(i, false);
      list.push_back(compute(Op::Bwd, chunk * k + r, mb));
    };
    for (int i = 0; i < warm; ++i)
      fwd(i);
    for (int i = 0; i < total - warm; ++i) {
      fwd(warm + i);
      bwd(i);
    }
    for (int i = total - warm; i < total; ++i)
      bwd(i);
  }
  return order;
}

/// Interleaved zero bubble (torch.distributed.pipelining's
/// ScheduleInterleavedZeroBubble, whose order this is; it is the ZB paper's
/// ZB-H1 idea, Qi et al., ICLR 2024, arXiv 2401.10241, on Megatron's
/// interleaved placement): rank r holds stages r, r+K, ..., and the M
/// micro-batches go through its V chunks in rounds of P = M / max(1, M / K)
/// (M a multiple of the round count). Warm-up: (V-1)P + K-1-r forwards, one
/// hop fewer than interleaved 1F1B's two a hop, since B alone is what the
/// rank upstream waits for; then one F and one B in turn, chunk by chunk
/// round by round (backwards from the last chunk), then the remaining B's.
/// The W's are held back: rank r runs its first r F B pairs without one,
/// then one W (the oldest held) after every B, and the rest at the end.
/// torch pads the lists with idle steps (its _add_bubbles_to_actions) so
/// that a fixed-step runtime waits; the blocking receives here wait by
/// themselves, so the order alone is kept.
Order interleavedZBOrder(const Topology &topo, int m) {
  int k = topo.numRanks(), stages = topo.numStages();
  int v = stages / k;
  int perRound = m / std::max(1, m / k);
  int total = m * v;
  Order order(k);
  for (int r = 0; r < k; ++r) {
    auto &list = order[r];
    int warm = std::min((v - 1) * perRound + k - 1 - r, total);
    auto fwdStage = [&](int i) { return ((i / perRound) % v) * k + r; };
    auto bwdStage = [&](int i) {
      return (v - 1 - ((i - warm) / perRound) % v) * k + r;
    };
    std::vector<int> nextF(stages, 0), nextB(stages, 0), nextW(stages, 0);
    std::deque<int> heldW; // stages of the B's whose W waits, oldest first
    auto fwd = [&](int s) { list.push_back(compute(Op::Fwd, s, nextF[s]++)); };
    auto bwd = [&](int s) {
      list.push_back(compute(Op::BwdB, s, nextB[s]++));
      heldW.push_back(s);
    };
    auto weight = [&] {
      int s = heldW.front();
      heldW.pop_front();
      list.push_back(compute(Op::BwdW, s, nextW[s]++));
    };
    for (int i = 0; i < total + warm; ++i) {
      if (i < warm) {
        fwd(fwdStage(i));
        continue;
      }
      if (i < total)
        fwd(fwdStage(i));
      bwd(bwdStage(i));
      if (i - warm >= r)
        weight();
    }
    while (!heldW.empty())
      weight();
  }
  return order;
}

/// Places the transfers around the compute actions: a send right after the
/// compute that produced it; a receive right before the compute that needs
/// it, preceded by the receives of any message its sender put on the same
/// channel first. Messages are matched in order per (sender, receiver)
/// channel, activations and gradients alike (Interpreter.cpp), and a rank
/// whose stages take messages of one peer in another order than the peer
/// sends them (in a V, rank 0 sends rank 1 both stage 0's activations and
/// stage 2K-1's gradients; with a skip connection stage 2K-1's gradients go
/// to stages 2K-2 and 1, both on rank 1, which needs them at different
/// times) receives the earlier ones early; it waits no longer for them than
/// for the one it needs.
Schedule withTransfers(Kind kind, int m, const Topology &topo,
                       const Order &order) {
  auto producers = topo.producers();
  Schedule s;
  s.kind = kind;
  s.microbatches = m;
  s.ranks.resize(order.size());
  using Channel = std::pair<int, int>; // sender, receiver ranks
  struct Message {
    int from, to, mb;
    bool grad;
    bool operator==(const Message &o) const {
      return from == o.from && to == o.to && mb == o.mb && grad == o.grad;
    }
  };
  auto rankOf = [&](int stage) { return topo.stageRank[stage]; };
  // The messages each channel carries, in the order they are sent.
  std::map<Channel, std::vector<Message>> sent;
  for (size_t r = 0; r < order.size(); ++r)
    for (const Action &a : order[r]) {
      if (a.op == Op::Fwd) {
        for (int c : topo.consumers[a.stage])
          if (rankOf(c) != (int)r)
            sent[{(int)r, rankOf(c)}].push_back({a.stage, c, a.mb, false});
      } else if (a.op == Op::Bwd || a.op == Op::BwdB) {
        for (int p : producers[a.stage])
          if (rankOf(p) != (int)r)
            sent[{(int)r, rankOf(p)}].push_back({a.stage, p, a.mb, true});
      }
    }
  std::map<Channel, size_t> received; // per channel, messages received
  auto receive = [&](std::vector<Action> &list, int r, Message want) {
    Channel ch{rankOf(want.from), r};
    const auto &queue = sent[ch];
    size_t &next = received[ch];
    auto it = std::find(queue.begin() + std::min(next, queue.size()),
                        queue.end(), want);
    auto recvOf = [](const Message &msg) {
      return Action{msg.grad ? Op::RecvGrad : Op::RecvAct, msg.to, msg.mb,
                    msg.from};
    };
    if (it == queue.end()) {
      // Never sent: left for the verifier to report.
      list.push_back(recvOf(want));
      return;
    }
    for (size_t end = it - queue.begin(); next <= end; ++next)
      list.push_back(recvOf(queue[next]));
  };
  for (size_t r = 0; r < order.size(); ++r) {
    auto remote = [&](int stage) { return rankOf(stage) != (int)r; };
    auto &list = s.ranks[r];
    // Whether this rank already took (from, to, mb) off its channel.
    auto taken = [&](Message want) {
      Channel ch{rankOf(want.from), (int)r};
      const auto &queue = sent[ch];
      size_t next = received[ch];
      return std::find(queue.begin(), queue.begin() + std::min(next, queue.size()),
                       want) != queue.begin() + std::min(next, queue.size());
    };
    for (const Action &a : order[r]) {
      if (a.op == Op::Fwd) {
        for (int p : producers[a.stage])
          if (remote(p) && !taken({p, a.stage, a.mb, false}))
            receive(list, r, {p, a.stage, a.mb, false});
        list.push_back(a);
        for (int c : topo.consumers[a.stage])
          if (remote(c))
            list.push_back({Op::SendAct, a.stage, a.mb, c});
      } else if (a.op == Op::Bwd || a.op == Op::BwdB) {
        for (int c : topo.consumers[a.stage])
          if (remote(c) && !taken({c, a.stage, a.mb, true}))
            receive(list, r, {c, a.stage, a.mb, true});
        list.push_back(a);
        for (int p : producers[a.stage])
          if (remote(p))
            list.push_back({Op::SendGrad, a.stage, a.mb, p});
      } else {
        list.push_back(a);
      }
    }
  }
  return s;
}
} // namespace

std::optional<Schedule> ppc::sched::generate(Kind kind, const Topology &topo,
                                             int m, std::string &error,
                                             const Costs *costs) {
  int stages = topo.numStages(), ranks = topo.numRanks();
  if (m < 1) {
    error = "needs at least one micro-batch";
    return std::nullopt;
  }
  if (isVShaped(kind)) {
    bool placed = stages == 2 * ranks;
    for (int s = 0; s < stages && placed; ++s)
      placed = topo.stageRank[s] == stageRankOf(kind, s, stages, ranks);
    if (!placed) {
      error = "schedule '" + kindName(kind).str() + "' runs two stages per "
              "rank placed in a V (rank r holds stages r and 2K-1-r); " +
              std::to_string(stages) + " stages on " + std::to_string(ranks) +
              " ranks are not";
      return std::nullopt;
    }
  } else if (!takesVirtualStages(kind) && stages != ranks) {
    error = "schedule '" + kindName(kind).str() + "' runs one stage per rank; " +
            std::to_string(stages) + " stages on " + std::to_string(ranks) +
            " ranks need the interleaved schedule";
    return std::nullopt;
  }
  Order order;
  switch (kind) {
  case Kind::Inference:
    order = inferenceOrder(topo, m);
    break;
  case Kind::GPipe:
    order = gpipeOrder(topo, m);
    break;
  case Kind::OneFOneB:
  case Kind::ZBH1:
  case Kind::ZBH2:
    if (m < ranks) {
      error = "schedule '" + kindName(kind).str() + "' needs at least as many "
              "micro-batches as stages: use -microbatches=" +
              std::to_string(ranks) + " or more (have " + std::to_string(m) +
              ")";
      return std::nullopt;
    }
    if (kind == Kind::OneFOneB)
      order = oneFOneBOrder(topo, m);
    else
      order = kind == Kind::ZBH1 ? zbH1Order(topo, m, costs, error)
                                 : zbH2Order(topo, m, costs, error);
    if (order.empty())
      return std::nullopt;
    break;
  case Kind::ZBV:
    order = zbVOrder(topo, m);
    break;
  case Kind::VHalf:
    order = vHalfOrder(topo, m, costs, error);
    if (order.empty())
      return std::nullopt;
    break;
  case Kind::DualPipeV:
    if (m < 2 * ranks) {
      error = "dualpipe-v needs at least as many micro-batches as stages: "
              "use -microbatches=" + std::to_string(2 * ranks) +
              " or more (have " + std::to_string(m) + ")";
      return std::nullopt;
    }
    order = dualPipeVOrder(topo, m);
    break;
  case Kind::LoopedBFS:
    if (stages % ranks != 0) {
      error = "looped-bfs needs the same number of virtual stages on every "
              "rank";
      return std::nullopt;
    }
    order = loopedBFSOrder(topo, m);
    break;
  case Kind::Interleaved:
    if (stages % ranks != 0) {
      error = "interleaved needs the same number of virtual stages on every "
              "rank";
      return std::nullopt;
    }
    if (m % ranks != 0) {
      error = "interleaved sends micro-batches through each rank's stages in "
              "groups of " + std::to_string(ranks) + ": use -microbatches a "
              "multiple of " + std::to_string(ranks) + " (have " +
              std::to_string(m) + ")";
      return std::nullopt;
    }
    order = interleavedOrder(topo, m);
    break;
  case Kind::InterleavedZB: {
    if (stages % ranks != 0) {
      error = "interleaved-zb needs the same number of virtual stages on "
              "every rank";
      return std::nullopt;
    }
    // torch's rounds: max(1, M / K) of M / rounds micro-batches each.
    int rounds = std::max(1, m / ranks);
    if (m % rounds != 0) {
      error = "interleaved-zb sends micro-batches through each rank's stages "
              "in " + std::to_string(rounds) + " rounds of equal size: use "
              "-microbatches a multiple of " + std::to_string(rounds) +
              " (have " + std::to_string(m) + ")";
      return std::nullopt;
    }
    order = interleavedZBOrder(topo, m);
    break;
  }
  }
  return withTransfers(kind, m, topo, order);
}
