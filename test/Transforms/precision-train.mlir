// RUN: ppc-opt %s -pp-autodiff="microbatches=2" -pp-precision | FileCheck %s
// RUN: ppc-opt %s -pp-autodiff="microbatches=2" -pp-precision -pp-annotate-cost -pp-partition="stages=2 method=uniform schedule=1f1b microbatches=2" -pp-split-stages | FileCheck %s --check-prefix=SPLIT
// RUN: not ppc-opt %s -pp-autodiff -pp-precision="precision=fp16" 2>&1 | FileCheck %s --check-prefix=FP16
// RUN: not ppc-opt %s -pp-precision="precision=int8" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: ppc-opt %s -pp-autodiff="microbatches=2 loss-scale=1024" -pp-precision="precision=fp16" | FileCheck %s --check-prefix=F16

// A training graph: the forward and backward products (gemms) read bf16
// copies and return f32; the master weights, their gradients, the loss and
// the ReLU's backward compute in f32; what the backward reads of the
// forward is a bf16 copy, widened where read.
// CHECK: pp.param @w1 : tensor<16x8xf32>
// CHECK: pp.param @w2 : tensor<4x16xf32>
// CHECK-LABEL: func.func @main
// CHECK-SAME: -> (tensor<1xf32> {pp.name = "loss"}, tensor<4x4xf32> {pp.name = "output"}, tensor<4x16xf32> {pp.grad = "w2", pp.use = 0 : i64}, tensor<16x8xf32> {pp.grad = "w1", pp.use = 0 : i64})
// The forward: the input and each weight cast once, where read.
// CHECK: %[[XL:.*]] = pp.cast %arg0 : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: %[[W1:.*]] = pp.get_param @w1 : tensor<16x8xf32>
// CHECK-NEXT: %[[W1L:.*]] = pp.cast %[[W1]] : tensor<16x8xf32> to tensor<16x8xbf16>
// CHECK-NEXT: %[[H:.*]] = pp.gemm %[[XL]], %[[W1L]] {trans_b} : (tensor<4x8xbf16>, tensor<16x8xbf16>) -> tensor<4x16xf32>
// The ReLU's input, for its backward.
// CHECK-NEXT: %[[HL:.*]] = pp.cast %[[H]] : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK: %[[W2:.*]] = pp.get_param @w2 : tensor<4x16xf32>
// CHECK-NEXT: %[[W2L:.*]] = pp.cast %[[W2]] : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK: %[[R:.*]] = pp.relu %[[H]] : tensor<4x16xf32>
// CHECK-NEXT: %[[RL:.*]] = pp.cast %[[R]] : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK-NEXT: %[[Y:.*]] = pp.gemm %[[RL]], %[[W2L]] {trans_b} : (tensor<4x16xbf16>, tensor<4x16xbf16>) -> tensor<4x4xf32>
// CHECK-NEXT: %[[YL:.*]] = pp.cast %[[Y]] : tensor<4x4xf32> to tensor<4x4xbf16>
// The loss in f32, numbered anew among the forward ops (11 with the casts,
// 7 before).
// CHECK-NEXT: %[[LOSS:.*]] = pp.cross_entropy %[[Y]], %arg1
// CHECK-NEXT: %[[YW:.*]] = pp.cast %[[YL]] {pp.fwd_index = 11 : i64, pp.phase = "bwd"} : tensor<4x4xbf16> to tensor<4x4xf32>
// CHECK-NEXT: %[[DY:.*]] = pp.cross_entropy_grad %[[YW]], %arg1 {pp.fwd_index = 11 : i64, pp.phase = "bwd"
// The gradient's cast is a backward op on its producer's stage.
// CHECK-NEXT: %[[DYL:.*]] = pp.cast %[[DY]] {pp.fwd_index = 11 : i64, pp.phase = "bwd"} : tensor<4x4xf32> to tensor<4x4xbf16>
// The backward products read the forward's bf16 copies (what is kept).
// CHECK-NEXT: %[[DR:.*]] = pp.gemm %[[DYL]], %[[W2L]] {pp.fwd_index = 9 : i64, pp.phase = "bwd"} : (tensor<4x4xbf16>, tensor<4x16xbf16>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[DW2:.*]] = pp.gemm %[[DYL]], %[[RL]] {pp.fwd_index = 9 : i64, pp.phase = "bwd", trans_a} : (tensor<4x4xbf16>, tensor<4x16xbf16>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[HW:.*]] = pp.cast %[[HL]] {pp.fwd_index = 7 : i64, pp.phase = "bwd"} : tensor<4x16xbf16> to tensor<4x16xf32>
// CHECK-NEXT: %[[DH:.*]] = pp.relu_grad %[[HW]], %[[DR]] {pp.fwd_index = 7 : i64, pp.phase = "bwd"} : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[DHL:.*]] = pp.cast %[[DH]] {pp.fwd_index = 7 : i64, pp.phase = "bwd"}
// CHECK-NEXT: %[[DW1:.*]] = pp.gemm %[[DHL]], %[[XL]] {pp.fwd_index = 3 : i64, pp.phase = "bwd", trans_a} : (tensor<4x16xbf16>, tensor<4x8xbf16>) -> tensor<16x8xf32>
// CHECK-NEXT: return %[[LOSS]], %[[Y]], %[[DW2]], %[[DW1]]

// Split in two: what each stage keeps for its backward (pp.stash) is bf16,
// and the parameters are read, and cast, on the stage that uses them.
// SPLIT-LABEL: func.func @stage0_fwd
// SPLIT-SAME: -> (tensor<4x16xbf16> {pp.stash = 0 : i64}, tensor<4x8xbf16> {pp.stash = 1 : i64})
// SPLIT-LABEL: func.func @stage1_fwd
// SPLIT-SAME: tensor<4x4xbf16> {pp.stash = 0 : i64}, tensor<4x16xbf16> {pp.stash = 1 : i64})
// SPLIT: pp.get_param @w2 : tensor<4x16xf32>
// SPLIT-NEXT: pp.cast %{{.*}} : tensor<4x16xf32> to tensor<4x16xbf16>
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

// FP16: error: precision fp16 for training needs loss scaling (-pp-autodiff's loss-scale, ppc -loss-scale)

// fp16 training with loss scaling: the loss's gradient times the scale
// parameter (the runtime's), every product's result rounded to fp16 as
// autocast returns it, and read back widened.
// F16: pp.param constant @pp.loss_scale : tensor<f32>
// F16-LABEL: func.func @main
// F16: %[[H:.*]] = pp.gemm %{{.*}}, %{{.*}} {trans_b} : (tensor<4x8xf16>, tensor<16x8xf16>) -> tensor<4x16xf32>
// F16-NEXT: %[[HL:.*]] = pp.cast %[[H]] : tensor<4x16xf32> to tensor<4x16xf16>
// F16-NEXT: %[[HW:.*]] = pp.cast %[[HL]] : tensor<4x16xf16> to tensor<4x16xf32>
// F16: pp.relu %[[HW]]
// F16: %[[LOSS:.*]] = pp.cross_entropy
// F16-NEXT: %[[S:.*]] = pp.get_param @pp.loss_scale {{.*}} : tensor<f32>
// F16: %[[DY:.*]] = pp.cross_entropy_grad
// F16-NEXT: %[[SDY:.*]] = pp.mul %[[DY]], %[[S]] {{.*}} : (tensor<4x4xf32>, tensor<f32>) -> tensor<4x4xf32>
// F16-NEXT: pp.cast %[[SDY]] {{.*}} : tensor<4x4xf32> to tensor<4x4xf16>
// The weight gradients are rounded too (autocast's are the fp16 copies').
// F16: %[[DW1:.*]] = pp.gemm {{.*}} -> tensor<16x8xf32>
// F16-NEXT: %[[DW1L:.*]] = pp.cast %[[DW1]] {{.*}} to tensor<16x8xf16>
// F16-NEXT: %[[DW1W:.*]] = pp.cast %[[DW1L]] {{.*}} to tensor<16x8xf32>
// F16-NEXT: return %[[LOSS]], %{{.*}}, %{{.*}}, %[[DW1W]]
// BAD: error: unknown precision 'int8' (fp32, bf16 or fp16)
