// RUN: ppc-opt %s -split-input-file | ppc-opt -split-input-file | FileCheck %s
// The ops of the indexing and transformer families print and parse back.

// CHECK-LABEL: func @pointwise
func.func @pointwise(%x: tensor<2x3xf32>, %a: tensor<2x3xi64>, %b: tensor<3xi64>) -> (tensor<2x3xf32>, tensor<2x3xi64>) {
  // CHECK: pp.hard_sigmoid %{{.*}} {alpha = 2.000000e-01 : f64, beta = 5.000000e-01 : f64} : tensor<2x3xf32>
  %0 = pp.hard_sigmoid %x {alpha = 0.2 : f64, beta = 0.5 : f64} : tensor<2x3xf32>
  // CHECK: pp.hard_swish %{{.*}} : tensor<2x3xf32>
  %1 = pp.hard_swish %0 : tensor<2x3xf32>
  // CHECK: pp.mod %{{.*}}, %{{.*}} {fmod} : (tensor<2x3xi64>, tensor<3xi64>) -> tensor<2x3xi64>
  %2 = pp.mod %a, %b {fmod} : (tensor<2x3xi64>, tensor<3xi64>) -> tensor<2x3xi64>
  return %1, %2 : tensor<2x3xf32>, tensor<2x3xi64>
}

// -----

// CHECK-LABEL: func @indexing
func.func @indexing(%d: tensor<2x3x4xf32>, %i: tensor<2x5x1xi64>, %u: tensor<2x5x4xf32>, %s: tensor<f32>) -> (tensor<2x5x4xf32>, tensor<2x3x4xf32>, tensor<7xf32>) {
  // CHECK: pp.gather_nd %{{.*}}, %{{.*}} {batch_dims = 1 : i64} : (tensor<2x3x4xf32>, tensor<2x5x1xi64>) -> tensor<2x5x4xf32>
  %0 = pp.gather_nd %d, %i {batch_dims = 1 : i64} : (tensor<2x3x4xf32>, tensor<2x5x1xi64>) -> tensor<2x5x4xf32>
  // CHECK: pp.scatter_nd %{{.*}}, %{{.*}}, %{{.*}} {batch_dims = 1 : i64, reduction = "add"}
  %1 = pp.scatter_nd %d, %i, %u {batch_dims = 1 : i64, reduction = "add"} : (tensor<2x3x4xf32>, tensor<2x5x1xi64>, tensor<2x5x4xf32>) -> tensor<2x3x4xf32>
  // CHECK: pp.cumsum %{{.*}} {axis = 1 : i64, exclusive, reverse} : tensor<2x3x4xf32>
  %2 = pp.cumsum %1 {axis = 1 : i64, exclusive, reverse} : tensor<2x3x4xf32>
  // CHECK: pp.range %{{.*}}, %{{.*}}, %{{.*}} : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<7xf32>
  %3 = pp.range %s, %s, %s : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<7xf32>
  return %0, %2, %3 : tensor<2x5x4xf32>, tensor<2x3x4xf32>, tensor<7xf32>
}

// -----

// CHECK-LABEL: func @transformer
func.func @transformer(%x: tensor<2x3x8xf32>, %s: tensor<8xf32>, %c: tensor<16x2xf32>, %ids: tensor<2x3xi64>,
                       %q: tensor<2x4x3x4xf32>, %k: tensor<2x2x5x4xf32>, %m: tensor<3x5xi1>) -> (tensor<2x3x8xf32>, tensor<2x4x3x4xf32>) {
  // CHECK: %{{.*}}, %{{.*}} = pp.rms_norm %{{.*}}, %{{.*}} {axis = 2 : i64, epsilon = 9.9999999999999995E-7 : f64}
  %n, %inv = pp.rms_norm %x, %s {axis = 2 : i64, epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x1xf32>)
  // CHECK: pp.rotary_embedding %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {interleaved, num_heads = 2 : i64, rotary_dim = 4 : i64}
  %r = pp.rotary_embedding %n, %c, %c, %ids {interleaved, num_heads = 2 : i64, rotary_dim = 4 : i64} : (tensor<2x3x8xf32>, tensor<16x2xf32>, tensor<16x2xf32>, tensor<2x3xi64>) -> tensor<2x3x8xf32>
  // CHECK: %{{.*}}, %{{.*}} = pp.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {is_causal, scale = 5.000000e-01 : f64} : (tensor<2x4x3x4xf32>, tensor<2x2x5x4xf32>, tensor<2x2x5x4xf32>, tensor<3x5xi1>) -> (tensor<2x4x3x4xf32>, tensor<2x4x3xf32>)
  %a, %lse = pp.attention %q, %k, %k, %m {is_causal, scale = 0.5 : f64} : (tensor<2x4x3x4xf32>, tensor<2x2x5x4xf32>, tensor<2x2x5x4xf32>, tensor<3x5xi1>) -> (tensor<2x4x3x4xf32>, tensor<2x4x3xf32>)
  return %r, %a : tensor<2x3x8xf32>, tensor<2x4x3x4xf32>
}
