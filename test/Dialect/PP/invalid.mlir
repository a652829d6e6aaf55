// RUN: ppc-opt %s -split-input-file -verify-diagnostics
// One case per verifier error.

func.func @no_param() -> tensor<2xf32> {
  // expected-error @+1 {{'missing' does not name a pp.param}}
  %0 = pp.get_param @missing : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

pp.param @w : tensor<3xf32>
func.func @param_type() -> tensor<2xf32> {
  // expected-error @+1 {{type 'tensor<2xf32>' differs from pp.param @w of type 'tensor<3xf32>'}}
  %0 = pp.get_param @w : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @no_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{shapes [2x3] [4] do not broadcast}}
  %0 = pp.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @wrong_broadcast_result(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<3x3xf32> {
  // expected-error @+1 {{result shape 'tensor<3x3xf32>' does not match the expected shape [2x3]}}
  %0 = pp.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// -----

func.func @mixed_types(%a: tensor<3xf32>, %b: tensor<3xf16>) -> tensor<3xf32> {
  // expected-error @+1 {{operands must share one element type, got 'f32' and 'f16'}}
  %0 = pp.sub %a, %b : (tensor<3xf32>, tensor<3xf16>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @compare_result(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{op result #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = pp.equal %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @dynamic(%a: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{must be statically shaped tensor}}
  %0 = pp.relu %a : tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

func.func @float_only(%a: tensor<3xi32>) -> tensor<3xi32> {
  // expected-error @+1 {{must be statically shaped tensor of floating-point values}}
  %0 = pp.sqrt %a : tensor<3xi32>
  return %0 : tensor<3xi32>
}

// -----

func.func @clip_bounds(%a: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{min 6.000000e+00 exceeds max 0.000000e+00}}
  %0 = pp.clip %a {min = 6.0 : f64, max = 0.0 : f64} : tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @where_types(%c: tensor<3xi1>, %a: tensor<3xf32>, %b: tensor<3xi64>) -> tensor<3xf32> {
  // expected-error @+1 {{operands must share one element type, got 'f32' and 'i64'}}
  %0 = pp.where %c, %a, %b : (tensor<3xi1>, tensor<3xf32>, tensor<3xi64>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @matmul_inner(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{inner dimensions 3 and 4 differ}}
  %0 = pp.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @matmul_batch(%a: tensor<2x3x4xf32>, %b: tensor<3x4x5xf32>) -> tensor<3x3x5xf32> {
  // expected-error @+1 {{shapes [2] [3] do not broadcast}}
  %0 = pp.matmul %a, %b : (tensor<2x3x4xf32>, tensor<3x4x5xf32>) -> tensor<3x3x5xf32>
  return %0 : tensor<3x3x5xf32>
}

// -----

func.func @gemm_rank(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{gemm operands must be matrices}}
  %0 = pp.gemm %a, %b : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @gemm_inner(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{gemm inner dimensions 3 and 4 differ}}
  %0 = pp.gemm %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @gemm_c(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>, %c: tensor<3x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{shapes [3x5] [2x5] do not broadcast}}
  %0 = pp.gemm %a, %b, %c : (tensor<2x3xf32>, tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @conv_group(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{conv group 3 must divide the input channels 4 and the output channels 6}}
  %0 = pp.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 3 : i64} : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_channels(%x: tensor<1x4x8x8xf32>, %w: tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{conv filter has 3 input channels per group; the input has 4 channels in 1 groups}}
  %0 = pp.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_stride(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{kernel size, stride and dilation must be positive}}
  %0 = pp.conv %x, %w {strides = array<i64: 0, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_pads(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{pads needs 4 values (begins, then ends)}}
  %0 = pp.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_bias(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{bias must have one value per output channel (6)}}
  %0 = pp.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>, tensor<4xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_window(%x: tensor<1x4x2x2xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x1x1xf32> {
  // expected-error @+1 {{window of 3 exceeds the padded input of 2}}
  %0 = pp.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x4x2x2xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x1x1xf32>
  return %0 : tensor<1x6x1x1xf32>
}

// -----

func.func @pool_result(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+1 {{result shape 'tensor<1x4x3x3xf32>' does not match the expected shape [1x4x4x4]}}
  %0 = pp.max_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : tensor<1x4x8x8xf32> -> tensor<1x4x3x3xf32>
  return %0 : tensor<1x4x3x3xf32>
}

// -----

func.func @pool_kernel(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32> {
  // expected-error @+1 {{kernel_shape needs 2 values}}
  %0 = pp.avg_pool %x {kernel_shape = array<i64: 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// -----

func.func @pool_pad(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x5x5xf32> {
  // expected-error @+1 {{padding must be smaller than the kernel}}
  %0 = pp.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 2, 2, 0, 0>} : tensor<1x4x8x8xf32> -> tensor<1x4x5x5xf32>
  return %0 : tensor<1x4x5x5xf32>
}

// -----

func.func @batch_norm_channels(%x: tensor<1x4x3x3xf32>, %c: tensor<3xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+1 {{scale, bias, mean and variance must be vectors of the channel count 4}}
  %0 = pp.batch_norm %x, %c, %c, %c, %c {epsilon = 1.0e-5 : f64} : (tensor<1x4x3x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x4x3x3xf32>
  return %0 : tensor<1x4x3x3xf32>
}

// -----

func.func @batch_norm_epsilon(%x: tensor<1x4x3x3xf32>, %c: tensor<4xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+1 {{epsilon must not be negative}}
  %0 = pp.batch_norm %x, %c, %c, %c, %c {epsilon = -1.0 : f64} : (tensor<1x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>
  return %0 : tensor<1x4x3x3xf32>
}

// -----

func.func @batch_norm_rank(%x: tensor<4xf32>, %c: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{input must be N x C x ..., got rank 1}}
  %0 = pp.batch_norm %x, %c, %c, %c, %c {epsilon = 1.0e-5 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @layer_norm_axis(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{layer_norm axis 2 is out of range for rank 2}}
  %y, %m, %r = pp.layer_norm %x, %s {axis = 2 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @layer_norm_scale(%x: tensor<2x8xf32>, %s: tensor<4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{scale and bias must broadcast to the normalised axes}}
  %y, %m, %r = pp.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<4xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @layer_norm_scale_type(%x: tensor<2x8xf32>, %s: tensor<8xf16>) -> tensor<2x8xf32> {
  // expected-error @+1 {{scale and bias must have the input's element type}}
  %y, %m, %r = pp.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf16>) -> (tensor<2x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @layer_norm_epsilon(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{epsilon must not be negative}}
  %y, %m, %r = pp.layer_norm %x, %s {axis = 1 : i64, epsilon = -1.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @layer_norm_stats(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{mean and inv_std_dev must have the input's shape with the normalised axes set to 1}}
  %y, %m, %r = pp.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x1xf32>)
  return %y : tensor<2x8xf32>
}

// -----

func.func @softmax_axis(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{axis -1 is out of range for rank 2}}
  %0 = pp.softmax %x {axis = -1 : i64} : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @reduce_axes(%x: tensor<2x8xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{reduction axes must be sorted and distinct}}
  %0 = pp.reduce_sum %x {axes = array<i64: 1, 1>} : tensor<2x8xf32> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @reduce_range(%x: tensor<2x8xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{reduction axis 2 is out of range for rank 2}}
  %0 = pp.reduce_max %x {axes = array<i64: 2>} : tensor<2x8xf32> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @reshape_count(%x: tensor<2x8xf32>) -> tensor<3x5xf32> {
  // expected-error @+1 {{cannot reshape 'tensor<2x8xf32>' (16 elements) to 'tensor<3x5xf32>' (15 elements)}}
  %0 = pp.reshape %x : tensor<2x8xf32> -> tensor<3x5xf32>
  return %0 : tensor<3x5xf32>
}

// -----

func.func @reshape_type(%x: tensor<2x8xf32>) -> tensor<16xi32> {
  // expected-error @+1 {{element type must not change}}
  %0 = pp.reshape %x : tensor<2x8xf32> -> tensor<16xi32>
  return %0 : tensor<16xi32>
}

// -----

func.func @transpose_perm(%x: tensor<2x8xf32>) -> tensor<8x2xf32> {
  // expected-error @+1 {{perm is not a permutation of 0..1}}
  %0 = pp.transpose %x {perm = array<i64: 1, 1>} : tensor<2x8xf32> -> tensor<8x2xf32>
  return %0 : tensor<8x2xf32>
}

// -----

func.func @transpose_rank(%x: tensor<2x8xf32>) -> tensor<8x2xf32> {
  // expected-error @+1 {{perm has 3 entries for a tensor of rank 2}}
  %0 = pp.transpose %x {perm = array<i64: 1, 0, 2>} : tensor<2x8xf32> -> tensor<8x2xf32>
  return %0 : tensor<8x2xf32>
}

// -----

func.func @slice_step(%x: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{slice step of axis 0 is 0}}
  %0 = pp.slice %x {starts = array<i64: 0>, ends = array<i64: 4>, steps = array<i64: 0>} : tensor<8xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @slice_bounds(%x: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{slice bounds of axis 0 are not normalised for size 8}}
  %0 = pp.slice %x {starts = array<i64: -4>, ends = array<i64: 8>, steps = array<i64: 1>} : tensor<8xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @slice_rank(%x: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{slice needs one start, end and step per axis (1)}}
  %0 = pp.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 4, 4>, steps = array<i64: 1, 1>} : tensor<8xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @concat_shapes(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) -> tensor<2x6xf32> {
  // expected-error @+1 {{concat inputs [2x3] and [3x3] differ off axis 1}}
  %0 = pp.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}

// -----

func.func @concat_axis(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{concat axis 2 is out of range for rank 2}}
  %0 = pp.concat %a {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @concat_ranks(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x6xf32> {
  // expected-error @+1 {{concat inputs must have equal ranks}}
  %0 = pp.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}

// -----

func.func @gather_axis(%e: tensor<10x4xf32>, %i: tensor<5xi64>) -> tensor<5x4xf32> {
  // expected-error @+1 {{gather axis 2 is out of range for rank 2}}
  %0 = pp.gather %e, %i {axis = 2 : i64} : (tensor<10x4xf32>, tensor<5xi64>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

func.func @gather_indices(%e: tensor<10x4xf32>, %i: tensor<5xf32>) -> tensor<5x4xf32> {
  // expected-error @+1 {{must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = pp.gather %e, %i {axis = 0 : i64} : (tensor<10x4xf32>, tensor<5xf32>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

func.func @broadcast_to(%x: tensor<3x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{shapes [3x4] [2x4] do not broadcast}}
  %0 = pp.broadcast %x : tensor<3x4xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @broadcast_shrink(%x: tensor<3x4xf32>) -> tensor<1x4xf32> {
  // expected-error @+1 {{input 'tensor<3x4xf32>' does not broadcast to 'tensor<1x4xf32>'}}
  %0 = pp.broadcast %x : tensor<3x4xf32> -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

func.func @pad_count(%x: tensor<3x4xf32>) -> tensor<5x4xf32> {
  // expected-error @+1 {{pads needs 4 values (begins, then ends)}}
  %0 = pp.pad %x constant {pads = array<i64: 1, 1>} : tensor<3x4xf32> -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

func.func @pad_crop(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  // expected-error @+1 {{pads crop axis 0 below zero}}
  %0 = pp.pad %x constant {pads = array<i64: -2, 0, -2, 0>} : tensor<3x4xf32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

func.func @pad_reflect(%x: tensor<3x4xf32>) -> tensor<9x4xf32> {
  // expected-error @+1 {{reflect padding of axis 0 must be smaller than its size 3}}
  %0 = pp.pad %x reflect {pads = array<i64: 3, 0, 3, 0>} : tensor<3x4xf32> -> tensor<9x4xf32>
  return %0 : tensor<9x4xf32>
}

// -----

func.func @resize_scales(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x8x8xf32> {
  // expected-error @+1 {{scales needs one value per axis (4)}}
  %0 = pp.resize %x nearest asymmetric floor {scales = array<f64: 2.0, 2.0>} : tensor<1x3x4x4xf32> -> tensor<1x3x8x8xf32>
  return %0 : tensor<1x3x8x8xf32>
}

// -----

func.func @resize_positive(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x8x8xf32> {
  // expected-error @+1 {{scales must be positive}}
  %0 = pp.resize %x nearest asymmetric floor {scales = array<f64: 1.0, 1.0, 0.0, 2.0>} : tensor<1x3x4x4xf32> -> tensor<1x3x8x8xf32>
  return %0 : tensor<1x3x8x8xf32>
}

// -----

func.func @resize_rank(%x: tensor<1x3x4x4xf32>) -> tensor<3x8x8xf32> {
  // expected-error @+1 {{result rank must equal the input rank 4}}
  %0 = pp.resize %x nearest asymmetric floor {scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : tensor<1x3x4x4xf32> -> tensor<3x8x8xf32>
  return %0 : tensor<3x8x8xf32>
}

// -----

func.func @resize_roi(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x8x8xf32> {
  // expected-error @+1 {{tf_crop_and_resize needs a roi}}
  %0 = pp.resize %x linear tf_crop_and_resize floor {scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : tensor<1x3x4x4xf32> -> tensor<1x3x8x8xf32>
  return %0 : tensor<1x3x8x8xf32>
}

// -----

func.func @resize_roi_size(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x8x8xf32> {
  // expected-error @+1 {{roi needs 8 values}}
  %0 = pp.resize %x linear tf_crop_and_resize floor {scales = array<f64: 1.0, 1.0, 2.0, 2.0>, roi = array<f64: 0.0, 1.0>} : tensor<1x3x4x4xf32> -> tensor<1x3x8x8xf32>
  return %0 : tensor<1x3x8x8xf32>
}

// -----

func.func @trilu_rank(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{input must have rank >= 2}}
  %0 = pp.trilu %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
