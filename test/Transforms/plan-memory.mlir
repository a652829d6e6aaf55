// RUN: ppc-opt %s -pp-plan-memory | FileCheck %s

// A chain of 128-byte tensors: a tensor and the one computed from it never
// share bytes; tensors whose lifetimes do not overlap do. Two slots suffice.
// CHECK-LABEL: func.func @stage0_fwd
// CHECK-SAME: {pp.name = "x", pp.offset = 0 : i64}
// CHECK-SAME: pp.arena_bytes = 256
// CHECK: pp.relu {{.*}}pp.offsets = array<i64: 128>
// CHECK: pp.exp {{.*}}pp.offsets = array<i64: 0>
// CHECK: pp.tanh {{.*}}pp.offsets = array<i64: 128>
func.func @stage0_fwd(%x: tensor<4x8xf32> {pp.name = "x"}) -> tensor<4x8xf32> attributes {pp.stage = 0 : i64} {
  %a = pp.relu %x : tensor<4x8xf32>
  %b = pp.exp %a : tensor<4x8xf32>
  %c = pp.tanh %b : tensor<4x8xf32>
  return %c : tensor<4x8xf32>
}

// Sent tensors stay live to the end; the received one is dead after its
// last use, so the second sent tensor takes its bytes.
// CHECK-LABEL: func.func @stage1_fwd
// CHECK-SAME: pp.arena_bytes = 256
// CHECK: pp.recv from 0 {pp.offsets = array<i64: 0>}
// CHECK: pp.relu {{.*}}pp.offsets = array<i64: 128>
// CHECK: pp.exp {{.*}}pp.offsets = array<i64: 0>
func.func @stage1_fwd() attributes {pp.stage = 1 : i64} {
  %r = pp.recv from 0 : tensor<4x8xf32>
  %a = pp.relu %r : tensor<4x8xf32>
  %b = pp.exp %a : tensor<4x8xf32>
  pp.send %a, %b to 2 : tensor<4x8xf32>, tensor<4x8xf32>
  return
}
