// Bad partition options: one error each, on @main.
// RUN: not ppc-opt %s -pp-annotate-cost -pp-partition="stages=0" 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not ppc-opt %s -pp-annotate-cost -pp-partition="stages=4" 2>&1 | FileCheck %s --check-prefix=MANY
// RUN: not ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=type:^attn" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=manual:nope" 2>&1 | FileCheck %s --check-prefix=MANUAL
// RUN: not ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 memory-limit=1000" 2>&1 | FileCheck %s --check-prefix=MEMORY
// RUN: not ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 schedule=1f1b microbatches=1" 2>&1 | FileCheck %s --check-prefix=ONEF
// RUN: not ppc-opt %s -pp-partition="stages=2" 2>&1 | FileCheck %s --check-prefix=NOCOST
// RUN: not ppc-opt %s -pp-annotate-cost=device=tpu 2>&1 | FileCheck %s --check-prefix=DEVICE

// ZERO: error: -stages=0: needs at least one stage
// MANY: error: 4 stages but the model has only 3 ops
// REGEX: error: -partition=type:^attn matches no node name
// MANUAL: error: -partition=manual: no node named 'nope'
// MEMORY: error: no partition into 2 stages fits -memory-limit=1 KB per device; the smallest that fits is 5.13 KB
// ONEF: error: schedule '1f1b' needs at least as many micro-batches as stages: use -microbatches=2 or more (have 1)
// NOCOST: error: {{.*}}has no cost: run -pp-annotate-cost before partitioning
// DEVICE: error: -device=tpu: not a built-in device (h100, h200, a100, cpu) nor a readable file
pp.param @w : tensor<32x32xf32>
func.func @main(%x: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %w = pp.get_param @w : tensor<32x32xf32>
  %a = pp.matmul %x, %w : (tensor<4x32xf32>, tensor<32x32xf32>) -> tensor<4x32xf32> loc("a")
  %b = pp.relu %a : tensor<4x32xf32> loc("b")
  %c = pp.matmul %b, %w : (tensor<4x32xf32>, tensor<32x32xf32>) -> tensor<4x32xf32> loc("c")
  return %c : tensor<4x32xf32>
}
