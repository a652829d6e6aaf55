// RUN: ppc-opt %s -split-input-file -pp-annotate-cost -pp-partition="stages=2 method=manual:a" -pp-split-stages | FileCheck %s --check-prefix=TWO
// RUN: ppc-opt %s -split-input-file -pp-annotate-cost -pp-partition="stages=3 method=manual:a,b" -pp-split-stages | FileCheck %s --check-prefix=THREE

// A chain: one tensor crosses each cut.
// TWO-LABEL: func.func @stage0_fwd
// TWO-SAME: (%[[X:.*]]: tensor<4x8xf32> {pp.name = "x"})
// TWO-SAME: attributes {pp.rank = 0 : i64, pp.stage = 0 : i64}
// TWO: %[[A:.*]] = pp.relu %[[X]]
// TWO: pp.send %[[A]] to 1 : tensor<4x8xf32>
// TWO-LABEL: func.func @stage1_fwd
// TWO-SAME: -> (tensor<4x8xf32> {pp.name = "y"})
// TWO: %[[R:.*]] = pp.recv from 0 : tensor<4x8xf32>
// TWO: pp.exp %[[R]]
// TWO-NOT: func.func @main
// THREE-LABEL: func.func @stage1_fwd
// THREE: pp.recv from 0
// THREE: pp.send %{{.*}} to 2
// THREE-LABEL: func.func @stage2_fwd
// THREE: pp.recv from 1
func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x8xf32> {pp.name = "y"}) {
  %a = pp.relu %x : tensor<4x8xf32> loc("a")
  %b = pp.exp %a : tensor<4x8xf32> loc("b")
  %c = pp.tanh %b : tensor<4x8xf32> loc("c")
  return %c : tensor<4x8xf32>
}

// -----

// A diamond cut through the middle: two tensors, of two dtypes, cross one
// cut and travel as one message.
// TWO-LABEL: func.func @stage0_fwd
// TWO: %[[A:.*]] = pp.relu
// TWO: %[[M:.*]] = pp.greater
// TWO: pp.send %[[A]], %[[M]] to 1 : tensor<4x8xf32>, tensor<4x8xi1>
// TWO-LABEL: func.func @stage1_fwd
// TWO: %[[R:.*]]:2 = pp.recv from 0 : tensor<4x8xf32>, tensor<4x8xi1>
// TWO: %[[E:.*]] = pp.exp %[[R]]#0
// TWO: pp.where %[[R]]#1, %[[E]], %[[R]]#0
func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x8xf32> {pp.name = "y"}) {
  %r = pp.relu %x : tensor<4x8xf32> loc("r")
  %a = pp.greater %x, %r : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xi1> loc("a")
  %e = pp.exp %r : tensor<4x8xf32> loc("b")
  %w = pp.where %a, %e, %r : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("c")
  return %w : tensor<4x8xf32>
}
