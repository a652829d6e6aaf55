//===- gemm_bench.cpp - the CUDA backend's GEMMs against cuBLASLt ---------===//
//
// gemm_bench [--iters N]
//
// Every GEMM shape of the GPT-2-small-shaped model (batch 8, sequence 1024:
// 8192 tokens, d 768, 12 heads, vocabulary 50257), forward, in bf16 and
// TF32: achieved TFLOP/s of the backend's path (pprt::cuda::LtGemm: the
// heuristic's first algorithm, cached per shape) against cuBLASLt alone at
// its best (the fastest of the heuristic's top 8 algorithms, each timed),
// and against the card's measured peak (the best of the square 8192^3
// products). Prints a markdown table; the ratio ours / cuBLASLt is the
// issue's 0.95x goal.
//
//===----------------------------------------------------------------------===//

#include "../../runtime/src/cuda/LtGemm.h"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace pprt;
using namespace pprt::cuda;

namespace {
[[noreturn]] void die(const Status &st) {
  std::fprintf(stderr, "gemm_bench: %s\n", st.message().c_str());
  std::exit(1);
}

void check(const Status &st) {
  if (!st.isOk())
    die(st);
}

/// Milliseconds per call of f, over `iters` calls after 3 warm-up calls.
template <typename F> double timeMs(int iters, F &&f) {
  for (int i = 0; i < 3; ++i)
    check(f());
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start);
  for (int i = 0; i < iters; ++i)
    check(f());
  cudaEventRecord(stop);
  check(cudaStatus(cudaEventSynchronize(stop), "timing"));
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / iters;
}

struct Case {
  const char *name;
  GemmShape shape;
};
} // namespace

int main(int argc, char **argv) {
  int iters = 20;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--iters") && i + 1 < argc)
      iters = std::atoi(argv[++i]);
  int devices = 0;
  check(cudaStatus(cudaGetDeviceCount(&devices), "cudaGetDeviceCount"));
  if (devices == 0)
    die(Status(StatusCode::Unavailable, "no CUDA device"));
  cudaDeviceProp prop;
  check(cudaStatus(cudaGetDeviceProperties(&prop, 0), "device properties"));

  auto lt = LtGemm::create(64 << 20);
  if (!lt)
    die(lt.status());
  const int64_t T = 8 * 1024, d = 768, ff = 4 * d, vocab = 50257, heads = 12,
                seq = 1024, hd = d / heads, bh = 8 * heads;
  std::vector<Case> cases;
  for (GemmType type : {GemmType::BF16, GemmType::TF32}) {
    auto add = [&](const char *name, GemmShape s) {
      s.type = type;
      cases.push_back({name, s});
    };
    add("qkv", {T, 3 * d, d, false, true, 1, 0, 0, 0, type, Epilogue::Bias});
    add("scores q k^T", {seq, seq, hd, false, true, bh, seq * hd, seq * hd,
                         seq * seq, type, Epilogue::None});
    add("att v", {seq, hd, seq, false, false, bh, seq * seq, seq * hd,
                  seq * hd, type, Epilogue::None});
    add("proj", {T, d, d, false, true, 1, 0, 0, 0, type, Epilogue::Bias});
    add("fc", {T, ff, d, false, true, 1, 0, 0, 0, type, Epilogue::GeluBias});
    add("out", {T, d, ff, false, true, 1, 0, 0, 0, type, Epilogue::Bias});
    add("lm head", {T, vocab, d, false, true, 1, 0, 0, 0, type, Epilogue::None});
    add("peak 8192^3", {8192, 8192, 8192, false, false, 1, 0, 0, 0, type,
                        Epilogue::None});
  }

  // Buffers big enough for every case (bytes of fp32; bf16 uses half).
  size_t most = 0;
  for (const Case &c : cases) {
    const GemmShape &s = c.shape;
    size_t a = size_t(s.strideA ? s.strideA * s.batch : s.m * s.k);
    size_t b = size_t(s.strideB ? s.strideB * s.batch : s.k * s.n);
    size_t cc = size_t(s.strideC ? s.strideC * s.batch : s.m * s.n);
    most = std::max({most, a, b, cc});
  }
  void *A, *B, *C, *bias;
  for (void **p : {&A, &B, &C})
    check(cudaStatus(cudaMalloc(p, most * 4), "buffers"));
  check(cudaStatus(cudaMalloc(&bias, vocab * 4), "bias"));
  for (void *p : {A, B, C, bias})
    check(cudaStatus(cudaMemset(p, 0, p == bias ? vocab * 4 : most * 4),
                     "clear"));

  std::printf("GPU: %s (%d SMs)\n\n", prop.name, prop.multiProcessorCount);
  std::printf("| GEMM | shape | ours TFLOP/s | cuBLASLt best TFLOP/s | "
              "ours / cuBLASLt | ours / peak |\n|---|---|---|---|---|---|\n");
  double peak[4] = {0, 0, 0, 0};
  struct Row {
    std::string name, shape;
    double ours, best;
    int type;
  };
  std::vector<Row> rows;
  for (const Case &c : cases) {
    const GemmShape &s = c.shape;
    double ours = s.flops() / timeMs(iters, [&] {
                    return lt.value()->run(s, A, B, C, bias, nullptr);
                  }) / 1e9;
    auto algos = lt.value()->algorithms(s, 8);
    if (!algos)
      die(algos.status());
    double best = 0;
    for (const cublasLtMatmulAlgo_t &algo : *algos)
      best = std::max(best, s.flops() / timeMs(iters, [&] {
                              return lt.value()->runWith(s, algo, A, B, C,
                                                         bias, nullptr);
                            }) / 1e9);
    if (std::string(c.name).rfind("peak", 0) == 0)
      peak[(int)s.type] = std::max(ours, best);
    rows.push_back({c.name, s.toString(), ours, best, (int)s.type});
  }
  for (const Row &r : rows)
    std::printf("| %s | %s | %.1f | %.1f | %.3f | %.3f |\n", r.name.c_str(),
                r.shape.c_str(), r.ours, r.best, r.ours / r.best,
                peak[r.type] > 0 ? r.ours / peak[r.type] : 0.0);
  return 0;
}
