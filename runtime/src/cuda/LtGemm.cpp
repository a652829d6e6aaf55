//===- LtGemm.cpp - row-major GEMMs on cuBLASLt ---------------------------===//

#include "LtGemm.h"

#include <cstdlib>
#include <sstream>

namespace pprt {
namespace cuda {

Status cudaStatus(cudaError_t e, const std::string &what) {
  if (e == cudaSuccess)
    return Status::ok();
  StatusCode code = e == cudaErrorMemoryAllocation ||
                            e == cudaErrorNoDevice ||
                            e == cudaErrorInsufficientDriver
                        ? StatusCode::Unavailable
                        : StatusCode::Internal;
  return Status(code, what + ": " + cudaGetErrorName(e) + " (" +
                          cudaGetErrorString(e) + ")");
}

Status cublasStatus(cublasStatus_t s, const std::string &what) {
  if (s == CUBLAS_STATUS_SUCCESS)
    return Status::ok();
  return internalError(what + ": cuBLASLt status " + std::to_string((int)s));
}

const char *gemmTypeName(GemmType t) {
  switch (t) {
  case GemmType::F32: return "f32";
  case GemmType::TF32: return "tf32";
  case GemmType::BF16: return "bf16";
  case GemmType::F16: return "f16";
  }
  return "?";
}

const char *epilogueName(Epilogue e) {
  switch (e) {
  case Epilogue::None: return "none";
  case Epilogue::Bias: return "bias";
  case Epilogue::Relu: return "relu";
  case Epilogue::ReluBias: return "relu+bias";
  case Epilogue::Gelu: return "gelu";
  case Epilogue::GeluBias: return "gelu+bias";
  }
  return "?";
}

std::string GemmShape::toString() const {
  std::ostringstream os;
  if (batch > 1)
    os << batch << "x";
  os << m << "x" << n << "x" << k << (transA ? " A^T" : "")
     << (transB ? " B^T" : "") << " " << gemmTypeName(type);
  if (epilogue != Epilogue::None)
    os << " +" << epilogueName(epilogue);
  return os.str();
}

namespace {
cudaDataType_t dataType(GemmType t) {
  switch (t) {
  case GemmType::BF16: return CUDA_R_16BF;
  case GemmType::F16: return CUDA_R_16F;
  default: return CUDA_R_32F;
  }
}

cublasLtEpilogue_t ltEpilogue(Epilogue e) {
  switch (e) {
  case Epilogue::Bias: return CUBLASLT_EPILOGUE_BIAS;
  case Epilogue::Relu: return CUBLASLT_EPILOGUE_RELU;
  case Epilogue::ReluBias: return CUBLASLT_EPILOGUE_RELU_BIAS;
  case Epilogue::Gelu: return CUBLASLT_EPILOGUE_GELU;
  case Epilogue::GeluBias: return CUBLASLT_EPILOGUE_GELU_BIAS;
  default: return CUBLASLT_EPILOGUE_DEFAULT;
  }
}

bool hasBias(Epilogue e) {
  return e == Epilogue::Bias || e == Epilogue::ReluBias ||
         e == Epilogue::GeluBias;
}

#define PPRT_LT(call, what)                                                    \
  do {                                                                         \
    if (Status st_ = cublasStatus((call), what); !st_.isOk())                  \
      return st_;                                                              \
  } while (0)
} // namespace

StatusOr<std::unique_ptr<LtGemm>> LtGemm::create(size_t workspaceBytes) {
  std::unique_ptr<LtGemm> g(new LtGemm());
  PPRT_LT(cublasLtCreate(&g->handle), "cublasLtCreate");
  if (workspaceBytes) {
    if (Status st = cudaStatus(cudaMalloc(&g->workspace, workspaceBytes),
                               "cuBLASLt workspace of " +
                                   std::to_string(workspaceBytes) + " bytes");
        !st.isOk())
      return st;
  }
  g->workspaceBytes = workspaceBytes;
  const char *tune = std::getenv("PPRT_GEMM_TUNE");
  g->tune = !(tune && std::string(tune) == "0");
  return g;
}

LtGemm::~LtGemm() {
  for (auto &[key, p] : plans) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.op);
  }
  if (workspace)
    cudaFree(workspace);
  if (handle)
    cublasLtDestroy(handle);
}

StatusOr<LtGemm::Plan *> LtGemm::plan(const GemmShape &s) {
  auto it = plans.find(s.key());
  if (it != plans.end())
    return &it->second;
  if (s.m <= 0 || s.n <= 0 || s.k <= 0 || s.batch <= 0)
    return invalidArgument("GEMM " + s.toString() + ": empty shape");
  Plan p;
  cublasComputeType_t compute = s.type == GemmType::TF32
                                    ? CUBLAS_COMPUTE_32F_FAST_TF32
                                    : CUBLAS_COMPUTE_32F;
  cudaDataType_t io = dataType(s.type);
  PPRT_LT(cublasLtMatmulDescCreate(&p.op, compute, CUDA_R_32F),
          "cublasLtMatmulDescCreate");
  // Column-major C^T (n x m) = op(B)^T (n x k) op(A)^T (k x m): cuBLASLt's
  // "A" is our B and its "B" our A, each with our transpose.
  cublasOperation_t opA = s.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = s.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  PPRT_LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA,
                                         &opA, sizeof(opA)),
          "CUBLASLT_MATMUL_DESC_TRANSA");
  PPRT_LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB,
                                         &opB, sizeof(opB)),
          "CUBLASLT_MATMUL_DESC_TRANSB");
  cublasLtEpilogue_t epi = ltEpilogue(s.epilogue);
  PPRT_LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                         &epi, sizeof(epi)),
          "CUBLASLT_MATMUL_DESC_EPILOGUE");
  // Our B stored row-major as (k x n), or (n x k) transposed, is the
  // column-major (n x k) / (k x n) matrix cuBLASLt reads.
  int64_t bRows = s.transB ? s.k : s.n, bCols = s.transB ? s.n : s.k;
  int64_t aRows = s.transA ? s.m : s.k, aCols = s.transA ? s.k : s.m;
  PPRT_LT(cublasLtMatrixLayoutCreate(&p.a, io, bRows, bCols, bRows),
          "layout of B");
  PPRT_LT(cublasLtMatrixLayoutCreate(&p.b, io, aRows, aCols, aRows),
          "layout of A");
  PPRT_LT(cublasLtMatrixLayoutCreate(&p.c, io, s.n, s.m, s.n), "layout of C");
  if (s.batch > 1) {
    int32_t count = (int32_t)s.batch;
    auto batched = [&](cublasLtMatrixLayout_t l, int64_t stride) -> Status {
      PPRT_LT(cublasLtMatrixLayoutSetAttribute(
                  l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
              "batch count");
      PPRT_LT(cublasLtMatrixLayoutSetAttribute(
                  l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                  sizeof(stride)),
              "batch stride");
      return Status::ok();
    };
    for (auto [l, stride] : {std::pair{p.a, s.strideB}, std::pair{p.b, s.strideA},
                             std::pair{p.c, s.strideC}})
      if (Status st = batched(l, stride); !st.isOk())
        return st;
  }
  return &(plans[s.key()] = p);
}

StatusOr<std::vector<cublasLtMatmulAlgo_t>>
LtGemm::algorithms(const GemmShape &s, int count) {
  auto p = plan(s);
  if (!p)
    return p.status();
  cublasLtMatmulPreference_t pref;
  PPRT_LT(cublasLtMatmulPreferenceCreate(&pref), "preference");
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspaceBytes,
      sizeof(workspaceBytes));
  std::vector<cublasLtMatmulHeuristicResult_t> results(count);
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
      handle, (*p)->op, (*p)->a, (*p)->b, (*p)->c, (*p)->c, pref, count,
      results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  PPRT_LT(st, "heuristic for GEMM " + s.toString());
  if (found == 0)
    return internalError("cuBLASLt has no algorithm for GEMM " + s.toString());
  std::vector<cublasLtMatmulAlgo_t> algos;
  for (int i = 0; i < found; ++i)
    algos.push_back(results[i].algo);
  return algos;
}

Status LtGemm::launch(const GemmShape &s, Plan &p,
                      const cublasLtMatmulAlgo_t &algo, const void *A,
                      const void *B, void *C, const void *bias,
                      cudaStream_t stream) {
  if (hasBias(s.epilogue)) {
    if (!bias)
      return invalidArgument("GEMM " + s.toString() + ": no bias given");
    PPRT_LT(cublasLtMatmulDescSetAttribute(p.op,
                                           CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                           &bias, sizeof(bias)),
            "bias pointer");
  }
  float one = 1.0f, zero = 0.0f;
  PPRT_LT(cublasLtMatmul(handle, p.op, &one, B, p.a, A, p.b, &zero, C, p.c, C,
                         p.c, &algo, workspace, workspaceBytes, stream),
          "GEMM " + s.toString());
  return Status::ok();
}

Status LtGemm::run(const GemmShape &s, const void *A, const void *B, void *C,
                   const void *bias, cudaStream_t stream) {
  auto p = plan(s);
  if (!p)
    return p.status();
  if (!(*p)->haveAlgo) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(stream, &capturing);
    bool timed = tune && capturing == cudaStreamCaptureStatusNone;
    auto algos = algorithms(s, timed ? 8 : 1);
    if (!algos)
      return algos.status();
    (*p)->algo = algos->front();
    if (algos->size() > 1) {
      auto best = fastest(s, **p, *algos, A, B, bias, stream);
      if (!best)
        return best.status();
      (*p)->algo = *best;
    }
    (*p)->haveAlgo = true;
  }
  return launch(s, **p, (*p)->algo, A, B, C, bias, stream);
}

StatusOr<cublasLtMatmulAlgo_t>
LtGemm::fastest(const GemmShape &s, Plan &p,
                const std::vector<cublasLtMatmulAlgo_t> &algos, const void *A,
                const void *B, const void *bias, cudaStream_t stream) {
  // On copies, so that an output sharing memory with an input (the
  // compiler's buffer plan may) is never read after a trial wrote it.
  int64_t width = s.type == GemmType::BF16 || s.type == GemmType::F16 ? 2 : 4;
  int64_t aBytes = width * ((s.batch - 1) * s.strideA + s.m * s.k);
  int64_t bBytes = width * ((s.batch - 1) * s.strideB + s.k * s.n);
  int64_t cBytes = width * ((s.batch - 1) * s.strideC + s.m * s.n);
  void *a = nullptr, *b = nullptr, *c = nullptr;
  auto release = [&] {
    for (void *q : {a, b, c})
      if (q)
        cudaFree(q);
  };
  if (cudaMalloc(&a, aBytes) != cudaSuccess ||
      cudaMalloc(&b, bBytes) != cudaSuccess ||
      cudaMalloc(&c, cBytes) != cudaSuccess) {
    cudaGetLastError(); // no room to time: the heuristic's first
    release();
    return algos.front();
  }
  cudaMemcpyAsync(a, A, aBytes, cudaMemcpyDeviceToDevice, stream);
  cudaMemcpyAsync(b, B, bBytes, cudaMemcpyDeviceToDevice, stream);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cublasLtMatmulAlgo_t best = algos.front();
  float bestMs = 0;
  bool any = false;
  for (const cublasLtMatmulAlgo_t &algo : algos) {
    // One call to warm up (and to find an algorithm that fails here), then
    // three timed.
    if (!launch(s, p, algo, a, b, c, bias, stream).isOk()) {
      cudaGetLastError();
      continue;
    }
    cudaEventRecord(start, stream);
    bool ran = true;
    for (int i = 0; i < 3; ++i)
      ran = ran && launch(s, p, algo, a, b, c, bias, stream).isOk();
    cudaEventRecord(stop, stream);
    float ms = 0;
    if (!ran || cudaEventSynchronize(stop) != cudaSuccess ||
        cudaEventElapsedTime(&ms, start, stop) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    if (!any || ms < bestMs) {
      best = algo;
      bestMs = ms;
      any = true;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  Status st = cudaStatus(cudaStreamSynchronize(stream), "timing GEMM " +
                                                             s.toString());
  release();
  if (!st.isOk())
    return st;
  return best;
}

Status LtGemm::runWith(const GemmShape &s, const cublasLtMatmulAlgo_t &algo,
                       const void *A, const void *B, void *C, const void *bias,
                       cudaStream_t stream) {
  auto p = plan(s);
  if (!p)
    return p.status();
  return launch(s, **p, algo, A, B, C, bias, stream);
}

} // namespace cuda
} // namespace pprt
