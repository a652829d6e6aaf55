// RUN: ppc-opt %s -pp-annotate-cost=device=cpu | FileCheck %s --check-prefix=CPU
// RUN: echo '{"ops": {"mm": 12.5, "gone": 1}}' > %t.table.json
// RUN: ppc-opt %s -pp-annotate-cost="device=cpu cost-table=%t.table.json" 2>&1 | FileCheck %s --check-prefix=TABLE
// RUN: echo '{"name": "toy", "peak_flops": {"f32": 1e9}, "memory_bandwidth": 1e12, "memory_bytes": 1e9, "link_bandwidth": 1e9, "link_latency": 1e-6}' > %t.device.json
// RUN: ppc-opt %s -pp-annotate-cost=device=%t.device.json | FileCheck %s --check-prefix=FILE
// RUN: echo '{"name": "cal", "base": "cpu", "cores": 3, "link_latency": 1e-5, "link_bandwidth": 2e9, "ops": {"mm": 12.5}}' > %t.cal.json
// RUN: ppc-opt %s -pp-annotate-cost=device=%t.cal.json | FileCheck %s --check-prefix=CAL
// RUN: echo '{"name": "cal", "base": "tpu"}' > %t.badbase.json
// RUN: not ppc-opt %s -pp-annotate-cost=device=%t.badbase.json 2>&1 | FileCheck %s --check-prefix=BADBASE
// RUN: echo '{"name": "toy"}' > %t.bad.json
// RUN: not ppc-opt %s -pp-annotate-cost=device=%t.bad.json 2>&1 | FileCheck %s --check-prefix=BAD

// A 4x8 by 8x16 matmul: 2*4*8*16 = 1024 FLOPs, (32 + 128 + 64) * 4 = 896
// bytes, 512 bytes of parameters and 256 of output. On the CPU profile
// (100 GFLOP/s, 20 GB/s) it is bandwidth-bound: 896 / 20e9 = 4.48e-8 s.
// The CPU profile counts the cores of the machine ppc runs on (its ranks share them).
// CPU: module attributes {pp.device = {cores = {{[1-9][0-9]*}} : i64, link_bandwidth = 5.000000e+09 : f64, link_latency = 2.000000e-05 : f64, memory_bandwidth = 2.000000e+10 : f64, memory_bytes = 1.600000e+10 : f64, name = "cpu"}}
// CPU: pp.matmul {{.*}}pp.cost = {activation_bytes = 256 : i64, bytes = 896 : i64, flops = 1024 : i64, param_bytes = 512 : i64, time = 4.480000e-08 : f64}
// CPU: pp.relu {{.*}}pp.cost = {activation_bytes = 256 : i64, bytes = 512 : i64, flops = 64 : i64, param_bytes = 0 : i64
// CPU-NOT: pp.get_param {{.*}}pp.cost

// A measured time (microseconds) replaces the model's; names that match no
// op draw a warning.
// TABLE: warning: cost table entry 'gone' names no op of the model (1 such entries)
// TABLE: pp.matmul {{.*}}time = 1.2499999999999999E-5 : f64
// An op the table does not time takes the model's time scaled as the
// measured ops of its kind (here bandwidth-bound) took against the model:
// 2.56e-8 s x 12.5e-6 / 4.48e-8.
// TABLE: pp.relu {{.*}}time = 7.1428571428571419E-6 : f64

// A calibrated file (pprun --calibrate) starts from its base profile,
// overrides what it measured and brings its ops' times.
// CAL: pp.device = {cores = 3 : i64, link_bandwidth = 2.000000e+09 : f64, link_latency = 1.000000e-05 : f64, memory_bandwidth = 2.000000e+10 : f64, memory_bytes = 1.600000e+10 : f64, name = "cal"}
// CAL: pp.matmul {{.*}}time = 1.2499999999999999E-5 : f64
// BADBASE: error: {{.*}}badbase.json: "base": "tpu" is not a built-in device (h100, h200, a100, cpu)

// On a 1 GFLOP/s device the same matmul is compute-bound: 1.024e-6 s.
// FILE: name = "toy"
// FILE: pp.matmul {{.*}}time = 1.024000e-06 : f64

// BAD: error: {{.*}}bad.json: needs a positive number "memory_bandwidth"
pp.param @w : tensor<8x16xf32>
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = pp.get_param @w : tensor<8x16xf32>
  %y = pp.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32> loc("mm")
  %r = pp.relu %y : tensor<4x16xf32> loc("act")
  return %r : tensor<4x16xf32>
}
