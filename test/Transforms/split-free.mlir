// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=manual:a" -pp-split-stages | FileCheck %s

// Ops computed from parameters and constants alone (an exporter's hoisted
// mask Not) are re-created on the stage that uses them, never sent.
// CHECK-LABEL: func.func @stage0_fwd
// CHECK-NOT: pp.not
// CHECK: pp.send %{{.*}} to 1 : tensor<4x4xf32>
// CHECK-LABEL: func.func @stage1_fwd
// CHECK: pp.recv from 0 : tensor<4x4xf32>
// CHECK: %[[M:.*]] = pp.get_param @mask
// CHECK: %[[N:.*]] = pp.not %[[M]]
// CHECK: pp.where %[[N]]
pp.param constant @mask : tensor<4x4xi1>
func.func @main(%x: tensor<4x4xf32> {pp.name = "x"}) -> (tensor<4x4xf32> {pp.name = "y"}) {
  %m = pp.get_param @mask : tensor<4x4xi1>
  %n = pp.not %m : tensor<4x4xi1> loc("not")
  %a = pp.relu %x : tensor<4x4xf32> loc("a")
  %w = pp.where %n, %a, %x : (tensor<4x4xi1>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32> loc("w")
  return %w : tensor<4x4xf32>
}
