// RUN: ppc-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// pp.gather_elements and its gradient print, parse back and verify.

// CHECK-LABEL: func @ok
// CHECK: pp.gather_elements %arg0, %arg1 {axis = 0 : i64} : (tensor<3x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
// CHECK: pp.gather_elements_grad %arg1, %{{.*}} {axis = 0 : i64} : (tensor<2x3xi64>, tensor<2x3xf32>) -> tensor<3x3xf32>
func.func @ok(%d: tensor<3x3xf32>, %i: tensor<2x3xi64>) -> tensor<3x3xf32> {
  %0 = pp.gather_elements %d, %i {axis = 0 : i64} : (tensor<3x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  %1 = pp.gather_elements_grad %i, %0 {axis = 0 : i64} : (tensor<2x3xi64>, tensor<2x3xf32>) -> tensor<3x3xf32>
  return %1 : tensor<3x3xf32>
}

// -----

func.func @rank(%d: tensor<3x3xf32>, %i: tensor<3xi64>) -> tensor<3xf32> {
  // expected-error @+1 {{indices [3] must have the rank of data [3x3]}}
  %0 = pp.gather_elements %d, %i {axis = 0 : i64} : (tensor<3x3xf32>, tensor<3xi64>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @axis(%d: tensor<3x3xf32>, %i: tensor<3x3xi64>) -> tensor<3x3xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = pp.gather_elements %d, %i {axis = 2 : i64} : (tensor<3x3xf32>, tensor<3x3xi64>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// -----

func.func @larger(%d: tensor<3x3xf32>, %i: tensor<2x4xi64>) -> tensor<2x4xf32> {
  // expected-error @+1 {{indices [2x4] are larger than data [3x3] on axis 1}}
  %0 = pp.gather_elements %d, %i {axis = 0 : i64} : (tensor<3x3xf32>, tensor<2x4xi64>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @result(%d: tensor<3x3xf32>, %i: tensor<2x3xi64>) -> tensor<3x3xf32> {
  // expected-error @+1 {{result shape 'tensor<3x3xf32>' does not match the expected shape [2x3]}}
  %0 = pp.gather_elements %d, %i {axis = 0 : i64} : (tensor<3x3xf32>, tensor<2x3xi64>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// -----

func.func @grad_shape(%i: tensor<2x3xi64>, %g: tensor<2x2xf32>) -> tensor<3x3xf32> {
  // expected-error @+1 {{grad 'tensor<2x2xf32>' must have the shape of indices 'tensor<2x3xi64>'}}
  %0 = pp.gather_elements_grad %i, %g {axis = 0 : i64} : (tensor<2x3xi64>, tensor<2x2xf32>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

