// RUN: ppc-opt %s -pp-autodiff="microbatches=1" | FileCheck %s

// A convolutional block as resnet has it: conv, batch normalisation in
// training mode, relu, max pooling, a global average pool (reduce_mean), a
// broadcast and a linear head.

// The running statistics are state updates, after the gradients.
// CHECK-LABEL: func.func @main
// CHECK-SAME: {pp.grad = "head", pp.use = 0 : i64}
// CHECK-SAME: {pp.grad = "bn.weight", pp.use = 0 : i64}
// CHECK-SAME: {pp.grad = "bn.bias", pp.use = 0 : i64}
// CHECK-SAME: {pp.grad = "conv.weight", pp.use = 0 : i64}
// CHECK-SAME: {pp.grad = "conv.bias", pp.use = 0 : i64}
// CHECK-SAME: {pp.state = "bn.running_mean"}
// CHECK-SAME: {pp.state = "bn.running_var"}
// CHECK: %[[Y:.*]], %[[MEAN:.*]], %[[INV:.*]], %[[RM:.*]], %[[RV:.*]] = pp.batch_norm_train
// reduce_mean: the gradient reshaped, broadcast back and divided by 16.
// CHECK: pp.reshape {{.*}} -> tensor<2x4x1x1xf32>
// CHECK: pp.broadcast {{.*}} tensor<2x4x1x1xf32> -> tensor<2x4x4x4xf32>
// CHECK: pp.constant {{.*}}1.600000e+01
// CHECK: pp.div
// CHECK: pp.max_pool_grad %{{.*}}, %{{.*}} {dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, pp.fwd_index = {{.*}}, strides = array<i64: 2, 2>}
// CHECK: pp.relu_grad
// CHECK: %[[DX:.*]] = pp.batch_norm_grad %{{.*}}, %{{.*}}, %[[MEAN]], %[[INV]], %{{.*}}
// CHECK: pp.batch_norm_param_grad %{{.*}}, %[[MEAN]], %[[INV]], %{{.*}} {{.*}} -> (tensor<4xf32>, tensor<4xf32>)
// CHECK: pp.conv_filter_grad %arg0, %[[DX]] {dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>{{.*}}strides = array<i64: 1, 1>} : (tensor<2x3x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x3x3x3xf32>
// The bias: summed over the batch and spatial axes.
// CHECK: pp.reduce_sum %[[DX]] {axes = array<i64: 0, 2, 3>{{.*}}} : tensor<2x4x8x8xf32> -> tensor<4xf32>
// No gradient of the image: its conv_input_grad is dead.
// CHECK-NOT: pp.conv_input_grad
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[RM]], %[[RV]]
module {
  pp.param @"conv.weight" : tensor<4x3x3x3xf32>
  pp.param @"conv.bias" : tensor<4xf32>
  pp.param @"bn.weight" : tensor<4xf32>
  pp.param @"bn.bias" : tensor<4xf32>
  pp.param @"bn.running_mean" : tensor<4xf32>
  pp.param @"bn.running_var" : tensor<4xf32>
  pp.param @head : tensor<10x4xf32>
  func.func @main(%x: tensor<2x3x8x8xf32> {pp.name = "image"}) -> (tensor<2x10xf32> {pp.name = "output"}) {
    %w = pp.get_param @"conv.weight" : tensor<4x3x3x3xf32>
    %b = pp.get_param @"conv.bias" : tensor<4xf32>
    %c = pp.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
    %g = pp.get_param @"bn.weight" : tensor<4xf32>
    %be = pp.get_param @"bn.bias" : tensor<4xf32>
    %rm = pp.get_param @"bn.running_mean" : tensor<4xf32>
    %rv = pp.get_param @"bn.running_var" : tensor<4xf32>
    %n:5 = pp.batch_norm_train %c, %g, %be, %rm, %rv {epsilon = 1.0e-05 : f64, momentum = 0.9 : f64} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
    %r = pp.relu %n#0 : tensor<2x4x8x8xf32>
    %p = pp.max_pool %r {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<2x4x8x8xf32> -> tensor<2x4x4x4xf32>
    %m = pp.reduce_mean %p {axes = array<i64: 2, 3>} : tensor<2x4x4x4xf32> -> tensor<2x4xf32>
    %h = pp.get_param @head : tensor<10x4xf32>
    %o = pp.gemm %m, %h {trans_b} : (tensor<2x4xf32>, tensor<10x4xf32>) -> tensor<2x10xf32>
    return %o : tensor<2x10xf32>
  }
}
