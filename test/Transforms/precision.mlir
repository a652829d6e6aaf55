// RUN: ppc-opt %s -pp-precision -split-input-file -verify-diagnostics | FileCheck %s
// RUN: ppc-opt %s -pp-precision="precision=fp32" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FP32
// RUN: ppc-opt %s -pp-precision="precision=fp16" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FP16

// A chain (inference): the products read bf16 copies and return f32; the
// weight is cast once for its two products, the transpose is redone on
// the cast copy; softmax, add and the parameters stay f32.
// CHECK-LABEL: func.func @chain
// CHECK: %[[XL:.*]] = pp.cast %arg0 : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: %[[W:.*]] = pp.get_param @w : tensor<8x8xf32>
// CHECK-NEXT: %[[WL:.*]] = pp.cast %[[W]] : tensor<8x8xf32> to tensor<8x8xbf16>
// CHECK-NEXT: %[[WT:.*]] = pp.transpose %[[WL]] {perm = array<i64: 1, 0>} : tensor<8x8xbf16> -> tensor<8x8xbf16>
// CHECK-NOT: pp.transpose
// CHECK: %[[H:.*]] = pp.matmul %[[XL]], %[[WT]] : (tensor<4x8xbf16>, tensor<8x8xbf16>) -> tensor<4x8xf32>
// CHECK: %[[S:.*]] = pp.softmax %[[H]] {{.*}}: tensor<4x8xf32>
// CHECK: %[[SL:.*]] = pp.cast %[[S]] : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: %[[B:.*]] = pp.get_param @b : tensor<8xf32>
// CHECK: %[[G:.*]] = pp.gemm %[[SL]], %[[WL]], %[[B]] : (tensor<4x8xbf16>, tensor<8x8xbf16>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK: %[[A:.*]] = pp.add %[[G]], %arg0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: return %[[A]]
// FP32-LABEL: func.func @chain
// FP32-NOT: pp.cast
// FP16-LABEL: func.func @chain
// FP16: pp.matmul %{{.*}}, %{{.*}} : (tensor<4x8xf16>, tensor<8x8xf16>) -> tensor<4x8xf32>
module {
  pp.param @w : tensor<8x8xf32>
  pp.param @b : tensor<8xf32>
  func.func @chain(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %w = pp.get_param @w : tensor<8x8xf32>
    %wt = pp.transpose %w {perm = array<i64: 1, 0>} : tensor<8x8xf32> -> tensor<8x8xf32>
    %h = pp.matmul %x, %wt : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %s = pp.softmax %h {axis = 1 : i64} : tensor<4x8xf32>
    %b = pp.get_param @b : tensor<8xf32>
    %g = pp.gemm %s, %w, %b : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    %a = pp.add %g, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    return %a : tensor<4x8xf32>
  }
}

// -----

// Already half factors (a model run in its own precision) and f64 are left
// alone.
// CHECK-LABEL: func.func @half
// CHECK-NOT: pp.cast
// CHECK: pp.matmul %arg0, %arg1 : (tensor<2x2xbf16>, tensor<2x2xbf16>) -> tensor<2x2xbf16>
// CHECK: pp.matmul %arg2, %arg2 : (tensor<2x2xf64>, tensor<2x2xf64>) -> tensor<2x2xf64>
func.func @half(%a: tensor<2x2xbf16>, %b: tensor<2x2xbf16>, %d: tensor<2x2xf64>) -> (tensor<2x2xbf16>, tensor<2x2xf64>) {
  %p = pp.matmul %a, %b : (tensor<2x2xbf16>, tensor<2x2xbf16>) -> tensor<2x2xbf16>
  %q = pp.matmul %d, %d : (tensor<2x2xf64>, tensor<2x2xf64>) -> tensor<2x2xf64>
  return %p, %q : tensor<2x2xbf16>, tensor<2x2xf64>
}

// -----

// A convolution: input and filter cast, the bias stays f32.
// CHECK-LABEL: func.func @conv
// CHECK: %[[XL:.*]] = pp.cast %arg0 : tensor<1x2x5x5xf32> to tensor<1x2x5x5xbf16>
// CHECK: %[[FL:.*]] = pp.cast %{{.*}} : tensor<3x2x3x3xf32> to tensor<3x2x3x3xbf16>
// CHECK: pp.conv %[[XL]], %[[FL]], %{{.*}} {{.*}}: (tensor<1x2x5x5xbf16>, tensor<3x2x3x3xbf16>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
module {
  pp.param @f : tensor<3x2x3x3xf32>
  pp.param @fb : tensor<3xf32>
  func.func @conv(%x: tensor<1x2x5x5xf32>) -> tensor<1x3x3x3xf32> {
    %f = pp.get_param @f : tensor<3x2x3x3xf32>
    %fb = pp.get_param @fb : tensor<3xf32>
    %y = pp.conv %x, %f, %fb {dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
    return %y : tensor<1x3x3x3xf32>
  }
}
