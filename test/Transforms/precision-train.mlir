// RUN: ppc-opt %s -pp-autodiff="microbatches=2" -pp-precision | FileCheck %s
// RUN: ppc-opt %s -pp-autodiff="microbatches=2" -pp-precision -pp-annotate-cost -pp-partition="stages=2 method=uniform schedule=1f1b microbatches=2" -pp-split-stages | FileCheck %s --check-prefix=SPLIT
// RUN: not ppc-opt %s -pp-autodiff -pp-precision="precision=fp16" 2>&1 | FileCheck %s --check-prefix=FP16
// RUN: not ppc-opt %s -pp-precision="precision=int8" 2>&1 | FileCheck %s --check-prefix=BAD

// A training graph: the forward and backward products (gemms) read bf16
// copies and return f32; the master weights, their gradients, the loss and
// the ReLU's backward stay f32.
// CHECK: pp.param @w1 : tensor<16x8xf32>
// CHECK: pp.param @w2 : tensor<4x16xf32>
// CHECK-LABEL: func.func @main
// CHECK-SAME: -> (tensor<1xf32> {pp.name = "loss"}, tensor<4x4xf32> {pp.name = "output"}, tensor<4x16xf32> {pp.grad = "w2", pp.use = 0 : i64}, tensor<16x8xf32> {pp.grad = "w1", pp.use = 0 : i64})
// The forward: the input and each weight cast once, where read.
// CHECK: %[[XL:.*]] = pp.cast %arg0 : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: %[[W1:.*]] = pp.get_param @w1 : tensor<16x8xf32>
// CHECK-NEXT: %[[W1L:.*]] = pp.cast %[[W1]] : tensor<16x8xf32> to tensor<16x8xbf16>
// CHECK-NEXT: %[[H:.*]] = pp.gemm %[[XL]], %[[W1L]] {trans_b} : (tensor<4x8xbf16>, tensor<16x8xbf16>) -> tensor<4x16xf32>
// CHECK: %[[W2:.*]] = pp.get_param @w2 : tensor<4x16xf32>
// CHECK-NEXT: %[[W2L:.*]] = pp.cast %[[W2]] : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK: %[[R:.*]] = pp.relu %[[H]] : tensor<4x16xf32>
// CHECK-NEXT: %[[RL:.*]] = pp.cast %[[R]] : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK-NEXT: %[[Y:.*]] = pp.gemm %[[RL]], %[[W2L]] {trans_b} : (tensor<4x16xbf16>, tensor<4x16xbf16>) -> tensor<4x4xf32>
// The loss in f32, numbered anew among the forward ops (9 with the casts, 7 before).
// CHECK-NEXT: %[[LOSS:.*]] = pp.cross_entropy %[[Y]], %arg1
// CHECK-NEXT: %[[DY:.*]] = pp.cross_entropy_grad %[[Y]], %arg1 {pp.fwd_index = 9 : i64, pp.phase = "bwd"
// The gradient's cast is a backward op on its producer's stage.
// CHECK-NEXT: %[[DYL:.*]] = pp.cast %[[DY]] {pp.fwd_index = 9 : i64, pp.phase = "bwd"} : tensor<4x4xf32> to tensor<4x4xbf16>
// The backward products read the forward's bf16 copies (what is kept).
// CHECK-NEXT: %[[DR:.*]] = pp.gemm %[[DYL]], %[[W2L]] {pp.fwd_index = 8 : i64, pp.phase = "bwd"} : (tensor<4x4xbf16>, tensor<4x16xbf16>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[DW2:.*]] = pp.gemm %[[DYL]], %[[RL]] {pp.fwd_index = 8 : i64, pp.phase = "bwd", trans_a} : (tensor<4x4xbf16>, tensor<4x16xbf16>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[DH:.*]] = pp.relu_grad %[[H]], %[[DR]] {pp.fwd_index = 6 : i64, pp.phase = "bwd"} : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[DHL:.*]] = pp.cast %[[DH]] {pp.fwd_index = 6 : i64, pp.phase = "bwd"}
// CHECK-NEXT: %[[DW1:.*]] = pp.gemm %[[DHL]], %[[XL]] {pp.fwd_index = 3 : i64, pp.phase = "bwd", trans_a} : (tensor<4x16xbf16>, tensor<4x8xbf16>) -> tensor<16x8xf32>
// CHECK-NEXT: return %[[LOSS]], %[[Y]], %[[DW2]], %[[DW1]]

// Split in two: stage 1 keeps the bf16 copy of its gemm's input for its
// backward (a pp.stash argument), and the parameters are read, and cast,
// on the stage that uses them.
// SPLIT-LABEL: func.func @stage1_fwd
// SPLIT: pp.get_param @w2 : tensor<4x16xf32>
// SPLIT-NEXT: pp.cast %{{.*}} : tensor<4x16xf32> to tensor<4x16xbf16>
// SPLIT-LABEL: func.func @stage1_bwd_w
// SPLIT-SAME: tensor<4x16xbf16> {pp.stash
module {
  pp.param @w1 : tensor<16x8xf32>
  pp.param @w2 : tensor<4x16xf32>
  func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x4xf32> {pp.name = "output"}) {
    %w1 = pp.get_param @w1 : tensor<16x8xf32>
    %h = pp.gemm %x, %w1 {trans_b} : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
    %w2 = pp.get_param @w2 : tensor<4x16xf32>
    %r = pp.relu %h : tensor<4x16xf32>
    %y = pp.gemm %r, %w2 {trans_b} : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x4xf32>
    return %y : tensor<4x4xf32>
  }
}

// FP16: error: precision fp16 for training needs loss scaling, which ppc does not have yet; use bf16
// BAD: error: unknown precision 'int8' (fp32, bf16 or fp16)
