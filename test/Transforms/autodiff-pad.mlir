// RUN: ppc-opt %s -pp-autodiff="microbatches=1" | FileCheck %s

// A constant pad's gradient is the pad with the amounts negated: it crops
// what the forward added (as torch exports average pooling: Pad, then
// AveragePool).

// CHECK-LABEL: func.func @main
// CHECK-SAME: {pp.grad = "w", pp.use = 0 : i64}
// CHECK-SAME: {pp.grad = "v", pp.use = 0 : i64}
// CHECK: pp.pad %{{.*}} constant {pads = array<i64: 0, 1, 0, 2>} : tensor<2x3xf32> -> tensor<2x6xf32>
// CHECK: %[[DP:.*]] = pp.gemm %{{.*}}, %{{.*}} {pp.fwd_index = {{.*}}} : (tensor<2x4xf32>, tensor<4x6xf32>) -> tensor<2x6xf32>
// CHECK: %[[DH:.*]] = pp.pad %[[DP]] constant {pads = array<i64: 0, -1, 0, -2>, pp.fwd_index = {{.*}}} : tensor<2x6xf32> -> tensor<2x3xf32>
// CHECK: pp.gemm %arg0, %[[DH]] {{.*}}trans_a{{.*}} -> tensor<3x3xf32>
module {
  pp.param @v : tensor<3x3xf32>
  pp.param @w : tensor<4x6xf32>
  func.func @main(%x: tensor<2x3xf32> {pp.name = "x"}) -> (tensor<2x4xf32> {pp.name = "output"}) {
    %v = pp.get_param @v : tensor<3x3xf32>
    %h = pp.gemm %x, %v : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %p = pp.pad %h constant {pads = array<i64: 0, 1, 0, 2>} : tensor<2x3xf32> -> tensor<2x6xf32>
    %w = pp.get_param @w : tensor<4x6xf32>
    %y = pp.gemm %p, %w {trans_b} : (tensor<2x6xf32>, tensor<4x6xf32>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
}
