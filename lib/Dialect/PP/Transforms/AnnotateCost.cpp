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
    Builder b(module.getContext());
    llvm::StringSet<> used;
    module.walk([&](Operation *op) {
      auto cost = dyn_cast<CostOpInterface>(op);
      if (!cost || isa<GetParamOp, ConstantOp, ParamOp>(op))
        return;
      int64_t flops = cost.getFlops(), bytes = cost.getBytesMoved();
      int64_t params = 0, activations = 0;
      llvm::SmallPtrSet<Operation *, 4> seen;
      for (Value operand : op->getOperands())
        if (auto get = operand.getDefiningOp<GetParamOp>())
          if (seen.insert(get).second)
            params += tensorBytes(get.getType());
      for (Value result : op->getResults())
        activations += tensorBytes(result.getType());
      double time = profile->opTime(flops, bytes, dtypeOf(op));
      if (table)
        if (auto name = dyn_cast<NameLoc>(op->getLoc())) {
          auto it = table->find(name.getName().getValue());
          if (it != table->end()) {
            time = it->second;
            used.insert(it->first());
          }
        }
      op->setAttr(kCostAttr,
                  b.getDictionaryAttr({
                      b.getNamedAttr("activation_bytes",
                                     b.getI64IntegerAttr(activations)),
                      b.getNamedAttr("bytes", b.getI64IntegerAttr(bytes)),
                      b.getNamedAttr("flops", b.getI64IntegerAttr(flops)),
                      b.getNamedAttr("param_bytes", b.getI64IntegerAttr(params)),
                      b.getNamedAttr("time", b.getF64FloatAttr(time)),
                  }));
    });
    if (table && used.size() < table->size()) {
      for (auto &entry : *table)
        if (!used.contains(entry.first())) {
          module.emitWarning("cost table entry '")
              << entry.first() << "' names no op of the model ("
              << table->size() - used.size() << " such entries)";
          break;
        }
    }
    module->setAttr(
        kDeviceAttr,
        b.getDictionaryAttr({
            b.getNamedAttr("link_bandwidth", b.getF64FloatAttr(profile->linkBandwidth)),
            b.getNamedAttr("link_latency", b.getF64FloatAttr(profile->linkLatency)),
            b.getNamedAttr("memory_bandwidth", b.getF64FloatAttr(profile->memoryBandwidth)),
            b.getNamedAttr("memory_bytes", b.getF64FloatAttr(profile->memoryBytes)),
            b.getNamedAttr("name", b.getStringAttr(profile->name)),
        }));
  }
};
} // namespace
