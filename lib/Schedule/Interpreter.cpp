//===- Interpreter.cpp - run a schedule over all ranks --------------------===//
//
// Ranks advance in turn; a rank stops at a receive whose message has not been
// sent yet (sends are buffered, as Megatron's batched isend/irecv and NCCL's
// grouped calls behave). Messages are matched in order on each (sender,
// receiver) channel, activations and gradients alike, as MPI's
// non-overtaking rule and one NCCL stream give, and as pprun's transports
// and its plan check (runtime/src/Verify.cpp) have it. When no rank can advance before all are done, the
// schedule deadlocks. Static mistakes (a backward before its forward, a
// compute whose input never arrived, a message that does not match) are
// reported at the action where they happen.
//
//===----------------------------------------------------------------------===//

#include "ppc/Schedule/Schedule.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <limits>
#include <map>
#include <tuple>

using namespace ppc::sched;

namespace {
std::string cell(const Action &a) {
  std::string s;
  switch (a.op) {
  case Op::Fwd: s = "F"; break;
  case Op::Bwd: s = "B"; break;
  case Op::BwdB: s = "b"; break;
  case Op::BwdW: s = "w"; break;
  case Op::SendAct: s = "sa"; break;
  case Op::RecvAct: s = "ra"; break;
  case Op::SendGrad: s = "sg"; break;
  case Op::RecvGrad: s = "rg"; break;
  }
  s += std::to_string(a.stage) + "." + std::to_string(a.mb);
  if (a.peer >= 0)
    s += (a.op == Op::SendAct || a.op == Op::SendGrad ? ">" : "<") +
         std::to_string(a.peer);
  return s;
}

struct Message {
  int from, to, mb; // stages
  bool grad;
  double arrival;
  int id; // its index in Interpreter::arrivals
};

/// What a rank does, in order, as the shared-cores timing replays it.
struct Work {
  enum Kind { Compute, Send, Recv } kind;
  double duration; // Compute: seconds alone; Send: the transfer
  int message;     // Send, Recv: the message's id
  int event;       // Compute, Send: its index in RunResult::events
  int linkTo;      // Send: the receiving rank
};

enum class Step { Done, Blocked, Error };

class Interpreter {
public:
  Interpreter(const Schedule &s, const Topology &t, const Costs *c)
      : sched(s), topo(t), costs(c), producers(t.producers()) {
    int stages = t.numStages(), m = s.microbatches;
    for (auto *grid : {&fwdDone, &bDone, &wDone})
      grid->assign(stages, std::vector<int>(m, 0));
    clock.assign(s.ranks.size(), 0.0);
    work.resize(s.ranks.size());
    lastGrad.assign(s.ranks.size(), -1.0);
    result.busy.assign(s.ranks.size(), 0.0);
    result.peakStashBytes.assign(s.ranks.size(), 0);
    stash.assign(s.ranks.size(), 0);
    inflight.assign(stages, 0);
    result.peakInflight.assign(stages, 0);
  }

  RunResult run();

private:
  Step exec(int rank, const Action &a);
  Step fail(const std::string &message) {
    error = message;
    return Step::Error;
  }
  bool isLocal(int rank, int stage) { return topo.stageRank[stage] == rank; }
  bool has(const std::vector<int> &list, int x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  }
  double computeCost(const Action &a) {
    if (!costs)
      return 0;
    switch (a.op) {
    case Op::Fwd: return costs->fwd[a.stage];
    case Op::Bwd: return costs->bwdB[a.stage] + costs->bwdW[a.stage];
    case Op::BwdB: return costs->bwdB[a.stage];
    case Op::BwdW: return costs->bwdW[a.stage];
    default: return 0;
    }
  }
  void addStash(int rank, int stage, int delta) {
    inflight[stage] += delta;
    result.peakInflight[stage] =
        std::max(result.peakInflight[stage], inflight[stage]);
    if (costs)
      stash[rank] += delta * costs->stashBytes[stage];
    result.peakStashBytes[rank] =
        std::max(result.peakStashBytes[rank], stash[rank]);
  }
  RunResult deadlock(const std::vector<size_t> &pc);
  RunResult incomplete();
  bool sharesCores() const {
    return costs && costs->cores > 0 && costs->cores < (int)sched.ranks.size();
  }
  void retimeOnSharedCores();

  const Schedule &sched;
  const Topology &topo;
  const Costs *costs;
  std::vector<std::vector<int>> producers;
  std::vector<std::vector<int>> fwdDone, bDone, wDone;
  // Received (stage, peer, mb) per direction.
  std::map<std::tuple<int, int, int>, bool> actIn, gradIn;
  // (sender rank, receiver rank) -> messages in flight.
  std::map<std::pair<int, int>, std::deque<Message>> channels;
  std::map<std::pair<int, int>, double> linkFree;
  std::vector<double> clock;
  std::vector<double> lastGrad; // end of the rank's last Bwd or BwdW
  std::vector<int64_t> stash;
  std::vector<int> inflight;
  // With shared cores: each rank's work, and each message's arrival.
  std::vector<std::vector<Work>> work;
  int messages = 0;
  std::string error;
  RunResult result;
};

Step Interpreter::exec(int rank, const Action &a) {
  int s = a.stage, mb = a.mb;
  bool training = isTraining(sched.kind);
  switch (a.op) {
  case Op::Fwd: {
    if (fwdDone[s][mb])
      return fail("runs forward of stage " + std::to_string(s) +
                  " micro-batch " + std::to_string(mb) + " a second time");
    for (int p : producers[s]) {
      bool ready = isLocal(rank, p) ? fwdDone[p][mb] : actIn.count({s, p, mb});
      if (!ready)
        return fail("needs the activations of stage " + std::to_string(p) +
                    " for micro-batch " + std::to_string(mb) +
                    (isLocal(rank, p) ? ", whose forward has not run on this rank"
                                      : ", but no recv_act precedes it"));
    }
    fwdDone[s][mb] = 1;
    addStash(rank, s, 1);
    if (!training)
      addStash(rank, s, -1);
    break;
  }
  case Op::Bwd:
  case Op::BwdB: {
    if (!training)
      return fail("an inference schedule has no backward");
    if (!fwdDone[s][mb])
      return fail("backward of stage " + std::to_string(s) + " micro-batch " +
                  std::to_string(mb) + " before its forward");
    if (bDone[s][mb])
      return fail("runs backward of stage " + std::to_string(s) +
                  " micro-batch " + std::to_string(mb) + " a second time");
    for (int c : topo.consumers[s]) {
      bool ready = isLocal(rank, c) ? bDone[c][mb] : gradIn.count({s, c, mb});
      if (!ready)
        return fail("needs the gradients of stage " + std::to_string(c) +
                    " for micro-batch " + std::to_string(mb) +
                    (isLocal(rank, c) ? ", whose backward has not run on this rank"
                                      : ", but no recv_grad precedes it"));
    }
    bDone[s][mb] = 1;
    if (a.op == Op::Bwd)
      wDone[s][mb] = 1;
    addStash(rank, s, -1);
    break;
  }
  case Op::BwdW:
    if (!bDone[s][mb])
      return fail("weight gradient of stage " + std::to_string(s) +
                  " micro-batch " + std::to_string(mb) +
                  " before its input gradient (bwd_b)");
    if (wDone[s][mb])
      return fail("runs the weight gradient of stage " + std::to_string(s) +
                  " micro-batch " + std::to_string(mb) + " a second time");
    wDone[s][mb] = 1;
    break;
  case Op::SendAct:
  case Op::SendGrad: {
    bool grad = a.op == Op::SendGrad;
    const auto &peers = grad ? producers[s] : topo.consumers[s];
    if (!has(peers, a.peer))
      return fail("stage " + std::to_string(s) + " does not send " +
                  (grad ? "gradients" : "activations") + " to stage " +
                  std::to_string(a.peer));
    if (!(grad ? bDone[s][mb] : fwdDone[s][mb]))
      return fail(std::string("sends before its ") +
                  (grad ? "backward" : "forward") + " has run");
    int peerRank = topo.stageRank[a.peer];
    double arrival = clock[rank];
    if (costs) {
      double &free = linkFree[{rank, peerRank}];
      double start = std::max(clock[rank], free);
      arrival = start + costs->transfer(grad ? a.peer : s, grad ? s : a.peer);
      free = arrival;
      if (sharesCores())
        work[rank].push_back({Work::Send, arrival - start, messages,
                              (int)result.events.size(), peerRank});
      result.events.push_back({rank, a, start, arrival});
    }
    channels[{rank, peerRank}].push_back(
        {s, a.peer, mb, grad, arrival, messages++});
    return Step::Done;
  }
  case Op::RecvAct:
  case Op::RecvGrad: {
    bool grad = a.op == Op::RecvGrad;
    const auto &peers = grad ? topo.consumers[s] : producers[s];
    if (!has(peers, a.peer))
      return fail("stage " + std::to_string(s) + " receives no " +
                  (grad ? "gradients" : "activations") + " from stage " +
                  std::to_string(a.peer));
    auto &queue = channels[{topo.stageRank[a.peer], rank}];
    if (queue.empty())
      return Step::Blocked;
    Message msg = queue.front();
    auto what = [](bool g) { return g ? "gradients" : "activations"; };
    if (msg.from != a.peer || msg.to != s || msg.mb != mb || msg.grad != grad)
      return fail(std::string("expects ") + what(grad) + " of stage " +
                  std::to_string(a.peer) + " -> " + std::to_string(s) +
                  " micro-batch " + std::to_string(mb) +
                  " but the next message on that channel is " +
                  what(msg.grad) + " of stage " + std::to_string(msg.from) +
                  " -> " + std::to_string(msg.to) + " micro-batch " +
                  std::to_string(msg.mb) +
                  " (sends and receives are out of order)");
    queue.pop_front();
    if (sharesCores())
      work[rank].push_back({Work::Recv, 0, msg.id, -1, -1});
    (grad ? gradIn : actIn)[{s, a.peer, mb}] = true;
    clock[rank] = std::max(clock[rank], msg.arrival);
    return Step::Done;
  }
  }
  double cost = computeCost(a);
  if (sharesCores())
    work[rank].push_back(
        {Work::Compute, cost, -1, (int)result.events.size(), -1});
  if (costs)
    result.events.push_back({rank, a, clock[rank], clock[rank] + cost});
  clock[rank] += cost;
  result.busy[rank] += cost;
  if (a.op == Op::Bwd || a.op == Op::BwdW)
    lastGrad[rank] = clock[rank];
  return Step::Done;
}

RunResult Interpreter::deadlock(const std::vector<size_t> &pc) {
  // Every blocked rank waits at a receive. The culprit is one whose sender
  // has no matching send left to do; without one, the ranks wait in a cycle
  // and the first is reported.
  auto sendsLater = [&](const Action &recv) {
    int peerRank = topo.stageRank[recv.peer];
    Op send = recv.op == Op::RecvAct ? Op::SendAct : Op::SendGrad;
    const auto &list = sched.ranks[peerRank];
    for (size_t i = pc[peerRank]; i < list.size(); ++i)
      if (list[i].op == send && list[i].stage == recv.peer &&
          list[i].peer == recv.stage && list[i].mb == recv.mb)
        return true;
    return false;
  };
  int culprit = -1;
  for (size_t rank = 0; rank < pc.size(); ++rank)
    if (pc[rank] < sched.ranks[rank].size() && culprit < 0)
      if (!sendsLater(sched.ranks[rank][pc[rank]]))
        culprit = rank;
  for (size_t rank = 0; rank < pc.size() && culprit < 0; ++rank)
    if (pc[rank] < sched.ranks[rank].size())
      culprit = rank;

  RunResult r;
  r.ok = false;
  r.rank = culprit;
  r.step = pc[culprit];
  const Action &a = sched.ranks[culprit][pc[culprit]];
  int peerRank = topo.stageRank[a.peer];
  r.message = "deadlock: rank " + std::to_string(culprit) + " step " +
              std::to_string(r.step) + " (" + describe(a) +
              ") waits forever: rank " + std::to_string(peerRank);
  if (!sendsLater(a))
    r.message += " never sends it";
  else
    r.message += " sends it only after its own step " +
                 std::to_string(pc[peerRank]) + ", which waits too";
  std::string others;
  for (size_t rank = 0; rank < pc.size(); ++rank)
    if ((int)rank != culprit && pc[rank] < sched.ranks[rank].size())
      others += "; rank " + std::to_string(rank) + " step " +
                std::to_string(pc[rank]) + " (" +
                describe(sched.ranks[rank][pc[rank]]) + ")";
  if (!others.empty())
    r.message += "; also blocked:" + others.substr(1);
  r.table = formatTable(sched, r.rank, r.step);
  return r;
}

RunResult Interpreter::incomplete() {
  RunResult r;
  r.ok = false;
  bool training = isTraining(sched.kind);
  for (int s = 0; s < topo.numStages(); ++s) {
    for (int mb = 0; mb < sched.microbatches; ++mb) {
      const char *missing = nullptr;
      if (!fwdDone[s][mb])
        missing = "forward";
      else if (training && !bDone[s][mb])
        missing = "backward";
      else if (training && !wDone[s][mb])
        missing = "weight gradient";
      if (missing) {
        r.rank = topo.stageRank[s];
        r.message = "micro-batch " + std::to_string(mb) + " never runs " +
                    missing + " on stage " + std::to_string(s) + " (rank " +
                    std::to_string(r.rank) + ")";
        r.table = formatTable(sched);
        return r;
      }
    }
  }
  for (auto &[key, queue] : channels) {
    if (queue.empty())
      continue;
    const Message &msg = queue.front();
    r.rank = key.first;
    r.message = "rank " + std::to_string(r.rank) + " sends " +
                (msg.grad ? "gradients" : "activations") +
                " of stage " + std::to_string(msg.from) + " -> " +
                std::to_string(msg.to) + " micro-batch " +
                std::to_string(msg.mb) + " that no rank receives";
    r.table = formatTable(sched);
    return r;
  }
  r.ok = true;
  return r;
}

RunResult Interpreter::run() {
  size_t numRanks = sched.ranks.size();
  if ((int)numRanks != topo.numRanks()) {
    result.ok = false;
    result.message = "the schedule lists " + std::to_string(numRanks) +
                     " ranks, the stages run on " +
                     std::to_string(topo.numRanks());
    return result;
  }
  std::vector<size_t> pc(numRanks, 0);
  while (true) {
    bool progressed = false, finished = true;
    for (size_t rank = 0; rank < numRanks; ++rank) {
      auto &list = sched.ranks[rank];
      while (pc[rank] < list.size()) {
        const Action &a = list[pc[rank]];
        if (topo.stageRank[a.stage] != (int)rank) {
          error = "stage " + std::to_string(a.stage) + " runs on rank " +
                  std::to_string(topo.stageRank[a.stage]);
        } else {
          Step step = exec(rank, a);
          if (step == Step::Blocked)
            break;
          if (step == Step::Done) {
            ++pc[rank];
            progressed = true;
            continue;
          }
        }
        RunResult r;
        r.ok = false;
        r.rank = rank;
        r.step = pc[rank];
        r.message = "rank " + std::to_string(rank) + " step " +
                    std::to_string(pc[rank]) + " (" + describe(a) +
                    "): " + error;
        r.table = formatTable(sched, rank, pc[rank]);
        return r;
      }
      finished &= pc[rank] >= list.size();
    }
    if (finished)
      break;
    if (!progressed)
      return deadlock(pc);
  }
  RunResult done = incomplete();
  if (!done.ok)
    return done;
  if (sharesCores())
    retimeOnSharedCores();
  // The gradient collective starts when the rank's last backward ends; the
  // update follows it and the rank's last action (a send may still run).
  bool tail = costs && isTraining(sched.kind) &&
              (!costs->allReduce.empty() || !costs->optimizer.empty());
  if (tail) {
    result.gradsReady.assign(numRanks, 0.0);
    result.rankEnd.assign(numRanks, 0.0);
    auto at = [](const std::vector<double> &v, size_t r) {
      return r < v.size() ? v[r] : 0.0;
    };
    for (size_t rank = 0; rank < numRanks; ++rank) {
      double ready = lastGrad[rank] >= 0 ? lastGrad[rank] : clock[rank];
      double comm = at(costs->allReduce, rank), opt = at(costs->optimizer, rank);
      int r = rank;
      result.gradsReady[rank] = ready;
      double t = ready;
      if (costs->zero && comm > 0) {
        result.tail.push_back({r, TailEvent::ReduceScatter, t, t + comm / 2});
        t += comm / 2;
      } else if (comm > 0) {
        result.tail.push_back({r, TailEvent::AllReduce, t, t + comm});
        t += comm;
      }
      t = std::max(t, clock[rank]);
      if (opt > 0)
        result.tail.push_back({r, TailEvent::Optimizer, t, t + opt});
      t += opt;
      result.busy[rank] += opt;
      if (costs->zero && comm > 0) {
        result.tail.push_back({r, TailEvent::AllGather, t, t + comm / 2});
        t += comm / 2;
      }
      clock[rank] = t;
      result.rankEnd[rank] = t;
    }
  }
  double step = 0, busy = 0;
  for (size_t rank = 0; rank < numRanks; ++rank) {
    step = std::max(step, clock[rank]);
    busy += result.busy[rank];
  }
  for (const Event &e : result.events)
    step = std::max(step, e.end);
  result.stepTime = step;
  result.bubble = step > 0 ? 1.0 - busy / (numRanks * step) : 0.0;
  return result;
}
} // namespace

/// The schedule ran with each rank on its own device; this replays each
/// rank's work in global time on `cores` shared cores. A rank computes
/// alone at full speed, n > cores ranks at once at cores / n each; sends
/// take no core (the transfer is the link's, ordered per link as before)
/// and a receive waits for its message's arrival. Events, clocks and the
/// end of each rank's last backward take the new times; busy stays the
/// work alone (bubble is then idle time beside work at full speed).
void Interpreter::retimeOnSharedCores() {
  const double kEps = 1e-15;
  size_t ranks = work.size();
  std::vector<double> arrival(messages, -1); // -1: not sent yet
  std::vector<size_t> next(ranks, 0);
  std::vector<double> left(ranks, 0), startedAt(ranks, 0);
  std::map<std::pair<int, int>, double> linkBusy;
  double now = 0;
  auto active = [&](size_t r) {
    return next[r] < work[r].size() &&
           work[r][next[r]].kind == Work::Compute;
  };
  // Starts what can start at `now`: sends, arrived receives, computes;
  // true when a rank moved (a send may free a rank visited before it).
  auto advance = [&]() {
    bool moved = false;
    for (size_t r = 0; r < ranks; ++r) {
      while (next[r] < work[r].size()) {
        Work &w = work[r][next[r]];
        if (w.kind == Work::Send) {
          double &free = linkBusy[{(int)r, w.linkTo}];
          double start = std::max(now, free);
          arrival[w.message] = free = start + w.duration;
          result.events[w.event].start = start;
          result.events[w.event].end = start + w.duration;
          ++next[r];
          moved = true;
        } else if (w.kind == Work::Recv) {
          if (arrival[w.message] < 0 || arrival[w.message] > now + kEps)
            break;
          ++next[r];
          moved = true;
        } else {
          if (left[r] <= 0) {
            left[r] = w.duration;
            startedAt[r] = now;
          }
          break;
        }
      }
    }
    return moved;
  };
  while (true) {
    while (advance()) {
    }
    int computing = 0;
    for (size_t r = 0; r < ranks; ++r)
      computing += active(r);
    double rate =
        computing > costs->cores ? double(costs->cores) / computing : 1.0;
    // The next moment something changes: a compute ends or a message that
    // a rank waits for arrives.
    double step = std::numeric_limits<double>::infinity();
    for (size_t r = 0; r < ranks; ++r) {
      if (active(r))
        step = std::min(step, left[r] / rate);
      else if (next[r] < work[r].size() &&
               work[r][next[r]].kind == Work::Recv &&
               arrival[work[r][next[r]].message] > now)
        step = std::min(step, arrival[work[r][next[r]].message] - now);
    }
    if (step == std::numeric_limits<double>::infinity())
      break;
    now += step;
    for (size_t r = 0; r < ranks; ++r) {
      if (!active(r))
        continue;
      left[r] -= step * rate;
      if (left[r] > kEps * std::max(1.0, work[r][next[r]].duration))
        continue;
      Work &w = work[r][next[r]];
      result.events[w.event].start = startedAt[r];
      result.events[w.event].end = now;
      left[r] = 0;
      ++next[r];
    }
  }
  // The schedule ran without deadlock on its own devices, and sharing
  // cores only delays work: every rank gets to its end.
  for (size_t r = 0; r < ranks; ++r)
    assert(next[r] == work[r].size() && "shared-cores replay stopped early");
  for (size_t r = 0; r < ranks; ++r) {
    clock[r] = 0;
    lastGrad[r] = -1;
  }
  for (const Event &e : result.events) {
    clock[e.rank] = std::max(clock[e.rank], e.end);
    if (e.action.op == Op::Bwd || e.action.op == Op::BwdW)
      lastGrad[e.rank] = std::max(lastGrad[e.rank], e.end);
  }
}

llvm::StringRef ppc::sched::tailName(TailEvent::Kind kind) {
  switch (kind) {
  case TailEvent::AllReduce: return "all-reduce";
  case TailEvent::ReduceScatter: return "reduce-scatter";
  case TailEvent::Optimizer: return "optimizer";
  case TailEvent::AllGather: return "all-gather";
  }
  return "";
}

RunResult ppc::sched::run(const Schedule &s, const Topology &topo,
                          const Costs *costs) {
  return Interpreter(s, topo, costs).run();
}

std::string ppc::sched::formatTable(const Schedule &s, int markRank,
                                    int markStep) {
  std::string out;
  llvm::raw_string_ostream os(out);
  size_t steps = 0;
  for (auto &list : s.ranks)
    steps = std::max(steps, list.size());
  // Wide schedules are cut around the marked step so the table stays legible.
  size_t from = 0, to = steps;
  if (steps > 24) {
    size_t centre = markStep >= 0 ? markStep : 0;
    from = centre > 8 ? centre - 8 : 0;
    to = std::min(steps, from + 24);
  }
  os << "step    ";
  for (size_t i = from; i < to; ++i)
    os << llvm::left_justify(std::to_string(i), 10);
  os << "\n";
  for (size_t r = 0; r < s.ranks.size(); ++r) {
    os << llvm::left_justify("rank " + std::to_string(r), 8);
    for (size_t i = from; i < to; ++i) {
      std::string c = i < s.ranks[r].size() ? cell(s.ranks[r][i]) : "";
      if ((int)r == markRank && (int)i == markStep)
        c = "[" + c + "]";
      os << llvm::left_justify(c, 10);
    }
    os << "\n";
  }
  return out;
}
