//===- ChooseDevices.cpp - ppc -devices=N ---------------------------------===//

#include "ppc/Pipelines/ChooseDevices.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

using namespace mlir;
using namespace ppc;

FailureOr<DeviceChoice>
ppc::chooseDevices(MLIRContext &context, StringRef model,
                   const ImportOptions &import, const CompileOptions &options,
                   int64_t devices, int64_t microbatches,
                   ArrayRef<ScheduleChoice> schedules) {
  int64_t n = devices, b = *import.batch;
  DeviceChoice choice;
  std::vector<DeviceCandidate> &out = choice.candidates;
  std::optional<size_t> opsInModel;
  for (int64_t d = n; d >= 1; --d) {
    if (n % d)
      continue;
    int64_t k = n / d;
    int64_t m = microbatches > 0 ? microbatches : k;
    auto row = [&](ScheduleChoice sc) {
      DeviceCandidate c;
      c.stages = k;
      c.dataParallel = d;
      c.microbatches = m;
      c.microbatchSize = b % (m * d) ? 0 : b / (m * d);
      c.schedule = sc;
      c.alternative.method = options.partitionMethod;
      c.alternative.schedule = scheduleLabel(sc.kind, sc.virtualStages);
      return c;
    };
    if (b % (m * d) || (opsInModel && (size_t)k > *opsInModel)) {
      for (ScheduleChoice sc : schedules) {
        DeviceCandidate c = row(sc);
        c.alternative.error =
            b % (m * d) ? "-batch=" + std::to_string(b) + " does not split "
                          "into " + std::to_string(d) + " x " +
                          std::to_string(m) + " micro-batches"
                        : std::to_string(k) + " stages but the model has only " +
                              std::to_string(*opsInModel) + " ops";
        out.push_back(std::move(c));
      }
      continue;
    }
    MLIRContext splitContext(context.getDialectRegistry());
    splitContext.disableMultithreading();
    // Its diagnostics go to the caller's handlers, while its locations live.
    splitContext.getDiagEngine().registerHandler([&](Diagnostic &diag) {
      context.getDiagEngine().emit(std::move(diag));
    });
    ImportOptions split = import;
    split.batch = b / (m * d);
    OwningOpRef<ModuleOp> module = prepareModule(
        splitContext, model, split, options, m, d, /*warn=*/out.empty());
    if (!module)
      return failure();
    auto main = module->lookupSymbol<func::FuncOp>("main");
    std::optional<OpGraph> graph = OpGraph::build(main);
    if (!graph)
      return failure();
    opsInModel = graph->nodes.size();
    for (ScheduleChoice sc : schedules) {
      // Every candidate's step ends with its update, one replica or many.
      PartitionOptions opts = partitionOptions(*module, options, k, sc, m, d,
                                               /*updateInStep=*/true);
      DeviceCandidate c = row(sc);
      c.alternative =
          evaluateCandidate(*graph, options.partitionMethod, opts);
      out.push_back(std::move(c));
    }
  }
  std::string error;
  std::optional<size_t> chosen =
      chooseCandidate(out, n, options.memoryLimit, error);
  if (!chosen)
    return emitError(FileLineColLoc::get(&context, model, 0, 0)) << error;
  const DeviceCandidate &c = out[*chosen];
  choice.stages = c.stages;
  choice.dataParallel = c.dataParallel;
  choice.microbatches = c.microbatches;
  choice.schedule = c.schedule;
  return choice;
}
