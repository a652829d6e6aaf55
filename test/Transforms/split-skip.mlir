// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=3 method=manual:a,b" -pp-split-stages | FileCheck %s --check-prefix=THREE

// A skip connection spanning three stages: stage 0's tensor goes straight
// to stage 2, not through stage 1.
// THREE-LABEL: func.func @stage0_fwd
// THREE: %[[A:.*]] = pp.relu
// THREE-DAG: pp.send %[[A]] to 1 : tensor<4x8xf32>
// THREE-DAG: pp.send %[[A]] to 2 : tensor<4x8xf32>
// THREE-LABEL: func.func @stage1_fwd
// THREE-NOT: to 2
// THREE: pp.send %{{.*}} to 2
// THREE-LABEL: func.func @stage2_fwd
// THREE-DAG: %[[S:.*]] = pp.recv from 0 : tensor<4x8xf32>
// THREE-DAG: %[[B:.*]] = pp.recv from 1 : tensor<4x8xf32>
// THREE: pp.add %[[B]], %[[S]]
func.func @main(%x: tensor<4x8xf32> {pp.name = "x"}) -> (tensor<4x8xf32> {pp.name = "y"}) {
  %a = pp.relu %x : tensor<4x8xf32> loc("a")
  %b = pp.exp %a : tensor<4x8xf32> loc("b")
  %c = pp.add %b, %a : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("c")
  return %c : tensor<4x8xf32>
}

