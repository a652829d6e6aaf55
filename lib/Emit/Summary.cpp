//===- Summary.cpp - gather the figures of a scheduled module -------------===//

#include "ppc/Emit/Emit.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace ppc;

std::optional<PipelineSummary> ppc::summarize(ModuleOp module,
                                              std::string &error) {
  PipelineSummary s;
  auto pipeline = readStages(module);
  auto ops = llvm::to_vector(module.getOps<pp::ScheduleOp>());
  if (!pipeline || ops.size() != 1) {
    error = "the module has no stage functions and schedule";
    return std::nullopt;
  }
  s.pipeline = std::move(*pipeline);
  s.plan = readSchedule(ops.front());
  s.microbatches = s.plan.microbatches;
  s.schedule = sched::kindName(s.plan.kind).str();
  s.ranks = s.pipeline.numRanks();
  s.virtualStages = s.pipeline.topology.numStages() / s.ranks;
  if (auto device = module->getAttrOfType<DictionaryAttr>(kDeviceAttr))
    if (auto name = device.getAs<StringAttr>("name"))
      s.device = name.str();
  if (auto info = module->getAttrOfType<DictionaryAttr>(kPartitionAttr)) {
    if (auto method = info.getAs<StringAttr>("method"))
      s.method = method.str();
    s.dataParallel = std::max<int>(1, attrNumber(info, "data_parallel", 1));
    s.zero = attrNumber(info, "zero");
    s.updateInStep = info.get("update_in_step") != nullptr;
  }
  PartitionOptions options;
  options.ranks = s.ranks;
  options.virtualStages = s.virtualStages;
  options.microbatches = s.microbatches;
  options.schedule = s.plan.kind;
  options.dataParallel = s.dataParallel;
  options.zero = s.zero;
  options.optimizerCopies = optimizerStateCopies(module);
  options.updateInStep = s.updateInStep;
  s.training = options.training();
  auto device = module->getAttrOfType<DictionaryAttr>(kDeviceAttr);
  double linkBandwidth = attrNumber(device, "link_bandwidth", 1);
  double linkLatency = attrNumber(device, "link_latency");
  double memoryBandwidth = attrNumber(device, "memory_bandwidth");
  for (auto [index, stageFunc] : llvm::enumerate(s.pipeline.stages)) {
    func::FuncOp func = stageFunc;
    Evaluation::Stage f;
    f.rank = s.pipeline.topology.stageRank[index];
    llvm::StringSet<> params;
    func.walk([&](Operation *op) {
      if (auto get = dyn_cast<pp::GetParamOp>(op))
        if (params.insert(get.getName()).second)
          f.paramBytes += tensorBytes(get.getType());
      auto cost = op->getAttrOfType<DictionaryAttr>(kCostAttr);
      if (!cost)
        return;
      ++f.ops;
      f.flops += attrNumber(cost, "flops");
      f.activationBytes += attrNumber(cost, "activation_bytes");
      f.time += attrNumber(cost, "time");
    });
    s.stages.push_back(f);
  }
  // The gradient all-reduce and the update after each rank's backward.
  std::vector<int64_t> rankParams(s.ranks, 0);
  for (const Evaluation::Stage &f : s.stages)
    rankParams[f.rank] += f.paramBytes;
  addTailCosts(s.pipeline.costs, rankParams, options, linkBandwidth,
               linkLatency, memoryBandwidth);
  s.run = sched::run(s.plan, s.pipeline.topology, &s.pipeline.costs);
  if (!s.run.ok) {
    error = s.run.message;
    return std::nullopt;
  }
  for (auto [index, f] : llvm::enumerate(s.stages))
    f.memory = stateBytes(f.paramBytes, options) +
               (int64_t)s.run.peakInflight[index] * f.activationBytes;
  for (int r = 0; r < s.ranks; ++r) {
    RankState state = rankState(rankParams[r], options, linkBandwidth,
                                linkLatency, memoryBandwidth);
    state.activations = s.run.peakStashBytes[r];
    s.rankStates.push_back(state);
  }
  return s;
}

llvm::Error ppc::writeAtomically(llvm::StringRef dir, llvm::StringRef name,
                                 llvm::StringRef contents) {
  return writeAtomically(dir, name,
                         [&](llvm::raw_ostream &os) { os << contents; });
}

llvm::Error
ppc::writeAtomically(llvm::StringRef dir, llvm::StringRef name,
                     llvm::function_ref<void(llvm::raw_ostream &)> write) {
  llvm::SmallString<256> path(dir), temp(dir);
  llvm::sys::path::append(path, name);
  llvm::sys::path::append(temp, "." + name + ".tmp");
  std::error_code ec;
  {
    llvm::raw_fd_ostream os(temp, ec);
    if (ec)
      return llvm::createStringError(ec, "%s: %s", temp.c_str(),
                                     ec.message().c_str());
    write(os);
    os.close();
    if (os.has_error())
      return llvm::createStringError(os.error(), "%s: write failed",
                                     temp.c_str());
  }
  if ((ec = llvm::sys::fs::rename(temp, path)))
    return llvm::createStringError(ec, "%s: %s", path.c_str(),
                                   ec.message().c_str());
  return llvm::Error::success();
}
