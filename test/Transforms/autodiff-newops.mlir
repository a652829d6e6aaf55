// RUN: ppc-opt %s -split-input-file -pp-autodiff="loss=mse" -verify-diagnostics | FileCheck %s
// The gradient rules of the indexing and transformer ops.

// CHECK-LABEL: func.func @main
// CHECK: %[[G1:.*]] = pp.hard_swish_grad %[[H:.*]], %{{.*}} {pp.fwd_index
// CHECK: pp.hard_sigmoid_grad %{{.*}}, %[[G1]] {alpha = 2.000000e-01 : f64, beta = 5.000000e-01 : f64
pp.param @w : tensor<2x3xf32>
func.func @main(%x: tensor<2x3xf32> {pp.name = "x"}) -> (tensor<2x3xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3xf32>
  %a = pp.mul %x, %w : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %h = pp.hard_sigmoid %a {alpha = 0.2 : f64, beta = 0.5 : f64} : tensor<2x3xf32>
  %y = pp.hard_swish %h : tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// a mod b: dy for a; -dy (a - y) / b for b, summed to b's shape.
// CHECK-LABEL: func.func @main
// CHECK: %[[D:.*]] = pp.sub %[[A:.*]], %[[Y:.*]] {pp.fwd_index
// CHECK: %[[Q:.*]] = pp.div %[[D]], %{{.*}} {pp.fwd_index
// CHECK: %[[M:.*]] = pp.mul %{{.*}}, %[[Q]]
// CHECK: %[[N:.*]] = pp.neg %[[M]]
// CHECK: pp.reduce_sum %[[N]] {axes = array<i64: 0>, keepdims
pp.param @d : tensor<3xf32>
func.func @main(%x: tensor<2x3xf32> {pp.name = "x"}) -> (tensor<2x3xf32> {pp.name = "y"}) {
  %d = pp.get_param @d : tensor<3xf32>
  %y = pp.mod %x, %d : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// gather_nd's gradient: its slices added back into zeros.
// CHECK-LABEL: func.func @main
// CHECK: %[[Z:.*]] = pp.constant {{.*}}dense<0.000000e+00> : tensor<f32>
// CHECK: %[[ZB:.*]] = pp.broadcast %[[Z]] {{.*}}: tensor<f32> -> tensor<2x3x4xf32>
// CHECK: pp.scatter_nd %[[ZB]], %arg1, %{{.*}} {batch_dims = 1 : i64, pp.fwd_index = 1 : i64, pp.phase = "bwd", reduction = "add"}
pp.param @w : tensor<2x3x4xf32>
func.func @main(%x: tensor<2x5x4xf32> {pp.name = "x"}, %i: tensor<2x5x1xi64>) -> (tensor<2x5x4xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3x4xf32>
  %g = pp.gather_nd %w, %i {batch_dims = 1 : i64} : (tensor<2x3x4xf32>, tensor<2x5x1xi64>) -> tensor<2x5x4xf32>
  %y = pp.mul %g, %x : (tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  return %y : tensor<2x5x4xf32>
}

// -----

// scatter_nd none: data's gradient has the scattered places zeroed, each
// update gathers its own.
// CHECK-LABEL: func.func @main
// CHECK: pp.scatter_nd %[[DY:.*]], %arg1, %{{.*}} {pp.fwd_index = 2 : i64, pp.phase = "bwd"}
// CHECK: pp.gather_nd %[[DY]], %arg1 {pp.fwd_index = 2 : i64, pp.phase = "bwd"}
pp.param @d : tensor<4x3xf32>
pp.param @u : tensor<2x3xf32>
func.func @main(%x: tensor<4x3xf32> {pp.name = "x"}, %i: tensor<2x1xi64>) -> (tensor<4x3xf32> {pp.name = "y"}) {
  %d = pp.get_param @d : tensor<4x3xf32>
  %u = pp.get_param @u : tensor<2x3xf32>
  %s = pp.scatter_nd %d, %i, %u : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> tensor<4x3xf32>
  %y = pp.mul %s, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// scatter_nd mul: data's gradient times the product of its updates.
// CHECK-LABEL: func.func @main
// CHECK: %[[F:.*]] = pp.scatter_nd %{{.*}}, %arg1, %{{.*}} {{{.*}}pp.phase = "bwd", reduction = "mul"}
// CHECK: pp.mul %{{.*}}, %[[F]]
pp.param @d : tensor<4x3xf32>
pp.param @u : tensor<2x3xf32>
func.func @main(%x: tensor<4x3xf32> {pp.name = "x"}, %i: tensor<2x1xi64>) -> (tensor<4x3xf32> {pp.name = "y"}) {
  %d = pp.get_param @d : tensor<4x3xf32>
  %u = pp.get_param @u : tensor<2x3xf32>
  %s = pp.scatter_nd %d, %i, %u {reduction = "mul"} : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> tensor<4x3xf32>
  %y = pp.mul %s, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

pp.param @d : tensor<4x3xf32>
pp.param @u : tensor<2x3xf32>
func.func @main(%x: tensor<4x3xf32> {pp.name = "x"}, %i: tensor<2x1xi64>) -> (tensor<4x3xf32> {pp.name = "y"}) {
  %d = pp.get_param @d : tensor<4x3xf32>
  %u = pp.get_param @u : tensor<2x3xf32>
  // expected-error @+1 {{gradient of a scatter_nd with reduction 'max' is not supported (none, add and mul are)}}
  %s = pp.scatter_nd %d, %i, %u {reduction = "max"} : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> tensor<4x3xf32>
  %y = pp.mul %s, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// cumsum's gradient: the scan the other way.
// CHECK-LABEL: func.func @main
// CHECK: pp.cumsum %{{.*}} {axis = 1 : i64, exclusive, pp.fwd_index = 2 : i64, pp.phase = "bwd"} : tensor<2x3xf32>
pp.param @w : tensor<2x3xf32>
func.func @main(%x: tensor<2x3xf32> {pp.name = "x"}) -> (tensor<2x3xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3xf32>
  %a = pp.mul %x, %w : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = pp.cumsum %a {axis = 1 : i64, exclusive, reverse} : tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// range: start's gradient sums dy, delta's sums i * dy with i an iota.
// CHECK-LABEL: func.func @main
// CHECK: pp.reduce_sum %[[DY:.*]] {axes = array<i64: 0>
// CHECK: %[[I:.*]] = pp.range %{{.*}}, %{{.*}}, %{{.*}} {pp.fwd_index
// CHECK: %[[P:.*]] = pp.mul %[[DY]], %[[I]]
// CHECK: pp.reduce_sum %[[P]] {axes = array<i64: 0>
pp.param @s : tensor<f32>
pp.param @d : tensor<f32>
func.func @main(%x: tensor<5xf32> {pp.name = "x"}, %l: tensor<f32>) -> (tensor<5xf32> {pp.name = "y"}) {
  %s = pp.get_param @s : tensor<f32>
  %d = pp.get_param @d : tensor<f32>
  %r = pp.range %s, %l, %d : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<5xf32>
  %y = pp.mul %r, %x : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
  return %y : tensor<5xf32>
}

// -----

// rms_norm: its own input gradient; the scale's is layer normalisation's
// with a zero mean.
// CHECK-LABEL: func.func @main
// CHECK-DAG: pp.rms_norm_grad %{{.*}}, %{{.*}}, %[[INV:.*]], %{{.*}} {axis = 1 : i64
// CHECK-DAG: %[[Z:.*]] = pp.broadcast %{{.*}} : tensor<f32> -> tensor<2x1xf32>
// CHECK-DAG: pp.layer_norm_param_grad %{{.*}}, %[[Z]], %[[INV]], %{{.*}} {axis = 1 : i64
pp.param @w : tensor<2x8xf32>
pp.param @s : tensor<8xf32>
func.func @main(%x: tensor<2x8xf32> {pp.name = "x"}) -> (tensor<2x8xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x8xf32>
  %s = pp.get_param @s : tensor<8xf32>
  %a = pp.mul %x, %w : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y, %inv = pp.rms_norm %a, %s {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>)
  return %y : tensor<2x8xf32>
}

// -----

// rotary_embedding: the rotation back (the sines negated); trained caches
// get their per-token gradients scattered to their rows by position.
// CHECK-LABEL: func.func @main
// CHECK: %[[NS:.*]] = pp.neg %[[SIN:.*]] {pp.fwd_index
// CHECK: pp.rotary_embedding %{{.*}}, %[[COS:.*]], %[[NS]], %arg1 {num_heads = 2 : i64
// CHECK: %{{.*}}, %[[GS:.*]] = pp.rotary_embedding_cache_grad %{{.*}}, %{{.*}} {num_heads = 2 : i64, {{.*}}} : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> (tensor<2x3x2xf32>, tensor<2x3x2xf32>)
// CHECK: pp.gather_grad %arg1, %{{.*}} {axis = 0 : i64{{.*}}} : (tensor<2x3xi64>, tensor<2x3x2xf32>) -> tensor<16x2xf32>
pp.param @w : tensor<2x3x8xf32>
pp.param @cos : tensor<16x2xf32>
pp.param @sin : tensor<16x2xf32>
func.func @main(%x: tensor<2x3x8xf32> {pp.name = "x"}, %ids: tensor<2x3xi64>) -> (tensor<2x3x8xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<2x3x8xf32>
  %c = pp.get_param @cos : tensor<16x2xf32>
  %s = pp.get_param @sin : tensor<16x2xf32>
  %a = pp.mul %x, %w : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %y = pp.rotary_embedding %a, %c, %s, %ids {num_heads = 2 : i64} : (tensor<2x3x8xf32>, tensor<16x2xf32>, tensor<16x2xf32>, tensor<2x3xi64>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// attention: one backward op for q, k and v, from the result and its
// log-sum-exp.
// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]], %[[L:.*]] = pp.attention
// CHECK: pp.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[A]], %[[L]], %{{.*}}, %arg1 {is_causal, pp.fwd_index = {{.*}}, scale = 5.000000e-01 : f64}
pp.param @wq : tensor<4xf32>
func.func @main(%x: tensor<1x4x3x4xf32> {pp.name = "x"}, %m: tensor<3x3xi1>) -> (tensor<1x4x3x4xf32> {pp.name = "y"}) {
  %wq = pp.get_param @wq : tensor<4xf32>
  %q = pp.mul %x, %wq : (tensor<1x4x3x4xf32>, tensor<4xf32>) -> tensor<1x4x3x4xf32>
  %k = pp.reshape %q : tensor<1x4x3x4xf32> -> tensor<1x4x3x4xf32>
  %y, %lse = pp.attention %q, %q, %k, %m {scale = 0.5 : f64, is_causal} : (tensor<1x4x3x4xf32>, tensor<1x4x3x4xf32>, tensor<1x4x3x4xf32>, tensor<3x3xi1>) -> (tensor<1x4x3x4xf32>, tensor<1x4x3xf32>)
  return %y : tensor<1x4x3x4xf32>
}

// -----

pp.param @wq : tensor<4xf32>
pp.param @bias : tensor<3x3xf32>
func.func @main(%x: tensor<1x2x3x4xf32> {pp.name = "x"}) -> (tensor<1x2x3x4xf32> {pp.name = "y"}) {
  %wq = pp.get_param @wq : tensor<4xf32>
  %b = pp.get_param @bias : tensor<3x3xf32>
  %q = pp.mul %x, %wq : (tensor<1x2x3x4xf32>, tensor<4xf32>) -> tensor<1x2x3x4xf32>
  // expected-error @+1 {{the mask depends on a trainable parameter: its gradient is not supported}}
  %y, %lse = pp.attention %q, %q, %q, %b {scale = 0.5 : f64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<3x3xf32>) -> (tensor<1x2x3x4xf32>, tensor<1x2x3xf32>)
  return %y : tensor<1x2x3x4xf32>
}
