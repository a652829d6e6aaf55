//===- Device.h - device profiles for the analytic cost model ---*- C++ -*-===//
//
// An op takes max(FLOPs / peak, bytes / bandwidth) on a device; a transfer of
// n bytes between stages takes latency + n / link bandwidth.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_PARTITION_DEVICE_H
#define PPC_PARTITION_DEVICE_H

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace ppc {

struct DeviceProfile {
  std::string name;
  /// Peak operations per second by element type ("f32", "f16", "bf16",
  /// "i64", ...); "default" covers the rest.
  llvm::StringMap<double> peak;
  double memoryBandwidth = 0; // bytes/s
  double memoryBytes = 0;
  double linkBandwidth = 0; // bytes/s, stage to stage
  double linkLatency = 0;   // s
  /// Cores the ranks of one machine share (a CPU); 0: each rank has its own
  /// device. The simulator slows ranks that compute at once on fewer cores.
  int cores = 0;
  /// Measured seconds of the ops of one model by ONNX node (a calibrated
  /// file's "ops", pprun --calibrate): the cost table when -cost-table
  /// gives none.
  llvm::StringMap<double> ops;

  double peakFor(llvm::StringRef dtype) const;
  double opTime(double flops, double bytes, llvm::StringRef dtype) const;
  double transferTime(double bytes) const {
    return bytes <= 0 ? 0 : linkLatency + bytes / linkBandwidth;
  }

  /// h100, h200, a100 or cpu.
  static std::optional<DeviceProfile> builtin(llvm::StringRef name);
  /// A built-in name or a JSON file (docs/partitioning.md has its fields).
  static std::optional<DeviceProfile> load(llvm::StringRef nameOrPath,
                                           std::string &error);
};

/// A profiled per-op time table: {"ops": {"NODE": microseconds, ...}}.
std::optional<llvm::StringMap<double>> loadCostTable(llvm::StringRef path,
                                                     std::string &error);

} // namespace ppc

#endif // PPC_PARTITION_DEVICE_H
