//===- AnnotateCost.cpp - -pp-annotate-cost -------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/Device.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSet.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPANNOTATECOSTPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
std::string dtypeOf(Operation *op) {
  Type t = op->getNumOperands() ? op->getOperand(0).getType()
                                : op->getResult(0).getType();
  auto tensor = dyn_cast<RankedTensorType>(t);
  if (!tensor)
    return "default";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << tensor.getElementType();
  return s;
}

struct AnnotateCost : ppc::pp::impl::PPAnnotateCostPassBase<AnnotateCost> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string error;
    std::optional<DeviceProfile> profile = DeviceProfile::load(device, error);
    if (!profile) {
      module.emitError(error);
      return signalPassFailure();
    }
    std::optional<llvm::StringMap<double>> table;
    if (!costTable.empty() && !(table = loadCostTable(costTable, error))) {
      module.emitError(error);
      return signalPassFailure();
    }
    // A calibrated device file carries its model's measured ops.
    if (!table && !profile->ops.empty())
      table = profile->ops;
    Builder b(module.getContext());
    llvm::StringSet<> used;
    struct Timed {
      Operation *op;
      int64_t flops, bytes, params, activations;
      double modelled;
      std::optional<double> measured;
      bool computeBound;
    };
    std::vector<Timed> timed;
    module.walk([&](Operation *op) {
      auto cost = dyn_cast<CostOpInterface>(op);
      if (!cost || isa<GetParamOp, ConstantOp, ParamOp>(op))
        return;
      Timed t{op, cost.getFlops(), cost.getBytesMoved(), 0, 0, 0, {}, false};
      llvm::SmallPtrSet<Operation *, 4> seen;
      for (Value operand : op->getOperands())
        if (auto get = operand.getDefiningOp<GetParamOp>())
          if (seen.insert(get).second)
            t.params += tensorBytes(get.getType());
      for (Value result : op->getResults())
        t.activations += tensorBytes(result.getType());
      std::string dtype = dtypeOf(op);
      t.modelled = profile->opTime(t.flops, t.bytes, dtype);
      t.computeBound = t.flops / profile->peakFor(dtype) >=
                       t.bytes / profile->memoryBandwidth;
      if (table)
        if (auto name = dyn_cast<NameLoc>(op->getLoc())) {
          auto it = table->find(name.getName().getValue());
          if (it != table->end()) {
            t.measured = it->second;
            used.insert(it->first());
          }
        }
      timed.push_back(t);
    });
    // The ops the table does not time (the backward's, other nodes) take
    // the model's time scaled by what the measured ops of their kind
    // (compute- or bandwidth-bound) took against the model.
    double measuredSum[2] = {0, 0}, modelledSum[2] = {0, 0};
    for (const Timed &t : timed)
      if (t.measured && t.modelled > 0) {
        measuredSum[t.computeBound] += *t.measured;
        modelledSum[t.computeBound] += t.modelled;
      }
    for (const Timed &t : timed) {
      double scale = modelledSum[t.computeBound] > 0
                         ? measuredSum[t.computeBound] /
                               modelledSum[t.computeBound]
                         : 1.0;
      double time = t.measured ? *t.measured : t.modelled * scale;
      t.op->setAttr(kCostAttr,
                    b.getDictionaryAttr({
                        b.getNamedAttr("activation_bytes",
                                       b.getI64IntegerAttr(t.activations)),
                        b.getNamedAttr("bytes", b.getI64IntegerAttr(t.bytes)),
                        b.getNamedAttr("flops", b.getI64IntegerAttr(t.flops)),
                        b.getNamedAttr("param_bytes",
                                       b.getI64IntegerAttr(t.params)),
                        b.getNamedAttr("time", b.getF64FloatAttr(time)),
                    }));
    }
    if (table && used.size() < table->size()) {
      for (auto &entry : *table)
        if (!used.contains(entry.first())) {
          module.emitWarning("cost table entry '")
              << entry.first() << "' names no op of the model ("
              << table->size() - used.size() << " such entries)";
          break;
        }
    }
    SmallVector<NamedAttribute> device = {
        b.getNamedAttr("link_bandwidth", b.getF64FloatAttr(profile->linkBandwidth)),
        b.getNamedAttr("link_latency", b.getF64FloatAttr(profile->linkLatency)),
        b.getNamedAttr("memory_bandwidth", b.getF64FloatAttr(profile->memoryBandwidth)),
        b.getNamedAttr("memory_bytes", b.getF64FloatAttr(profile->memoryBytes)),
        b.getNamedAttr("name", b.getStringAttr(profile->name))};
    if (profile->cores > 0)
      device.push_back(
          b.getNamedAttr("cores", b.getI64IntegerAttr(profile->cores)));
    module->setAttr(kDeviceAttr, b.getDictionaryAttr(device));
  }
};
} // namespace
