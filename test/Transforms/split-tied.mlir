// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=manual:a" -pp-split-stages | FileCheck %s --check-prefix=TWO

// A parameter used on two stages (a tied embedding and head) is marked and
// read on each; a constant is re-created where it is used.
// TWO: pp.param @w : tensor<8x8xf32> {pp.tied = array<i64: 0, 1>}
// TWO-LABEL: func.func @stage0_fwd
// TWO: pp.get_param @w
// TWO: pp.matmul
// TWO-LABEL: func.func @stage1_fwd
// TWO: %[[W:.*]] = pp.get_param @w
// TWO: pp.matmul %{{.*}}, %[[W]]
pp.param @w : tensor<8x8xf32>
func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x8xf32> {pp.name = "y"}) {
  %w = pp.get_param @w : tensor<8x8xf32>
  %a = pp.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32> loc("a")
  %b = pp.relu %a : tensor<4x8xf32> loc("b")
  %c = pp.matmul %b, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32> loc("c")
  return %c : tensor<4x8xf32>
}
