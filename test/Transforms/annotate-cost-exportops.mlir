// RUN: ppc-opt %s -pp-annotate-cost | FileCheck %s
// gather_elements reads one element and one index per result element; its
// gradient adds one term per element of grad.

// CHECK-LABEL: func.func @gather_elements
// CHECK: pp.gather_elements {{.*}}bytes = 384 : i64, flops = 0 : i64
// CHECK: pp.gather_elements_grad {{.*}}flops = 24 : i64
func.func @gather_elements(%d: tensor<100x8xf32>, %i: tensor<3x8xi64>) -> tensor<100x8xf32> {
  %0 = pp.gather_elements %d, %i {axis = 0 : i64} : (tensor<100x8xf32>, tensor<3x8xi64>) -> tensor<3x8xf32>
  %1 = pp.gather_elements_grad %i, %0 {axis = 0 : i64} : (tensor<3x8xi64>, tensor<3x8xf32>) -> tensor<100x8xf32>
  return %1 : tensor<100x8xf32>
}
