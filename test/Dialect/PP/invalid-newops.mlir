// RUN: ppc-opt %s -split-input-file -verify-diagnostics
// One case per verifier error of the indexing and transformer ops.

func.func @gather_nd_tuple(%d: tensor<2x3xf32>, %i: tensor<4x3xi64>) -> tensor<4xf32> {
  // expected-error @+1 {{index tuples of 3 entries: they must have 1 to 2 for data [2x3] and batch_dims 0}}
  %0 = pp.gather_nd %d, %i : (tensor<2x3xf32>, tensor<4x3xi64>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @gather_nd_batch(%d: tensor<2x3xf32>, %i: tensor<3x1xi64>) -> tensor<3xf32> {
  // expected-error @+1 {{batch axis 0 is 2 in data [2x3] and 3 in indices [3x1]}}
  %0 = pp.gather_nd %d, %i {batch_dims = 1 : i64} : (tensor<2x3xf32>, tensor<3x1xi64>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @gather_nd_result(%d: tensor<2x3xf32>, %i: tensor<4x1xi64>) -> tensor<4x2xf32> {
  // expected-error @+1 {{result shape 'tensor<4x2xf32>' does not match the expected shape [4x3]}}
  %0 = pp.gather_nd %d, %i : (tensor<2x3xf32>, tensor<4x1xi64>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @scatter_nd_updates(%d: tensor<4x3xf32>, %i: tensor<2x1xi64>, %u: tensor<2x4xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{updates [2x4] should have shape [2x3]}}
  %0 = pp.scatter_nd %d, %i, %u : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @scatter_nd_reduction(%d: tensor<4x3xf32>, %i: tensor<2x1xi64>, %u: tensor<2x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{reduction 'sum' is not one of none, add, mul, max, min}}
  %0 = pp.scatter_nd %d, %i, %u {reduction = "sum"} : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @cumsum_axis(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = pp.cumsum %x {axis = 2 : i64} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @range_scalar(%s: tensor<2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{start, limit and delta must be scalars, got 'tensor<2xf32>'}}
  %0 = pp.range %s, %s, %s : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @rms_norm_scale(%x: tensor<2x8xf32>, %s: tensor<4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{scale shape 'tensor<4xf32>' does not match the expected shape [8]}}
  %0, %1 = pp.rms_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<4xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>)
  return %0 : tensor<2x8xf32>
}

// -----

func.func @rms_norm_axis(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0, %1 = pp.rms_norm %x, %s {axis = 2 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>)
  return %0 : tensor<2x8xf32>
}

// -----

func.func @rotary_heads(%x: tensor<2x3x8xf32>, %c: tensor<2x3x4xf32>) -> tensor<2x3x8xf32> {
  // expected-error @+1 {{a 3-D input needs num_heads}}
  %0 = pp.rotary_embedding %x, %c, %c : (tensor<2x3x8xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @rotary_dim(%x: tensor<2x2x3x8xf32>, %c: tensor<2x3x5xf32>) -> tensor<2x2x3x8xf32> {
  // expected-error @+1 {{rotary_embedding_dim 10 must be even and at most the head size 8}}
  %0 = pp.rotary_embedding %x, %c, %c {rotary_dim = 10 : i64} : (tensor<2x2x3x8xf32>, tensor<2x3x5xf32>, tensor<2x3x5xf32>) -> tensor<2x2x3x8xf32>
  return %0 : tensor<2x2x3x8xf32>
}

// -----

func.func @rotary_cache(%x: tensor<2x2x3x8xf32>, %c: tensor<16x3xf32>, %ids: tensor<2x3xi64>) -> tensor<2x2x3x8xf32> {
  // expected-error @+1 {{with position_ids the caches must be max_position x rotary_dim / 2 (x4), got [16x3]}}
  %0 = pp.rotary_embedding %x, %c, %c, %ids : (tensor<2x2x3x8xf32>, tensor<16x3xf32>, tensor<16x3xf32>, tensor<2x3xi64>) -> tensor<2x2x3x8xf32>
  return %0 : tensor<2x2x3x8xf32>
}

// -----

func.func @attention_rank(%q: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  // expected-error @+1 {{q, k and v must be 4-D (batch x heads x sequence x head_size)}}
  %0, %1 = pp.attention %q, %q, %q {scale = 1.0 : f64} : (tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3xf32>)
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @attention_gqa(%q: tensor<1x3x2x4xf32>, %k: tensor<1x2x2x4xf32>) -> tensor<1x3x2x4xf32> {
  // expected-error @+1 {{q's 3 heads must be a multiple of k's 2}}
  %0, %1 = pp.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<1x3x2x4xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> (tensor<1x3x2x4xf32>, tensor<1x3x2xf32>)
  return %0 : tensor<1x3x2x4xf32>
}

// -----

func.func @attention_mask(%q: tensor<1x2x3x4xf32>, %m: tensor<3x4xi1>) -> tensor<1x2x3x4xf32> {
  // expected-error @+1 {{mask [3x4] does not broadcast to [1x2x3x3]}}
  %0, %1 = pp.attention %q, %q, %q, %m {scale = 1.0 : f64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<3x4xi1>) -> (tensor<1x2x3x4xf32>, tensor<1x2x3xf32>)
  return %0 : tensor<1x2x3x4xf32>
}

// -----

func.func @attention_mask_type(%q: tensor<1x2x3x4xf32>, %m: tensor<3x3xi32>) -> tensor<1x2x3x4xf32> {
  // expected-error @+1 {{mask must be i1 or the element type of q ('f32'), got 'i32'}}
  %0, %1 = pp.attention %q, %q, %q, %m {scale = 1.0 : f64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<3x3xi32>) -> (tensor<1x2x3x4xf32>, tensor<1x2x3xf32>)
  return %0 : tensor<1x2x3x4xf32>
}

// -----

func.func @attention_lse(%q: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
  // expected-error @+1 {{lse shape 'tensor<1x2xf32>' does not match the expected shape [1x2x3]}}
  %0, %1 = pp.attention %q, %q, %q {scale = 1.0 : f64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> (tensor<1x2x3x4xf32>, tensor<1x2xf32>)
  return %0 : tensor<1x2x3x4xf32>
}
