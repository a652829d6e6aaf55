//===- LtGemm.h - row-major GEMMs on cuBLASLt -------------------*- C++ -*-===//
//
// The CUDA backend's matrix products: C = op(A) op(B), row-major, with a
// fused epilogue (bias, ReLU, GELU and their combinations), batched with
// strides, in fp32, TF32, bf16 or fp16 (the last two accumulate in fp32).
// cuBLASLt is column-major: a row-major C = A B is computed as the
// column-major C^T = B^T A^T, so A and B swap and a row bias becomes
// cuBLASLt's (per-row of C^T) bias. The descriptors and the algorithm the
// heuristic picks are built once per shape and cached.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CUDA_LTGEMM_H
#define PPRT_CUDA_LTGEMM_H

#include "pprt/Status.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace pprt {
namespace cuda {

/// A CUDA runtime error as a Status naming `what` failed.
Status cudaStatus(cudaError_t e, const std::string &what);
Status cublasStatus(cublasStatus_t s, const std::string &what);

enum class GemmType { F32, TF32, BF16, F16 };
enum class Epilogue { None, Bias, Relu, ReluBias, Gelu, GeluBias };

const char *gemmTypeName(GemmType t);
const char *epilogueName(Epilogue e);

/// One (batched) product: C[b] (m x n) = op(A[b]) op(B[b]), op(A) m x k,
/// op(B) k x n, all row-major and dense; bias (n values) for the Bias
/// epilogues. Strides are in elements between batch entries (0: the same
/// matrix for every entry).
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool transA = false, transB = false;
  int64_t batch = 1, strideA = 0, strideB = 0, strideC = 0;
  GemmType type = GemmType::F32;
  Epilogue epilogue = Epilogue::None;

  auto key() const {
    return std::make_tuple(m, n, k, transA, transB, batch, strideA, strideB,
                           strideC, (int)type, (int)epilogue);
  }
  double flops() const { return 2.0 * m * n * k * batch; }
  std::string toString() const;
};

class LtGemm {
public:
  /// `workspaceBytes` of device memory for cuBLASLt, allocated once.
  static StatusOr<std::unique_ptr<LtGemm>> create(size_t workspaceBytes);
  ~LtGemm();

  /// C = op(A) op(B) (+ bias), then the epilogue's activation, on `stream`,
  /// with the fastest of the heuristic's first algorithms for this shape,
  /// timed on the first call on copies of A and B (cached; PPRT_GEMM_TUNE=0,
  /// or a call while the stream captures a graph: the heuristic's first).
  Status run(const GemmShape &s, const void *A, const void *B, void *C,
             const void *bias, cudaStream_t stream);

  /// Up to `count` algorithms the heuristic proposes for the shape (for
  /// benchmarks that time each), and a run with one of them.
  StatusOr<std::vector<cublasLtMatmulAlgo_t>> algorithms(const GemmShape &s,
                                                         int count);
  Status runWith(const GemmShape &s, const cublasLtMatmulAlgo_t &algo,
                 const void *A, const void *B, void *C, const void *bias,
                 cudaStream_t stream);

private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool haveAlgo = false;
  };
  LtGemm() = default;
  StatusOr<Plan *> plan(const GemmShape &s);
  Status launch(const GemmShape &s, Plan &p, const cublasLtMatmulAlgo_t &algo,
                const void *A, const void *B, void *C, const void *bias,
                cudaStream_t stream);
  /// The fastest of `algos` for `s`, timed on scratch copies of A and B.
  StatusOr<cublasLtMatmulAlgo_t>
  fastest(const GemmShape &s, Plan &p,
          const std::vector<cublasLtMatmulAlgo_t> &algos, const void *A,
          const void *B, const void *bias, cudaStream_t stream);

  cublasLtHandle_t handle = nullptr;
  void *workspace = nullptr;
  size_t workspaceBytes = 0;
  bool tune = true;
  std::map<decltype(GemmShape{}.key()), Plan> plans;
};

} // namespace cuda
} // namespace pprt

#endif // PPRT_CUDA_LTGEMM_H
