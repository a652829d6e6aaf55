// RUN: ppc-opt %s -pp-autodiff="microbatches=2" -pp-annotate-cost -pp-partition="stages=2 method=uniform schedule=1f1b microbatches=2" -pp-split-stages=recompute=true | FileCheck %s

// -recompute: a stage keeps only its inputs. The forward ops its backward
// reads are cloned into the backward (pp.recompute) and computed there from
// the stage's inputs and parameters.

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

// Stage 0's input is a model input, which every function reads itself:
// its forward keeps nothing.
// CHECK-LABEL: func.func @stage0_fwd(
// CHECK-SAME: {pp.name = "x"}) attributes
// CHECK-NOT: pp.stash
// CHECK: return
// CHECK-LABEL: func.func @stage0_bwd_w(
// CHECK-SAME: {pp.name = "x"}, %arg1: tensor<4x16xf32> {pp.stash = 0 : i64})
// CHECK: %[[H:.*]] = pp.gemm %arg0, %{{.*}} {{{.*}}pp.recompute{{.*}}trans_b}
// CHECK: pp.relu_grad %[[H]], %arg1
// Stage 1 keeps only what it received (once for B, once for W), not the
// logits it computed.
// CHECK-LABEL: func.func @stage1_fwd
// CHECK-SAME: -> (tensor<1xf32> {pp.name = "loss"}, tensor<4x4xf32> {pp.name = "output"}, tensor<4x16xf32> {pp.stash = 0 : i64}, tensor<4x16xf32> {pp.stash = 1 : i64})
// CHECK: %[[IN:.*]] = pp.recv from 0
// CHECK: return %{{.*}}, %{{.*}}, %[[IN]], %[[IN]]
// CHECK-LABEL: func.func @stage1_bwd_b(
// CHECK-SAME: {pp.name = "labels"}, %arg1: tensor<4x16xf32> {pp.stash = 0 : i64})
// CHECK: %[[LOGITS:.*]] = pp.gemm %arg1, %{{.*}} {{{.*}}pp.recompute{{.*}}}
// CHECK: pp.cross_entropy_grad %[[LOGITS]], %arg0
