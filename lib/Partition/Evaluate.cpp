//===- Evaluate.cpp - per-stage figures and the simulated step ------------===//

#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

#include <algorithm>
#include <cstdio>

using namespace ppc;

double ppc::allReduceTime(double bytes, int replicas, double linkBandwidth,
                          double linkLatency) {
  if (replicas <= 1 || bytes <= 0)
    return 0;
  double d = replicas;
  return 2 * (d - 1) / d * bytes / linkBandwidth + 2 * (d - 1) * linkLatency;
}

RankState ppc::rankState(int64_t paramBytes, const PartitionOptions &o,
                         double linkBandwidth, double linkLatency,
                         double memoryBandwidth) {
  RankState r;
  r.params = paramBytes;
  if (!o.training())
    return r;
  int64_t d = std::max(1, o.dataParallel);
  r.gradients = paramBytes;
  r.optimizerUnsharded = o.optimizerCopies * paramBytes;
  r.optimizer = o.zero ? (r.optimizerUnsharded + d - 1) / d
                       : r.optimizerUnsharded;
  r.allReduce = allReduceTime(r.gradients, d, linkBandwidth, linkLatency);
  // The update reads weights, gradients and state and writes weights and
  // state, of the rank's shard under ZeRO-1.
  double shard = o.zero ? double(paramBytes) / d : double(paramBytes);
  if (memoryBandwidth > 0)
    r.update = (3 + 2 * o.optimizerCopies) * shard / memoryBandwidth;
  return r;
}

void ppc::addTailCosts(sched::Costs &costs,
                       llvm::ArrayRef<int64_t> rankParamBytes,
                       const PartitionOptions &o, double linkBandwidth,
                       double linkLatency, double memoryBandwidth) {
  costs.allReduce.clear();
  costs.optimizer.clear();
  costs.zero = o.zero && o.dataParallel > 1;
  if (!o.training())
    return;
  for (int64_t bytes : rankParamBytes) {
    RankState r =
        rankState(bytes, o, linkBandwidth, linkLatency, memoryBandwidth);
    costs.allReduce.push_back(r.allReduce);
    costs.optimizer.push_back(o.updateInStep ? r.update : 0.0);
  }
}

int64_t ppc::stateBytes(int64_t paramBytes, const PartitionOptions &o) {
  RankState r = rankState(paramBytes, o, 1, 0, 0);
  return r.params + r.gradients + r.optimizer;
}

std::string ppc::formatBytes(double b) {
  const char *units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u ? "%.3g %s" : "%.0f %s", b, units[u]);
  return buf;
}

double Evaluation::slowestStage() const {
  double t = 0;
  for (const Stage &s : stages)
    t = std::max(t, s.time);
  return t;
}

double Evaluation::totalStageTime() const {
  double t = 0;
  for (const Stage &s : stages)
    t += s.time;
  return t;
}

Evaluation ppc::evaluate(const OpGraph &graph, const Assignment &assignment,
                         const PartitionOptions &options) {
  Evaluation e;
  int numStages = options.numStages();
  e.stages.resize(numStages);
  e.topology.stageRank.resize(numStages);
  e.topology.consumers.resize(numStages);
  for (int s = 0; s < numStages; ++s)
    e.stages[s].rank = e.topology.stageRank[s] =
        sched::stageRankOf(options.schedule, s, numStages, options.ranks);

  std::vector<std::vector<char>> hasParam(
      numStages, std::vector<char>(graph.paramBytes.size(), 0));
  for (auto [index, node] : llvm::enumerate(graph.nodes)) {
    Evaluation::Stage &stage = e.stages[assignment[index]];
    ++stage.ops;
    stage.flops += node.flops;
    stage.time += node.time;
    stage.activationBytes += node.activationBytes;
    for (int p : node.params)
      if (!hasParam[assignment[index]][p]) {
        hasParam[assignment[index]][p] = 1;
        stage.paramBytes += graph.paramBytes[p];
      }
  }
  for (const Edge &edge : graph.edges) {
    int from = assignment[edge.producer];
    llvm::SmallVector<int> to;
    for (int user : edge.users)
      if (assignment[user] != from && !llvm::is_contained(to, assignment[user]))
        to.push_back(assignment[user]);
    for (int s : to) {
      if (s < from) {
        e.error = "stage " + std::to_string(s) + " uses a tensor of later stage " +
                  std::to_string(from);
        return e;
      }
      e.messages[{from, s}] += edge.bytes;
      e.crossingBytes += edge.bytes;
    }
  }
  for (auto &[key, bytes] : e.messages) {
    e.topology.consumers[key.first].push_back(key.second);
    e.skipMessages += key.second != key.first + 1;
  }

  sched::Costs costs;
  for (const Evaluation::Stage &s : e.stages) {
    costs.fwd.push_back(s.time);
    // Backward is taken as twice the forward, split evenly into B and W,
    // until -pp-autodiff gives real backward costs.
    costs.bwdB.push_back(s.time);
    costs.bwdW.push_back(s.time);
    costs.stashBytes.push_back(s.activationBytes);
  }
  costs.cores = graph.cores;
  costs.transfer = [&](int from, int to) {
    auto it = e.messages.find({from, to});
    int64_t bytes = it == e.messages.end() ? 0 : it->second;
    return graph.linkLatency + bytes / graph.linkBandwidth;
  };
  std::vector<int64_t> rankParams(options.ranks, 0);
  for (const Evaluation::Stage &s : e.stages)
    rankParams[s.rank] += s.paramBytes;
  addTailCosts(costs, rankParams, options, graph.linkBandwidth,
               graph.linkLatency, graph.memoryBandwidth);
  e.schedule = sched::generate(options.schedule, e.topology,
                               options.microbatches, e.error, &costs);
  if (!e.schedule)
    return e;
  e.run = sched::run(*e.schedule, e.topology, &costs);
  if (!e.run.ok) {
    e.error = e.run.message;
    return e;
  }
  e.stepTime = e.run.stepTime;
  e.bubble = e.run.bubble;
  for (int r = 0; r < options.ranks; ++r) {
    RankState state = rankState(rankParams[r], options, graph.linkBandwidth,
                                graph.linkLatency, graph.memoryBandwidth);
    state.activations = e.run.peakStashBytes[r];
    e.peakMemory = std::max(e.peakMemory, state.total());
    e.peakMemoryUnsharded =
        std::max(e.peakMemoryUnsharded, state.totalUnsharded());
    e.allReduce = std::max(e.allReduce, state.allReduce);
    e.rankStates.push_back(state);
  }
  for (int s = 0; s < numStages; ++s)
    e.stages[s].memory =
        stateBytes(e.stages[s].paramBytes, options) +
        (int64_t)e.run.peakInflight[s] * e.stages[s].activationBytes;
  return e;
}

int ppc::optimizerStateCopies(mlir::ModuleOp module) {
  auto opt = module->getAttrOfType<mlir::DictionaryAttr>(kOptimizerAttr);
  auto kind = opt ? opt.getAs<mlir::StringAttr>("kind") : nullptr;
  if (!kind || kind.getValue() == "adamw")
    return 2;
  return attrNumber(opt, "momentum") != 0 ? 1 : 0;
}

std::string ppc::scheduleLabel(sched::Kind kind, int virtualStages) {
  std::string name = sched::kindName(kind).str();
  if (sched::takesVirtualStages(kind))
    name += " v" + std::to_string(virtualStages);
  return name;
}

ChoiceExplanation ppc::explainChoice(llvm::ArrayRef<Alternative> alts) {
  ChoiceExplanation out;
  int chosen = -1;
  for (auto [i, a] : llvm::enumerate(alts))
    if (a.chosen)
      chosen = i;
  if (chosen < 0)
    return out;
  const Alternative &w = alts[chosen];
  for (auto [i, a] : llvm::enumerate(alts))
    if (a.method == w.method && a.evaluation.stepTime > 0)
      out.ranked.push_back(i);
  std::stable_sort(out.ranked.begin(), out.ranked.end(), [&](int a, int b) {
    bool fa = alts[a].error.empty(), fb = alts[b].error.empty();
    if (fa != fb)
      return fa;
    return alts[a].evaluation.stepTime < alts[b].evaluation.stepTime;
  });
  auto ms = [](double t) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g ms", t * 1e3);
    return std::string(buf);
  };
  auto pct = [](double f) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f%%", 100 * f);
    return std::string(buf);
  };
  const Evaluation &we = w.evaluation;
  std::string why = w.schedule + " wins at " + ms(we.stepTime);
  const Alternative *runnerUp = nullptr, *overMemory = nullptr;
  for (int i : out.ranked) {
    const Alternative &a = alts[i];
    if (i == chosen)
      continue;
    if (a.error.empty() && !runnerUp)
      runnerUp = &a;
    if (a.error == "does not fit the memory limit" &&
        a.evaluation.stepTime < we.stepTime &&
        (!overMemory || a.evaluation.stepTime < overMemory->evaluation.stepTime))
      overMemory = &a;
  }
  if (runnerUp) {
    const Evaluation &re = runnerUp->evaluation;
    // The step is each rank's compute plus its idle time (the bubble, which
    // includes waiting on transfers): name the larger of the two gains.
    double idleGain = re.bubble * re.stepTime - we.bubble * we.stepTime;
    double busyGain = (1 - re.bubble) * re.stepTime -
                      (1 - we.bubble) * we.stepTime;
    if (re.stepTime - we.stepTime <= 1e-3 * re.stepTime) {
      why += ", within 0.1% of " + runnerUp->schedule +
             ": a tie in the cost model";
    } else {
      why += ", " + pct(1 - we.stepTime / re.stepTime) + " under " +
             runnerUp->schedule + " (" + ms(re.stepTime) + "): ";
      if (idleGain >= busyGain)
        why += "less idle time (bubble " + pct(we.bubble) + " against " +
               pct(re.bubble) + ", waits on transfers included)";
      else
        why += "less compute on its ranks (bubble " + pct(we.bubble) +
               " against " + pct(re.bubble) + ")";
    }
    why += "; peak memory " + formatBytes(we.peakMemory) + " against " +
           formatBytes(re.peakMemory) + "; sends " +
           formatBytes(we.crossingBytes) + " against " +
           formatBytes(re.crossingBytes) + " a micro-batch";
  } else {
    why += ", the only candidate that fits";
  }
  if (overMemory)
    why += "; " + overMemory->schedule + " would take " +
           ms(overMemory->evaluation.stepTime) + " but needs " +
           formatBytes(overMemory->evaluation.peakMemory) +
           ", more than the memory limit";
  out.why = why;
  return out;
}

Alternative ppc::evaluateAlternative(const OpGraph &graph,
                                     llvm::StringRef method,
                                     const PartitionOptions &options) {
  Alternative alt;
  alt.method = method.str();
  alt.schedule = scheduleLabel(options.schedule, options.virtualStages);
  PartitionResult result = partitionBy(method, graph, options);
  if (!result.ok()) {
    alt.error = result.error;
    return alt;
  }
  alt.evaluation = evaluate(graph, result.assignment, options);
  alt.error = alt.evaluation.error;
  double cap = options.memoryLimit > 0 ? options.memoryLimit : graph.memoryBytes;
  if (alt.error.empty() && cap > 0 && alt.evaluation.peakMemory > cap)
    alt.error = "does not fit the memory limit";
  return alt;
}
