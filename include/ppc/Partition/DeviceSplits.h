//===- DeviceSplits.h - the choice among -devices=N splits ------*- C++ -*-===//
//
// -devices=N compares every K stages x D replicas with K x D = N under every
// schedule asked for; each candidate is a partition evaluated like the
// report's alternatives. These are the candidates' figures and the choice
// among them, apart from the model import each split needs (ppc/Pipelines).
//
//===----------------------------------------------------------------------===//

#ifndef PPC_PARTITION_DEVICESPLITS_H
#define PPC_PARTITION_DEVICESPLITS_H

#include "ppc/Partition/Partition.h"

#include <optional>
#include <string>
#include <vector>

namespace ppc {

/// A schedule to compare: its kind and stages per rank (interleaved).
struct ScheduleChoice {
  sched::Kind kind = sched::Kind::Inference;
  int virtualStages = 1;
};

/// One (stages, data-parallel) split of the devices under one schedule.
struct DeviceCandidate {
  int stages = 0, dataParallel = 0, microbatches = 0;
  int64_t microbatchSize = 0; // 0: the batch does not split
  ScheduleChoice schedule;
  Alternative alternative; // its partition and evaluation
};

/// `graph` cut by `method` and simulated under `options`, as
/// evaluateAlternative does; a candidate over the memory limit keeps its
/// figures without the limit, and its error says how much it needs.
Alternative evaluateCandidate(const OpGraph &graph, llvm::StringRef method,
                              const PartitionOptions &options);

/// The fastest candidate that fits (the first of equals), marked chosen.
/// None fits: nullopt, and `error` says what the least hungry candidate
/// needs against `memoryLimit` (0: the device's memory).
std::optional<size_t> chooseCandidate(std::vector<DeviceCandidate> &candidates,
                                      int64_t devices, double memoryLimit,
                                      std::string &error);

} // namespace ppc

#endif // PPC_PARTITION_DEVICESPLITS_H
