//===- Pipelines.h - the pass sequences of ppc ------------------*- C++ -*-===//
//
// What `ppc MODEL -stages=K` (and each -devices=N candidate) runs: the model
// imported and prepared (canonicalized, differentiated when training,
// cost-annotated, the optimizer on the module), the partition options it is
// cut and simulated under, and the passes that cut, split, schedule and plan
// it. The -devices search and the real compile build both from here, so
// that the split chosen is the split compiled.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_PIPELINES_PIPELINES_H
#define PPC_PIPELINES_PIPELINES_H

#include "ppc/Import/ONNX/Importer.h"
#include "ppc/Partition/DeviceSplits.h"
#include "ppc/Partition/Partition.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"

#include <string>

namespace ppc {

/// The pipeline compiler's settings beside the import options (ppc's
/// flags, defaults as there).
struct CompileOptions {
  /// Cost model and partition.
  std::string device = "h100", costTable;
  std::string partitionMethod = "cost";
  double memoryLimit = 0; // bytes per device; 0: the device's memory
  int zero = 0;           // 1: ZeRO-1
  /// Training: the loss and the optimizer.
  bool train = false;
  std::string loss = "cross-entropy", lossOn, labels = "labels";
  std::string optimizer = "sgd";
  double lr = 0.01, momentum = 0, gradClip = 0;
  double weightDecay = -1; // below 0: AdamW 0.01, SGD 0
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool recompute = false;
  /// Compute f16/bf16 models in f32 (-pp-promote-half); training always
  /// does (its gradients and optimizer are f32).
  bool promoteHalf = false;
  /// Products in fp32, bf16 or fp16 (-pp-precision).
  std::string precision = "fp32";
  /// Training: dynamic loss scaling (torch.amp.GradScaler's), its initial
  /// scale (below 0: 2^16 under fp16, off otherwise; 0: off) and growth
  /// interval.
  double lossScale = -1;
  int64_t lossScaleGrowthInterval = 2000;
  /// The initial loss scale training starts from (0: no loss scaling).
  double effectiveLossScale() const {
    if (!train)
      return 0;
    return lossScale >= 0 ? lossScale : precision == "fp16" ? 65536.0 : 0.0;
  }
};

/// -pp-promote-half when training or asked, -pp-canonicalize, when training
/// -pp-autodiff for `microbatches` x `dataParallel` micro-batches,
/// -pp-precision unless fp32, and -pp-annotate-cost.
void buildPreparePassPipeline(mlir::OpPassManager &pm,
                              const CompileOptions &options,
                              int64_t microbatches, int64_t dataParallel);

/// The model at `model` imported (micro-batches of `import.batch`), run
/// through the prepare pipeline and, when training, given its optimizer:
/// what every partition is cut from. With `warn`, a training model whose
/// initializers look renamed by the exporter's constant folding, or
/// whose norms share a parameter, gets a warning. Errors are diagnostics
/// on `context`; null on failure.
mlir::OwningOpRef<mlir::ModuleOp>
prepareModule(mlir::MLIRContext &context, llvm::StringRef model,
              const ImportOptions &import, const CompileOptions &options,
              int64_t microbatches, int64_t dataParallel, bool warn);

/// Warns, at `loc`, of every parameter that is the scale or bias of several
/// normalization ops (LayerNorm, BatchNorm, RMSNorm's weight Mul) of
/// `module`'s @main: torch's exporter ties equal-valued initializers in
/// eval mode, which training must not inherit.
void warnSharedNormParameters(mlir::ModuleOp module, mlir::Location loc);

/// The options a prepared module is partitioned and simulated under: K
/// `stages`, `schedule`, M `microbatches` per replica, D `dataParallel`.
PartitionOptions partitionOptions(mlir::ModuleOp prepared,
                                  const CompileOptions &options,
                                  int64_t stages, ScheduleChoice schedule,
                                  int64_t microbatches, int64_t dataParallel,
                                  bool updateInStep);

/// The schedules `-schedule=NAME` compares: auto's every training schedule
/// (gpipe, 1f1b, zb-h1, zb-h2, interleaved v2, interleaved-zb v2,
/// looped-bfs v2, zb-v, v-half, dualpipe-v), or NAME's alone with `virtualStages` (0: 2 for
/// interleaved, 1 otherwise). Empty, with `error`, for an unknown name.
llvm::SmallVector<ScheduleChoice>
scheduleChoices(llvm::StringRef name, int64_t virtualStages,
                std::string &error);

/// How a prepared module is cut: K `stages`, M `microbatches` per replica,
/// D `dataParallel` replicas, the `schedules` compared, and whether the
/// optimizer update counts in the step.
struct PipelineShape {
  int64_t stages = 1, microbatches = 1, dataParallel = 1;
  llvm::SmallVector<ScheduleChoice> schedules;
  bool updateInStep = false;
};

/// Runs a pass pipeline on the module being compiled: ppc runs a
/// PassManager, the pp-pipeline pass its dynamic pipeline.
using PipelineRunner = llvm::function_ref<mlir::LogicalResult(mlir::OpPassManager &)>;

/// `passes` run on `module` by a PassManager of its own (ppc's runner).
mlir::LogicalResult runPasses(mlir::ModuleOp module,
                              const mlir::OpPassManager &passes);

/// The prepare pipeline on an imported module and, when training, its
/// optimizer (pp.optimizer): what prepareModule does after the import.
mlir::LogicalResult prepareImported(mlir::ModuleOp module,
                                    const CompileOptions &options,
                                    int64_t microbatches, int64_t dataParallel,
                                    PipelineRunner run);

/// Every partition method (uniform, parameters, cost and
/// `options.partitionMethod`) under every schedule of `shape`, evaluated on
/// the prepared `module`; the fastest of `options.partitionMethod` is chosen
/// and compiled by buildPipelinePassPipeline. Returns the alternatives, the
/// chosen one marked. On failure `error` says why when no diagnostic did
/// (the chosen alternative's error).
mlir::FailureOr<std::vector<Alternative>>
compilePrepared(mlir::ModuleOp module, const CompileOptions &options,
                const PipelineShape &shape, PipelineRunner run,
                std::string &error);

/// Registers -pp-pipeline: prepareImported and compilePrepared as one pass,
/// so that `ppc-opt IMPORTED.mlir -pp-pipeline=...` writes what `ppc -o`
/// writes as pipeline.mlir (docs/passes.md).
void registerPipelinePass();

/// -pp-partition by `method` under `options`, -pp-split-stages,
/// -pp-build-schedule, -pp-verify-schedule, -pp-plan-memory.
void buildPipelinePassPipeline(mlir::OpPassManager &pm,
                               const PartitionOptions &options,
                               llvm::StringRef method, bool recompute);

} // namespace ppc

#endif // PPC_PIPELINES_PIPELINES_H
