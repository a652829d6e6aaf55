// RUN: ppc-opt %s -pp-autodiff="microbatches=2" -pp-annotate-cost -pp-partition="stages=2 method=uniform schedule=1f1b microbatches=2" -pp-split-stages | FileCheck %s

// A two-layer MLP on two stages, after autodiff: each stage gets a forward,
// a B (the gradients sent to earlier stages) and a W (weight gradients)
// function. What a later function of the same stage needs is stashed.

module {
  pp.param @w1 : tensor<16x8xf32>
  pp.param @w2 : tensor<4x16xf32>
  func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x4xf32> {pp.name = "output"}) {
    %w1 = pp.get_param @w1 : tensor<16x8xf32>
    %h = pp.gemm %x, %w1 {trans_b} : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
    %r = pp.relu %h : tensor<4x16xf32>
    %w2 = pp.get_param @w2 : tensor<4x16xf32>
    %y = pp.gemm %r, %w2 {trans_b} : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x4xf32>
    return %y : tensor<4x4xf32>
  }
}

// CHECK-LABEL: func.func @stage0_fwd
// CHECK-SAME: -> (tensor<4x16xf32> {pp.stash = 0 : i64})
// CHECK-SAME: pp.phase = "fwd"
// CHECK: %[[H:.*]] = pp.gemm
// CHECK: %[[R:.*]] = pp.relu %[[H]]
// CHECK: pp.send %[[R]] to 1
// CHECK: return %[[H]]
// Stage 0 sends no gradient on, so its B only receives.
// CHECK-LABEL: func.func @stage0_bwd_b()
// CHECK-SAME: -> (tensor<4x16xf32> {pp.stash = 1 : i64})
// CHECK: %[[G:.*]] = pp.recv from 1
// CHECK: return %[[G]]
// CHECK-LABEL: func.func @stage0_bwd_w
// CHECK-SAME: {pp.name = "x"}
// CHECK-SAME: %[[SH:.*]]: tensor<4x16xf32> {pp.stash = 0 : i64}, %[[SG:.*]]: tensor<4x16xf32> {pp.stash = 1 : i64}
// CHECK-SAME: -> (tensor<16x8xf32> {pp.grad = "w1", pp.use = 0 : i64})
// CHECK: pp.relu_grad %[[SH]], %[[SG]] {{{.*}}pp.phase = "bwd_w"
// CHECK-LABEL: func.func @stage1_fwd
// CHECK-SAME: {pp.name = "labels"}
// CHECK-SAME: {pp.name = "loss"}
// CHECK: pp.recv from 0
// CHECK: pp.cross_entropy
// The gradient of stage 0's activation is B; the weight's is W.
// CHECK-LABEL: func.func @stage1_bwd_b
// CHECK: %[[DY:.*]] = pp.cross_entropy_grad
// CHECK: %[[DX:.*]] = pp.gemm %[[DY]], %{{.*}} {{{.*}}pp.phase = "bwd_b"
// CHECK: pp.send %[[DX]] to 0
// CHECK: return %[[DY]]
// CHECK-LABEL: func.func @stage1_bwd_w
// CHECK-SAME: -> (tensor<4x16xf32> {pp.grad = "w2", pp.use = 0 : i64})
// CHECK: pp.gemm {{.*}}pp.phase = "bwd_w"{{.*}}trans_a
