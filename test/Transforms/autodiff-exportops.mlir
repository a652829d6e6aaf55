// RUN: ppc-opt %s -split-input-file -pp-autodiff="loss=mse" -verify-diagnostics | FileCheck %s
// The gradient rules of gather_elements and of the unary ops torch's
// exports of GPT-2 and LLaMA train through.

// gather_elements' gradient: every gathered element added back into zeros.
// CHECK-LABEL: func.func @main
// CHECK: pp.gather_elements_grad %arg1, %{{.*}} {axis = 1 : i64, pp.fwd_index = 1 : i64, pp.phase = "bwd"} : (tensor<2x5xi64>, tensor<2x5xf32>) -> tensor<2x3xf32>
pp.param @w : tensor<2x3xf32>
func.func @main(%x: tensor<2x5xf32> {pp.name = "x"}, %i: tensor<2x5xi64>) -> (tensor<2x5xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3xf32>
  %g = pp.gather_elements %w, %i {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x5xi64>) -> tensor<2x5xf32>
  %y = pp.mul %g, %x : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  return %y : tensor<2x5xf32>
}

// -----

// sqrt: dy / (2 y); reciprocal: -dy y^2 (LLaMA's RMSNorm, rsqrt).
// CHECK-LABEL: func.func @main
// CHECK: %[[S:.*]] = pp.sqrt
// CHECK: %[[R:.*]] = pp.reciprocal %[[S]]
// CHECK: %[[SQ:.*]] = pp.mul %[[R]], %[[R]] {pp.fwd_index
// CHECK: %[[M:.*]] = pp.mul %{{.*}}, %[[SQ]]
// CHECK: %[[N:.*]] = pp.neg %[[M]]
// CHECK: %[[TWO:.*]] = pp.constant {{.*}}dense<2.000000e+00>
// CHECK: %[[T:.*]] = pp.mul %[[S]], %[[TWO]] {pp.fwd_index
// CHECK: pp.div %[[N]], %[[T]]
pp.param @w : tensor<2x3xf32>
func.func @main(%x: tensor<2x3xf32> {pp.name = "x"}) -> (tensor<2x3xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3xf32>
  %s = pp.sqrt %w : tensor<2x3xf32>
  %r = pp.reciprocal %s : tensor<2x3xf32>
  %y = pp.mul %r, %x : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// pow with a constant exponent: dy b a^(b-1) for the base only; exp: dy y;
// log: dy / x; erf: dy 2/sqrt(pi) exp(-x^2).
// CHECK-LABEL: func.func @main
// CHECK: %[[B:.*]] = pp.constant dense<2.000000e+00>
// CHECK: %[[P:.*]] = pp.pow %[[W:.*]], %[[B]]
// CHECK: %[[E:.*]] = pp.exp %[[P]]
// CHECK: %[[L:.*]] = pp.log %[[E]]
// CHECK: %[[L2:.*]] = pp.mul %[[L]], %[[L]] {pp.fwd_index
// CHECK: %[[N:.*]] = pp.neg %[[L2]]
// CHECK: %[[X:.*]] = pp.exp %[[N]]
// CHECK: %[[C:.*]] = pp.constant {{.*}}dense<1.12837923>
// CHECK: pp.mul %[[X]], %[[C]]
// CHECK: %[[DL:.*]] = pp.div %{{.*}}, %[[E]] {pp.fwd_index
// CHECK: pp.mul %[[DL]], %[[E]] {pp.fwd_index
// CHECK: %[[B1:.*]] = pp.sub %[[B]], %{{.*}} {pp.fwd_index
// CHECK: %[[P1:.*]] = pp.pow %[[W]], %[[B1]]
// CHECK: pp.mul %[[P1]], %[[B]]
// CHECK-NOT: pp.log
pp.param @w : tensor<2x3xf32>
func.func @main(%x: tensor<2x3xf32> {pp.name = "x"}) -> (tensor<2x3xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3xf32>
  %b = pp.constant dense<2.0> : tensor<f32>
  %p = pp.pow %w, %b : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %e = pp.exp %p : tensor<2x3xf32>
  %l = pp.log %e : tensor<2x3xf32>
  %f = pp.erf %l : tensor<2x3xf32>
  %y = pp.mul %f, %x : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
