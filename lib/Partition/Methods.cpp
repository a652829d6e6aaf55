//===- Methods.cpp - partition methods over a topological order -----------===//
//
// Every method cuts a topological order of the op DAG into contiguous
// stages. The balancing methods and `cost` share one bottleneck dynamic
// program: over positions 0..n of the order, best[k][j] is the smallest
// possible largest stage cost when the first j ops form k stages. A segment's
// cost is accumulated as it grows one op at a time, so that tensors entering
// and leaving it, and its distinct parameters, are counted exactly.
//
//===----------------------------------------------------------------------===//

#include "ppc/Partition/Partition.h"

#include "llvm/Support/Regex.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

using namespace ppc;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Positions of nodes in an order, and where each edge is last used.
struct OrderInfo {
  std::vector<int> order, pos;
  std::vector<int> lastUse;                // per edge, a position
  std::vector<std::vector<int>> inEdges;   // per node: edges it uses
  std::vector<std::vector<int>> outEdges;  // per node: edges it produces
  std::vector<std::vector<int>> endingAt;  // per position: edges last used
  OrderInfo(const OpGraph &g, std::vector<int> ord) : order(std::move(ord)) {
    int n = order.size();
    pos.resize(n);
    for (int i = 0; i < n; ++i)
      pos[order[i]] = i;
    inEdges.resize(n);
    outEdges.resize(n);
    endingAt.resize(n);
    lastUse.resize(g.edges.size());
    for (auto [e, edge] : llvm::enumerate(g.edges)) {
      outEdges[edge.producer].push_back(e);
      int last = 0;
      for (int u : edge.users) {
        inEdges[u].push_back(e);
        last = std::max(last, pos[u]);
      }
      lastUse[e] = last;
      endingAt[last].push_back(e);
    }
  }
};

/// A growing segment [begin, end) of the order: its cost and memory.
class Segment {
public:
  enum class Metric { Count, Matches, Params, Time, Memory };
  Segment(const OpGraph &g, const OrderInfo &o, Metric metric,
          const PartitionOptions &opts, const std::vector<char> *matches)
      : g(g), o(o), metric(metric), opts(opts), matches(matches),
        paramStamp(g.paramBytes.size(), -1), edgeStamp(g.edges.size(), -1) {}

  void reset(int begin, int stage) {
    this->begin = begin;
    this->stage = stage;
    ++stamp;
    count = matched = 0;
    time = 0;
    params = act = in = out = 0;
  }

  void extend(int p) {
    int u = o.order[p];
    const OpNode &node = g.nodes[u];
    ++count;
    if (matches)
      matched += (*matches)[u];
    time += node.time;
    act += node.activationBytes;
    for (int q : node.params)
      if (paramStamp[q] != stamp) {
        paramStamp[q] = stamp;
        params += g.paramBytes[q];
      }
    for (int e : o.inEdges[u])
      if (o.pos[g.edges[e].producer] < begin && edgeStamp[e] != stamp) {
        edgeStamp[e] = stamp;
        in += g.edges[e].bytes;
      }
    for (int e : o.outEdges[u])
      if (o.lastUse[e] > p)
        out += g.edges[e].bytes;
    for (int e : o.endingAt[p])
      if (o.pos[g.edges[e].producer] >= begin && o.pos[g.edges[e].producer] < p)
        out -= g.edges[e].bytes;
  }

  /// Micro-batches whose activations this stage holds at once.
  int inflight() const {
    int k = opts.ranks, m = opts.microbatches;
    switch (opts.schedule) {
    case sched::Kind::Inference: return 1;
    case sched::Kind::GPipe: return m;
    case sched::Kind::OneFOneB:
    case sched::Kind::ZBH1: return std::min(k - stage % k, m);
    case sched::Kind::ZBH2: return std::min(2 * (k - stage % k) - 1, m);
    // ZB-V's order (Generators.cpp): chunk 0 (stage r) holds up to 2K-r
    // micro-batches, chunk 1 (stage 2K-1-r) r+1: 2K - stage either way.
    case sched::Kind::ZBV: return std::min(2 * k - stage, m);
    // V-Half's budget: K+1 activations of the rank's two stages together.
    case sched::Kind::VHalf: return std::min(k + 1, m);
    case sched::Kind::LoopedBFS: return m;
    // DualPipeV's warm-up: 2(K-r)-1 first-chunk forwards before its first
    // backward, r+1 of the second chunk (stage 2K-1-r).
    case sched::Kind::DualPipeV:
      return std::min(stage < k ? 2 * (k - stage) - 1 : 2 * k - stage, m);
    // Counted on its order (Generators.cpp), whose chunks' warm-ups differ
    // by round and by rank.
    case sched::Kind::InterleavedZB: return generatedPeak();
    case sched::Kind::Interleaved: {
      int r = stage % k;
      int warm = std::min((k - r - 1) * 2 + (opts.virtualStages - 1) * k,
                          m * opts.virtualStages);
      return std::min(m, warm / opts.virtualStages + 1);
    }
    }
    return m;
  }

  /// The most micro-batches this stage holds between F and B in the order
  /// the generator writes (the order is fixed by K, V and M; unit costs).
  int generatedPeak() const {
    if (peaks.empty()) {
      int k = opts.ranks, stages = k * opts.virtualStages;
      std::string error;
      auto s = sched::generate(opts.schedule, sched::Topology::chain(stages, k),
                               opts.microbatches, error);
      // One that cannot be generated is rejected by the evaluation; until
      // then it counts as holding every micro-batch.
      peaks.assign(stages, opts.microbatches);
      if (s) {
        std::vector<int> held(stages, 0);
        std::fill(peaks.begin(), peaks.end(), 0);
        for (auto &list : s->ranks)
          for (const sched::Action &a : list) {
            if (a.op == sched::Op::Fwd)
              peaks[a.stage] = std::max(peaks[a.stage], ++held[a.stage]);
            else if (a.op == sched::Op::Bwd || a.op == sched::Op::BwdB)
              --held[a.stage];
          }
      }
    }
    return peaks[stage % peaks.size()];
  }

  double paramState() const { return stateBytes(params, opts); }

  double memory() const {
    return stateBytes(params, opts) + (double)act * inflight();
  }

  double cost() const {
    switch (metric) {
    case Metric::Count: return count;
    case Metric::Matches: return matched;
    case Metric::Params: return params;
    case Metric::Memory: return memory();
    case Metric::Time:
      return time;
    }
    return 0;
  }

  /// The time to send what leaves the segment (each cut's tensors counted
  /// once, by the stage that sends them).
  double sendTime() const { return g.transferTime(out); }

  /// Whether growingBound() is a sum of per-op weights.
  bool additive() const {
    return metric == Metric::Count || metric == Metric::Matches ||
           metric == Metric::Time;
  }
  double weight(int node) const {
    switch (metric) {
    case Metric::Count: return 1;
    case Metric::Matches: return (*matches)[node];
    default: return g.nodes[node].time;
    }
  }

  /// A lower bound on cost() for every longer segment: the DP stops growing
  /// a segment once it exceeds the best known answer.
  double growingBound() const {
    switch (metric) {
    case Metric::Count: return count;
    case Metric::Matches: return matched;
    case Metric::Params: return params;
    case Metric::Memory: return stateBytes(params, opts);
    case Metric::Time: return time;
    }
    return 0;
  }

private:
  const OpGraph &g;
  const OrderInfo &o;
  Metric metric;
  const PartitionOptions &opts;
  const std::vector<char> *matches;
  std::vector<int> paramStamp, edgeStamp;
  int stamp = 0, begin = 0, stage = 0;
  mutable std::vector<int> peaks; // per stage, generatedPeak()
  int64_t count = 0, matched = 0;
  double time = 0;
  int64_t params = 0, act = 0, in = 0, out = 0;
};

/// The DP over positions of the order shared by every method: best[k][j]
/// is the best value when the first j ops form k stages, where a stage
/// [i, j) adds `combine(best[k-1][i], segment)`. Segments whose growing
/// bound passes `cap` stop, segments over `memoryLimit` are skipped, and so
/// is a prefix whose rest (`suffix`, an additive lower bound) cannot fit in
/// the stages left.
std::optional<Assignment>
segmentDP(const OrderInfo &o, Segment &seg, int stages, double memoryLimit,
          double cap, const std::vector<double> &suffix,
          llvm::function_ref<double(double, const Segment &)> combine,
          double *best) {
  int n = o.order.size();
  std::vector<std::vector<double>> dp(stages + 1,
                                      std::vector<double>(n + 1, kInf));
  std::vector<std::vector<int>> parent(stages + 1, std::vector<int>(n + 1, -1));
  dp[0][0] = 0;
  double slack = cap * (1 + 1e-12);
  for (int k = 1; k <= stages; ++k) {
    for (int i = k - 1; i < n; ++i) {
      if (dp[k - 1][i] == kInf)
        continue;
      seg.reset(i, k - 1);
      // Leave at least one op for each later stage.
      for (int j = i + 1; j <= n - (stages - k); ++j) {
        seg.extend(j - 1);
        if (seg.growingBound() > slack)
          break;
        if (!suffix.empty() && suffix[j] > (stages - k) * slack)
          continue;
        if (memoryLimit > 0 && seg.memory() > memoryLimit) {
          // Parameters only grow with the segment.
          if (seg.paramState() > memoryLimit)
            break;
          continue;
        }
        double c = combine(dp[k - 1][i], seg);
        if (c < dp[k][j]) {
          dp[k][j] = c;
          parent[k][j] = i;
        }
      }
    }
  }
  if (dp[stages][n] == kInf)
    return std::nullopt;
  if (best)
    *best = dp[stages][n];
  Assignment a(n);
  for (int k = stages, j = n; k > 0; j = parent[k][j], --k)
    for (int p = parent[k][j]; p < j; ++p)
      a[o.order[p]] = k - 1;
  return a;
}

/// The smallest possible largest stage cost. Returns the stage of each node,
/// or nothing when no partition has every stage within `memoryLimit` (0:
/// unlimited).
std::optional<Assignment> bottleneck(const OpGraph &g, const OrderInfo &o,
                                     Segment seg, int stages,
                                     double memoryLimit,
                                     double *best = nullptr) {
  int n = o.order.size();
  // An upper bound from a feasible answer (equal op counts) lets segments
  // stop growing early, and for additive metrics a prefix is skipped when
  // the rest cannot fit in the stages left: each segment then spans about
  // n/K ops, not n.
  double upperBound = 0;
  for (int k = 0; k < stages && upperBound < kInf; ++k) {
    int begin = (int64_t)n * k / stages, end = (int64_t)n * (k + 1) / stages;
    seg.reset(begin, k);
    for (int p = begin; p < end; ++p)
      seg.extend(p);
    if (memoryLimit > 0 && seg.memory() > memoryLimit)
      upperBound = kInf;
    else
      upperBound = std::max(upperBound, seg.cost());
  }
  std::vector<double> suffix;
  if (seg.additive()) {
    suffix.assign(n + 1, 0);
    for (int p = n - 1; p >= 0; --p)
      suffix[p] = suffix[p + 1] + seg.weight(o.order[p]);
  }
  return segmentDP(
      o, seg, stages, memoryLimit, upperBound, suffix,
      [](double prev, const Segment &s) { return std::max(prev, s.cost()); },
      best);
}

/// The partition with the least transfer time whose stages each compute
/// within `cap` (and fit memory): the second half of the cost method, which
/// trades a slightly slower slowest stage for cheaper cuts.
std::optional<Assignment> minTransfers(const OpGraph &g, const OrderInfo &o,
                                       Segment seg, int stages,
                                       double memoryLimit, double cap) {
  int n = o.order.size();
  std::vector<double> suffix(n + 1, 0);
  for (int p = n - 1; p >= 0; --p)
    suffix[p] = suffix[p + 1] + g.nodes[o.order[p]].time;
  return segmentDP(
      o, seg, stages, memoryLimit, cap, suffix,
      [](double prev, const Segment &s) { return prev + s.sendTime(); },
      nullptr);
}

std::vector<int> blockOrder(const OpGraph &g) {
  std::vector<int> order(g.nodes.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  return order;
}

/// A topological order that keeps few bytes live: list scheduling that takes,
/// among the ready ops, the one that frees the most bytes net of what it
/// allocates (ties: the function's order). Cuts through it cross less where
/// the exporter interleaved independent branches.
std::vector<int> minLiveOrder(const OpGraph &g) {
  int n = g.nodes.size();
  std::vector<int> waiting(n), remainingUsers(g.edges.size());
  std::vector<std::vector<int>> consumers(n), inEdges(n), outEdges(n);
  for (int u = 0; u < n; ++u) {
    waiting[u] = g.nodes[u].producers.size();
    for (int p : g.nodes[u].producers)
      consumers[p].push_back(u);
  }
  for (auto [e, edge] : llvm::enumerate(g.edges)) {
    remainingUsers[e] = edge.users.size();
    outEdges[edge.producer].push_back(e);
    for (int u : edge.users)
      inEdges[u].push_back(e);
  }
  std::vector<int> ready, order;
  for (int u = 0; u < n; ++u)
    if (!waiting[u])
      ready.push_back(u);
  while (!ready.empty()) {
    size_t bestIndex = 0;
    double bestScore = -kInf;
    for (size_t i = 0; i < ready.size(); ++i) {
      int u = ready[i];
      double score = 0;
      for (int e : inEdges[u])
        if (remainingUsers[e] == 1)
          score += g.edges[e].bytes;
      for (int e : outEdges[u])
        score -= g.edges[e].bytes;
      if (score > bestScore || (score == bestScore && u < ready[bestIndex])) {
        bestScore = score;
        bestIndex = i;
      }
    }
    int u = ready[bestIndex];
    ready.erase(ready.begin() + bestIndex);
    order.push_back(u);
    for (int e : inEdges[u])
      --remainingUsers[e];
    for (int c : consumers[u])
      if (--waiting[c] == 0)
        ready.push_back(c);
  }
  return order;
}

std::string tooManyStages(const OpGraph &g, int stages) {
  if (stages < 1)
    return "needs at least one stage";
  // A model that folds to no ops at all still makes one stage.
  if (stages > std::max<int>(g.nodes.size(), 1))
    return std::to_string(stages) + " stages but the model has only " +
           std::to_string(g.nodes.size()) + " ops";
  return "";
}

PartitionResult balanced(const OpGraph &g, int stages, Segment::Metric metric,
                         const std::vector<char> *matches = nullptr) {
  PartitionResult r;
  r.error = tooManyStages(g, stages);
  if (!r.ok())
    return r;
  OrderInfo o(g, blockOrder(g));
  PartitionOptions opts;
  auto a = bottleneck(g, o, Segment(g, o, metric, opts, matches), stages, 0);
  r.assignment = std::move(*a);
  return r;
}
} // namespace

double OpGraph::transferTime(int64_t bytes) const {
  return bytes <= 0 ? 0 : linkLatency + bytes / linkBandwidth;
}

PartitionResult ppc::partitionUniform(const OpGraph &g, int stages) {
  return balanced(g, stages, Segment::Metric::Count);
}

PartitionResult ppc::partitionParameters(const OpGraph &g, int stages) {
  return balanced(g, stages, Segment::Metric::Params);
}

PartitionResult ppc::partitionType(const OpGraph &g, int stages,
                                   llvm::StringRef regex) {
  llvm::Regex re(regex);
  std::string reError;
  if (!re.isValid(reError))
    return {{}, "-partition=type:" + regex.str() + ": " + reError};
  std::vector<char> matches(g.nodes.size(), 0);
  int count = 0;
  for (auto [i, node] : llvm::enumerate(g.nodes))
    count += matches[i] = re.match(node.name);
  if (count == 0)
    return {{}, "-partition=type:" + regex.str() + " matches no node name"};
  if (count < stages)
    return {{}, "-partition=type:" + regex.str() + " matches " +
                    std::to_string(count) + " nodes, fewer than the " +
                    std::to_string(stages) + " stages"};
  return balanced(g, stages, Segment::Metric::Matches, &matches);
}

PartitionResult ppc::partitionManual(const OpGraph &g, int stages,
                                     llvm::ArrayRef<std::string> cutAfter) {
  if ((int)cutAfter.size() != stages - 1)
    return {{}, "-partition=manual names " + std::to_string(cutAfter.size()) +
                    " cut points; " + std::to_string(stages) +
                    " stages need " + std::to_string(stages - 1)};
  llvm::StringMap<int> index;
  for (auto [i, node] : llvm::enumerate(g.nodes))
    index[node.name] = i;
  std::vector<int> cuts;
  for (const std::string &name : cutAfter) {
    auto it = index.find(name);
    if (it == index.end())
      return {{}, "-partition=manual: no node named '" + name + "'"};
    if (!cuts.empty() && it->second <= cuts.back())
      return {{}, "-partition=manual: '" + name +
                      "' does not come after the previous cut point"};
    cuts.push_back(it->second);
  }
  if (!cuts.empty() && cuts.back() == (int)g.nodes.size() - 1)
    return {{}, "-partition=manual: cutting after the last node '" +
                    cutAfter.back() + "' leaves the last stage empty"};
  Assignment a(g.nodes.size());
  int stage = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    a[i] = stage;
    if (stage < (int)cuts.size() && (int)i == cuts[stage])
      ++stage;
  }
  return {a, ""};
}

PartitionResult ppc::partitionCost(const OpGraph &g,
                                   const PartitionOptions &options) {
  int stages = options.numStages();
  PartitionResult r;
  r.error = tooManyStages(g, stages);
  if (!r.ok())
    return r;
  double limit = options.memoryLimit > 0 ? options.memoryLimit : g.memoryBytes;
  std::vector<Assignment> candidates;
  // Step time is about (M-1) x the slowest stage plus every stage and every
  // transfer once. So: find the smallest possible slowest stage T*, then for
  // a few caps T >= T* the partition with the cheapest transfers whose
  // stages all stay under T. The simulator judges the candidates, with the
  // simple methods among them.
  for (auto order : {blockOrder(g), minLiveOrder(g)}) {
    OrderInfo o(g, std::move(order));
    Segment seg(g, o, Segment::Metric::Time, options, nullptr);
    double slowest;
    auto a = bottleneck(g, o, seg, stages, limit, &slowest);
    if (!a)
      continue;
    candidates.push_back(std::move(*a));
    for (double f : {1.0, 1.02, 1.05, 1.1, 1.2, 1.35, 1.5})
      if (auto b = minTransfers(g, o, seg, stages, limit,
                                slowest * f * (1 + 1e-9)))
        candidates.push_back(std::move(*b));
  }
  for (auto fallback : {partitionUniform(g, stages),
                        partitionParameters(g, stages)})
    if (fallback.ok())
      candidates.push_back(std::move(fallback.assignment));
  double bestStep = kInf;
  std::string scheduleError;
  llvm::sort(candidates);
  candidates.erase(std::unique(candidates.begin(), candidates.end()),
                   candidates.end());
  for (Assignment &a : candidates) {
    Evaluation e = evaluate(g, a, options);
    if (!e.error.empty()) {
      scheduleError = e.error;
      continue;
    }
    if (limit > 0 && e.peakMemory > limit)
      continue;
    if (e.stepTime < bestStep) {
      bestStep = e.stepTime;
      r.assignment = a;
    }
  }
  if (bestStep < kInf)
    return r;
  if (!scheduleError.empty()) {
    r.error = scheduleError;
    return r;
  }
  // Nothing fits: find the smallest limit that does, for the message.
  double smallest = kInf;
  for (auto order : {blockOrder(g), minLiveOrder(g)}) {
    OrderInfo o(g, std::move(order));
    double best;
    if (bottleneck(g, o, Segment(g, o, Segment::Metric::Memory, options, nullptr),
                   stages, 0, &best))
      smallest = std::min(smallest, best);
  }
  r.error = "no partition into " + std::to_string(stages) +
            " stages fits -memory-limit=" + formatBytes(limit) +
            " per device; the smallest that fits is " +
            formatBytes(smallest * 1.001);
  return r;
}

PartitionResult ppc::partitionBy(llvm::StringRef method, const OpGraph &g,
                                 const PartitionOptions &options) {
  int stages = options.numStages();
  if (g.nodes.empty() && stages == 1)
    return {{}, ""};
  if (method == "uniform")
    return partitionUniform(g, stages);
  if (method == "parameters")
    return partitionParameters(g, stages);
  if (method == "cost")
    return partitionCost(g, options);
  if (method.consume_front("type:"))
    return partitionType(g, stages, method);
  if (method.consume_front("manual:")) {
    llvm::SmallVector<llvm::StringRef> names;
    method.split(names, ',', -1, false);
    std::vector<std::string> cuts(names.begin(), names.end());
    return partitionManual(g, stages, cuts);
  }
  return {{}, "unknown partition method '" + method.str() +
                  "' (uniform, parameters, type:REGEX, manual:NODE,..., cost)"};
}
