//===- Evaluate.cpp - per-stage figures and the simulated step ------------===//

#include "ppc/Partition/Partition.h"

#include <algorithm>
#include <cstdio>

using namespace ppc;

int64_t ppc::stateBytes(int64_t paramBytes, sched::Kind kind) {
  return sched::isTraining(kind) ? 4 * paramBytes : paramBytes;
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
    e.stages[s].rank = e.topology.stageRank[s] = s % options.ranks;

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
  costs.transfer = [&](int from, int to) {
    auto it = e.messages.find({from, to});
    int64_t bytes = it == e.messages.end() ? 0 : it->second;
    return graph.linkLatency + bytes / graph.linkBandwidth;
  };
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
  std::vector<int64_t> rankMemory(options.ranks, 0);
  for (int s = 0; s < numStages; ++s)
    rankMemory[e.stages[s].rank] +=
        stateBytes(e.stages[s].paramBytes, options.schedule);
  for (int r = 0; r < options.ranks; ++r) {
    rankMemory[r] += e.run.peakStashBytes[r];
    e.peakMemory = std::max(e.peakMemory, rankMemory[r]);
  }
  for (int s = 0; s < numStages; ++s)
    e.stages[s].memory =
        stateBytes(e.stages[s].paramBytes, options.schedule) +
        (int64_t)e.run.peakInflight[s] * e.stages[s].activationBytes;
  return e;
}
