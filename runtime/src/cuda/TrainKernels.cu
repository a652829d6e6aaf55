//===- TrainKernels.cu - gradient sums, norm and optimizer on the GPU -----===//

#include "Launch.cuh"
#include "LtGemm.h"
#include "TrainDevice.h"

#include <algorithm>
#include <string>

namespace pprt {
namespace cuda {
namespace {

/// Elements one block of the multi-tensor update walks.
constexpr int64_t kBlockElements = 4096;

__global__ void addKernel(float *acc, const float *g, int64_t n) {
  GRID_STRIDE(i, n)
  acc[i] += g[i];
}

/// One block per chunk: each thread sums a fixed stride, then a fixed tree.
__global__ void chunkSquaresKernel(const float *g, int64_t n, int64_t chunk,
                                   int64_t first, double *out) {
  __shared__ double part[kThreads];
  int64_t c = first + blockIdx.x;
  int64_t lo = c * chunk, hi = min(n, lo + chunk);
  double acc = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads)
    acc += (double)g[i] * g[i];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s)
      part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    out[blockIdx.x] = part[0];
}

struct LaunchList {
  UpdateList l;
  long long blockStart[kMaxUpdateTensors + 1];
};

__global__ void updateKernel(LaunchList t, OptimizerStep s) {
  long long b = blockIdx.x;
  int k = 0;
  while (k + 1 < t.l.count && t.blockStart[k + 1] <= b)
    ++k;
  long long lo = (b - t.blockStart[k]) * kBlockElements;
  long long hi = min(t.l.n[k], lo + kBlockElements);
  float *w = t.l.w[k], *m = t.l.m[k], *v = t.l.v[k];
  const float *g = t.l.g[k];
  float c = s.coefficient;
  if (!s.adamw) {
    bool first = t.l.first[k] != 0;
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      float d = g[i] * c;
      if (s.weightDecay != 0)
        d += s.weightDecay * w[i];
      if (m) {
        float mb = first ? d : s.momentum * m[i] + d;
        m[i] = mb;
        d = mb;
      }
      w[i] -= s.lr * d;
    }
  } else {
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      float gi = g[i] * c;
      float wi = w[i] * s.decay;
      float mi = m[i] + (gi - m[i]) * (1 - s.beta1);
      float vi = s.beta2 * v[i] + (1 - s.beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = wi - s.stepSize * (mi / (sqrtf(vi) / s.biasCorrection2 + s.eps));
    }
  }
}

} // namespace

Status addFloats(float *acc, const float *g, int64_t n, cudaStream_t stream) {
  if (n == 0)
    return Status::ok();
  addKernel<<<blocksFor(n), kThreads, 0, stream>>>(acc, g, n);
  return launched("a gradient sum");
}

Status chunkSquares(const float *g, int64_t n, int64_t chunk, int64_t first,
                    int64_t count, double *out, cudaStream_t stream) {
  // Grids of up to 2^31 - 1 blocks: far past any chunk count.
  if (count == 0)
    return Status::ok();
  chunkSquaresKernel<<<(unsigned)count, kThreads, 0, stream>>>(g, n, chunk,
                                                               first, out);
  return launched("the gradient norm's chunks");
}

Status optimizerUpdate(const UpdateList &list, const OptimizerStep &s,
                       cudaStream_t stream) {
  if (list.count <= 0 || list.count > kMaxUpdateTensors)
    return internalError("a multi-tensor update of " +
                         std::to_string(list.count) + " tensors");
  LaunchList t;
  t.l = list;
  long long blocks = 0;
  for (int k = 0; k < list.count; ++k) {
    if (s.adamw && (!list.m[k] || !list.v[k]))
      return internalError("an AdamW update without its moments");
    t.blockStart[k] = blocks;
    blocks += (list.n[k] + kBlockElements - 1) / kBlockElements;
  }
  t.blockStart[list.count] = blocks;
  if (blocks == 0)
    return Status::ok();
  if (blocks > 0x7fffffffLL)
    return internalError("a multi-tensor update of " + std::to_string(blocks) +
                         " blocks");
  updateKernel<<<(unsigned)blocks, kThreads, 0, stream>>>(t, s);
  return launched(s.adamw ? "the AdamW update" : "the SGD update");
}

} // namespace cuda
} // namespace pprt
