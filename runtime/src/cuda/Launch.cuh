//===- Launch.cuh - what every .cu file launches kernels with ----*- CUDA -*-===//

#ifndef PPRT_CUDA_LAUNCH_CUH
#define PPRT_CUDA_LAUNCH_CUH

#include "LtGemm.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace pprt {
namespace cuda {

/// Threads per block of the element-wise and row kernels.
constexpr int kThreads = 256;

/// Blocks for a grid-stride loop over n elements.
inline unsigned blocksFor(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(b, 1 << 16));
}

/// The launch's error, naming `what`.
inline Status launched(const char *what) {
  return cudaStatus(cudaGetLastError(), std::string("launching ") + what);
}

} // namespace cuda
} // namespace pprt

#define GRID_STRIDE(i, n)                                                      \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);   \
       i += (int64_t)gridDim.x * blockDim.x)

#endif // PPRT_CUDA_LAUNCH_CUH
