//===- Pipelines.cpp - the pass sequences of ppc --------------------------===//

#include "ppc/Pipelines/Pipelines.h"

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace ppc;

void ppc::buildPreparePassPipeline(OpPassManager &pm,
                                   const CompileOptions &options,
                                   int64_t microbatches, int64_t dataParallel) {
  if (options.train || options.promoteHalf)
    pm.addPass(pp::createPPPromoteHalfPass());
  pm.addPass(pp::createPPCanonicalizePass());
  if (options.train) {
    pp::PPAutodiffPassOptions ad;
    ad.loss = options.loss;
    ad.lossOn = options.lossOn;
    ad.labels = options.labels;
    ad.microbatches = microbatches;
    ad.dataParallel = dataParallel;
    ad.lossScale = options.effectiveLossScale();
    pm.addPass(pp::createPPAutodiffPass(ad));
  }
  // After autodiff, so that the gradients' products are lowered too; before
  // the cost, so that the partition, messages and memory plan count the
  // low-precision bytes.
  if (options.precision != "fp32") {
    pp::PPPrecisionPassOptions precision;
    precision.precision = options.precision;
    pm.addPass(pp::createPPPrecisionPass(precision));
  }
  pp::PPAnnotateCostPassOptions cost;
  cost.device = options.device;
  cost.costTable = options.costTable;
  pm.addPass(pp::createPPAnnotateCostPass(cost));
}

/// The optimizer every stage runs after its backward (pipeline.json).
static DictionaryAttr optimizerAttr(MLIRContext &context,
                                    const CompileOptions &o) {
  Builder b(&context);
  double wd = o.weightDecay >= 0         ? o.weightDecay
              : o.optimizer == "adamw" ? 0.01
                                       : 0;
  SmallVector<NamedAttribute> opt = {
      b.getNamedAttr("kind", b.getStringAttr(o.optimizer)),
      b.getNamedAttr("lr", b.getF64FloatAttr(o.lr)),
      b.getNamedAttr("weight_decay", b.getF64FloatAttr(wd)),
      b.getNamedAttr("grad_clip", b.getF64FloatAttr(o.gradClip))};
  if (o.optimizer == "sgd") {
    opt.push_back(b.getNamedAttr("momentum", b.getF64FloatAttr(o.momentum)));
  } else {
    opt.push_back(b.getNamedAttr("beta1", b.getF64FloatAttr(o.beta1)));
    opt.push_back(b.getNamedAttr("beta2", b.getF64FloatAttr(o.beta2)));
    opt.push_back(b.getNamedAttr("eps", b.getF64FloatAttr(o.eps)));
  }
  // torch.amp.GradScaler's growth and backoff factors, which ppc keeps.
  if (double scale = o.effectiveLossScale(); scale > 0) {
    opt.push_back(b.getNamedAttr("loss_scale", b.getF64FloatAttr(scale)));
    opt.push_back(b.getNamedAttr("loss_scale_growth_factor",
                                 b.getF64FloatAttr(2.0)));
    opt.push_back(b.getNamedAttr("loss_scale_backoff_factor",
                                 b.getF64FloatAttr(0.5)));
    opt.push_back(b.getNamedAttr(
        "loss_scale_growth_interval",
        b.getI64IntegerAttr(o.lossScaleGrowthInterval)));
  }
  return b.getDictionaryAttr(opt);
}

OwningOpRef<ModuleOp> ppc::prepareModule(MLIRContext &context,
                                         StringRef model,
                                         const ImportOptions &import,
                                         const CompileOptions &options,
                                         int64_t microbatches,
                                         int64_t dataParallel, bool warn) {
  OwningOpRef<ModuleOp> module = importONNXModel(model, context, import);
  if (!module)
    return nullptr;
  if (options.train && warn) {
    // torch.onnx.export's constant folding renames parameters it touches
    // (a pre-transposed copy becomes onnx::MatMul_123) and splits a tied
    // weight into copies that would train apart.
    SmallVector<StringRef> folded;
    for (auto p : module->getOps<pp::ParamOp>())
      if (!p.getConstant() && p.getSymName().starts_with("onnx::"))
        folded.push_back(p.getSymName());
    if (!folded.empty())
      emitWarning(FileLineColLoc::get(&context, model, 0, 0))
          << folded.size() << " initializers look folded by the exporter (e.g. '"
          << folded.front()
          << "'): export with torch.onnx.export(..., "
             "do_constant_folding=False) so that parameters keep their names "
             "and tied weights stay one initializer (docs/training.md)";
    warnSharedNormParameters(*module, FileLineColLoc::get(&context, model, 0, 0));
  }
  auto run = [&](OpPassManager &passes) {
    return runPasses(*module, passes);
  };
  if (failed(prepareImported(*module, options, microbatches, dataParallel,
                             run)))
    return nullptr;
  return module;
}

LogicalResult ppc::runPasses(ModuleOp module, const OpPassManager &passes) {
  PassManager pm(module.getContext());
  static_cast<OpPassManager &>(pm) = passes;
  return pm.run(module);
}

LogicalResult ppc::prepareImported(ModuleOp module,
                                   const CompileOptions &options,
                                   int64_t microbatches, int64_t dataParallel,
                                   PipelineRunner run) {
  OpPassManager pm(ModuleOp::getOperationName());
  buildPreparePassPipeline(pm, options, microbatches, dataParallel);
  if (failed(run(pm)))
    return failure();
  if (options.train)
    module->setAttr(kOptimizerAttr,
                    optimizerAttr(*module.getContext(), options));
  return success();
}

SmallVector<ScheduleChoice> ppc::scheduleChoices(StringRef name,
                                                 int64_t virtualStages,
                                                 std::string &error) {
  using sched::Kind;
  // Every training schedule; the round-robin ones with two stages a rank,
  // the V ones with their two.
  if (name == "auto")
    return {{Kind::GPipe, 1},       {Kind::OneFOneB, 1},
            {Kind::ZBH1, 1},        {Kind::ZBH2, 1},
            {Kind::Interleaved, 2}, {Kind::InterleavedZB, 2},
            {Kind::LoopedBFS, 2},   {Kind::ZBV, 2},
            {Kind::VHalf, 2},       {Kind::DualPipeV, 2}};
  std::optional<Kind> kind = sched::parseKind(name);
  if (!kind) {
    error = "-schedule=" + name.str() + ": expected " + sched::kindNames() +
            " or auto";
    return {};
  }
  // Interleaved and the V schedules hold two virtual stages per rank
  // unless told.
  int v = virtualStages > 0 ? (int)virtualStages
          : sched::takesVirtualStages(*kind) || sched::isVShaped(*kind) ? 2
                                                                       : 1;
  return {{*kind, v}};
}

FailureOr<std::vector<Alternative>>
ppc::compilePrepared(ModuleOp module, const CompileOptions &options,
                     const PipelineShape &shape, PipelineRunner run,
                     std::string &error) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main) {
    error = "the module has no @main to partition";
    return failure();
  }
  std::optional<OpGraph> graph = OpGraph::build(main);
  if (!graph)
    return failure();
  // Every method (and, for auto, every schedule) side by side.
  SmallVector<std::string> methods = {"uniform", "parameters", "cost"};
  if (!llvm::is_contained(methods, options.partitionMethod))
    methods.push_back(options.partitionMethod);
  std::vector<Alternative> alternatives;
  int chosen = -1;
  PartitionOptions chosenOptions;
  for (ScheduleChoice sc : shape.schedules) {
    PartitionOptions opts =
        partitionOptions(module, options, shape.stages, sc,
                         shape.microbatches, shape.dataParallel,
                         shape.updateInStep);
    for (const std::string &method : methods) {
      Alternative alt = evaluateAlternative(*graph, method, opts);
      if (method == options.partitionMethod) {
        bool better =
            chosen < 0 ||
            (alt.error.empty() &&
             (!alternatives[chosen].error.empty() ||
              alt.evaluation.stepTime <
                  alternatives[chosen].evaluation.stepTime));
        if (better)
          chosen = alternatives.size(), chosenOptions = opts;
      }
      alternatives.push_back(std::move(alt));
    }
  }
  if (chosen < 0) {
    error = "no schedule to compare";
    return failure();
  }
  if (!alternatives[chosen].error.empty()) {
    error = alternatives[chosen].error;
    return failure();
  }
  alternatives[chosen].chosen = true;
  // The pipeline itself, pass by pass, under the options the chosen
  // alternative was evaluated with.
  OpPassManager pm(ModuleOp::getOperationName());
  buildPipelinePassPipeline(pm, chosenOptions, options.partitionMethod,
                            options.recompute);
  if (failed(run(pm)))
    return failure();
  return alternatives;
}

PartitionOptions ppc::partitionOptions(ModuleOp prepared,
                                       const CompileOptions &options,
                                       int64_t stages, ScheduleChoice schedule,
                                       int64_t microbatches,
                                       int64_t dataParallel,
                                       bool updateInStep) {
  PartitionOptions opts;
  opts.ranks = stages;
  opts.virtualStages = schedule.virtualStages;
  opts.microbatches = microbatches;
  opts.schedule = schedule.kind;
  opts.memoryLimit = options.memoryLimit;
  opts.dataParallel = dataParallel;
  opts.zero = options.zero;
  opts.optimizerCopies = optimizerStateCopies(prepared);
  opts.updateInStep = updateInStep;
  return opts;
}

void ppc::buildPipelinePassPipeline(OpPassManager &pm,
                                    const PartitionOptions &options,
                                    StringRef method, bool recompute) {
  // -pp-partition reads the optimizer state copies from the module itself.
  pp::PPPartitionPassOptions part;
  part.stages = options.ranks;
  part.virtualStages = options.virtualStages;
  part.method = method.str();
  part.schedule = sched::kindName(options.schedule).str();
  part.microbatches = options.microbatches;
  part.memoryLimit = options.memoryLimit;
  part.dataParallel = options.dataParallel;
  part.zero = options.zero;
  part.updateInStep = options.updateInStep;
  pm.addPass(pp::createPPPartitionPass(part));
  pp::PPSplitStagesPassOptions split;
  split.recompute = recompute;
  pm.addPass(pp::createPPSplitStagesPass(split));
  pp::PPBuildSchedulePassOptions build;
  build.schedule = part.schedule;
  build.microbatches = options.microbatches;
  pm.addPass(pp::createPPBuildSchedulePass(build));
  pm.addPass(pp::createPPVerifySchedulePass());
  pm.addPass(pp::createPPPlanMemoryPass());
}
