//===- Device.cpp - built-in device profiles and their JSON form ----------===//

#include "ppc/Partition/Device.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <thread>

using namespace ppc;

/// The JSON value in a file; `what` names it in errors.
static std::optional<llvm::json::Value> readJson(llvm::StringRef path,
                                                 llvm::StringRef what,
                                                 std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = what.str() + path.str() + ": cannot read the file";
    return std::nullopt;
  }
  auto json = llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    error = path.str() + ": " + llvm::toString(json.takeError());
    return std::nullopt;
  }
  return std::move(*json);
}

double DeviceProfile::peakFor(llvm::StringRef dtype) const {
  auto it = peak.find(dtype);
  if (it != peak.end())
    return it->second;
  it = peak.find("default");
  return it != peak.end() ? it->second : peak.begin()->second;
}

double DeviceProfile::opTime(double flops, double bytes,
                             llvm::StringRef dtype) const {
  return std::max(flops / peakFor(dtype), bytes / memoryBandwidth);
}

// Datasheet figures (dense, no sparsity). The f32 rate is TF32's on the
// tensor cores, which is how `pprun --backend=cuda --tf32` runs fp32
// products; without --tf32 they run in plain fp32 at about a seventh of it
// (an H200 measured 448 TFLOP/s TF32 on 8192^3; datasheet fp32 67), so
// these times are optimistic for such runs: a measured -cost-table (pprun
// --profile) replaces them.
std::optional<DeviceProfile> DeviceProfile::builtin(llvm::StringRef name) {
  constexpr double T = 1e12, G = 1e9;
  struct Row {
    const char *name;
    double f32, half, other, memoryBandwidth, memoryBytes, link, latency;
  };
  static const Row rows[] = {
      // SXM5, NVLink 4.
      {"h100", 494 * T, 989 * T, 67 * T, 3.35e12, 80 * G, 450 * G, 5e-6},
      {"h200", 494 * T, 989 * T, 67 * T, 4.8e12, 141 * G, 450 * G, 5e-6},
      // SXM4 80 GB, NVLink 3.
      {"a100", 156 * T, 312 * T, 19.5 * T, 2.04e12, 80 * G, 300 * G, 5e-6},
      // A few AVX2 cores; ranks share memory. No half-precision rate.
      {"cpu", 100 * G, 0, 50 * G, 20 * G, 16 * G, 5 * G, 20e-6},
  };
  for (const Row &row : rows) {
    if (name != row.name)
      continue;
    DeviceProfile d;
    d.name = row.name;
    d.peak["f32"] = row.f32;
    d.peak["default"] = row.other;
    if (row.half > 0)
      d.peak["bf16"] = d.peak["f16"] = row.half;
    d.memoryBandwidth = row.memoryBandwidth;
    d.memoryBytes = row.memoryBytes;
    d.linkBandwidth = row.link;
    d.linkLatency = row.latency;
    // The CPU's ranks share the cores of the machine ppc runs on, as
    // pprun's --threads budget does by default.
    if (d.name == "cpu")
      d.cores = (int)std::max(1u, std::thread::hardware_concurrency());
    return d;
  }
  return std::nullopt;
}

/// The "ops" object of a cost table or device file, in seconds.
static std::optional<llvm::StringMap<double>>
readOps(const llvm::json::Object &ops, llvm::StringRef path,
        std::string &error) {
  llvm::StringMap<double> table;
  for (auto &[name, value] : ops) {
    auto us = value.getAsNumber();
    if (!us || *us < 0) {
      error = path.str() + ": op '" + name.str() +
              "' needs a non-negative time in microseconds";
      return std::nullopt;
    }
    table[name.str()] = *us * 1e-6;
  }
  return table;
}

std::optional<DeviceProfile> DeviceProfile::load(llvm::StringRef nameOrPath,
                                                 std::string &error) {
  if (auto d = builtin(nameOrPath))
    return d;
  if (!llvm::sys::fs::exists(nameOrPath)) {
    error = "-device=" + nameOrPath.str() +
            ": not a built-in device (h100, h200, a100, cpu) nor a readable "
            "file";
    return std::nullopt;
  }
  auto json = readJson(nameOrPath, "-device=", error);
  if (!json)
    return std::nullopt;
  const llvm::json::Object *obj = json->getAsObject();
  if (!obj) {
    error = nameOrPath.str() + ": expected a JSON object";
    return std::nullopt;
  }
  // A calibrated file (pprun --calibrate) starts from a built-in profile
  // and overrides what it measured.
  DeviceProfile d;
  std::optional<llvm::StringRef> base = obj->getString("base");
  if (base) {
    std::optional<DeviceProfile> b = builtin(*base);
    if (!b) {
      error = nameOrPath.str() + ": \"base\": \"" + base->str() +
              "\" is not a built-in device (h100, h200, a100, cpu)";
      return std::nullopt;
    }
    d = std::move(*b);
  }
  auto number = [&](llvm::StringRef key, double &out) {
    std::optional<double> v = obj->getNumber(key);
    if (!v && base)
      return true;
    if (!v || *v <= 0) {
      error = nameOrPath.str() + ": needs a positive number \"" + key.str() +
              "\"";
      return false;
    }
    out = *v;
    return true;
  };
  if (!number("memory_bandwidth", d.memoryBandwidth) ||
      !number("memory_bytes", d.memoryBytes) ||
      !number("link_bandwidth", d.linkBandwidth))
    return std::nullopt;
  if (std::optional<double> latency = obj->getNumber("link_latency"))
    d.linkLatency = *latency;
  else if (!base)
    d.linkLatency = 0;
  if (std::optional<double> cores = obj->getNumber("cores")) {
    if (*cores < 0 || *cores != (int)*cores) {
      error = nameOrPath.str() + ": \"cores\" must be a whole number, 0 or "
              "more";
      return std::nullopt;
    }
    d.cores = (int)*cores;
  }
  d.name = obj->getString("name").value_or(nameOrPath).str();
  if (const llvm::json::Object *peak = obj->getObject("peak_flops")) {
    d.peak.clear();
    for (auto &[dtype, value] : *peak)
      if (auto v = value.getAsNumber(); v && *v > 0)
        d.peak[dtype.str()] = *v;
  }
  if (d.peak.empty()) {
    error = nameOrPath.str() +
            ": needs \"peak_flops\": {\"f32\": FLOP/s, ...} with positive "
            "values";
    return std::nullopt;
  }
  if (const llvm::json::Object *ops = obj->getObject("ops")) {
    auto table = readOps(*ops, nameOrPath, error);
    if (!table)
      return std::nullopt;
    d.ops = std::move(*table);
  }
  return d;
}

std::optional<llvm::StringMap<double>>
ppc::loadCostTable(llvm::StringRef path, std::string &error) {
  auto json = readJson(path, "-cost-table=", error);
  if (!json)
    return std::nullopt;
  const llvm::json::Object *obj = json->getAsObject();
  const llvm::json::Object *ops = obj ? obj->getObject("ops") : nullptr;
  if (!ops) {
    error = path.str() + ": expected {\"ops\": {\"NODE\": microseconds, ...}}";
    return std::nullopt;
  }
  return readOps(*ops, path, error);
}
