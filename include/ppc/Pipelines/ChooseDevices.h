//===- ChooseDevices.h - ppc -devices=N -------------------------*- C++ -*-===//

#ifndef PPC_PIPELINES_CHOOSEDEVICES_H
#define PPC_PIPELINES_CHOOSEDEVICES_H

#include "ppc/Pipelines/Pipelines.h"

#include "mlir/Support/LogicalResult.h"

#include <vector>

namespace ppc {

/// The split -devices=N compiles, and every candidate compared.
struct DeviceChoice {
  int64_t stages = 0, dataParallel = 0, microbatches = 0;
  ScheduleChoice schedule;
  std::vector<DeviceCandidate> candidates; // the chosen one marked
};

/// Every (K, D) with K x D = `devices` and every schedule in `schedules`,
/// the model cut by the partition method and simulated on micro-batches of
/// B / (M x D) (B: `import.batch`, which must be set; M: `microbatches`, or
/// K when 0); the fastest that fits memory is chosen (chooseCandidate).
/// Each split imports the model in a context of its own, so only the
/// figures are kept; their diagnostics, and the error when nothing fits,
/// are emitted on `context`.
mlir::FailureOr<DeviceChoice>
chooseDevices(mlir::MLIRContext &context, llvm::StringRef model,
              const ImportOptions &import, const CompileOptions &options,
              int64_t devices, int64_t microbatches,
              llvm::ArrayRef<ScheduleChoice> schedules);

} // namespace ppc

#endif // PPC_PIPELINES_CHOOSEDEVICES_H
