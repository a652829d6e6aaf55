// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=uniform" | FileCheck %s --check-prefix=UNIFORM
// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=parameters" | FileCheck %s --check-prefix=PARAMS
// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 method=type:^fc" | FileCheck %s --check-prefix=TYPE
// RUN: ppc-opt %s  -pp-annotate-cost=device=cpu -pp-partition="stages=2 microbatches=8" | FileCheck %s --check-prefix=COST
// RUN: ppc-opt %s -pp-annotate-cost -pp-partition="stages=2 virtual-stages=2 schedule=interleaved method=uniform" -pp-split-stages | FileCheck %s --check-prefix=INTERLEAVED

// Four ops: a big matmul, then three cheap ones. Equal op counts cut in the
// middle; parameters, and cost with 8 micro-batches on the CPU profile, put
// the big matmul alone on stage 0 (with 2 micro-batches, cost would rather
// cut where 4 KB cross than 64 KB); type:^fc balances the two fc nodes.
pp.param @w1 : tensor<256x256xf32>
pp.param @w2 : tensor<256x16xf32>
func.func @main(%x: tensor<64x256xf32> {pp.name = "x"}) -> (tensor<64x16xf32> {pp.name = "y"}) {
  %w1 = pp.get_param @w1 : tensor<256x256xf32>
  %w2 = pp.get_param @w2 : tensor<256x16xf32>
  // UNIFORM: pp.matmul {{.*}}pp.stage = 0
  // PARAMS: pp.matmul {{.*}}pp.stage = 0
  // TYPE: pp.matmul {{.*}}pp.stage = 0
  // COST: pp.matmul {{.*}}pp.stage = 0
  %a = pp.matmul %x, %w1 : (tensor<64x256xf32>, tensor<256x256xf32>) -> tensor<64x256xf32> loc("fc1")
  // UNIFORM: pp.relu {{.*}}pp.stage = 0
  // PARAMS: pp.relu {{.*}}pp.stage = 1
  // TYPE: pp.relu {{.*}}pp.stage = 1
  // COST: pp.relu {{.*}}pp.stage = 1
  %b = pp.relu %a : tensor<64x256xf32> loc("act1")
  // UNIFORM: pp.matmul {{.*}}pp.stage = 1
  // PARAMS: pp.matmul {{.*}}pp.stage = 1
  // TYPE: pp.matmul {{.*}}pp.stage = 1
  // COST: pp.matmul {{.*}}pp.stage = 1
  %c = pp.matmul %b, %w2 : (tensor<64x256xf32>, tensor<256x16xf32>) -> tensor<64x16xf32> loc("fc2")
  // UNIFORM: pp.tanh {{.*}}pp.stage = 1
  %d = pp.tanh %c : tensor<64x16xf32> loc("act2")
  return %d : tensor<64x16xf32>
}
// Interleaved: four stages on two ranks, stage s on rank s mod 2.
// INTERLEAVED: func.func @stage0_fwd{{.*}}pp.rank = 0 : i64, pp.stage = 0
// INTERLEAVED: func.func @stage1_fwd{{.*}}pp.rank = 1 : i64, pp.stage = 1
// INTERLEAVED: func.func @stage2_fwd{{.*}}pp.rank = 0 : i64, pp.stage = 2
// INTERLEAVED: func.func @stage3_fwd{{.*}}pp.rank = 1 : i64, pp.stage = 3
