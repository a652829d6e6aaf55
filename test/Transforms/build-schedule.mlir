// RUN: ppc-opt %s -pp-build-schedule="schedule=gpipe microbatches=2" -pp-verify-schedule | FileCheck %s --check-prefix=GPIPE
// RUN: ppc-opt %s -pp-build-schedule="schedule=1f1b microbatches=3" -pp-verify-schedule | FileCheck %s --check-prefix=ONEF
// RUN: ppc-opt %s -pp-build-schedule="schedule=zb-h1 microbatches=2" -pp-verify-schedule | FileCheck %s --check-prefix=ZB
// RUN: ppc-opt %s -pp-build-schedule="schedule=interleaved-zb microbatches=2" -pp-verify-schedule | FileCheck %s --check-prefix=IZB
// RUN: ppc-opt %s -pp-build-schedule -pp-verify-schedule | FileCheck %s --check-prefix=INFER
// RUN: not ppc-opt %s -pp-build-schedule="schedule=1f1b microbatches=1" 2>&1 | FileCheck %s --check-prefix=FEW

// Two stages joined by one message.
func.func @stage0_fwd(%x: tensor<4xf32> {pp.name = "x"}) attributes {pp.rank = 0 : i64, pp.stage = 0 : i64} {
  %a = pp.relu %x : tensor<4xf32>
  pp.send %a to 1 : tensor<4xf32>
  return
}
func.func @stage1_fwd() -> (tensor<4xf32> {pp.name = "y"}) attributes {pp.rank = 1 : i64, pp.stage = 1 : i64} {
  %a = pp.recv from 0 : tensor<4xf32>
  %b = pp.exp %a : tensor<4xf32>
  return %b : tensor<4xf32>
}

// GPIPE: pp.schedule gpipe attributes {microbatches = 2 : i64, stage_ranks = array<i64: 0, 1>}
// GPIPE-NEXT: pp.rank 0 {
// GPIPE-NEXT: pp.action fwd 0 mb 0
// GPIPE-NEXT: pp.action send_act 0 mb 0 peer 1
// GPIPE-NEXT: pp.action fwd 0 mb 1
// GPIPE-NEXT: pp.action send_act 0 mb 1 peer 1
// GPIPE-NEXT: pp.action recv_grad 0 mb 0 peer 1
// GPIPE-NEXT: pp.action bwd 0 mb 0
// GPIPE-NEXT: pp.action recv_grad 0 mb 1 peer 1
// GPIPE-NEXT: pp.action bwd 0 mb 1
// GPIPE-NEXT: }
// GPIPE-NEXT: pp.rank 1 {
// GPIPE-NEXT: pp.action recv_act 1 mb 0 peer 0
// GPIPE-NEXT: pp.action fwd 1 mb 0
// GPIPE-NEXT: pp.action recv_act 1 mb 1 peer 0
// GPIPE-NEXT: pp.action fwd 1 mb 1
// GPIPE-NEXT: pp.action bwd 1 mb 0
// GPIPE-NEXT: pp.action send_grad 1 mb 0 peer 0
// GPIPE-NEXT: pp.action bwd 1 mb 1
// GPIPE-NEXT: pp.action send_grad 1 mb 1 peer 0

// 1F1B: one warm-up forward on rank 0, then forward and backward in turn.
// ONEF: pp.rank 0 {
// ONEF-NEXT: pp.action fwd 0 mb 0
// ONEF-NEXT: pp.action send_act 0 mb 0 peer 1
// ONEF-NEXT: pp.action fwd 0 mb 1
// ONEF-NEXT: pp.action send_act 0 mb 1 peer 1
// ONEF-NEXT: pp.action recv_grad 0 mb 0 peer 1
// ONEF-NEXT: pp.action bwd 0 mb 0
// ONEF-NEXT: pp.action fwd 0 mb 2

// Interleaved ZB (torch's order) on one stage a rank: rank r runs its
// first r F B pairs without a W, then one held-back W after each B.
// IZB: pp.schedule interleaved_zb attributes {microbatches = 2 : i64
// IZB: pp.rank 1 {
// IZB-NEXT: pp.action recv_act 1 mb 0 peer 0
// IZB-NEXT: pp.action fwd 1 mb 0
// IZB-NEXT: pp.action bwd_b 1 mb 0
// IZB-NEXT: pp.action send_grad 1 mb 0 peer 0
// IZB-NEXT: pp.action recv_act 1 mb 1 peer 0
// IZB-NEXT: pp.action fwd 1 mb 1
// IZB-NEXT: pp.action bwd_b 1 mb 1
// IZB-NEXT: pp.action send_grad 1 mb 1 peer 0
// IZB-NEXT: pp.action bwd_w 1 mb 0
// IZB-NEXT: pp.action bwd_w 1 mb 1

// ZB-H1 splits backward into B and W.
// ZB: pp.schedule zb_h1
// ZB: pp.action bwd_b 1 mb 0
// ZB: pp.action send_grad 1 mb 0 peer 0
// ZB: pp.action bwd_w 1

// Inference: forwards only, one micro-batch per rank by default.
// INFER: pp.schedule inference attributes {microbatches = 2 : i64
// INFER-NOT: bwd

// FEW: error: schedule '1f1b' needs at least as many micro-batches as stages: use -microbatches=2 or more (have 1)
