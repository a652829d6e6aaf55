//===- Device.h - the CUDA backend's kernels, as host calls -----*- C++ -*-===//
//
// Kernels.cu holds the device code; this header is what the host side
// (CudaBackend.cpp) calls: plain pointers, shapes and a stream, so that it
// compiles with the host compiler. Every call enqueues on `stream` and
// returns the launch's error (an asynchronous fault surfaces at the stage's
// synchronisation). Element types not listed for a call are refused with a
// Status naming the type.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CUDA_DEVICE_H
#define PPRT_CUDA_DEVICE_H

#include "pprt/Status.h"
#include "pprt/Tensor.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace pprt {
namespace cuda {

/// Up to this many axes per operand (ONNX models rarely pass 6).
constexpr int kMaxRank = 8;

/// A walk over `shape` (row-major) reading up to three operands through
/// strides in elements (0 on broadcast axes), from base offsets.
struct Walk {
  int rank = 0;
  /// Fewer than 2^31 indices: the kernels divide in 32 bits (several
  /// times faster than 64-bit division on the GPU).
  bool small = false;
  int64_t shape[kMaxRank] = {};
  int64_t strides[3][kMaxRank] = {};
  int64_t base[3] = {};
};
/// Builds a walk over `shape`; fails beyond kMaxRank axes.
StatusOr<Walk> makeWalk(const std::vector<int64_t> &shape,
                        const std::vector<std::vector<int64_t>> &strides,
                        const std::vector<int64_t> &bases = {});

/// What a kernel found wrong in its data (an index out of range), recorded
/// on the device and read when the stage synchronises: the first one wins.
struct DeviceError {
  // 0: none; 1: index out of range; 2: label out of range; 3: a range's
  // operands give `value` elements where `limit` were compiled
  int code = 0;
  int instr = -1;
  long long value = 0, limit = 0, position = 0;
};

/// How an element-wise operand is indexed from the output index i.
enum class Index : int {
  Same = 0,     // i
  Repeat = 1,   // i % count (a scalar, or a bias over the leading axes)
  Strided = 2,  // through the walk's strides
};
struct Operand {
  const void *data = nullptr;
  Index index = Index::Same;
  int64_t count = 1; // for Repeat
  int slot = 0;      // the walk's stride set, for Strided
};

enum class BinaryOp {
  Add, Sub, Mul, Div, Max, Min, Pow,
  Mod,  // the remainder with the divisor's sign (ONNX Mod, fmod=0)
  Fmod, // with the dividend's (fmod=1)
  Equal, Less, LessEqual, Greater, GreaterEqual, And, Or, Xor
};
/// y = op(a, b) over n outputs of type `out` (bool for the comparisons and
/// logic), operands of type `in`: any element type.
Status binary(BinaryOp op, DType in, DType out, Operand a, Operand b, void *y,
              int64_t n, const Walk &walk, cudaStream_t stream);

enum class UnaryOp {
  Relu, Sigmoid, Tanh, Erf, Sqrt, Exp, Log, Reciprocal, Floor, Ceil, Round,
  Sin, Cos, Softplus, Gelu, GeluTanh, HardSigmoid, HardSwish,
  Neg, Abs, Sign, Not, LeakyRelu, Clip
};
struct UnaryParams {
  float alpha = 0.01f; // leaky_relu, hard_sigmoid
  float beta = 0.5f;   // hard_sigmoid
  bool hasLo = false, hasHi = false;
  double lo = 0, hi = 0; // clip
};
/// y = op(x) over n elements of `type` (the float ops: f32, f64, f16, bf16;
/// neg, abs, sign, not, leaky_relu, clip also the integers and bool).
Status unary(UnaryOp op, DType type, const void *x, void *y, int64_t n,
             const UnaryParams &p, cudaStream_t stream);

enum class GradOp { Relu, Tanh, Sigmoid, Gelu, GeluTanh, HardSigmoid, HardSwish };
/// dx = g * op'(v), f32, where v is the forward's input (relu, gelu,
/// hard_sigmoid with alpha and beta, hard_swish) or output (tanh, sigmoid).
Status activationGrad(GradOp op, const float *v, const float *g, float *dx,
                      int64_t n, cudaStream_t stream, float alpha = 0.2f,
                      float beta = 0.5f);

/// y[i] = cond[i] ? a[i] : b[i] through the walk (slots 0, 1, 2), elements
/// of `width` bytes.
Status where(const bool *cond, const void *a, const void *b, void *y,
             int width, int64_t n, const Walk &walk, cudaStream_t stream);

/// Element-type conversion, as the CPU backend converts (NaN to integer
/// gives 0; to bool is != 0; halves round to nearest even).
Status cast(DType from, DType to, const void *x, void *y, int64_t n,
            cudaStream_t stream);

/// dst[walk slot 1] = src[walk slot 0] for every index of the walk, elements
/// of `width` bytes: transpose, slice, broadcast, concat, slice_grad.
Status stridedCopy(const void *src, void *dst, int width, const Walk &walk,
                   cudaStream_t stream);

/// gather along an axis: y[o, i, :] = x[o, idx[i], :] (inner bytes each);
/// negative indices count from the end; an index outside [-n, n) is
/// recorded in `error` (code 1) and its row left unwritten.
Status gather(const void *x, const void *indices, bool indices64, void *y,
              int64_t outer, int64_t n, int64_t count, int64_t innerBytes,
              DeviceError *error, int instr, cudaStream_t stream);
/// gather's backward: y = 0, then y[o, idx[i], :] += g[o, i, :] (f32).
/// Summed with atomics: the order of repeated indices varies run to run.
Status gatherGrad(const void *indices, bool indices64, const float *g,
                  float *y, int64_t outer, int64_t n, int64_t count,
                  int64_t inner, DeviceError *error, int instr,
                  cudaStream_t stream);

enum class ReduceOp { Sum, Mean, Max, Min, Prod };
/// y[o] = reduce over the reduced index r of x[kept(o) + reduced(r)]:
/// `kept` walks the outputs (slot 0: input strides of the kept axes) and
/// `reduced` the reduced elements (slot 0). f32, f64, f16, bf16, i64, i32;
/// float sums accumulate in double.
Status reduce(ReduceOp op, DType type, const void *x, void *y,
              int64_t outputs, const Walk &kept, int64_t count,
              const Walk &reduced, cudaStream_t stream);

/// Rows of n elements at stride `inner` (outer x n x inner).
struct Rows {
  int64_t outer = 1, n = 1, inner = 1;
};
/// softmax or log-softmax along the row (f32, f64, f16, bf16).
Status softmax(bool log, DType type, const void *x, void *y, Rows r,
               cudaStream_t stream);
/// softmax_grad from the output y and its gradient g (f32).
Status softmaxGrad(bool log, const float *y, const float *g, float *dx,
                   Rows r, cudaStream_t stream);

/// layer_norm over rows of n (f32): y = (x - mean) / sqrt(var + eps) *
/// scale + bias; mean and 1/std per row when asked (may be null).
Status layerNorm(const float *x, const float *scale, const float *bias,
                 float *y, float *mean, float *invStd, int64_t rows, int64_t n,
                 double eps, cudaStream_t stream);
Status layerNormGrad(const float *x, const float *scale, const float *mean,
                     const float *invStd, const float *dy, float *dx,
                     int64_t rows, int64_t n, cudaStream_t stream);
/// Row chunks layerNormParamGrad splits the rows into; `partial` is scratch
/// of 2 x chunks x n doubles.
int64_t layerNormParamChunks(int64_t rows);
Status layerNormParamGrad(const float *x, const float *mean,
                          const float *invStd, const float *dy, float *dScale,
                          float *dBias, double *partial, int64_t rows,
                          int64_t n, cudaStream_t stream);

/// Summed cross-entropy of rows of `classes` logits against integer labels,
/// times `scale`, into loss[0]; `perRow` is scratch of `rows` doubles. A
/// label outside [0, classes) is recorded (code 2).
Status crossEntropy(const float *logits, const void *labels, bool labels64,
                    float *loss, double *perRow, int64_t rows,
                    int64_t classes, double scale, DeviceError *error,
                    int instr, cudaStream_t stream);
Status crossEntropyGrad(const float *logits, const void *labels,
                        bool labels64, float *dx, int64_t rows,
                        int64_t classes, double scale, DeviceError *error,
                        int instr, cudaStream_t stream);
/// Summed squared error times `scale` into loss[0] (`partial`: scratch of
/// kReduceBlocks doubles), and its gradient 2 scale (p - t).
constexpr int kReduceBlocks = 256;
Status mseLoss(const float *p, const float *t, float *loss, double *partial,
               int64_t n, double scale, cudaStream_t stream);
Status mseLossGrad(const float *p, const float *t, float *dx, int64_t n,
                   double scale, cudaStream_t stream);

/// y = alpha y + beta c, c read as the operand says (f32): ONNX Gemm's C
/// when it does not fit cuBLASLt's bias epilogue.
Status scaleAdd(float *y, float alpha, float beta, Operand c, int64_t n,
                const Walk &walk, cudaStream_t stream);

/// The sliding window of conv and pooling over up to 3 spatial axes (the
/// CPU backend's cpu::Window, flattened for the device).
constexpr int kMaxSpatial = 3;
struct ConvWindow {
  int spatial = 0;
  int64_t inSize[kMaxSpatial] = {}, outSize[kMaxSpatial] = {},
          kernel[kMaxSpatial] = {}, strides[kMaxSpatial] = {},
          pads[2 * kMaxSpatial] = {}, dilations[kMaxSpatial] = {};
  int64_t inPlane = 1, outPlane = 1, kPlane = 1;
};
/// col[(ch * kPlane + kp), (i * outPlane + op)] = x[i, ch, window position]
/// (0 in the padding), for n images of c channels (f32).
Status im2col(const float *x, float *col, int64_t n, int64_t c,
              const ConvWindow &w, cudaStream_t stream);
/// The adjoint: x[i, ch, p] = sum of the col entries that read p.
Status col2im(const float *col, float *x, int64_t n, int64_t c,
              const ConvWindow &w, cudaStream_t stream);
/// Max (any number type) or average (f32) pooling over `planes` planes, as
/// the CPU backend computes it (the average's divisor: the window's
/// positions inside the input, or inside the padded input with includePad).
Status pool(bool max, bool includePad, DType type, const void *x, void *y,
            int64_t planes, const ConvWindow &w, cudaStream_t stream);
/// Their gradients, gathered per input position (no atomics): max sends
/// each output's gradient to its window's first maximum (or last NaN).
Status poolGrad(bool max, bool includePad, const float *x, const float *dy,
                float *dx, int64_t planes, const ConvWindow &w,
                cudaStream_t stream);

/// Batch normalisation over N x C x plane (f32). Training: per channel the
/// batch mean and biased variance (summed in double), their mean and 1/std
/// in mean/invStd, the running statistics after this batch in newMean /
/// newVar (momentum; unbiased variance when asked); evaluation: the running
/// statistics. `affine` is scratch of 2 C floats.
Status batchNormTrain(const float *x, const float *scale, const float *bias,
                      const float *runMean, const float *runVar, float *y,
                      float *mean, float *invStd, float *newMean,
                      float *newVar, float *affine, int64_t n, int64_t c,
                      int64_t plane, double eps, double momentum,
                      bool unbiased, bool evaluation, cudaStream_t stream);
/// Inference: y = x * scale / sqrt(var + eps) + (bias - mean * that).
Status batchNorm(const float *x, const float *scale, const float *bias,
                 const float *mean, const float *var, float *y,
                 float *affine, int64_t n, int64_t c, int64_t plane,
                 double eps, cudaStream_t stream);
/// The input gradient (sums: scratch of 2 C doubles), and the scale and
/// bias gradients.
Status batchNormGrad(const float *x, const float *scale, const float *mean,
                     const float *invStd, const float *dy, float *dx,
                     double *sums, int64_t n, int64_t c, int64_t plane,
                     cudaStream_t stream);
Status batchNormParamGrad(const float *x, const float *mean,
                          const float *invStd, const float *dy,
                          float *dScale, float *dBias, int64_t n, int64_t c,
                          int64_t plane, cudaStream_t stream);

/// ONNX Pad over a walk of the output shape (slot 0: the input's strides),
/// elements of `width` bytes; mode 0 constant (`value`: one element's
/// bytes), 1 edge, 2 reflect. `inShape`/`pads` per axis (begins).
Status pad(const void *x, void *y, int width, const Walk &out,
           const int64_t *inShape, const int64_t *pads, int mode,
           uint64_t value, cudaStream_t stream);
/// Trilu: keeps the upper (c - r >= k) or lower (c - r <= k) triangle of
/// the last two axes, zeroes the rest.
Status trilu(const void *x, void *y, int width, int64_t n, int64_t rows,
             int64_t cols, bool upper, int64_t k, cudaStream_t stream);

/// Resize (f32) from separable taps (cpu::resizeTaps, flattened): output
/// coordinate o of axis d is entry axisBase[d] + o of tapStart, tapCount
/// and outside, and its taps are index/weight [tapStart, tapStart +
/// tapCount). The output is the weighted sum over the product of the axes'
/// taps in row-major order, zero weights skipped, as on the CPU; an output
/// with any coordinate outside is `extrapolation`.
struct ResizeTable {
  const int64_t *tapStart = nullptr; // per (axis, output)
  const int32_t *tapCount = nullptr;
  const uint8_t *outside = nullptr;
  const int64_t *index = nullptr; // per tap
  const double *weight = nullptr;
  int64_t axisBase[kMaxRank] = {};
  int64_t inStrides[kMaxRank] = {};
  double extrapolation = 0;
};
Status resize(const float *x, float *y, const Walk &out,
              const ResizeTable &table, cudaStream_t stream);

/// Sets n elements of `width` bytes to zero.
Status zero(void *y, int64_t bytes, cudaStream_t stream);

} // namespace cuda
} // namespace pprt

#endif // PPRT_CUDA_DEVICE_H
