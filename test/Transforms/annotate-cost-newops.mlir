// RUN: ppc-opt %s -pp-annotate-cost=device=cpu | FileCheck %s

// Causal attention of 2 query heads over 1 kv head, 4 positions, head size 8:
// 1 + 2 + 3 + 4 = 10 query-key pairs per head, 20 in all, each 2*8 + 2*8 + 5
// = 37 operations: 740. Without the mask, 32 pairs: 1184.
// CHECK-LABEL: func.func @attention
// CHECK: pp.attention {{.*}}is_causal{{.*}}flops = 740 : i64
// CHECK: pp.attention {{.*}}flops = 1184 : i64
func.func @attention(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  %a, %l = pp.attention %q, %k, %k {scale = 1.0 : f64, is_causal} : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  %b, %m = pp.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %a, %b : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

// gather_nd reads only what it gathers: 3 slices of 8 floats read and
// written (192 bytes) and 3 indices (24), not the 100x8 table.
// CHECK-LABEL: func.func @gather_nd
// CHECK: pp.gather_nd {{.*}}bytes = 216 : i64, flops = 0 : i64
// rms_norm: 4 operations per element.
// CHECK: pp.rms_norm {{.*}}flops = 64 : i64
func.func @gather_nd(%d: tensor<100x8xf32>, %i: tensor<3x1xi64>, %x: tensor<2x8xf32>, %s: tensor<8xf32>) -> (tensor<3x8xf32>, tensor<2x8xf32>) {
  %0 = pp.gather_nd %d, %i : (tensor<100x8xf32>, tensor<3x1xi64>) -> tensor<3x8xf32>
  %1, %2 = pp.rms_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>)
  return %0, %1 : tensor<3x8xf32>, tensor<2x8xf32>
}
