//===- Device.cpp - built-in device profiles and their JSON form ----------===//

#include "ppc/Partition/Device.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace ppc;

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

// Datasheet figures (dense, no sparsity). fp32 matmuls run as TF32 on the
// tensor cores, which is how the CUDA backend runs them.
std::optional<DeviceProfile> DeviceProfile::builtin(llvm::StringRef name) {
  DeviceProfile d;
  d.name = name.str();
  constexpr double T = 1e12, G = 1e9;
  if (name == "h100") { // SXM5, NVLink 4
    d.peak = {{"f32", 494 * T}, {"bf16", 989 * T}, {"f16", 989 * T},
              {"default", 67 * T}};
    d.memoryBandwidth = 3.35e12;
    d.memoryBytes = 80 * G;
    d.linkBandwidth = 450 * G;
    d.linkLatency = 5e-6;
  } else if (name == "h200") {
    d.peak = {{"f32", 494 * T}, {"bf16", 989 * T}, {"f16", 989 * T},
              {"default", 67 * T}};
    d.memoryBandwidth = 4.8e12;
    d.memoryBytes = 141 * G;
    d.linkBandwidth = 450 * G;
    d.linkLatency = 5e-6;
  } else if (name == "a100") { // SXM4 80GB, NVLink 3
    d.peak = {{"f32", 156 * T}, {"bf16", 312 * T}, {"f16", 312 * T},
              {"default", 19.5 * T}};
    d.memoryBandwidth = 2.04e12;
    d.memoryBytes = 80 * G;
    d.linkBandwidth = 300 * G;
    d.linkLatency = 5e-6;
  } else if (name == "cpu") { // a few AVX2 cores; ranks share memory
    d.peak = {{"f32", 100 * G}, {"default", 50 * G}};
    d.memoryBandwidth = 20 * G;
    d.memoryBytes = 16 * G;
    d.linkBandwidth = 5 * G;
    d.linkLatency = 20e-6;
  } else {
    return std::nullopt;
  }
  return d;
}

std::optional<DeviceProfile> DeviceProfile::load(llvm::StringRef nameOrPath,
                                                 std::string &error) {
  if (auto d = builtin(nameOrPath))
    return d;
  auto buffer = llvm::MemoryBuffer::getFile(nameOrPath);
  if (!buffer) {
    error = "-device=" + nameOrPath.str() +
            ": not a built-in device (h100, h200, a100, cpu) nor a readable "
            "file";
    return std::nullopt;
  }
  auto json = llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    error = nameOrPath.str() + ": " + llvm::toString(json.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *obj = json->getAsObject();
  DeviceProfile d;
  auto number = [&](llvm::StringRef key, double &out) {
    std::optional<double> v = obj ? obj->getNumber(key) : std::nullopt;
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
  d.linkLatency = obj->getNumber("link_latency").value_or(0);
  d.name = obj->getString("name").value_or(nameOrPath).str();
  const llvm::json::Object *peak = obj->getObject("peak_flops");
  if (peak)
    for (auto &[dtype, value] : *peak)
      if (auto v = value.getAsNumber(); v && *v > 0)
        d.peak[dtype.str()] = *v;
  if (d.peak.empty()) {
    error = nameOrPath.str() +
            ": needs \"peak_flops\": {\"f32\": FLOP/s, ...} with positive "
            "values";
    return std::nullopt;
  }
  return d;
}

std::optional<llvm::StringMap<double>>
ppc::loadCostTable(llvm::StringRef path, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = "-cost-table=" + path.str() + ": cannot read the file";
    return std::nullopt;
  }
  auto json = llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    error = path.str() + ": " + llvm::toString(json.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *obj = json->getAsObject();
  const llvm::json::Object *ops = obj ? obj->getObject("ops") : nullptr;
  if (!ops) {
    error = path.str() + ": expected {\"ops\": {\"NODE\": microseconds, ...}}";
    return std::nullopt;
  }
  llvm::StringMap<double> table;
  for (auto &[name, value] : *ops) {
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
