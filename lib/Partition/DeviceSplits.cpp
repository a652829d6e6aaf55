//===- DeviceSplits.cpp - the choice among -devices=N splits --------------===//

#include "ppc/Partition/DeviceSplits.h"

#include <limits>

using namespace ppc;

Alternative ppc::evaluateCandidate(const OpGraph &graph, llvm::StringRef method,
                                   const PartitionOptions &options) {
  Alternative alt = evaluateAlternative(graph, method, options);
  if (alt.error.empty())
    return alt;
  // Over the memory limit? Its figures without one say by how much.
  PartitionOptions noLimit = options;
  noLimit.memoryLimit = std::numeric_limits<double>::infinity();
  Alternative unbounded = evaluateAlternative(graph, method, noLimit);
  double cap = options.memoryLimit > 0 ? options.memoryLimit : graph.memoryBytes;
  if (unbounded.error.empty() && cap > 0 &&
      unbounded.evaluation.peakMemory > cap) {
    unbounded.error = "needs " + formatBytes(unbounded.evaluation.peakMemory) +
                      " per device, over " + formatBytes(cap);
    return unbounded;
  }
  return alt;
}

std::optional<size_t>
ppc::chooseCandidate(std::vector<DeviceCandidate> &candidates, int64_t devices,
                     double memoryLimit, std::string &error) {
  std::optional<size_t> chosen;
  for (auto [i, c] : llvm::enumerate(candidates))
    if (c.alternative.error.empty() &&
        (!chosen || c.alternative.evaluation.stepTime <
                        candidates[*chosen].alternative.evaluation.stepTime))
      chosen = i;
  if (chosen) {
    candidates[*chosen].alternative.chosen = true;
    return chosen;
  }
  // Nothing fits: say what the least hungry candidate needs.
  int64_t least = 0;
  for (const DeviceCandidate &c : candidates)
    if (c.alternative.evaluation.peakMemory > 0 &&
        (!least || c.alternative.evaluation.peakMemory < least))
      least = c.alternative.evaluation.peakMemory;
  std::string why =
      least ? "; the least memory any needs is " + formatBytes(least) +
                  " per device"
      : candidates.empty() ? ""
                           : " (" + candidates.back().alternative.error + ")";
  error = "-devices=" + std::to_string(devices) +
          ": no split into stages x data-parallel replicas and schedule fits " +
          (memoryLimit > 0 ? "-memory-limit=" + formatBytes(memoryLimit)
                           : std::string("the device's memory")) +
          why;
  return std::nullopt;
}
