// RUN: ppc-opt %s -split-input-file -pp-canonicalize | FileCheck %s

// torch.onnx.export's GELU: x * (erf(x / sqrt(2)) + 1) * 0.5.
// CHECK-LABEL: func @gelu_erf
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>)
// CHECK-NEXT: %[[G:.*]] = pp.gelu %[[X]] : tensor<2x8xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_erf(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %sqrt2 = pp.constant dense<1.41421354> : tensor<f32>
  %one = pp.constant dense<1.0> : tensor<f32>
  %half = pp.constant dense<0.5> : tensor<f32>
  %0 = pp.div %x, %sqrt2 : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %1 = pp.erf %0 : tensor<2x8xf32>
  %2 = pp.add %1, %one : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %3 = pp.mul %x, %2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %4 = pp.mul %3, %half : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// A different constant is not GELU.
// CHECK-LABEL: func @not_gelu
// CHECK-NOT: pp.gelu
// CHECK: pp.erf
func.func @not_gelu(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %c = pp.constant dense<2.0> : tensor<f32>
  %one = pp.constant dense<1.0> : tensor<f32>
  %half = pp.constant dense<0.5> : tensor<f32>
  %0 = pp.div %x, %c : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %1 = pp.erf %0 : tensor<2x8xf32>
  %2 = pp.add %1, %one : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %3 = pp.mul %x, %2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %4 = pp.mul %3, %half : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// LayerNorm as exporters write it before opset 17.
// CHECK-LABEL: func @layer_norm
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x8xf32>, %[[W:.*]]: tensor<8xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK-NEXT: %[[Y:.*]], %{{.*}}, %{{.*}} = pp.layer_norm %[[X]], %[[W]], %[[B]] {axis = 2 : i64, epsilon = 9.99999974{{.*}}E-6 : f64}
// CHECK-NEXT: return %[[Y]]
func.func @layer_norm(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %two = pp.constant dense<2.0> : tensor<f32>
  %eps = pp.constant dense<1.0e-5> : tensor<f32>
  %mean = pp.reduce_mean %x {axes = array<i64: 2>, keepdims} : tensor<2x4x8xf32> -> tensor<2x4x1xf32>
  %d = pp.sub %x, %mean : (tensor<2x4x8xf32>, tensor<2x4x1xf32>) -> tensor<2x4x8xf32>
  %sq = pp.pow %d, %two : (tensor<2x4x8xf32>, tensor<f32>) -> tensor<2x4x8xf32>
  %var = pp.reduce_mean %sq {axes = array<i64: 2>, keepdims} : tensor<2x4x8xf32> -> tensor<2x4x1xf32>
  %ve = pp.add %var, %eps : (tensor<2x4x1xf32>, tensor<f32>) -> tensor<2x4x1xf32>
  %std = pp.sqrt %ve : tensor<2x4x1xf32>
  %n = pp.div %d, %std : (tensor<2x4x8xf32>, tensor<2x4x1xf32>) -> tensor<2x4x8xf32>
  %s = pp.mul %n, %w : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %y = pp.add %s, %b : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Reductions over a non-trailing axis are not LayerNorm.
// CHECK-LABEL: func @not_layer_norm
// CHECK-NOT: pp.layer_norm
func.func @not_layer_norm(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %two = pp.constant dense<2.0> : tensor<f32>
  %eps = pp.constant dense<1.0e-5> : tensor<f32>
  %mean = pp.reduce_mean %x {axes = array<i64: 1>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x8xf32>
  %d = pp.sub %x, %mean : (tensor<2x4x8xf32>, tensor<2x1x8xf32>) -> tensor<2x4x8xf32>
  %sq = pp.pow %d, %two : (tensor<2x4x8xf32>, tensor<f32>) -> tensor<2x4x8xf32>
  %var = pp.reduce_mean %sq {axes = array<i64: 1>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x8xf32>
  %ve = pp.add %var, %eps : (tensor<2x1x8xf32>, tensor<f32>) -> tensor<2x1x8xf32>
  %std = pp.sqrt %ve : tensor<2x1x8xf32>
  %n = pp.div %d, %std : (tensor<2x4x8xf32>, tensor<2x1x8xf32>) -> tensor<2x4x8xf32>
  %s = pp.mul %n, %w : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %y = pp.add %s, %b : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Reshape chains fold.
// CHECK-LABEL: func @reshapes
// CHECK-NEXT: %[[R:.*]] = pp.reshape %{{.*}} : tensor<2x6xf32> -> tensor<12xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshapes(%x: tensor<2x6xf32>) -> tensor<12xf32> {
  %0 = pp.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  %1 = pp.reshape %0 : tensor<3x4xf32> -> tensor<12xf32>
  return %1 : tensor<12xf32>
}
