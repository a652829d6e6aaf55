// RUN: ppc-opt %s -pp-autodiff="microbatches=2" | FileCheck %s
// RUN: ppc-opt %s -pp-autodiff="microbatches=2 data-parallel=2" | FileCheck %s --check-prefix=DP

// A two-layer MLP whose second weight is also read, transposed, by a third
// product (a tied weight): each use gets its own gradient output.

// CHECK-LABEL: func.func @main
// CHECK-SAME: {pp.name = "x"}
// CHECK-SAME: %[[LABELS:[a-z0-9]+]]: tensor<4xi64> {pp.name = "labels"}
// CHECK-SAME: -> (tensor<1xf32> {pp.name = "loss"}, tensor<4x4xf32> {pp.name = "output"}
// CHECK-SAME: {pp.grad = "w2", pp.use = 0 : i64}
// CHECK-SAME: {pp.grad = "w2", pp.use = 1 : i64}
// CHECK-SAME: {pp.grad = "w2", pp.use = 2 : i64}
// CHECK-SAME: {pp.grad = "w1", pp.use = 0 : i64}
// The mean over 2 micro-batches of 4 samples.
// CHECK: %[[LOSS:.*]] = pp.cross_entropy %{{.*}}, %[[LABELS]] {scale = 1.250000e-01 : f64}
// Two replicas of 2 micro-batches each: the mean over 16 samples.
// DP: pp.cross_entropy %{{.*}}, %{{.*}} {scale = 6.250000e-02 : f64}
// CHECK: pp.cross_entropy_grad {{.*}}pp.fwd_index = 9 : i64, pp.phase = "bwd"
// A use through the transposed weight is differentiated on its consumer's
// stage (fwd_index 8, the matmul), back through the transpose.
// CHECK: %[[DWT:.*]] = pp.gemm %{{.*}}, %{{.*}} {pp.fwd_index = 8 : i64, pp.phase = "bwd", trans_a}
// CHECK: %[[DW0:.*]] = pp.transpose %[[DWT]] {perm = array<i64: 1, 0>, pp.fwd_index = 8 : i64
// CHECK: pp.relu_grad
// The two gradients of %h (it feeds the relu and the add) are summed on the
// stage of its producer, the gemm (fwd_index 1).
// CHECK: %[[DH:.*]] = pp.add {{.*}}pp.fwd_index = 1 : i64, pp.phase = "bwd"
// CHECK: %[[DW1:.*]] = pp.gemm %[[DH]], %arg0 {{{.*}}trans_a}
// The model's output stays, for evaluation.
// CHECK: return %[[LOSS]], %[[OUT:.*]], %[[DW0]], %{{.*}}, %{{.*}}, %[[DW1]]
module {
  pp.param @w1 : tensor<16x8xf32>
  pp.param @w2 : tensor<4x16xf32>
  func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x4xf32> {pp.name = "output"}) {
    %w1 = pp.get_param @w1 : tensor<16x8xf32>
    %h = pp.gemm %x, %w1 {trans_b} : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
    %w2 = pp.get_param @w2 : tensor<4x16xf32>
    %w2t = pp.transpose %w2 {perm = array<i64: 1, 0>} : tensor<4x16xf32> -> tensor<16x4xf32>
    %r = pp.relu %h : tensor<4x16xf32>
    %s = pp.add %r, %h : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
    %y = pp.matmul %s, %w2t : (tensor<4x16xf32>, tensor<16x4xf32>) -> tensor<4x4xf32>
    %z = pp.gemm %y, %w2 : (tensor<4x4xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
    %o = pp.matmul %z, %w2t : (tensor<4x16xf32>, tensor<16x4xf32>) -> tensor<4x4xf32>
    return %o : tensor<4x4xf32>
  }
}
