// RUN: not ppc-opt %s -split-input-file -pp-autodiff="loss=output" -o /dev/null 2>&1 | FileCheck %s
// RUN: not ppc-opt %s -split-input-file -pp-autodiff="loss=output data-parallel=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=DP

// DP: error: -data-parallel must be at least 1

// CHECK: -loss=output: output 0 is not a scalar (it has 4 elements)
module {
  pp.param @w : tensor<4xf32>
  func.func @main(%x: tensor<4xf32> {pp.name = "x"}) -> (tensor<4xf32> {pp.name = "y"}) {
    %w = pp.get_param @w : tensor<4xf32>
    %y = pp.mul %x, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
}

// -----

// CHECK: node 'floor' (pp.floor) has no gradient rule: the loss depends on it
module {
  pp.param @w : tensor<1xf32>
  func.func @main(%x: tensor<1xf32> {pp.name = "x"}) -> (tensor<1xf32> {pp.name = "y"}) {
    %w = pp.get_param @w : tensor<1xf32>
    %y = pp.mul %x, %w : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
    %f = pp.floor %y : tensor<1xf32> loc("floor")
    return %f : tensor<1xf32>
  }
}
