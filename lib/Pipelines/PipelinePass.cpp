//===- PipelinePass.cpp - ppc's whole pipeline as one pass ----------------===//
//
// -pp-pipeline runs on an imported module (`ppc MODEL -batch=MICRO
// -emit=mlir`) what `ppc MODEL -stages=K -o DIR` runs after its import: the
// prepare pipeline, the optimizer, every partition method under every
// schedule compared, and the chosen one's partition, split, schedule and
// memory plan. Its output is ppc's pipeline.mlir.
//
//===----------------------------------------------------------------------===//

#include "ppc/Pipelines/Pipelines.h"

#include "ppc/Dialect/PP/IR/PPDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace ppc;

namespace {
struct PipelinePass : PassWrapper<PipelinePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PipelinePass)

  PipelinePass() = default;
  PipelinePass(const PipelinePass &other) : PassWrapper(other) {}

  StringRef getArgument() const override { return "pp-pipeline"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<pp::PPDialect, func::FuncDialect>();
  }
  StringRef getDescription() const override {
    return "ppc's whole pipeline on an imported module: prepare, compare "
           "the partition methods and schedules, partition, split, "
           "schedule, plan memory (ppc -stages=K's pipeline.mlir)";
  }

  // ppc's flags of the same names and defaults.
  Option<int64_t> stages{*this, "stages", llvm::cl::desc("Pipeline stages"),
                         llvm::cl::init(1)};
  Option<int64_t> microbatches{
      *this, "microbatches",
      llvm::cl::desc("Micro-batches per replica (0: the stages)"),
      llvm::cl::init(0)};
  Option<int64_t> dataParallel{*this, "data-parallel",
                               llvm::cl::desc("Data-parallel replicas"),
                               llvm::cl::init(1)};
  Option<std::string> schedule{
      *this, "schedule",
      llvm::cl::desc("a schedule of -pp-build-schedule, or auto "
                     "(default: inference, 1f1b with train)"),
      llvm::cl::init("")};
  Option<int64_t> virtualStages{*this, "virtual-stages",
                                llvm::cl::desc("Interleaved's chunks per rank"),
                                llvm::cl::init(0)};
  Option<std::string> method{*this, "partition",
                             llvm::cl::desc("uniform, parameters or cost"),
                             llvm::cl::init("cost")};
  Option<std::string> device{*this, "device",
                             llvm::cl::desc("Device profile or JSON file"),
                             llvm::cl::init("h100")};
  Option<std::string> costTable{*this, "cost-table",
                                llvm::cl::desc("Measured op times (JSON)"),
                                llvm::cl::init("")};
  Option<double> memoryLimit{*this, "memory-limit",
                             llvm::cl::desc("Bytes per device (0: the "
                                            "device's memory)"),
                             llvm::cl::init(0)};
  Option<int64_t> zero{*this, "zero", llvm::cl::desc("1: ZeRO-1"),
                       llvm::cl::init(0)};
  Option<bool> updateInStep{
      *this, "update-in-step",
      llvm::cl::desc("Count the optimizer update in the step (default: "
                     "with data parallelism)"),
      llvm::cl::init(false)};
  Option<bool> train{*this, "train", llvm::cl::desc("Compile training"),
                     llvm::cl::init(false)};
  Option<std::string> loss{*this, "loss",
                           llvm::cl::desc("cross-entropy, mse or output"),
                           llvm::cl::init("cross-entropy")};
  Option<std::string> lossOn{*this, "loss-on",
                             llvm::cl::desc("Output the loss is taken on"),
                             llvm::cl::init("")};
  Option<std::string> labels{*this, "labels",
                             llvm::cl::desc("Name of the labels input"),
                             llvm::cl::init("labels")};
  Option<std::string> optimizer{*this, "optimizer",
                                llvm::cl::desc("sgd or adamw"),
                                llvm::cl::init("sgd")};
  Option<double> lr{*this, "lr", llvm::cl::init(0.01)};
  Option<double> momentum{*this, "momentum", llvm::cl::init(0)};
  Option<double> gradClip{*this, "grad-clip", llvm::cl::init(0)};
  Option<double> weightDecay{*this, "weight-decay",
                             llvm::cl::desc("Below 0: AdamW 0.01, SGD 0"),
                             llvm::cl::init(-1)};
  Option<double> beta1{*this, "beta1", llvm::cl::init(0.9)};
  Option<double> beta2{*this, "beta2", llvm::cl::init(0.999)};
  Option<double> eps{*this, "eps", llvm::cl::init(1e-8)};
  Option<bool> recompute{*this, "recompute", llvm::cl::init(false)};
  Option<bool> promoteHalf{*this, "promote-half", llvm::cl::init(false)};
  Option<std::string> precision{*this, "precision",
                                llvm::cl::desc("fp32, bf16 or fp16 products"),
                                llvm::cl::init("fp32")};
  Option<double> lossScale{
      *this, "loss-scale",
      llvm::cl::desc("Initial loss scale (below 0: 65536 for fp16 "
                     "training, else off; 0: off)"),
      llvm::cl::init(-1)};
  Option<int64_t> lossScaleGrowthInterval{
      *this, "loss-scale-growth-interval",
      llvm::cl::desc("Good steps before the loss scale doubles"),
      llvm::cl::init(2000)};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    CompileOptions o;
    o.device = device;
    o.costTable = costTable;
    o.partitionMethod = method;
    o.memoryLimit = memoryLimit;
    o.zero = zero;
    o.train = train;
    o.loss = loss;
    o.lossOn = lossOn;
    o.labels = labels;
    o.optimizer = optimizer;
    o.lr = lr;
    o.momentum = momentum;
    o.gradClip = gradClip;
    o.weightDecay = weightDecay;
    o.beta1 = beta1;
    o.beta2 = beta2;
    o.eps = eps;
    o.recompute = recompute;
    o.promoteHalf = promoteHalf;
    o.precision = precision;
    o.lossScale = lossScale;
    o.lossScaleGrowthInterval = lossScaleGrowthInterval;

    std::string error;
    std::string name = schedule.empty() ? (train ? "1f1b" : "inference")
                                        : std::string(schedule);
    PipelineShape shape;
    shape.stages = stages;
    shape.microbatches = microbatches > 0 ? microbatches : stages;
    shape.dataParallel = dataParallel;
    shape.updateInStep = updateInStep || dataParallel > 1;
    shape.schedules = scheduleChoices(name, virtualStages, error);
    if (shape.schedules.empty()) {
      module.emitError() << error;
      return signalPassFailure();
    }
    auto run = [&](OpPassManager &pm) { return runPipeline(pm, module); };
    if (failed(prepareImported(module, o, shape.microbatches,
                               shape.dataParallel, run)))
      return signalPassFailure();
    if (failed(compilePrepared(module, o, shape, run, error))) {
      if (!error.empty())
        module.emitError() << error;
      return signalPassFailure();
    }
  }
};
} // namespace

void ppc::registerPipelinePass() { PassRegistration<PipelinePass>(); }
