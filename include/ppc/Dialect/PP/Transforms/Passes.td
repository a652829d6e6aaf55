//===- Passes.td - pp passes --------------------------------*- tablegen -*-===//

#ifndef PPC_DIALECT_PP_TRANSFORMS_PASSES_TD
#define PPC_DIALECT_PP_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PPCanonicalizePass : Pass<"pp-canonicalize", "mlir::ModuleOp"> {
  let summary = "Recognise exporter patterns (GELU, LayerNorm) as pp ops";
  let description = [{
    Exporters decompose some ops: torch.onnx.export writes GELU as
    x * 0.5 * (1 + erf(x / sqrt(2))) and, before opset 17, LayerNorm as
    ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div / Mul / Add. This
    pass rewrites those chains into `pp.gelu` and `pp.layer_norm`, so that cost,
    partitioning and kernels see one op, then folds what is left (reshape
    chains, constants).
  }];
  let dependentDialects = ["ppc::pp::PPDialect"];
}

def PPPromoteHalfPass : Pass<"pp-promote-half", "mlir::ModuleOp"> {
  let summary = "Compute f16 and bf16 models in f32";
  let description = [{
    For runtimes that compute in f32 only (the CPU backend; training, whose
    gradients and optimizer are f32): every f16 and bf16 tensor of the
    functions becomes f32. Parameters change type and the weight store
    widens their bytes, exactly, once, when the stage weights are written;
    half constants are widened; casts that become f32 to f32 disappear.
    Inputs and outputs keep the model's types: half inputs are cast to f32
    on entry, results back to half before returning.
  }];
  let dependentDialects = ["ppc::pp::PPDialect"];
}

def PPAutodiffPass : Pass<"pp-autodiff", "mlir::ModuleOp"> {
  let summary = "Append a loss to @main and build its backward";
  let description = [{
    Training: appends the loss (`cross-entropy` of output `loss-on` against
    a new input `labels` holding class indices of its last axis; `mse`
    against a new input of the output's shape; or `output`: `loss-on` is
    already a scalar loss), scaled so that the losses of `microbatches`
    micro-batches on each of `data-parallel` replicas sum to the mean over
    the global batch (scale 1/(M x D)), and so do their gradients. Then
    builds the backward from each op's gradient rule (GradientOpInterface),
    in reverse order. @main then returns the loss (`pp.name = "loss"`) and
    one gradient per use of each trainable parameter (`pp.grad = NAME`,
    `pp.use = N`): uses are never summed in the graph, so that the runtime
    sums them in one order however the model is partitioned.

    With `loss-scale`, the loss's gradient (the backward's seed) is
    multiplied by `pp.param constant @"pp.loss_scale" : tensor<f32>`, which
    the runtime's loss scaler (torch.amp.GradScaler's) writes before every
    step; the loss itself is not scaled.

    Backward ops carry `pp.phase = "bwd"` and `pp.fwd_index`, the forward op
    (numbered in order, among the ops without `pp.phase`) whose stage they
    take. -pp-split-stages splits each stage's backward into B (what the
    gradients sent to earlier stages need) and W (the rest: weight
    gradients).
  }];
  let options = [
    Option<"loss", "loss", "std::string", "\"cross-entropy\"",
           "cross-entropy, mse, or output">,
    Option<"lossOn", "loss-on", "std::string", "\"\"",
           "The model output the loss reads (default: the first)">,
    Option<"labels", "labels", "std::string", "\"labels\"",
           "Name of the labels input the loss adds">,
    Option<"microbatches", "microbatches", "int64_t", "1",
           "Micro-batches per step: the loss is a mean over all of them">,
    Option<"dataParallel", "data-parallel", "int64_t", "1",
           "Data-parallel replicas, each running `microbatches` micro-batches">,
    Option<"lossScale", "loss-scale", "double", "0",
           "Loss scaling: the gradient of the loss is multiplied by the "
           "parameter pp.loss_scale (this initial value; the runtime sets it "
           "every step). 0: off">,
  ];
  let dependentDialects = ["ppc::pp::PPDialect"];
}

def PPPrecisionPass : Pass<"pp-precision", "mlir::ModuleOp"> {
  let summary = "Compute products in bf16 or fp16 on fp32 master weights";
  let description = [{
    Mixed precision after torch.autocast (docs/precision.md): the products,
    `pp.matmul`, `pp.gemm`, `pp.conv` and conv's gradients
    (`pp.conv_input_grad`, `pp.conv_filter_grad`; matmul's and gemm's
    gradients are matmuls and gemms), take their factors in `precision` and
    return f32: the kernel accumulates in f32, and it knows so from its
    types (low-precision factors, an f32 result). Everything else
    (softmax, normalisations, reductions, losses, element-wise ops, the
    optimizer) stays f32, and so do the parameters (the master weights),
    their gradients and the optimizer state.

    Each f32 value a product reads gets one cast, placed just after its
    definition and shared by all its product uses, forward and backward: a
    parameter is cast once where it is read (a free op, so each stage that
    reads it casts its own copy), and an activation that the backward's
    products read again is kept in the low precision. Transposes and
    reshapes between a value and a product are redone on the cast value.
    Runs after -pp-autodiff, so that the gradient products are covered, and
    before -pp-annotate-cost, so that costs, the partition, messages and the
    memory plan count the smaller bytes. `precision=fp32` changes nothing;
    fp16 training is refused (it needs loss scaling).
  }];
  let options = [
    Option<"precision", "precision", "std::string", "\"bf16\"",
           "fp32, bf16 or fp16">,
  ];
  let dependentDialects = ["ppc::pp::PPDialect"];
}

def PPAnnotateCostPass : Pass<"pp-annotate-cost", "mlir::ModuleOp"> {
  let summary = "Annotate every op with FLOPs, bytes, parameters and time";
  let description = [{
    Puts `pp.cost = {flops, bytes, param_bytes, activation_bytes, time}` on
    every compute op, from the op's cost interface on a device profile: time
    is max(FLOPs / peak, bytes / memory bandwidth) in seconds. A profiled
    table (`cost-table`) overrides the time of the ops it names. The module
    gets `pp.device` with the profile's link and memory figures.
  }];
  let options = [
    Option<"device", "device", "std::string", "\"h100\"",
           "h100, h200, a100, cpu, or a device JSON file">,
    Option<"costTable", "cost-table", "std::string", "\"\"",
           "JSON table of measured per-op times that override the model">,
  ];
  let dependentDialects = ["ppc::pp::PPDialect"];
}

def PPPartitionPass : Pass<"pp-partition", "mlir::ModuleOp"> {
  let summary = "Assign every op of @main a pipeline stage";
  let description = [{
    Cuts a topological order of the op DAG into `stages` x `virtual-stages`
    contiguous stages by `method` (uniform, parameters, type:REGEX,
    manual:NODE,NODE,..., cost) and writes `pp.stage` on every op. Parameters
    used on several stages get `pp.tied` (the stages that replicate them).
    The module gets `pp.partition` with the options and the predicted step;
    `data-parallel` replicas of the pipeline (and `zero`, ZeRO-1) are
    recorded there for the emitters and counted in the step and memory.
  }];
  let options = [
    Option<"stages", "stages", "int64_t", "2", "Pipeline ranks">,
    Option<"virtualStages", "virtual-stages", "int64_t", "1",
           "Stages per rank (interleaved)">,
    Option<"method", "method", "std::string", "\"cost\"",
           "uniform, parameters, type:REGEX, manual:NODE,..., cost">,
    Option<"schedule", "schedule", "std::string", "\"inference\"",
           "The schedule the cost method optimises for">,
    Option<"microbatches", "microbatches", "int64_t", "0",
           "Micro-batches per step (0: one per rank)">,
    Option<"memoryLimit", "memory-limit", "double", "0",
           "Bytes per device (0: the device's memory)">,
    Option<"dataParallel", "data-parallel", "int64_t", "1",
           "Replicas of the pipeline; their gradients are all-reduced">,
    Option<"zero", "zero", "int64_t", "0",
           "1: ZeRO-1, the optimizer state sharded over the replicas">,
    Option<"updateInStep", "update-in-step", "bool", "false",
           "Count the optimizer update in the predicted step (ppc does "
           "with data parallelism)">,
  ];
}

def PPSplitStagesPass : Pass<"pp-split-stages", "mlir::ModuleOp"> {
  let summary = "Outline each stage into a function joined by send/recv";
  let description = [{
    Replaces @main by one function per stage, `@stage<k>_fwd`, that takes the
    model inputs it reads and returns the model outputs it computes. Every
    tensor that crosses to a later stage is sent directly to the stage that
    uses it (also past stages in between); all tensors from one stage to
    another travel as one `pp.send`/`pp.recv` message. Parameters and
    constants are read where they are used, so tied parameters are replicated.

    After -pp-autodiff each stage also gets `@stage<k>_bwd_b` (the backward
    ops that the gradients sent to earlier stages need; it receives
    gradients from later stages and sends them on) and `@stage<k>_bwd_w`
    (the rest: weight gradients). Values a later function of the same stage
    needs are returned and taken again as arguments marked `pp.stash = N`
    (per stage); the runtime keeps them per micro-batch. Functions carry
    `pp.phase`.

    With `recompute`, a stage keeps only its inputs (activations received
    and model inputs): the forward ops its backward needs are cloned into
    the backward (marked `pp.recompute`) and run again there from those
    inputs. Their cost is counted in the backward's.
  }];
  let options = [
    Option<"recompute", "recompute", "bool", "false",
           "Recompute the forward in the backward instead of keeping it">,
  ];
}

def PPBuildSchedulePass : Pass<"pp-build-schedule", "mlir::ModuleOp"> {
  let summary = "Build the per-rank action lists of a pipeline schedule";
  let options = [
    Option<"schedule", "schedule", "std::string", "\"inference\"",
           "inference, gpipe, 1f1b, interleaved, zb-h1, zb-h2, zb-v, v-half, looped-bfs, dualpipe-v, interleaved-zb">,
    Option<"microbatches", "microbatches", "int64_t", "0",
           "Micro-batches per step (0: one per rank)">,
  ];
}

def PPVerifySchedulePass : Pass<"pp-verify-schedule", "mlir::ModuleOp"> {
  let summary = "Prove that the pp.schedule runs to completion";
  let description = [{
    Runs every rank's action list with blocking receives: every recv has its
    send, in order; no rank waits forever; every forward precedes its
    backward; every micro-batch runs exactly once on every stage. A broken
    schedule is an error on the action at fault, naming rank and step, with
    the rank x step table as a note.
  }];
}

def PPPlanMemoryPass : Pass<"pp-plan-memory", "mlir::ModuleOp"> {
  let summary = "Give every tensor of each stage function an arena offset";
  let description = [{
    For each stage function, every tensor that is not a parameter or a
    constant (model inputs, received tensors, op results) gets a byte offset
    in one arena, so that the runtime allocates once per stage and never in
    steady state. Tensors whose lifetimes (definition to last use; sent and
    returned tensors live to the end) do not overlap share bytes: offsets are
    assigned largest first, each at the lowest offset that does not collide
    with an already placed tensor whose lifetime overlaps. Results get
    `pp.offsets`, arguments `pp.offset`, the function `pp.arena_bytes`.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", "64",
           "Byte alignment of every offset">,
  ];
}

#endif // PPC_DIALECT_PP_TRANSFORMS_PASSES_TD
