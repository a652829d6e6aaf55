// RUN: ppc-opt %s -pp-promote-half -split-input-file -verify-diagnostics | FileCheck %s

// Half compute becomes f32: constants widen, casts that become f32 to f32
// vanish, the signature stays (a cast in, a cast out); integers stay.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf16>, %[[I:.*]]: tensor<2xi64>) -> (tensor<2x4xf16>, tensor<2x4xf32>)
// CHECK: %[[XF:.*]] = pp.cast %[[X]] : tensor<2x4xf16> to tensor<2x4xf32>
// CHECK: %[[C:.*]] = pp.constant dense<1.500000e+00> : tensor<4xf32>
// CHECK: %[[A:.*]] = pp.add %[[XF]], %[[C]] : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK: %[[R:.*]] = pp.relu %[[A]] : tensor<2x4xf32>
// CHECK-NOT: pp.cast %[[R]]
// CHECK: %[[Y:.*]] = pp.cast %[[R]] : tensor<2x4xf32> to tensor<2x4xf16>
// CHECK: return %[[Y]], %[[R]]
func.func @main(%x: tensor<2x4xf16>, %i: tensor<2xi64>) -> (tensor<2x4xf16>, tensor<2x4xf32>) {
  %c = pp.constant dense<1.5> : tensor<4xbf16>
  %cx = pp.cast %c : tensor<4xbf16> to tensor<4xf16>
  %a = pp.add %x, %cx : (tensor<2x4xf16>, tensor<4xf16>) -> tensor<2x4xf16>
  %r = pp.relu %a : tensor<2x4xf16>
  %f = pp.cast %r : tensor<2x4xf16> to tensor<2x4xf32>
  return %r, %f : tensor<2x4xf16>, tensor<2x4xf32>
}

// -----

// A half parameter without bytes (nothing imported it) cannot be widened.
// expected-error @+1 {{parameter 'w' has no bytes in the weight store}}
pp.param @w : tensor<4xf16>
