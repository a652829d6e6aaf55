//===- gemm_check.cpp - the CUDA backend's GEMMs against a CPU reference --===//
//
// gemm_check
//
// Every combination the CUDA backend's cuBLASLt path (LtGemm) takes —
// transposes, strided batches, each epilogue, fp32, TF32, bf16 and fp16 —
// on small odd shapes, against a float64 product on the CPU of the same
// (rounded) inputs. Tolerances, relative to the largest reference value:
// fp32 1e-5, TF32 5e-3, fp16 5e-3, bf16 3e-2; GELU epilogues add 2e-3 for
// cuBLASLt's tanh approximation of GELU. Exit 0: all pass; 1: a mismatch;
// 77: no CUDA device (ctest counts it as skipped).
//
//===----------------------------------------------------------------------===//

#include "../../runtime/src/cpu/Kernels.h" // the runtime's fp16/bf16 rounding
#include "../../runtime/src/cuda/LtGemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

using namespace pprt;
using namespace pprt::cuda;
using pprt::cpu::bf16ToFloat;
using pprt::cpu::floatToBf16;
using pprt::cpu::floatToHalf;
using pprt::cpu::halfToFloat;

namespace {
struct Buffer {
  void *device = nullptr;
  std::vector<float> host; // the values the device holds, as floats
  ~Buffer() {
    if (device)
      cudaFree(device);
  }
};

/// `count` random values in [-1, 1), rounded to `type`, uploaded.
Status fill(Buffer &b, size_t count, GemmType type, std::mt19937 &rng) {
  std::uniform_real_distribution<float> dist(-1, 1);
  b.host.resize(count);
  bool narrow = type == GemmType::BF16 || type == GemmType::F16;
  std::vector<uint16_t> h(narrow ? count : 0);
  for (size_t i = 0; i < count; ++i) {
    float v = dist(rng);
    if (type == GemmType::BF16) {
      h[i] = floatToBf16(v);
      v = bf16ToFloat(h[i]);
    } else if (type == GemmType::F16) {
      h[i] = floatToHalf(v);
      v = halfToFloat(h[i]);
    }
    b.host[i] = v;
  }
  size_t bytes = count * (narrow ? 2 : 4);
  if (Status st = cudaStatus(cudaMalloc(&b.device, bytes), "cudaMalloc");
      !st.isOk())
    return st;
  return cudaStatus(cudaMemcpy(b.device,
                               narrow ? (const void *)h.data()
                                      : (const void *)b.host.data(),
                               bytes, cudaMemcpyHostToDevice),
                    "upload");
}

double gelu(double x) { // the tanh form cuBLASLt's GELU epilogue uses
  return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
} // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("gemm_check: no CUDA device: skipped\n");
    return 77;
  }
  auto lt = LtGemm::create(32 << 20);
  if (!lt) {
    std::fprintf(stderr, "gemm_check: %s\n", lt.status().message().c_str());
    return 1;
  }
  std::mt19937 rng(7);
  int failures = 0, cases = 0;
  for (GemmType type :
       {GemmType::F32, GemmType::TF32, GemmType::BF16, GemmType::F16})
    for (Epilogue epi : {Epilogue::None, Epilogue::Bias, Epilogue::Relu,
                         Epilogue::ReluBias, Epilogue::Gelu, Epilogue::GeluBias})
      for (int t = 0; t < 4; ++t)
        for (int64_t batch : {int64_t(1), int64_t(3)}) {
          GemmShape s;
          s.m = 37, s.n = 48, s.k = 29; // n even: 16-bit rows stay aligned
          s.transA = t & 1, s.transB = t & 2;
          s.batch = batch;
          s.type = type, s.epilogue = epi;
          if (batch > 1) {
            s.strideA = s.m * s.k;
            s.strideB = s.k * s.n;
            s.strideC = s.m * s.n;
          }
          Buffer A, B, C, bias;
          Status st = fill(A, s.m * s.k * batch, type, rng);
          if (st.isOk())
            st = fill(B, s.k * s.n * batch, type, rng);
          if (st.isOk())
            st = fill(C, s.m * s.n * batch, type, rng);
          if (st.isOk())
            st = fill(bias, s.n, type, rng);
          if (st.isOk())
            st = lt.value()->run(s, A.device, B.device, C.device, bias.device,
                                 nullptr);
          if (st.isOk())
            st = cudaStatus(cudaDeviceSynchronize(), "GEMM " + s.toString());
          bool narrow = type == GemmType::BF16 || type == GemmType::F16;
          std::vector<float> got(s.m * s.n * batch);
          std::vector<uint16_t> raw(narrow ? got.size() : 0);
          if (st.isOk())
            st = cudaStatus(
                cudaMemcpy(narrow ? (void *)raw.data() : (void *)got.data(),
                           C.device, got.size() * (narrow ? 2 : 4),
                           cudaMemcpyDeviceToHost),
                "download");
          ++cases;
          if (!st.isOk()) {
            std::printf("FAIL %s: %s\n", s.toString().c_str(),
                        st.message().c_str());
            ++failures;
            continue;
          }
          for (size_t i = 0; i < raw.size(); ++i)
            got[i] = type == GemmType::BF16 ? bf16ToFloat(raw[i]) : halfToFloat(raw[i]);
          bool withBias = epi == Epilogue::Bias || epi == Epilogue::ReluBias ||
                          epi == Epilogue::GeluBias;
          double worst = 0, scale = 0;
          std::vector<double> want(got.size());
          for (int64_t b = 0; b < batch; ++b)
            for (int64_t i = 0; i < s.m; ++i)
              for (int64_t j = 0; j < s.n; ++j) {
                double sum = 0;
                for (int64_t p = 0; p < s.k; ++p) {
                  double a = s.transA ? A.host[b * s.m * s.k + p * s.m + i]
                                      : A.host[b * s.m * s.k + i * s.k + p];
                  double v = s.transB ? B.host[b * s.k * s.n + j * s.k + p]
                                      : B.host[b * s.k * s.n + p * s.n + j];
                  sum += a * v;
                }
                if (withBias)
                  sum += bias.host[j];
                if (epi == Epilogue::Relu || epi == Epilogue::ReluBias)
                  sum = std::max(sum, 0.0);
                if (epi == Epilogue::Gelu || epi == Epilogue::GeluBias)
                  sum = gelu(sum);
                want[(b * s.m + i) * s.n + j] = sum;
                scale = std::max(scale, std::fabs(sum));
              }
          for (size_t i = 0; i < got.size(); ++i)
            worst = std::max(worst, std::fabs(got[i] - want[i]));
          double tol = type == GemmType::F32    ? 1e-5
                       : type == GemmType::BF16 ? 3e-2
                                                : 5e-3;
          if (epi == Epilogue::Gelu || epi == Epilogue::GeluBias)
            tol += 2e-3;
          double rel = worst / std::max(scale, 1e-30);
          bool ok = rel <= tol;
          failures += !ok;
          std::printf("%s %-40s relative error %.1e (tolerance %.0e)\n",
                      ok ? "ok  " : "FAIL", s.toString().c_str(), rel, tol);
        }
  std::printf("%d of %d GEMM cases pass\n", cases - failures, cases);
  return failures ? 1 : 0;
}
