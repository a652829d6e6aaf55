// RUN: ppc-opt %s -split-input-file -verify-diagnostics -pp-verify-schedule

// Hand-broken schedules of a two-stage pipeline. Each error names the rank,
// step and action, and a note carries the rank x step table.

func.func @stage0_fwd(%x: tensor<4xf32>) attributes {pp.rank = 0 : i64, pp.stage = 0 : i64} {
  %a = pp.relu %x : tensor<4xf32>
  pp.send %a to 1 : tensor<4xf32>
  return
}
func.func @stage1_fwd() -> tensor<4xf32> attributes {pp.rank = 1 : i64, pp.stage = 1 : i64} {
  %a = pp.recv from 0 : tensor<4xf32>
  return %a : tensor<4xf32>
}
// A missing send: rank 1 waits forever.
// expected-note @below {{rank x step table}}
pp.schedule gpipe attributes {microbatches = 2 : i64, stage_ranks = array<i64: 0, 1>} {
  pp.rank 0 {
    pp.action fwd 0 mb 0
    pp.action send_act 0 mb 0 peer 1
    pp.action fwd 0 mb 1
    pp.action recv_grad 0 mb 0 peer 1
    pp.action bwd 0 mb 0
    pp.action recv_grad 0 mb 1 peer 1
    pp.action bwd 0 mb 1
  }
  pp.rank 1 {
    pp.action recv_act 1 mb 0 peer 0
    pp.action fwd 1 mb 0
    // expected-error @below {{deadlock: rank 1 step 2 (recv_act stage 1 mb 1 from stage 0) waits forever: rank 0 never sends it; also blocked: rank 0 step 3 (recv_grad stage 0 mb 0 from stage 1)}}
    pp.action recv_act 1 mb 1 peer 0
    pp.action fwd 1 mb 1
    pp.action bwd 1 mb 0
    pp.action send_grad 1 mb 0 peer 0
    pp.action bwd 1 mb 1
    pp.action send_grad 1 mb 1 peer 0
  }
}

// -----

func.func @stage0_fwd(%x: tensor<4xf32>) attributes {pp.rank = 0 : i64, pp.stage = 0 : i64} {
  %a = pp.relu %x : tensor<4xf32>
  pp.send %a to 1 : tensor<4xf32>
  return
}
func.func @stage1_fwd() -> tensor<4xf32> attributes {pp.rank = 1 : i64, pp.stage = 1 : i64} {
  %a = pp.recv from 0 : tensor<4xf32>
  return %a : tensor<4xf32>
}
// A swapped pair: rank 1 receives micro-batch 1 before 0.
// expected-note @below {{rank x step table}}
pp.schedule inference attributes {microbatches = 2 : i64, stage_ranks = array<i64: 0, 1>} {
  pp.rank 0 {
    pp.action fwd 0 mb 0
    pp.action send_act 0 mb 0 peer 1
    pp.action fwd 0 mb 1
    pp.action send_act 0 mb 1 peer 1
  }
  pp.rank 1 {
    // expected-error @below {{rank 1 step 0 (recv_act stage 1 mb 1 from stage 0): expects activations of stage 0 -> 1 micro-batch 1 but the next message on that channel is activations of stage 0 -> 1 micro-batch 0 (sends and receives are out of order)}}
    pp.action recv_act 1 mb 1 peer 0
    pp.action fwd 1 mb 1
    pp.action recv_act 1 mb 0 peer 0
    pp.action fwd 1 mb 0
  }
}

// -----

func.func @stage0_fwd(%x: tensor<4xf32>) attributes {pp.rank = 0 : i64, pp.stage = 0 : i64} {
  %a = pp.relu %x : tensor<4xf32>
  pp.send %a to 1 : tensor<4xf32>
  return
}
func.func @stage1_fwd() -> tensor<4xf32> attributes {pp.rank = 1 : i64, pp.stage = 1 : i64} {
  %a = pp.recv from 0 : tensor<4xf32>
  return %a : tensor<4xf32>
}
// A backward before its forward.
// expected-note @below {{rank x step table}}
pp.schedule gpipe attributes {microbatches = 1 : i64, stage_ranks = array<i64: 0, 1>} {
  pp.rank 0 {
    pp.action fwd 0 mb 0
    pp.action send_act 0 mb 0 peer 1
    pp.action recv_grad 0 mb 0 peer 1
    pp.action bwd 0 mb 0
  }
  pp.rank 1 {
    pp.action recv_act 1 mb 0 peer 0
    // expected-error @below {{rank 1 step 1 (bwd stage 1 mb 0): backward of stage 1 micro-batch 0 before its forward}}
    pp.action bwd 1 mb 0
    pp.action fwd 1 mb 0
    pp.action send_grad 1 mb 0 peer 0
  }
}

// -----

func.func @stage0_fwd(%x: tensor<4xf32>) attributes {pp.rank = 0 : i64, pp.stage = 0 : i64} {
  return
}
// A micro-batch that never runs.
// expected-note @below {{rank x step table}}
// expected-error @below {{micro-batch 1 never runs forward on stage 0 (rank 0)}}
pp.schedule inference attributes {microbatches = 2 : i64, stage_ranks = array<i64: 0>} {
  pp.rank 0 {
    pp.action fwd 0 mb 0
  }
}
