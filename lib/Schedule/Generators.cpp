//===- Generators.cpp - per-rank action lists of each schedule family -----===//
//
// Each family fixes the order of compute actions on every rank; the transfers
// are then placed the same way for all of them: a receive right before the
// compute that needs it, a send right after the compute that produced it
// (as Megatron-LM's p2p calls sit around each step).
//
//===----------------------------------------------------------------------===//

#include "ppc/Schedule/Schedule.h"

#include "llvm/ADT/StringSwitch.h"

#include <algorithm>
#include <limits>

using namespace ppc::sched;

llvm::StringRef ppc::sched::kindName(Kind kind) {
  switch (kind) {
  case Kind::Inference: return "inference";
  case Kind::GPipe: return "gpipe";
  case Kind::OneFOneB: return "1f1b";
  case Kind::Interleaved: return "interleaved";
  case Kind::ZBH1: return "zb-h1";
  }
  return "?";
}

std::optional<Kind> ppc::sched::parseKind(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<Kind>>(name)
      .Case("inference", Kind::Inference)
      .Case("gpipe", Kind::GPipe)
      .Case("1f1b", Kind::OneFOneB)
      .Case("interleaved", Kind::Interleaved)
      .Case("zb-h1", Kind::ZBH1)
      .Default(std::nullopt);
}

llvm::StringRef ppc::sched::opName(Op op) {
  switch (op) {
  case Op::Fwd: return "fwd";
  case Op::Bwd: return "bwd";
  case Op::BwdB: return "bwd_b";
  case Op::BwdW: return "bwd_w";
  case Op::SendAct: return "send_act";
  case Op::RecvAct: return "recv_act";
  case Op::SendGrad: return "send_grad";
  case Op::RecvGrad: return "recv_grad";
  }
  return "?";
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
  Topology t;
  t.consumers.resize(stages);
  for (int s = 0; s < stages; ++s) {
    t.stageRank.push_back(s % ranks);
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

/// ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", 2023): backward is
/// split into B (input gradients, on the critical path) and W (weight
/// gradients, which can wait). The order is found by list-scheduling on the
/// stage costs (unit costs when none are given), as the paper's own scheduler
/// does, under ZB-H1's rules: rank r keeps at most K-r micro-batches in flight
/// between F and B (1F1B's activation memory) and holds back at most K-1 W's
/// (a W keeps only its layer inputs and output gradients); when it is free it
/// runs a ready B, else a ready F, else a held-back W. With equal costs each
/// rank idles (K-1)(F+B-W), the paper's figure (test/unit/ScheduleTest.cpp).
Order zbH1Order(const Topology &topo, int m, const Costs *costs) {
  int k = topo.numStages();
  auto cost = [&](const std::vector<double> Costs::*field, int r) {
    return costs ? (costs->*field)[r] : 1.0;
  };
  auto link = [&](int from, int to) {
    return costs && costs->transfer ? costs->transfer(from, to) : 0.0;
  };
  const double unknown = std::numeric_limits<double>::infinity();
  // actReady[r][mb]: when stage r's input for mb is there; gradReady likewise.
  std::vector<std::vector<double>> actReady(k, std::vector<double>(m, unknown));
  std::vector<std::vector<double>> gradReady(k, std::vector<double>(m, unknown));
  for (int mb = 0; mb < m; ++mb)
    actReady[0][mb] = 0;
  std::vector<double> clock(k, 0);
  std::vector<int> nextF(k, 0), nextB(k, 0);
  std::vector<std::vector<int>> pendingW(k);
  Order order(k);
  auto finished = [&](int r) {
    return nextB[r] == m && pendingW[r].empty();
  };
  enum class Next { None, B, F, W };
  auto decide = [&](int r) {
    double now = clock[r];
    bool forceW = (int)pendingW[r].size() > k - 1;
    if (forceW)
      return Next::W;
    if (nextB[r] < nextF[r] && gradReady[r][nextB[r]] <= now)
      return Next::B;
    if (nextF[r] < m && nextF[r] - nextB[r] < std::min(k - r, m) &&
        actReady[r][nextF[r]] <= now)
      return Next::F;
    return pendingW[r].empty() ? Next::None : Next::W;
  };
  while (true) {
    // A rank with nothing to do now moves its clock to the next input or
    // gradient it knows of; one waiting on a rank that has not computed it
    // yet stays put until that rank has.
    for (int r = 0; r < k; ++r) {
      if (finished(r) || decide(r) != Next::None)
        continue;
      double next = unknown;
      if (nextB[r] < nextF[r])
        next = std::min(next, gradReady[r][nextB[r]]);
      if (nextF[r] < m && nextF[r] - nextB[r] < std::min(k - r, m))
        next = std::min(next, actReady[r][nextF[r]]);
      if (next != unknown)
        clock[r] = std::max(clock[r], next);
    }
    // The rank that can act earliest goes first, so that everything it could
    // have received by then is already known.
    int r = -1;
    for (int i = 0; i < k; ++i)
      if (!finished(i) && decide(i) != Next::None &&
          (r < 0 || clock[i] < clock[r]))
        r = i;
    if (r < 0)
      break;
    switch (decide(r)) {
    case Next::B: {
      int mb = nextB[r]++;
      order[r].push_back(compute(Op::BwdB, r, mb));
      clock[r] += cost(&Costs::bwdB, r);
      if (r > 0)
        gradReady[r - 1][mb] = clock[r] + link(r - 1, r);
      pendingW[r].push_back(mb);
      break;
    }
    case Next::F: {
      int mb = nextF[r]++;
      order[r].push_back(compute(Op::Fwd, r, mb));
      clock[r] += cost(&Costs::fwd, r);
      if (r + 1 < k)
        actReady[r + 1][mb] = clock[r] + link(r, r + 1);
      else
        gradReady[r][mb] = clock[r];
      break;
    }
    case Next::W:
      order[r].push_back(compute(Op::BwdW, r, pendingW[r].front()));
      pendingW[r].erase(pendingW[r].begin());
      clock[r] += cost(&Costs::bwdW, r);
      break;
    case Next::None:
      break;
    }
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

/// Places the transfers around the compute actions.
Schedule withTransfers(Kind kind, int m, const Topology &topo,
                       const Order &order) {
  auto producers = topo.producers();
  Schedule s;
  s.kind = kind;
  s.microbatches = m;
  s.ranks.resize(order.size());
  for (size_t r = 0; r < order.size(); ++r) {
    auto remote = [&](int stage) { return topo.stageRank[stage] != (int)r; };
    for (const Action &a : order[r]) {
      auto &list = s.ranks[r];
      if (a.op == Op::Fwd) {
        for (int p : producers[a.stage])
          if (remote(p))
            list.push_back({Op::RecvAct, a.stage, a.mb, p});
        list.push_back(a);
        for (int c : topo.consumers[a.stage])
          if (remote(c))
            list.push_back({Op::SendAct, a.stage, a.mb, c});
      } else if (a.op == Op::Bwd || a.op == Op::BwdB) {
        for (int c : topo.consumers[a.stage])
          if (remote(c))
            list.push_back({Op::RecvGrad, a.stage, a.mb, c});
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
  if (kind != Kind::Interleaved && stages != ranks) {
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
    if (m < ranks) {
      error = "schedule '" + kindName(kind).str() + "' needs at least as many "
              "micro-batches as stages: use -microbatches=" +
              std::to_string(ranks) + " or more (have " + std::to_string(m) +
              ")";
      return std::nullopt;
    }
    order = kind == Kind::ZBH1 ? zbH1Order(topo, m, costs)
                               : oneFOneBOrder(topo, m);
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
  }
  return withTransfers(kind, m, topo, order);
}
