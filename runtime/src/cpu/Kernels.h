//===- Kernels.h - the CPU kernels' shared interface ------------*- C++ -*-===//

#ifndef PPRT_CPU_KERNELS_H
#define PPRT_CPU_KERNELS_H

#include "../Attrs.h"
#include "pprt/Program.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace pprt {
namespace cpu {

using Tensors = std::vector<TensorRef *>;
using Kernel = std::function<Status(Tensors &in, Tensors &out, const Attrs &)>;
using Registry = std::map<std::string, Kernel>;

void registerElementwise(Registry &r);
void registerLinalg(Registry &r);
void registerNn(Registry &r);
void registerShape(Registry &r);
void registerBackward(Registry &r);
void registerIndexing(Registry &r);
void registerAttention(Registry &r);

/// Strides of `shape` (row-major), in elements.
std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape);
/// Strides of `in` seen from the broadcast `out` shape: 0 on broadcast axes.
std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &in,
                                      const std::vector<int64_t> &out);

Status unsupported(const TensorRef &t, const char *what);

/// A loss's rows: `logits` with the classes on the last axis (f32), one
/// label per row. Checks the shapes (not the labels' values).
struct Classes {
  int64_t rows, classes;
};
StatusOr<Classes> lossClasses(const TensorRef &logits, const TensorRef &labels);

/// Resize, separably: for each axis d and output coordinate o, the input
/// taps (index, weight) whose weighted sum over the product of the axes'
/// taps is the output, and whether o lies outside the input
/// (tf_crop_and_resize: the output there is `extrapolation`). ONNX's
/// nearest, linear and cubic modes and coordinate transforms.
struct ResizeTaps {
  struct Tap {
    int64_t index;
    double weight;
  };
  std::vector<std::vector<std::vector<Tap>>> taps; // [axis][output][tap]
  std::vector<std::vector<char>> outside;          // [axis][output]
  double extrapolation = 0;
};
ResizeTaps resizeTaps(const Attrs &a, const TensorRef &x, const TensorRef &y);

/// numpy matmul's shapes: 1-D operands promoted, leading axes broadcast.
/// Products are m x k times k x n; `count` of them (countA and countB
/// distinct matrices in A and B).
struct MatmulShape {
  int64_t m = 0, k = 0, n = 0, count = 1, countA = 1, countB = 1;
  std::vector<int64_t> batch, aStrides, bStrides; // in matrices
  /// Which matrix of A and of B batch entry `bi` multiplies.
  std::pair<int64_t, int64_t> entry(int64_t bi) const;
};
MatmulShape matmulShape(std::vector<int64_t> a, std::vector<int64_t> b);

/// Where pp.slice reads in a tensor of `shape`: the element offset of its
/// first element and the strides (in elements) of its axes. slice_grad
/// writes the same places.
struct SliceWindow {
  int64_t base = 0;
  std::vector<int64_t> strides;
};
inline SliceWindow sliceWindow(const std::vector<int64_t> &shape,
                               const std::vector<int64_t> &starts,
                               const std::vector<int64_t> &steps) {
  SliceWindow w;
  auto st = stridesOf(shape);
  w.strides.resize(st.size());
  for (size_t d = 0; d < st.size(); ++d) {
    w.strides[d] = steps[d] * st[d];
    w.base += starts[d] * st[d];
  }
  return w;
}

/// Walks the indices [begin, end) of `shape` in row-major order and calls
/// f(i, offsets) with, for each of the N operands, the element offset its
/// `strides` give (0 on broadcast axes). Offsets advance incrementally.
template <size_t N, typename F>
void walkIndices(const std::vector<int64_t> &shape,
                 const std::array<std::vector<int64_t>, N> &strides,
                 int64_t begin, int64_t end, F &&f) {
  if (begin >= end) // an empty tensor (a zero dimension): nothing to visit
    return;
  int rank = shape.size();
  std::vector<int64_t> idx(rank, 0);
  std::array<int64_t, N> off{};
  int64_t rem = begin;
  for (int d = rank - 1; d >= 0; --d) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
    for (size_t k = 0; k < N; ++k)
      off[k] += idx[d] * strides[k][d];
  }
  for (int64_t i = begin; i < end; ++i) {
    f(i, off);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        for (size_t k = 0; k < N; ++k)
          off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k)
        off[k] -= strides[k][d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

inline int64_t elementCount(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  return count;
}

/// Every index of `shape`, in order, on this thread.
template <size_t N, typename F>
void forEachIndex(const std::vector<int64_t> &shape,
                  const std::array<std::vector<int64_t>, N> &strides, F &&f) {
  walkIndices<N>(shape, strides, 0, elementCount(shape), f);
}

/// Elements per OpenMP task of the element-wise kernels: below this a loop
/// stays on one thread.
constexpr int64_t kParallelGrain = 1 << 14;

/// forEachIndex, with the index range cut into chunks that run on the
/// rank's OpenMP threads; f must write only what index i owns.
template <size_t N, typename F>
void forEachIndexParallel(const std::vector<int64_t> &shape,
                          const std::array<std::vector<int64_t>, N> &strides,
                          F &&f) {
  int64_t count = elementCount(shape);
  int64_t chunks = std::max<int64_t>(1, count / kParallelGrain);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c)
    walkIndices<N>(shape, strides, count * c / chunks,
                   count * (c + 1) / chunks, f);
}

/// for i in [0, n): f(i), on the rank's OpenMP threads when n is large.
template <typename F> void parallelFor(int64_t n, F &&f) {
#pragma omp parallel for schedule(static) if (n >= 2 * kParallelGrain)
  for (int64_t i = 0; i < n; ++i)
    f(i);
}

/// The sliding-window geometry of conv and pooling over the trailing
/// spatial axes of x (NC...): strides, pads (begins then ends), dilations
/// with ONNX's defaults, and the sizes and element counts per plane.
struct Window {
  int spatial;
  std::vector<int64_t> kernel, strides, pads, dilations, inSize, outSize;
  int64_t inPlane = 1, kPlane = 1, outPlane = 1;
  Window(const Attrs &a, const TensorRef &x, const TensorRef &y,
         std::vector<int64_t> kernelShape);
  /// A 1x1 window with unit strides and no padding: output position p reads
  /// input position p.
  bool pointwise() const {
    bool one = kPlane == 1 && inPlane == outPlane;
    for (int64_t p : pads)
      one = one && p == 0;
    for (int64_t s : strides)
      one = one && s == 1;
    return one;
  }
};

/// Visits the window of output position `op` (row-major over outSize):
/// calls f(offset) with the plane offset of each position inside the input,
/// in row-major kernel order, and returns how many positions lie within
/// the padded input (average pooling's count_include_pad divisor; positions
/// past the end padding, from ceil_mode, never count).
template <typename F>
int64_t visitWindow(const Window &win, int64_t op, F &&f) {
  int spatial = win.spatial;
  int64_t o[8], k[8];
  for (int d = spatial - 1; d >= 0; --d) {
    o[d] = op % win.outSize[d];
    op /= win.outSize[d];
  }
  int64_t padded = 0;
  for (int64_t kp = 0; kp < win.kPlane; ++kp) {
    int64_t rem = kp, offset = 0;
    for (int d = spatial - 1; d >= 0; --d) {
      k[d] = rem % win.kernel[d];
      rem /= win.kernel[d];
    }
    bool inside = true, inPadded = true;
    for (int d = 0; d < spatial; ++d) {
      int64_t pos = o[d] * win.strides[d] - win.pads[d] + k[d] * win.dilations[d];
      if (pos < 0 || pos >= win.inSize[d])
        inside = false;
      if (pos < -win.pads[d] || pos >= win.inSize[d] + win.pads[spatial + d])
        inPadded = false;
      offset = offset * win.inSize[d] + pos;
    }
    padded += inPadded;
    if (inside)
      f(offset);
  }
  return padded;
}

/// fp32 convolution through oneDNN (ConvDnnl.cpp); haveDnnl() says whether
/// this runtime was built with it.
Status convDnnl(Tensors &in, Tensors &out, const Window &win, int64_t group,
                std::shared_ptr<void> &state);
bool haveDnnl();

/// The fp32 GEMM of Linalg.cpp: C = alpha op(A) op(B) + beta C, row-major,
/// bitwise the same for any thread count.
void gemmF32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb,
             float beta, float *c, int64_t ldc);
/// The same with bf16 or f16 (`type`) factors and an f32 result,
/// accumulated in f32; `accumulate` adds to C (GemmDnnl.cpp: oneDNN's
/// matmul where built in, else the factors widened to f32). `state` keeps
/// the primitives (one per instruction).
Status gemmLow(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
               bool accumulate, float *c, int64_t ldc, DType type,
               std::shared_ptr<void> &state);
/// Whether a product reads bf16 or f16 factors into an f32 result
/// (-pp-precision).
inline bool lowProduct(const TensorRef &factor, const TensorRef &result) {
  return (factor.desc.dtype == DType::BF16 || factor.desc.dtype == DType::F16) &&
         result.desc.dtype == DType::F32;
}

/// How fp32 convolutions run: oneDNN's direct kernels where built in
/// (the default), else im2col + BLAS GEMM. PPRT_CONV=im2col|direct
/// overrides, for benchmarks.
enum class ConvMethod { Im2col, Direct };
ConvMethod convMethod();

/// IEEE half and bfloat16 <-> float, round to nearest even.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

/// A float16 or bfloat16 element as the element-wise kernels see it: stored
/// as its 16 bits, computed in float (every operator widens it), rounded to
/// nearest even when a result is stored; one rounding per op, as ONNX's
/// reference (numpy's float16) computes.
template <bool Brain> struct Half16 {
  uint16_t bits = 0;
  Half16() = default;
  Half16(float f) : bits(Brain ? floatToBf16(f) : floatToHalf(f)) {}
  operator float() const {
    return Brain ? bf16ToFloat(bits) : halfToFloat(bits);
  }
};
static_assert(sizeof(Half16<false>) == 2 && sizeof(Half16<true>) == 2);
template <typename T> constexpr bool isHalf16 = false;
template <bool B> constexpr bool isHalf16<Half16<B>> = true;
/// float, double, float16 and bfloat16.
template <typename T>
constexpr bool isFloatLike = std::is_floating_point_v<T> || isHalf16<T>;

/// Calls f(T{}) for the C++ type T of `dtype`.
template <typename F> Status dispatch(DType dtype, F &&f, bool floatOnly = false) {
  switch (dtype) {
  case DType::F32: f(float{}); return Status::ok();
  case DType::F64: f(double{}); return Status::ok();
  default: break;
  }
  if (floatOnly)
    return invalidArgument(std::string("element type ") + dtypeName(dtype) +
                           " is not supported by this kernel");
  switch (dtype) {
  case DType::I64: f(int64_t{}); return Status::ok();
  case DType::I32: f(int32_t{}); return Status::ok();
  case DType::I16: f(int16_t{}); return Status::ok();
  case DType::I8: f(int8_t{}); return Status::ok();
  case DType::U8: f(uint8_t{}); return Status::ok();
  case DType::Bool: f(bool{}); return Status::ok();
  case DType::U16: f(uint16_t{}); return Status::ok();
  case DType::U32: f(uint32_t{}); return Status::ok();
  case DType::U64: f(uint64_t{}); return Status::ok();
  default:
    return invalidArgument(std::string("element type ") + dtypeName(dtype) +
                           " is not supported on the CPU backend");
  }
}

/// dispatch, and for F16 and BF16 f(Half16{}): the element-wise kernels,
/// which compute a half element in float.
template <typename F>
Status dispatchElementwise(DType dtype, F &&f, bool floatOnly = false) {
  if (dtype == DType::F16) {
    f(Half16<false>{});
    return Status::ok();
  }
  if (dtype == DType::BF16) {
    f(Half16<true>{});
    return Status::ok();
  }
  return dispatch(dtype, std::forward<F>(f), floatOnly);
}

} // namespace cpu
} // namespace pprt

#endif // PPRT_CPU_KERNELS_H
