//===- AttentionKernels.cu - rms_norm, rotary_embedding, attention --------===//
//
// One thread block per row. Block sums combine the warps' partial results
// in a fixed order, so that a kernel gives the same bits run to run.
//
// Attention runs an online softmax over chunks of keys (one key per thread,
// then the chunk's probabilities times v, each thread owning some of the
// output's channels); its backward recomputes each probability from the
// saved log-sum-exp: dq query row by query row, dk and dv key row by key
// row over the query heads of their group, so that no sum needs atomics.
// Plain and correct, not tiled: a fused flash-attention kernel is later GPU
// work (DeviceAttention.h).
//
//===----------------------------------------------------------------------===//

#include "DeviceAttention.h"
#include "Launch.cuh"
#include "LtGemm.h"

#include <cmath>
#include <cstdint>
#include <string>

namespace pprt {
namespace cuda {
namespace {

constexpr int kRowThreads = 256;
/// Keys (or queries) per chunk: the attention kernels' block size.
constexpr int kChunk = 128;
/// Channels each thread of an attention block owns.
constexpr int kPerThread = (kMaxAttentionHead + kChunk - 1) / kChunk;


unsigned gridFor(int64_t rows) {
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(rows, 1 << 20));
}

struct Sum {
  template <typename A> __device__ A operator()(A a, A b) const { return a + b; }
};
struct Max {
  template <typename A> __device__ A operator()(A a, A b) const {
    return a > b ? a : b;
  }
};

/// Combines one value per thread (blockDim.x a multiple of 32, at most
/// 1024): each warp by shuffles, then the warps in order. Every thread gets
/// the result; it holds a __syncthreads, so every thread must call it.
template <typename A, typename F> __device__ A blockAll(A v, F combine) {
  __shared__ A partial[32];
  for (int o = 16; o > 0; o >>= 1)
    v = combine(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  A r = partial[0];
  for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
    r = combine(r, partial[w]);
  __syncthreads();
  return r;
}

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

__global__ void rmsNormKernel(const float *x, const float *scale, float *y,
                              float *invRms, int64_t rows, int64_t n,
                              double eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * n;
    double sq = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      sq += (double)xr[i] * xr[i];
    sq = blockAll(sq, Sum());
    double inv = 1.0 / sqrt(sq / n + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      y[row * n + i] = float(xr[i] * inv) * scale[i];
    if (threadIdx.x == 0 && invRms)
      invRms[row] = float(inv);
  }
}

__global__ void rmsNormGradKernel(const float *x, const float *scale,
                                  const float *invRms, const float *dy,
                                  float *dx, int64_t rows, int64_t n) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * n, *gr = dy + row * n;
    double dot = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      dot += (double)gr[i] * scale[i] * xr[i];
    dot = blockAll(dot, Sum());
    double is = invRms[row], c = is * is * is * dot / n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      dx[row * n + i] = float(is * gr[i] * scale[i] - xr[i] * c);
  }
}

//===----------------------------------------------------------------------===//
// rotary_embedding
//===----------------------------------------------------------------------===//

__global__ void rotaryKernel(const float *x, const float *cs, const float *sn,
                             float *y, RotaryParams p, DeviceError *error,
                             int instr) {
  int64_t total = p.batch * p.sequence * p.heads * p.headSize;
  int64_t half = p.rotaryDim / 2;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
       e += (int64_t)gridDim.x * blockDim.x) {
    int64_t d = e % p.headSize, th = e / p.headSize;
    int64_t h = th % p.heads, t = th / p.heads;
    int64_t b = t / p.sequence, s = t % p.sequence;
    int64_t base = b * p.strideB + s * p.strideS + h * p.strideH;
    if (d >= p.rotaryDim) {
      y[base + d] = x[base + d];
      continue;
    }
    int64_t row = t;
    if (p.positions) {
      row = p.positions64 ? static_cast<const int64_t *>(p.positions)[t]
                          : static_cast<const int32_t *>(p.positions)[t];
      if (row < 0 || row >= p.maxPosition) {
        if (atomicCAS(&error->code, 0, 1) == 0) {
          error->instr = instr;
          error->value = row;
          error->limit = p.maxPosition;
          error->position = t;
        }
        continue;
      }
    }
    int64_t pair = p.interleaved ? d / 2 : d % half;
    bool first = p.interleaved ? d % 2 == 0 : d < half;
    int64_t i1 = p.interleaved ? 2 * pair : pair;
    int64_t i2 = p.interleaved ? 2 * pair + 1 : pair + half;
    float c = cs[row * half + pair], si = sn[row * half + pair];
    float x1 = x[base + i1], x2 = x[base + i2];
    y[base + d] = first ? c * x1 - si * x2 : si * x1 + c * x2;
  }
}

__global__ void rotaryCacheGradKernel(const float *x, const float *dy,
                                      float *dc, float *ds, RotaryParams p) {
  int64_t half = p.rotaryDim / 2, total = p.batch * p.sequence * half;
  for (int64_t ti = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
       ti < total; ti += (int64_t)gridDim.x * blockDim.x) {
    int64_t t = ti / half, i = ti % half;
    int64_t b = t / p.sequence, s = t % p.sequence;
    int64_t i1 = p.interleaved ? 2 * i : i;
    int64_t i2 = p.interleaved ? 2 * i + 1 : i + half;
    double c = 0, sn = 0;
    for (int64_t h = 0; h < p.heads; ++h) {
      int64_t base = b * p.strideB + s * p.strideS + h * p.strideH;
      double x1 = x[base + i1], x2 = x[base + i2], g1 = dy[base + i1],
             g2 = dy[base + i2];
      c += g1 * x1 + g2 * x2;
      sn += g2 * x1 - g1 * x2;
    }
    dc[ti] = float(c);
    ds[ti] = float(sn);
  }
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

/// The bias of query i and key j (-inf where masked); 0 without a mask.
__device__ float biasOf(const AttentionParams &p, int64_t b, int64_t h,
                        int64_t i, int64_t j) {
  if (p.causal && j > i)
    return -INFINITY;
  if (!p.mask)
    return 0;
  int64_t at = b * p.maskStrides[0] + h * p.maskStrides[1] +
               i * p.maskStrides[2] + j * p.maskStrides[3];
  if (p.boolMask)
    return static_cast<const bool *>(p.mask)[at] ? 0.0f : -INFINITY;
  return static_cast<const float *>(p.mask)[at];
}

/// scale q.k + bias, -inf where masked.
__device__ float scoreOf(const AttentionParams &p, const float *qr,
                         const float *kr, int64_t b, int64_t h, int64_t i,
                         int64_t j) {
  float bias = biasOf(p, b, h, i, j);
  if (bias == -INFINITY)
    return -INFINITY;
  float dot = 0;
  for (int64_t d = 0; d < p.headSize; ++d)
    dot += qr[d] * kr[d];
  return p.scale * dot + bias;
}

__device__ float dotOf(const float *a, const float *b, int64_t n) {
  float s = 0;
  for (int64_t d = 0; d < n; ++d)
    s += a[d] * b[d];
  return s;
}

__global__ void attentionKernel(const float *q, const float *k, const float *v,
                                AttentionParams p, float *y, float *lse) {
  extern __shared__ float shared[];
  float *qs = shared, *ps = shared + p.headSize;
  int64_t rows = p.batch * p.qHeads * p.qSeq;
  int tid = threadIdx.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t i = r % p.qSeq, h = (r / p.qSeq) % p.qHeads,
            b = r / (p.qSeq * p.qHeads);
    int64_t kvBase = (b * p.kvHeads + h / p.group) * p.kvSeq;
    for (int64_t d = tid; d < p.headSize; d += blockDim.x)
      qs[d] = q[r * p.headSize + d];
    __syncthreads();
    float m = -INFINITY, l = 0, acc[kPerThread] = {};
    for (int64_t j0 = 0; j0 < p.kvSeq; j0 += kChunk) {
      int64_t j = j0 + tid;
      float s = j < p.kvSeq ? scoreOf(p, qs, k + (kvBase + j) * p.headSize,
                                      b, h, i, j)
                            : -INFINITY;
      float mNew = fmaxf(m, blockAll(s, Max()));
      float pj = s == -INFINITY ? 0.0f : expf(s - mNew);
      ps[tid] = pj;
      float chunkSum = blockAll(pj, Sum()); // also orders ps's writes
      float alpha = m == -INFINITY ? 0.0f : expf(m - mNew);
      l = l * alpha + chunkSum;
      for (int t = 0; t < kPerThread; ++t)
        acc[t] *= alpha;
      int64_t count = min((int64_t)kChunk, p.kvSeq - j0);
      for (int64_t jj = 0; jj < count; ++jj) {
        float pv = ps[jj];
        if (pv == 0)
          continue;
        const float *vr = v + (kvBase + j0 + jj) * p.vHeadSize;
        for (int t = 0; t < kPerThread; ++t) {
          int64_t d = tid + t * (int64_t)kChunk;
          if (d < p.vHeadSize)
            acc[t] += pv * vr[d];
        }
      }
      m = mNew;
      __syncthreads();
    }
    bool masked = m == -INFINITY; // every key: a zero row, as ONNX says
    for (int t = 0; t < kPerThread; ++t) {
      int64_t d = tid + t * (int64_t)kChunk;
      if (d < p.vHeadSize)
        y[r * p.vHeadSize + d] = masked ? 0.0f : acc[t] / l;
    }
    if (tid == 0 && lse)
      lse[r] = masked ? -INFINITY : m + logf(l);
    __syncthreads();
  }
}

/// dq row by row: ds = P (dy.v - D), dq = scale sum ds k; D = dy.out is kept
/// in rowDot for the key pass.
__global__ void attentionGradQKernel(const float *q, const float *k,
                                     const float *v, const float *o,
                                     const float *lse, const float *dy,
                                     AttentionParams p, float *dq,
                                     float *rowDot) {
  extern __shared__ float shared[];
  float *qs = shared, *dys = qs + p.headSize, *dss = dys + p.vHeadSize;
  int64_t rows = p.batch * p.qHeads * p.qSeq;
  int tid = threadIdx.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t i = r % p.qSeq, h = (r / p.qSeq) % p.qHeads,
            b = r / (p.qSeq * p.qHeads);
    int64_t kvBase = (b * p.kvHeads + h / p.group) * p.kvSeq;
    for (int64_t d = tid; d < p.headSize; d += blockDim.x)
      qs[d] = q[r * p.headSize + d];
    float part = 0;
    for (int64_t d = tid; d < p.vHeadSize; d += blockDim.x) {
      float g = dy[r * p.vHeadSize + d];
      dys[d] = g;
      part += g * o[r * p.vHeadSize + d];
    }
    float D = blockAll(part, Sum()); // also orders the shared writes
    if (tid == 0)
      rowDot[r] = D;
    float L = lse[r], acc[kPerThread] = {};
    if (L != -INFINITY)
      for (int64_t j0 = 0; j0 < p.kvSeq; j0 += kChunk) {
        int64_t j = j0 + tid;
        float ds = 0;
        if (j < p.kvSeq) {
          float s = scoreOf(p, qs, k + (kvBase + j) * p.headSize, b, h, i, j);
          if (s != -INFINITY) {
            float pr = expf(s - L);
            ds = pr * (dotOf(dys, v + (kvBase + j) * p.vHeadSize,
                             p.vHeadSize) - D);
          }
        }
        dss[tid] = ds;
        __syncthreads();
        int64_t count = min((int64_t)kChunk, p.kvSeq - j0);
        for (int64_t jj = 0; jj < count; ++jj) {
          float g = dss[jj];
          if (g == 0)
            continue;
          const float *kr = k + (kvBase + j0 + jj) * p.headSize;
          for (int t = 0; t < kPerThread; ++t) {
            int64_t d = tid + t * (int64_t)kChunk;
            if (d < p.headSize)
              acc[t] += g * kr[d];
          }
        }
        __syncthreads();
      }
    for (int t = 0; t < kPerThread; ++t) {
      int64_t d = tid + t * (int64_t)kChunk;
      if (d < p.headSize)
        dq[r * p.headSize + d] = p.scale * acc[t];
    }
    __syncthreads();
  }
}

/// dk and dv key row by key row, over the query heads of the key's group.
__global__ void attentionGradKVKernel(const float *q, const float *k,
                                      const float *v, const float *lse,
                                      const float *dy, const float *rowDot,
                                      AttentionParams p, float *dk, float *dv) {
  extern __shared__ float shared[];
  float *ks = shared, *vs = ks + p.headSize, *ps = vs + p.vHeadSize,
        *dss = ps + kChunk;
  int64_t keys = p.batch * p.kvHeads * p.kvSeq;
  int tid = threadIdx.x;
  for (int64_t kr = blockIdx.x; kr < keys; kr += gridDim.x) {
    int64_t j = kr % p.kvSeq, g = (kr / p.kvSeq) % p.kvHeads,
            b = kr / (p.kvSeq * p.kvHeads);
    for (int64_t d = tid; d < p.headSize; d += blockDim.x)
      ks[d] = k[kr * p.headSize + d];
    for (int64_t d = tid; d < p.vHeadSize; d += blockDim.x)
      vs[d] = v[kr * p.vHeadSize + d];
    __syncthreads();
    float accK[kPerThread] = {}, accV[kPerThread] = {};
    for (int64_t h = g * p.group; h < (g + 1) * p.group; ++h)
      for (int64_t i0 = 0; i0 < p.qSeq; i0 += kChunk) {
        int64_t i = i0 + tid, r = (b * p.qHeads + h) * p.qSeq + i;
        float pr = 0, ds = 0;
        if (i < p.qSeq && lse[r] != -INFINITY) {
          float s = scoreOf(p, q + r * p.headSize, ks, b, h, i, j);
          if (s != -INFINITY) {
            pr = expf(s - lse[r]);
            ds = pr * (dotOf(dy + r * p.vHeadSize, vs, p.vHeadSize) -
                       rowDot[r]);
          }
        }
        ps[tid] = pr;
        dss[tid] = ds;
        __syncthreads();
        int64_t count = min((int64_t)kChunk, p.qSeq - i0);
        for (int64_t ii = 0; ii < count; ++ii) {
          int64_t ri = (b * p.qHeads + h) * p.qSeq + i0 + ii;
          float pv = ps[ii], gv = dss[ii];
          if (pv == 0 && gv == 0)
            continue;
          const float *qr = q + ri * p.headSize, *gr = dy + ri * p.vHeadSize;
          for (int t = 0; t < kPerThread; ++t) {
            int64_t d = tid + t * (int64_t)kChunk;
            if (d < p.headSize)
              accK[t] += gv * qr[d];
            if (d < p.vHeadSize)
              accV[t] += pv * gr[d];
          }
        }
        __syncthreads();
      }
    for (int t = 0; t < kPerThread; ++t) {
      int64_t d = tid + t * (int64_t)kChunk;
      if (d < p.headSize)
        dk[kr * p.headSize + d] = p.scale * accK[t];
      if (d < p.vHeadSize)
        dv[kr * p.vHeadSize + d] = accV[t];
    }
    __syncthreads();
  }
}

Status headSizes(const AttentionParams &p) {
  if (p.headSize > kMaxAttentionHead || p.vHeadSize > kMaxAttentionHead)
    return invalidArgument("attention with head size " +
                           std::to_string(p.headSize) + " and value head size " +
                           std::to_string(p.vHeadSize) +
                           ": the CUDA kernels take at most " +
                           std::to_string(kMaxAttentionHead));
  return Status::ok();
}

} // namespace

Status rmsNorm(const float *x, const float *scale, float *y, float *invRms,
               int64_t rows, int64_t n, double eps, cudaStream_t s) {
  if (rows * n == 0)
    return Status::ok();
  rmsNormKernel<<<gridFor(rows), kRowThreads, 0, s>>>(x, scale, y, invRms,
                                                      rows, n, eps);
  return launched("rms_norm");
}

Status rmsNormGrad(const float *x, const float *scale, const float *invRms,
                   const float *dy, float *dx, int64_t rows, int64_t n,
                   cudaStream_t s) {
  if (rows * n == 0)
    return Status::ok();
  rmsNormGradKernel<<<gridFor(rows), kRowThreads, 0, s>>>(x, scale, invRms, dy,
                                                          dx, rows, n);
  return launched("rms_norm_grad");
}

Status rotary(const float *x, const float *cos, const float *sin, float *y,
              const RotaryParams &p, DeviceError *error, int instr,
              cudaStream_t s) {
  int64_t total = p.batch * p.sequence * p.heads * p.headSize;
  if (total == 0)
    return Status::ok();
  unsigned blocks = (unsigned)std::min<int64_t>((total + 255) / 256, 1 << 16);
  rotaryKernel<<<blocks, 256, 0, s>>>(x, cos, sin, y, p, error, instr);
  return launched("rotary_embedding");
}

Status rotaryCacheGrad(const float *x, const float *dy, float *dcos,
                       float *dsin, const RotaryParams &p, cudaStream_t s) {
  int64_t total = p.batch * p.sequence * (p.rotaryDim / 2);
  if (total == 0)
    return Status::ok();
  unsigned blocks = (unsigned)std::min<int64_t>((total + 255) / 256, 1 << 16);
  rotaryCacheGradKernel<<<blocks, 256, 0, s>>>(x, dy, dcos, dsin, p);
  return launched("rotary_embedding_cache_grad");
}

Status attention(const float *q, const float *k, const float *v,
                 const AttentionParams &p, float *y, float *lse,
                 cudaStream_t s) {
  PPRT_RETURN_IF_ERROR(headSizes(p));
  int64_t rows = p.batch * p.qHeads * p.qSeq;
  if (rows == 0 || p.vHeadSize == 0)
    return Status::ok();
  size_t shared = (p.headSize + kChunk) * sizeof(float);
  attentionKernel<<<gridFor(rows), kChunk, shared, s>>>(q, k, v, p, y, lse);
  return launched("attention");
}

Status attentionGrad(const float *q, const float *k, const float *v,
                     const float *out, const float *lse, const float *dy,
                     const AttentionParams &p, float *dq, float *dk, float *dv,
                     float *rowDot, cudaStream_t s) {
  PPRT_RETURN_IF_ERROR(headSizes(p));
  int64_t rows = p.batch * p.qHeads * p.qSeq,
          keys = p.batch * p.kvHeads * p.kvSeq;
  if (rows == 0 || keys == 0)
    return Status::ok();
  size_t sharedQ = (p.headSize + p.vHeadSize + kChunk) * sizeof(float);
  attentionGradQKernel<<<gridFor(rows), kChunk, sharedQ, s>>>(
      q, k, v, out, lse, dy, p, dq, rowDot);
  PPRT_RETURN_IF_ERROR(launched("attention_grad (queries)"));
  size_t sharedKV = (p.headSize + p.vHeadSize + 2 * kChunk) * sizeof(float);
  attentionGradKVKernel<<<gridFor(keys), kChunk, sharedKV, s>>>(
      q, k, v, lse, dy, rowDot, p, dk, dv);
  return launched("attention_grad (keys)");
}

} // namespace cuda
} // namespace pprt
