//===- DeviceAttention.h - rms_norm, rotary and attention kernels -*- C++ -*-===//
//
// AttentionKernels.cu's device code as host calls, as Device.h is for
// Kernels.cu. f32 throughout; sums of squares and dot products of the
// normalisations in double, attention in float with an online softmax.
//
// The attention kernels are plain and correct, one thread block per query
// row (and, in the backward, per key row), the scores recomputed from the
// log-sum-exp rather than stored: a fused, tiled flash-attention kernel is
// later GPU work.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CUDA_DEVICEATTENTION_H
#define PPRT_CUDA_DEVICEATTENTION_H

#include "Device.h"

namespace pprt {
namespace cuda {

/// y = x / sqrt(mean(x^2) + eps) * scale over rows of n; 1/rms per row
/// in invRms (may be null).
Status rmsNorm(const float *x, const float *scale, float *y, float *invRms,
               int64_t rows, int64_t n, double eps, cudaStream_t stream);
/// dx = inv g s - x inv^3 mean(g s x).
Status rmsNormGrad(const float *x, const float *scale, const float *invRms,
                   const float *dy, float *dx, int64_t rows, int64_t n,
                   cudaStream_t stream);

/// RotaryGeometry (../OpGeometry.h) for the device.
struct RotaryParams {
  int64_t batch = 0, sequence = 0, heads = 0, headSize = 0, rotaryDim = 0;
  int64_t strideB = 0, strideS = 0, strideH = 0, maxPosition = 0;
  bool interleaved = false;
  const void *positions = nullptr; // batch x sequence, or null
  bool positions64 = true;
};
/// A position outside the caches is recorded (code 1).
Status rotary(const float *x, const float *cos, const float *sin, float *y,
              const RotaryParams &p, DeviceError *error, int instr,
              cudaStream_t stream);

/// The caches' gradients per token (batch x sequence x rotary_dim / 2),
/// summed over the heads (no positions in `p`).
Status rotaryCacheGrad(const float *x, const float *dy, float *dcos,
                       float *dsin, const RotaryParams &p, cudaStream_t stream);

/// AttentionGeometry (../OpGeometry.h) for the device.
struct AttentionParams {
  int64_t batch = 0, qHeads = 0, kvHeads = 0, qSeq = 0, kvSeq = 0,
          headSize = 0, vHeadSize = 0, group = 1;
  bool causal = false, boolMask = false;
  const void *mask = nullptr; // f32 or bool, or null
  int64_t maskStrides[4] = {};
  float scale = 1;
};
/// The largest head size (of q and k, and of v) the kernels take.
constexpr int64_t kMaxAttentionHead = 1024;
/// y and the log-sum-exp per query (-inf and a zero row where every key is
/// masked).
Status attention(const float *q, const float *k, const float *v,
                 const AttentionParams &p, float *y, float *lse,
                 cudaStream_t stream);
/// dq, dk, dv from the forward's result and log-sum-exp; `rowDot` is
/// scratch of one float per query row.
Status attentionGrad(const float *q, const float *k, const float *v,
                     const float *out, const float *lse, const float *dy,
                     const AttentionParams &p, float *dq, float *dk, float *dv,
                     float *rowDot, cudaStream_t stream);

} // namespace cuda
} // namespace pprt

#endif // PPRT_CUDA_DEVICEATTENTION_H
