// RUN: ppc-opt %s -split-input-file | ppc-opt -split-input-file | FileCheck %s
// Every op prints and parses back.

// CHECK: pp.param @w : tensor<4x3xf32>
// CHECK: pp.param constant @mask : tensor<8x8xi1>
pp.param @w : tensor<4x3xf32>
pp.param constant @mask : tensor<8x8xi1>
// CHECK-LABEL: func @params
func.func @params() -> (tensor<4x3xf32>, tensor<8x8xi1>) {
  // CHECK: %[[W:.*]] = pp.get_param @w : tensor<4x3xf32>
  %0 = pp.get_param @w : tensor<4x3xf32>
  // CHECK: pp.get_param @mask : tensor<8x8xi1>
  %1 = pp.get_param @mask : tensor<8x8xi1>
  return %0, %1 : tensor<4x3xf32>, tensor<8x8xi1>
}

// -----

// CHECK-LABEL: func @elementwise
func.func @elementwise(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %b: tensor<2x3xi1>) -> tensor<2x3xf32> {
  // CHECK: pp.relu %{{.*}} : tensor<2x3xf32>
  %0 = pp.relu %x : tensor<2x3xf32>
  // CHECK: pp.gelu %{{.*}} {approximate} : tensor<2x3xf32>
  %1 = pp.gelu %0 {approximate} : tensor<2x3xf32>
  // CHECK: pp.clip %{{.*}} {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}
  %2 = pp.clip %1 {min = 0.0 : f64, max = 6.0 : f64} : tensor<2x3xf32>
  // CHECK: pp.add %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %3 = pp.add %2, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: pp.less %{{.*}} -> tensor<2x3xi1>
  %4 = pp.less %3, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %5 = pp.and %4, %b : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: pp.where
  %6 = pp.where %5, %3, %x : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: pp.cast %{{.*}} : tensor<2x3xf32> to tensor<2x3xi64>
  %7 = pp.cast %6 : tensor<2x3xf32> to tensor<2x3xi64>
  %8 = pp.cast %7 : tensor<2x3xi64> to tensor<2x3xf32>
  %9 = pp.leaky_relu %8 {alpha = 0.1 : f64} : tensor<2x3xf32>
  %c = pp.constant dense<2.0> : tensor<f32>
  // CHECK: pp.pow %{{.*}} : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %10 = pp.pow %9, %c : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  return %10 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func @contractions
func.func @contractions(%a: tensor<2x5x4xf32>, %b: tensor<4x6xf32>, %m: tensor<3x4xf32>,
                        %n: tensor<6x4xf32>, %c: tensor<6xf32>) -> (tensor<2x5x6xf32>, tensor<3x6xf32>) {
  // CHECK: pp.matmul %{{.*}}, %{{.*}} : (tensor<2x5x4xf32>, tensor<4x6xf32>) -> tensor<2x5x6xf32>
  %0 = pp.matmul %a, %b : (tensor<2x5x4xf32>, tensor<4x6xf32>) -> tensor<2x5x6xf32>
  // CHECK: pp.gemm %{{.*}}, %{{.*}}, %{{.*}} {alpha = 5.000000e-01 : f64, trans_b}
  %1 = pp.gemm %m, %n, %c {trans_b, alpha = 0.5 : f64} : (tensor<3x4xf32>, tensor<6x4xf32>, tensor<6xf32>) -> tensor<3x6xf32>
  return %0, %1 : tensor<2x5x6xf32>, tensor<3x6xf32>
}

// -----

// CHECK-LABEL: func @convolution
func.func @convolution(%x: tensor<1x4x8x8xf32>, %w: tensor<4x1x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x2x2xf32> {
  // Depthwise: group = channels.
  // CHECK: pp.conv %{{.*}}, %{{.*}}, %{{.*}} {dilations = array<i64: 1, 1>, group = 4 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>}
  %0 = pp.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 4 : i64} : (tensor<1x4x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
  // CHECK: pp.max_pool %{{.*}} {ceil_mode
  %1 = pp.max_pool %0 {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, ceil_mode} : tensor<1x4x4x4xf32> -> tensor<1x4x2x2xf32>
  // CHECK: pp.avg_pool %{{.*}} {count_include_pad
  %2 = pp.avg_pool %1 {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 0, 0>, count_include_pad} : tensor<1x4x2x2xf32> -> tensor<1x4x2x2xf32>
  return %2 : tensor<1x4x2x2xf32>
}

// -----

// CHECK-LABEL: func @normalization
func.func @normalization(%x: tensor<2x4x8xf32>, %s: tensor<8xf32>, %c: tensor<4xf32>,
                         %img: tensor<1x4x3x3xf32>) -> (tensor<2x4x8xf32>, tensor<1x4x3x3xf32>, tensor<2x1x1xf32>) {
  // CHECK: %{{.*}}, %{{.*}}, %{{.*}} = pp.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {axis = 2 : i64, epsilon = 1.000000e-05 : f64}
  %y, %mean, %rstd = pp.layer_norm %x, %s, %s {axis = 2 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x1xf32>, tensor<2x4x1xf32>)
  // CHECK: pp.softmax %{{.*}} {axis = 2 : i64} : tensor<2x4x8xf32>
  %0 = pp.softmax %y {axis = 2 : i64} : tensor<2x4x8xf32>
  %1 = pp.log_softmax %0 {axis = 1 : i64} : tensor<2x4x8xf32>
  // CHECK: pp.batch_norm
  %2 = pp.batch_norm %img, %c, %c, %c, %c {epsilon = 1.0e-5 : f64} : (tensor<1x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>
  // CHECK: pp.reduce_mean %{{.*}} {axes = array<i64: 1, 2>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x1xf32>
  %3 = pp.reduce_mean %1 {axes = array<i64: 1, 2>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x1xf32>
  return %1, %2, %3 : tensor<2x4x8xf32>, tensor<1x4x3x3xf32>, tensor<2x1x1xf32>
}

// -----

// CHECK-LABEL: func @data_movement
func.func @data_movement(%x: tensor<2x3x4xf32>, %i: tensor<5xi64>, %e: tensor<10x4xf32>) -> tensor<1x1x12xf32> {
  // CHECK: pp.reshape %{{.*}} : tensor<2x3x4xf32> -> tensor<6x4xf32>
  %0 = pp.reshape %x : tensor<2x3x4xf32> -> tensor<6x4xf32>
  // CHECK: pp.transpose %{{.*}} {perm = array<i64: 1, 0>} : tensor<6x4xf32> -> tensor<4x6xf32>
  %1 = pp.transpose %0 {perm = array<i64: 1, 0>} : tensor<6x4xf32> -> tensor<4x6xf32>
  // CHECK: pp.slice %{{.*}} {ends = array<i64: 4, -1>, starts = array<i64: 0, 5>, steps = array<i64: 1, -2>} : tensor<4x6xf32> -> tensor<4x3xf32>
  %2 = pp.slice %1 {starts = array<i64: 0, 5>, ends = array<i64: 4, -1>, steps = array<i64: 1, -2>} : tensor<4x6xf32> -> tensor<4x3xf32>
  // CHECK: pp.concat %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x6xf32>
  %3 = pp.concat %2, %2 {axis = 1 : i64} : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x6xf32>
  // CHECK: pp.gather %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<10x4xf32>, tensor<5xi64>) -> tensor<5x4xf32>
  %4 = pp.gather %e, %i {axis = 0 : i64} : (tensor<10x4xf32>, tensor<5xi64>) -> tensor<5x4xf32>
  // CHECK: pp.broadcast %{{.*}} : tensor<4x6xf32> -> tensor<2x4x6xf32>
  %5 = pp.broadcast %3 : tensor<4x6xf32> -> tensor<2x4x6xf32>
  // CHECK: pp.pad %{{.*}} reflect {pads = array<i64: 0, 1, 1, 0, 1, 1>}
  %6 = pp.pad %5 reflect {pads = array<i64: 0, 1, 1, 0, 1, 1>} : tensor<2x4x6xf32> -> tensor<2x6x8xf32>
  // CHECK: pp.resize %{{.*}} linear half_pixel round_prefer_floor {scales = array<f64: 1.000000e+00, 2.000000e+00, 2.000000e+00>}
  %7 = pp.resize %6 linear half_pixel round_prefer_floor {scales = array<f64: 1.0, 2.0, 2.0>} : tensor<2x6x8xf32> -> tensor<2x12x16xf32>
  // CHECK: pp.trilu %{{.*}} {k = -1 : i64, upper}
  %8 = pp.trilu %7 {upper, k = -1 : i64} : tensor<2x12x16xf32>
  %9 = pp.reduce_sum %8 {axes = array<i64: 0, 2>} : tensor<2x12x16xf32> -> tensor<12xf32>
  %10 = pp.reshape %9 : tensor<12xf32> -> tensor<1x1x12xf32>
  return %10 : tensor<1x1x12xf32>
}
