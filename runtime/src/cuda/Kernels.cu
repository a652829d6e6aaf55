//===- Kernels.cu - the CUDA backend's own kernels ------------------------===//
//
// Everything that is not a matrix product (those go to cuBLASLt,
// LtGemm.cpp). The kernels follow the CPU backend's arithmetic where it
// matters for agreement: statistics and loss sums accumulate in double, in
// a fixed order (a block's tree over a fixed thread count), so a kernel
// gives the same bits run to run; gather_grad's atomics are the one
// exception (Device.h). Halves (f16, bf16) compute in float.
//
// Element-wise kernels take the operation as a (warp-uniform) runtime
// switch rather than a template parameter: one instantiation per element
// type serves every op, which keeps CI's compile time down, and the switch
// costs nothing next to the memory traffic.
//
//===----------------------------------------------------------------------===//

#include "Device.h"
#include "Launch.cuh"
#include "LtGemm.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda/std/limits>
#include <cuda/std/type_traits>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace pprt {
namespace cuda {

StatusOr<Walk> makeWalk(const std::vector<int64_t> &shape,
                        const std::vector<std::vector<int64_t>> &strides,
                        const std::vector<int64_t> &bases) {
  Walk w;
  if (shape.size() > (size_t)kMaxRank)
    return invalidArgument("a tensor of " + std::to_string(shape.size()) +
                           " axes: the CUDA backend's kernels take at most " +
                           std::to_string(kMaxRank));
  w.rank = shape.size();
  int64_t total = 1;
  for (int d = 0; d < w.rank; ++d) {
    w.shape[d] = shape[d];
    total *= shape[d];
  }
  w.small = total < INT32_MAX;
  for (size_t s = 0; s < strides.size() && s < 3; ++s)
    for (int d = 0; d < w.rank && d < (int)strides[s].size(); ++d)
      w.strides[s][d] = strides[s][d];
  for (size_t s = 0; s < bases.size() && s < 3; ++s)
    w.base[s] = bases[s];
  return w;
}

namespace {

__device__ inline int64_t offsetOf(const Walk &w, int slot, int64_t i) {
  int64_t off = w.base[slot];
  if (w.small) {
    uint32_t j = (uint32_t)i;
    for (int d = w.rank - 1; d >= 0; --d) {
      uint32_t size = (uint32_t)w.shape[d], idx = j % size;
      j /= size;
      off += (int64_t)idx * w.strides[slot][d];
    }
    return off;
  }
  for (int d = w.rank - 1; d >= 0; --d) {
    int64_t idx = i % w.shape[d];
    i /= w.shape[d];
    off += idx * w.strides[slot][d];
  }
  return off;
}

__device__ inline int64_t operandIndex(const Operand &o, const Walk &w,
                                       int64_t i) {
  switch (o.index) {
  case Index::Same:
    return i;
  case Index::Repeat:
    return i % o.count;
  default:
    return offsetOf(w, o.slot, i);
  }
}

__device__ void record(DeviceError *e, int code, int instr, long long value,
                       long long limit, long long position) {
  if (atomicCAS(&e->code, 0, code) == 0) {
    e->instr = instr;
    e->value = value;
    e->limit = limit;
    e->position = position;
  }
}

// Loads and stores through the compute type: float for the halves.
template <typename T> struct Compute { using type = T; };
template <> struct Compute<__half> { using type = float; };
template <> struct Compute<__nv_bfloat16> { using type = float; };
template <> struct Compute<bool> { using type = int; };

template <typename T> __device__ inline typename Compute<T>::type load(T v) {
  return v;
}
template <> __device__ inline float load(__half v) { return __half2float(v); }
template <> __device__ inline float load(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T, typename C> __device__ inline T store(C v) {
  return T(v);
}
template <> __device__ inline __half store<__half, float>(float v) {
  return __float2half_rn(v);
}
template <> __device__ inline __nv_bfloat16 store<__nv_bfloat16, float>(float v) {
  return __float2bfloat16_rn(v);
}
template <> __device__ inline bool store<bool, int>(int v) { return v != 0; }

/// Calls f(T{}) for the device type of `d` when `d` is one of the allowed
/// types (Ints: the signed and unsigned integers and bool too; Halves: f16
/// and bf16 too); otherwise
/// an error naming `what`. Only the allowed types are instantiated.
template <bool Ints = true, bool Halves = true, typename F>
Status dispatch(DType d, const char *what, F &&f) {
  switch (d) {
  case DType::F32: return f(float{});
  case DType::F64: return f(double{});
  case DType::F16:
    if constexpr (Halves)
      return f(__half{});
    break;
  case DType::BF16:
    if constexpr (Halves)
      return f(__nv_bfloat16{});
    break;
  case DType::I64:
    if constexpr (Ints)
      return f(int64_t{});
    break;
  case DType::I32:
    if constexpr (Ints)
      return f(int32_t{});
    break;
  case DType::I16:
    if constexpr (Ints)
      return f(int16_t{});
    break;
  case DType::I8:
    if constexpr (Ints)
      return f(int8_t{});
    break;
  case DType::U8:
    if constexpr (Ints)
      return f(uint8_t{});
    break;
  case DType::U16:
    if constexpr (Ints)
      return f(uint16_t{});
    break;
  case DType::U32:
    if constexpr (Ints)
      return f(uint32_t{});
    break;
  case DType::U64:
    if constexpr (Ints)
      return f(uint64_t{});
    break;
  case DType::Bool:
    if constexpr (Ints)
      return f(bool{});
    break;
  }
  return invalidArgument(std::string(what) + ": element type " +
                         dtypeName(d) + " is not supported on the CUDA backend");
}

//===----------------------------------------------------------------------===//
// Element-wise
//===----------------------------------------------------------------------===//

template <typename C> __device__ inline C arith(BinaryOp op, C a, C b) {
  switch (op) {
  case BinaryOp::Add: return a + b;
  case BinaryOp::Sub: return a - b;
  case BinaryOp::Mul: return a * b;
  case BinaryOp::Div:
    if constexpr (std::is_integral_v<C>)
      return b == C(0) ? C(0) : C(a / b);
    else
      return a / b;
  case BinaryOp::Max: return a > b ? a : b;
  case BinaryOp::Min: return a < b ? a : b;
  case BinaryOp::Pow: return C(pow((double)a, (double)b));
  case BinaryOp::Mod:
  case BinaryOp::Fmod:
    if constexpr (std::is_integral_v<C>) {
      if (b == C(0))
        return C(0);
      if constexpr (std::is_signed_v<C>)
        if (b == C(-1)) // the most negative value % -1 overflows; it is 0
          return C(0);
      C r = C(a % b);
      if constexpr (std::is_signed_v<C>)
        if (op == BinaryOp::Mod && r != C(0) && ((r < C(0)) != (b < C(0))))
          r = C(r + b);
      return r;
    } else {
      C r = fmod(a, b);
      if (op == BinaryOp::Mod && r != C(0) && ((r < C(0)) != (b < C(0))))
        r += b;
      return r;
    }
  default: return C(0);
  }
}

template <typename C> __device__ inline bool logic(BinaryOp op, C a, C b) {
  switch (op) {
  case BinaryOp::Equal: return a == b;
  case BinaryOp::Less: return a < b;
  case BinaryOp::LessEqual: return a <= b;
  case BinaryOp::Greater: return a > b;
  case BinaryOp::GreaterEqual: return a >= b;
  case BinaryOp::And: return a && b;
  case BinaryOp::Or: return a || b;
  case BinaryOp::Xor: return bool(a) != bool(b);
  default: return false;
  }
}

template <typename T, bool Logic>
__global__ void binaryKernel(BinaryOp op, Operand a, Operand b, void *y,
                             int64_t n, Walk walk) {
  using C = typename Compute<T>::type;
  const T *pa = static_cast<const T *>(a.data), *pb = static_cast<const T *>(b.data);
  GRID_STRIDE(i, n) {
    C x = load(pa[operandIndex(a, walk, i)]);
    C z = load(pb[operandIndex(b, walk, i)]);
    if constexpr (Logic)
      static_cast<bool *>(y)[i] = logic(op, x, z);
    else
      static_cast<T *>(y)[i] = store<T>(arith(op, x, z));
  }
}

bool isLogic(BinaryOp op) { return op >= BinaryOp::Equal; }

template <typename C> __device__ inline C unaryOp(UnaryOp op, C x,
                                                  const UnaryParams &p) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
    // NaN passes through, as in PyTorch.
    case UnaryOp::Relu: return x > C(0) || x != x ? x : C(0);
    case UnaryOp::Sigmoid: return C(1) / (C(1) + exp(-x));
    case UnaryOp::Tanh: return tanh(x);
    case UnaryOp::Erf: return erf(x);
    case UnaryOp::Sqrt: return sqrt(x);
    case UnaryOp::Exp: return exp(x);
    case UnaryOp::Log: return log(x);
    case UnaryOp::Reciprocal: return C(1) / x;
    case UnaryOp::Floor: return floor(x);
    case UnaryOp::Ceil: return ceil(x);
    case UnaryOp::Round: return nearbyint(x);
    case UnaryOp::Sin: return sin(x);
    case UnaryOp::Cos: return cos(x);
    case UnaryOp::Softplus: return log1p(exp(x));
    case UnaryOp::Gelu: return C(0.5) * x * (C(1) + erf(x * C(M_SQRT1_2)));
    case UnaryOp::GeluTanh:
      return C(0.5) * x *
             (C(1) + tanh(C(0.7978845608028654) * (x + C(0.044715) * x * x * x)));
    case UnaryOp::HardSigmoid:
    case UnaryOp::HardSwish: {
      // max(0, min(1, alpha x + beta)), NaN passing; hard_swish is x times
      // it with alpha 1/6, beta 1/2, as the CPU backend computes them.
      bool swish = op == UnaryOp::HardSwish;
      C v = swish ? C(1.0 / 6) * x + C(0.5) : C(p.alpha) * x + C(p.beta);
      C h = v != v ? v : v < C(0) ? C(0) : v > C(1) ? C(1) : v;
      return swish ? x * h : h;
    }
    default: break;
    }
  }
  switch (op) {
  case UnaryOp::Neg: return C(-x);
  case UnaryOp::Abs: return x < C(0) ? C(-x) : x;
  case UnaryOp::Sign: return C((x > C(0)) - (x < C(0)));
  case UnaryOp::Not: return C(!x);
  case UnaryOp::LeakyRelu: return x >= C(0) ? x : C(p.alpha * x);
  case UnaryOp::Clip:
    if (p.hasLo && x < C(p.lo))
      x = C(p.lo);
    if (p.hasHi && x > C(p.hi))
      x = C(p.hi);
    return x;
  default: return x;
  }
}

template <typename T>
__global__ void unaryKernel(UnaryOp op, const T *x, T *y, int64_t n,
                            UnaryParams p) {
  GRID_STRIDE(i, n) { y[i] = store<T>(unaryOp(op, load(x[i]), p)); }
}

__global__ void activationGradKernel(GradOp op, const float *v,
                                     const float *g, float *dx, int64_t n,
                                     float alpha, float beta) {
  GRID_STRIDE(i, n) {
    float x = v[i], gi = g[i], r;
    switch (op) {
    case GradOp::Relu: r = x > 0 ? gi : 0.0f; break;
    case GradOp::HardSigmoid: {
      float u = alpha * x + beta;
      r = u > 0 && u < 1 ? gi * alpha : 0.0f;
      break;
    }
    case GradOp::HardSwish: // PyTorch's hardswish_backward
      r = x < -3 ? 0.0f : x <= 3 ? gi * (x / 3 + 0.5f) : gi;
      break;
    case GradOp::Tanh: r = gi * (1 - x * x); break;
    case GradOp::Sigmoid: r = gi * x * (1 - x); break;
    case GradOp::GeluTanh: {
      const float c = 0.7978845608028654f;
      float u = c * (x + 0.044715f * x * x * x), t = tanhf(u);
      float du = c * (1 + 3 * 0.044715f * x * x);
      r = gi * (0.5f * (1 + t) + 0.5f * x * (1 - t * t) * du);
      break;
    }
    default: {
      float cdf = 0.5f * (1 + erff(x * float(M_SQRT1_2)));
      float pdf = expf(-0.5f * x * x) * 0.3989422804014327f;
      r = gi * (cdf + x * pdf);
    }
    }
    dx[i] = r;
  }
}

template <typename W>
__global__ void whereKernel(const bool *cond, const W *a, const W *b, W *y,
                            int64_t n, Walk walk) {
  GRID_STRIDE(i, n) {
    y[i] = cond[offsetOf(walk, 0, i)] ? a[offsetOf(walk, 1, i)]
                                      : b[offsetOf(walk, 2, i)];
  }
}

template <typename S, typename D>
__global__ void castKernel(const S *x, D *y, int64_t n) {
  GRID_STRIDE(i, n) {
    auto v = load(x[i]);
    if constexpr (std::is_same_v<D, bool>) {
      y[i] = v != decltype(v)(0);
    } else if constexpr (std::is_floating_point_v<decltype(v)> &&
                         std::is_integral_v<D>) {
      y[i] = isnan((double)v) ? D(0) : D(v);
    } else if constexpr (std::is_same_v<D, __half> ||
                         std::is_same_v<D, __nv_bfloat16>) {
      y[i] = store<D>(float(v));
    } else {
      y[i] = D(v);
    }
  }
}

template <typename W>
__global__ void stridedCopyKernel(const W *src, W *dst, int64_t n, Walk walk) {
  GRID_STRIDE(i, n) { dst[offsetOf(walk, 1, i)] = src[offsetOf(walk, 0, i)]; }
}

template <typename W> Status copyAs(const void *src, void *dst, int64_t n,
                                   const Walk &walk, cudaStream_t s) {
  stridedCopyKernel<W><<<blocksFor(n), kThreads, 0, s>>>(
      static_cast<const W *>(src), static_cast<W *>(dst), n, walk);
  return launched("strided copy");
}

__device__ inline int64_t indexAt(const void *indices, bool wide, int64_t i) {
  return wide ? static_cast<const int64_t *>(indices)[i]
              : static_cast<const int32_t *>(indices)[i];
}

template <typename W>
__global__ void gatherKernel(const W *x, const void *indices, bool wide, W *y,
                             int64_t outer, int64_t n, int64_t count,
                             int64_t inner, DeviceError *error, int instr) {
  int64_t total = outer * count * inner;
  GRID_STRIDE(t, total) {
    int64_t j = t % inner, oi = t / inner, i = oi % count, o = oi / count;
    int64_t k = indexAt(indices, wide, i);
    if (k < 0)
      k += n;
    if (k < 0 || k >= n) {
      record(error, 1, instr, indexAt(indices, wide, i), n, i);
      continue;
    }
    y[t] = x[(o * n + k) * inner + j];
  }
}

__global__ void gatherGradKernel(const void *indices, bool wide,
                                 const float *g, float *y, int64_t outer,
                                 int64_t n, int64_t count, int64_t inner,
                                 DeviceError *error, int instr) {
  int64_t total = outer * count * inner;
  GRID_STRIDE(t, total) {
    int64_t j = t % inner, oi = t / inner, i = oi % count, o = oi / count;
    int64_t k = indexAt(indices, wide, i);
    if (k < 0)
      k += n;
    if (k < 0 || k >= n) {
      record(error, 1, instr, indexAt(indices, wide, i), n, i);
      continue;
    }
    atomicAdd(&y[(o * n + k) * inner + j], g[t]);
  }
}

//===----------------------------------------------------------------------===//
// Block reductions
//===----------------------------------------------------------------------===//

/// Combines one value per thread of the block (blockDim.x a power of two,
/// at most 256) in a fixed tree; every thread gets the result.
template <typename A, typename F>
__device__ A blockReduce(A v, F combine) {
  __shared__ A shared[256];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if ((int)threadIdx.x < half)
      shared[threadIdx.x] = combine(shared[threadIdx.x], shared[threadIdx.x + half]);
    __syncthreads();
  }
  A r = shared[0];
  __syncthreads();
  return r;
}

struct Plus {
  template <typename A> __device__ A operator()(A a, A b) const { return a + b; }
};
struct Larger {
  template <typename A> __device__ A operator()(A a, A b) const {
    return a > b ? a : b;
  }
};

/// Threads per block for reductions of n elements: a power of two in
/// [32, 256].
int reduceThreads(int64_t n) {
  int t = 32;
  while (t < 256 && t < n)
    t *= 2;
  return t;
}

template <typename T>
__global__ void reduceKernel(ReduceOp op, const T *x, T *y, Walk kept,
                             int64_t count, Walk reduced) {
  int64_t o = blockIdx.x;
  int64_t base = offsetOf(kept, 0, o);
  double acc = op == ReduceOp::Max   ? -INFINITY
               : op == ReduceOp::Min ? INFINITY
               : op == ReduceOp::Prod ? 1.0
                                      : 0.0;
  for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
    double v = (double)load(x[base + offsetOf(reduced, 0, r)]);
    switch (op) {
    case ReduceOp::Max: acc = v > acc ? v : acc; break;
    case ReduceOp::Min: acc = v < acc ? v : acc; break;
    case ReduceOp::Prod: acc *= v; break;
    default: acc += v;
    }
  }
  double total;
  switch (op) {
  case ReduceOp::Max:
    total = blockReduce(acc, Larger());
    break;
  case ReduceOp::Min:
    total = -blockReduce(-acc, Larger());
    break;
  case ReduceOp::Prod:
    total = blockReduce(acc, [](double a, double b) { return a * b; });
    break;
  default:
    total = blockReduce(acc, Plus());
  }
  // An empty set's max and min of integers and booleans are the type's
  // bounds (ONNX: false for a boolean max), not +-inf.
  if constexpr (::cuda::std::is_integral_v<T>)
    total = fmin(fmax(total, (double)::cuda::std::numeric_limits<T>::lowest()),
                 (double)::cuda::std::numeric_limits<T>::max());
  if (threadIdx.x == 0)
    y[o] = store<T>(typename Compute<T>::type(
        op == ReduceOp::Mean ? total / count : total));
}

template <typename T>
__global__ void softmaxRowKernel(bool logOut, const T *x, T *y, int64_t n) {
  using C = typename Compute<T>::type;
  const T *src = x + blockIdx.x * n;
  T *dst = y + blockIdx.x * n;
  C m = -INFINITY;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
    C v = load(src[k]);
    m = v > m ? v : m;
  }
  m = blockReduce(m, Larger());
  C sum = 0;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
    sum += exp(load(src[k]) - m);
  sum = blockReduce(sum, Plus());
  C logSum = log(sum);
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
    C v = load(src[k]) - m;
    dst[k] = store<T>(logOut ? v - logSum : exp(v) / sum);
  }
}

/// Rows along a strided axis: one thread per row.
template <typename T>
__global__ void softmaxStridedKernel(bool logOut, const T *x, T *y, Rows r) {
  using C = typename Compute<T>::type;
  GRID_STRIDE(row, r.outer * r.inner) {
    int64_t base = (row / r.inner) * r.n * r.inner + row % r.inner;
    C m = -INFINITY;
    for (int64_t k = 0; k < r.n; ++k) {
      C v = load(x[base + k * r.inner]);
      m = v > m ? v : m;
    }
    C sum = 0;
    for (int64_t k = 0; k < r.n; ++k)
      sum += exp(load(x[base + k * r.inner]) - m);
    for (int64_t k = 0; k < r.n; ++k) {
      C v = load(x[base + k * r.inner]) - m;
      y[base + k * r.inner] = store<T>(logOut ? v - log(sum) : exp(v) / sum);
    }
  }
}

__global__ void softmaxGradKernel(bool logOut, const float *y, const float *g,
                                  float *dx, Rows r) {
  // One block per row; the row's elements at stride r.inner.
  int64_t row = blockIdx.x;
  int64_t base = (row / r.inner) * r.n * r.inner + row % r.inner;
  double dot = 0;
  for (int64_t k = threadIdx.x; k < r.n; k += blockDim.x) {
    int64_t i = base + k * r.inner;
    dot += logOut ? (double)g[i] : (double)g[i] * y[i];
  }
  dot = blockReduce(dot, Plus());
  for (int64_t k = threadIdx.x; k < r.n; k += blockDim.x) {
    int64_t i = base + k * r.inner;
    dx[i] = logOut ? float(g[i] - exp((double)y[i]) * dot)
                   : float(y[i] * (g[i] - dot));
  }
}

__global__ void layerNormKernel(const float *x, const float *scale,
                                const float *bias, float *y, float *meanOut,
                                float *invOut, int64_t n, double eps) {
  const float *row = x + blockIdx.x * n;
  float *out = y + blockIdx.x * n;
  double sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    sum += row[i];
  double mean = blockReduce(sum, Plus()) / n;
  double sq = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    sq += (row[i] - mean) * (row[i] - mean);
  double inv = 1.0 / sqrt(blockReduce(sq, Plus()) / n + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = float((row[i] - mean) * inv) * scale[i];
    out[i] = bias ? v + bias[i] : v;
  }
  if (threadIdx.x == 0) {
    if (meanOut)
      meanOut[blockIdx.x] = float(mean);
    if (invOut)
      invOut[blockIdx.x] = float(inv);
  }
}

__global__ void layerNormGradKernel(const float *x, const float *scale,
                                    const float *mean, const float *inv,
                                    const float *dy, float *dx, int64_t n) {
  int64_t row = blockIdx.x;
  const float *xr = x + row * n, *gr = dy + row * n;
  float m = mean[row], is = inv[row];
  double sumG = 0, sumGX = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    double g = (double)gr[i] * scale[i];
    sumG += g;
    sumGX += g * ((xr[i] - m) * is);
  }
  double meanG = blockReduce(sumG, Plus()) / n;
  double meanGX = blockReduce(sumGX, Plus()) / n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    double xhat = (xr[i] - m) * is;
    dx[row * n + i] = float(is * ((double)gr[i] * scale[i] - meanG - xhat * meanGX));
  }
}

/// The scale's and bias's gradients in two passes: each block sums a chunk
/// of rows for consecutive columns (coalesced), then one thread per column
/// adds the chunks in order (deterministic).
__global__ void layerNormParamPartialKernel(const float *x, const float *mean,
                                            const float *inv, const float *dy,
                                            double *partial, int64_t rows,
                                            int64_t n, int64_t perChunk) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  int64_t chunk = blockIdx.y, chunks = gridDim.y;
  if (i >= n)
    return;
  double s = 0, t = 0;
  int64_t end = (chunk + 1) * perChunk < rows ? (chunk + 1) * perChunk : rows;
  for (int64_t row = chunk * perChunk; row < end; ++row) {
    float g = dy[row * n + i];
    s += (double)g * ((x[row * n + i] - mean[row]) * inv[row]);
    t += g;
  }
  partial[chunk * n + i] = s;
  partial[(chunks + chunk) * n + i] = t;
}

__global__ void layerNormParamSumKernel(const double *partial, float *ds,
                                        float *db, int64_t chunks, int64_t n) {
  GRID_STRIDE(i, n) {
    double s = 0, t = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      s += partial[c * n + i];
      t += partial[(chunks + c) * n + i];
    }
    ds[i] = float(s);
    db[i] = float(t);
  }
}

/// log(sum(exp(row))) of one row, by the block.
__device__ double blockLogSumExp(const float *row, int64_t n) {
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
    m = row[k] > m ? row[k] : m;
  m = blockReduce(m, Larger());
  double sum = 0;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
    sum += exp((double)row[k] - m);
  return m + log(blockReduce(sum, Plus()));
}

__global__ void crossEntropyRowsKernel(const float *logits, const void *labels,
                                       bool wide, double *perRow,
                                       int64_t classes, DeviceError *error,
                                       int instr) {
  int64_t r = blockIdx.x;
  const float *row = logits + r * classes;
  double lse = blockLogSumExp(row, classes);
  if (threadIdx.x == 0) {
    int64_t k = indexAt(labels, wide, r);
    if (k < 0 || k >= classes) {
      record(error, 2, instr, k, classes, r);
      perRow[r] = 0;
    } else {
      perRow[r] = lse - row[k];
    }
  }
}

/// out[0] = scale * sum(v[0..n)), one block, in a fixed order.
__global__ void sumToLossKernel(const double *v, int64_t n, double scale,
                                float *out) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    acc += v[i];
  acc = blockReduce(acc, Plus());
  if (threadIdx.x == 0)
    out[0] = float(acc * scale);
}

__global__ void crossEntropyGradKernel(const float *logits, const void *labels,
                                       bool wide, float *dx, int64_t classes,
                                       double scale, DeviceError *error,
                                       int instr) {
  int64_t r = blockIdx.x;
  const float *row = logits + r * classes;
  float *dst = dx + r * classes;
  double lse = blockLogSumExp(row, classes);
  int64_t label = indexAt(labels, wide, r);
  if (threadIdx.x == 0 && (label < 0 || label >= classes))
    record(error, 2, instr, label, classes, r);
  for (int64_t k = threadIdx.x; k < classes; k += blockDim.x)
    dst[k] = float(exp((double)row[k] - lse) * scale) -
             (k == label ? float(scale) : 0.0f);
}

__global__ void squaredErrorKernel(const float *p, const float *t,
                                   double *partial, int64_t n) {
  double acc = 0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    double d = (double)p[i] - t[i];
    acc += d * d;
  }
  acc = blockReduce(acc, Plus());
  if (threadIdx.x == 0)
    partial[blockIdx.x] = acc;
}

__global__ void mseGradKernel(const float *p, const float *t, float *dx,
                              int64_t n, float twice) {
  GRID_STRIDE(i, n) { dx[i] = twice * (p[i] - t[i]); }
}

__global__ void scaleAddKernel(float *y, float alpha, float beta, Operand c,
                               int64_t n, Walk walk) {
  const float *pc = static_cast<const float *>(c.data);
  GRID_STRIDE(i, n) { y[i] = alpha * y[i] + beta * pc[operandIndex(c, walk, i)]; }
}


//===----------------------------------------------------------------------===//
// Windows: convolution lowering, pooling
//===----------------------------------------------------------------------===//

/// The output position `op` of the window as per-axis coordinates.
__device__ inline void outputCoords(const ConvWindow &w, int64_t op,
                                    int64_t *o) {
  for (int d = w.spatial - 1; d >= 0; --d) {
    o[d] = op % w.outSize[d];
    op /= w.outSize[d];
  }
}

/// Where kernel position `kp` of the window at output coordinates `o`
/// reads: the plane offset when inside the input (returns true); `padded`
/// says whether it lies inside the padded input.
__device__ inline bool windowAt(const ConvWindow &w, const int64_t *o,
                                int64_t kp, int64_t &offset, bool &padded) {
  int64_t k[kMaxSpatial];
  for (int d = w.spatial - 1; d >= 0; --d) {
    k[d] = kp % w.kernel[d];
    kp /= w.kernel[d];
  }
  bool inside = true;
  padded = true;
  offset = 0;
  for (int d = 0; d < w.spatial; ++d) {
    int64_t pos = o[d] * w.strides[d] - w.pads[d] + k[d] * w.dilations[d];
    if (pos < 0 || pos >= w.inSize[d])
      inside = false;
    if (pos < -w.pads[d] || pos >= w.inSize[d] + w.pads[w.spatial + d])
      padded = false;
    offset = offset * w.inSize[d] + pos;
  }
  return inside;
}

/// The output coordinates whose window reads input position `p` (plane
/// offset) at kernel position kp; false when there is none.
__device__ inline bool outputFor(const ConvWindow &w, int64_t p, int64_t kp,
                                 int64_t &op) {
  int64_t pos[kMaxSpatial], k[kMaxSpatial];
  for (int d = w.spatial - 1; d >= 0; --d) {
    pos[d] = p % w.inSize[d];
    p /= w.inSize[d];
    k[d] = kp % w.kernel[d];
    kp /= w.kernel[d];
  }
  op = 0;
  for (int d = 0; d < w.spatial; ++d) {
    int64_t t = pos[d] + w.pads[d] - k[d] * w.dilations[d];
    if (t < 0 || t % w.strides[d] != 0 || t / w.strides[d] >= w.outSize[d])
      return false;
    op = op * w.outSize[d] + t / w.strides[d];
  }
  return true;
}

__global__ void im2colKernel(const float *x, float *col, int64_t n, int64_t c,
                             ConvWindow w) {
  int64_t columns = n * w.outPlane, total = c * w.kPlane * columns;
  GRID_STRIDE(t, total) {
    int64_t column = t % columns, row = t / columns;
    int64_t image = column / w.outPlane, op = column % w.outPlane;
    int64_t ch = row / w.kPlane, kp = row % w.kPlane;
    int64_t o[kMaxSpatial], offset;
    bool padded;
    outputCoords(w, op, o);
    col[t] = windowAt(w, o, kp, offset, padded)
                 ? x[(image * c + ch) * w.inPlane + offset]
                 : 0.0f;
  }
}

__global__ void col2imKernel(const float *col, float *x, int64_t n, int64_t c,
                             ConvWindow w) {
  int64_t columns = n * w.outPlane, total = n * c * w.inPlane;
  GRID_STRIDE(t, total) {
    int64_t p = t % w.inPlane, ch = (t / w.inPlane) % c,
            image = t / (w.inPlane * c);
    float sum = 0;
    for (int64_t kp = 0; kp < w.kPlane; ++kp) {
      int64_t op;
      if (outputFor(w, p, kp, op))
        sum += col[(ch * w.kPlane + kp) * columns + image * w.outPlane + op];
    }
    x[t] = sum;
  }
}

/// The window's first maximum (or last NaN) at output `op` of a plane, as
/// a plane offset; -1 for an empty window.
__device__ int64_t argmaxAt(const ConvWindow &w, const float *xp, int64_t op) {
  int64_t o[kMaxSpatial], best = -1, offset;
  float bestValue = -INFINITY;
  bool padded;
  outputCoords(w, op, o);
  for (int64_t kp = 0; kp < w.kPlane; ++kp)
    if (windowAt(w, o, kp, offset, padded)) {
      float v = xp[offset];
      if (best < 0)
        best = offset;
      if (v > bestValue || isnan(v)) {
        best = offset;
        bestValue = v;
      }
    }
  return best;
}

/// The average's divisor at output `op`.
__device__ int64_t divisorAt(const ConvWindow &w, int64_t op, bool includePad) {
  int64_t o[kMaxSpatial], offset, count = 0, padded = 0;
  bool inPadded;
  outputCoords(w, op, o);
  for (int64_t kp = 0; kp < w.kPlane; ++kp) {
    count += windowAt(w, o, kp, offset, inPadded);
    padded += inPadded;
  }
  int64_t d = includePad ? padded : count;
  return d > 0 ? d : 1;
}

template <typename T>
__global__ void poolKernel(bool max, bool includePad, const T *x, T *y,
                           int64_t planes, ConvWindow w) {
  using C = typename Compute<T>::type;
  GRID_STRIDE(t, planes * w.outPlane) {
    int64_t plane = t / w.outPlane, op = t % w.outPlane;
    const T *xp = x + plane * w.inPlane;
    int64_t o[kMaxSpatial], offset;
    bool padded;
    outputCoords(w, op, o);
    if constexpr (std::is_floating_point_v<C>) {
      double acc = max ? -INFINITY : 0.0;
      for (int64_t kp = 0; kp < w.kPlane; ++kp)
        if (windowAt(w, o, kp, offset, padded)) {
          double v = (double)load(xp[offset]);
          acc = max ? fmax(acc, v) : acc + v;
        }
      if (!max)
        acc /= divisorAt(w, op, includePad);
      y[t] = store<T>(C(acc));
    } else {
      // Integers: max only, compared in their own type.
      C best = 0;
      bool any = false;
      for (int64_t kp = 0; kp < w.kPlane; ++kp)
        if (windowAt(w, o, kp, offset, padded)) {
          C v = load(xp[offset]);
          if (!any || v > best)
            best = v;
          any = true;
        }
      y[t] = store<T>(best);
    }
  }
}

__global__ void poolGradKernel(bool max, bool includePad, const float *x,
                               const float *dy, float *dx, int64_t planes,
                               ConvWindow w) {
  GRID_STRIDE(t, planes * w.inPlane) {
    int64_t plane = t / w.inPlane, p = t % w.inPlane;
    const float *xp = x ? x + plane * w.inPlane : nullptr;
    const float *dyp = dy + plane * w.outPlane;
    float sum = 0;
    // Overlapping windows visit this position once per kernel position
    // that reads it; each output counts once, in output order.
    for (int64_t kp = 0; kp < w.kPlane; ++kp) {
      int64_t op;
      if (!outputFor(w, p, kp, op))
        continue;
      if (max)
        sum += argmaxAt(w, xp, op) == p ? dyp[op] : 0.0f;
      else
        sum += dyp[op] / float(divisorAt(w, op, includePad));
    }
    dx[t] = sum;
  }
}

//===----------------------------------------------------------------------===//
// Batch normalisation
//===----------------------------------------------------------------------===//

/// One block per channel: statistics, running statistics, and the affine
/// form y = x * mul + add that the apply kernel uses.
__global__ void batchNormStatsKernel(const float *x, const float *scale,
                                     const float *bias, const float *runMean,
                                     const float *runVar, float *mean,
                                     float *invStd, float *newMean,
                                     float *newVar, float *affine, int64_t n,
                                     int64_t c, int64_t plane, double eps,
                                     double momentum, bool unbiased,
                                     bool evaluation) {
  int64_t ch = blockIdx.x, count = n * plane;
  double m = runMean[ch], var = runVar[ch];
  if (!evaluation) {
    double sum = 0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
      sum += x[((i / plane) * c + ch) * plane + i % plane];
    m = blockReduce(sum, Plus()) / count;
    double sq = 0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      double d = x[((i / plane) * c + ch) * plane + i % plane] - m;
      sq += d * d;
    }
    sq = blockReduce(sq, Plus());
    var = sq / count;
    if (threadIdx.x == 0) {
      newMean[ch] = float(momentum * runMean[ch] + (1 - momentum) * m);
      newVar[ch] = float(momentum * runVar[ch] +
                         (1 - momentum) * sq / (unbiased ? count - 1 : count));
    }
  } else if (threadIdx.x == 0) {
    newMean[ch] = runMean[ch];
    newVar[ch] = runVar[ch];
  }
  if (threadIdx.x == 0) {
    double inv = 1.0 / sqrt(var + eps);
    mean[ch] = float(m);
    invStd[ch] = float(inv);
    affine[ch] = float(inv * scale[ch]);
    affine[c + ch] = float(bias[ch] - m * inv * scale[ch]);
  }
}

__global__ void batchNormAffineKernel(const float *scale, const float *bias,
                                      const float *mean, const float *var,
                                      float *affine, int64_t c, double eps) {
  GRID_STRIDE(ch, c) {
    float mul = scale[ch] / sqrtf(var[ch] + (float)eps);
    affine[ch] = mul;
    affine[c + ch] = bias[ch] - mean[ch] * mul;
  }
}

__global__ void batchNormApplyKernel(const float *x, const float *affine,
                                     float *y, int64_t total, int64_t c,
                                     int64_t plane) {
  GRID_STRIDE(i, total) {
    int64_t ch = (i / plane) % c;
    y[i] = x[i] * affine[ch] + affine[c + ch];
  }
}

/// One block per channel: sum dy and sum dy (x - mean) inv.
__global__ void batchNormSumsKernel(const float *x, const float *mean,
                                    const float *inv, const float *dy,
                                    double *sums, float *dScale, float *dBias,
                                    int64_t n, int64_t c, int64_t plane) {
  int64_t ch = blockIdx.x, count = n * plane;
  double sum = 0, dot = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    int64_t at = ((i / plane) * c + ch) * plane + i % plane;
    sum += dy[at];
    dot += double(dy[at]) * (x[at] - mean[ch]);
  }
  sum = blockReduce(sum, Plus());
  dot = blockReduce(dot, Plus());
  if (threadIdx.x == 0) {
    if (sums) {
      sums[ch] = sum;
      sums[c + ch] = dot * inv[ch];
    }
    if (dScale) {
      dScale[ch] = float(dot * inv[ch]);
      dBias[ch] = float(sum);
    }
  }
}

__global__ void batchNormGradKernel(const float *x, const float *scale,
                                    const float *mean, const float *inv,
                                    const float *dy, const double *sums,
                                    float *dx, int64_t total, int64_t c,
                                    int64_t plane, double count) {
  GRID_STRIDE(i, total) {
    int64_t ch = (i / plane) % c;
    double meanDy = sums[ch] / count, meanDyXhat = sums[c + ch] / count;
    double k = double(scale[ch]) * inv[ch];
    double xhat = (x[i] - mean[ch]) * double(inv[ch]);
    dx[i] = float(k * (dy[i] - meanDy - xhat * meanDyXhat));
  }
}

//===----------------------------------------------------------------------===//
// Pad, trilu
//===----------------------------------------------------------------------===//

__global__ void resizeKernel(const float *x, float *y, int64_t total, Walk out,
                             ResizeTable t) {
  GRID_STRIDE(i, total) {
    int64_t idx[kMaxRank], rem = i;
    bool outside = false;
    for (int d = out.rank - 1; d >= 0; --d) {
      idx[d] = rem % out.shape[d];
      rem /= out.shape[d];
      outside |= t.outside[t.axisBase[d] + idx[d]] != 0;
    }
    bool empty = false;
    for (int d = 0; d < out.rank; ++d)
      empty |= t.tapCount[t.axisBase[d] + idx[d]] == 0;
    if (outside || empty) {
      y[i] = outside ? float(t.extrapolation) : 0.0f;
      continue;
    }
    int32_t pick[kMaxRank] = {};
    double acc = 0;
    while (true) {
      double w = 1;
      int64_t off = 0;
      for (int d = 0; d < out.rank; ++d) {
        int64_t tap = t.tapStart[t.axisBase[d] + idx[d]] + pick[d];
        w *= t.weight[tap];
        off += t.index[tap] * t.inStrides[d];
      }
      if (w != 0)
        acc += w * x[off];
      int d = out.rank;
      while (d > 0 && ++pick[d - 1] == t.tapCount[t.axisBase[d - 1] + idx[d - 1]])
        pick[--d] = 0;
      if (d == 0)
        break;
    }
    y[i] = float(acc);
  }
}

struct PadAxes {
  int64_t inShape[kMaxRank], pads[kMaxRank];
};

template <typename W>
__global__ void padKernel(const W *x, W *y, int64_t total, Walk out,
                          PadAxes axes, int mode, W value) {
  GRID_STRIDE(i, total) {
    int64_t rem = i, off = 0, stride = 1;
    bool constant = false;
    for (int d = out.rank - 1; d >= 0; --d) {
      int64_t idx = rem % out.shape[d], n = axes.inShape[d];
      rem /= out.shape[d];
      int64_t p = idx - axes.pads[d];
      if (p < 0 || p >= n) {
        if (mode == 0)
          constant = true;
        else if (mode == 1)
          p = p < 0 ? 0 : n - 1;
        else
          while (p < 0 || p >= n)
            p = p < 0 ? -p : 2 * (n - 1) - p;
      }
      off += p * stride;
      stride *= n;
    }
    y[i] = constant ? value : x[off];
  }
}

template <typename W>
__global__ void triluKernel(const W *x, W *y, int64_t n, int64_t rows,
                            int64_t cols, bool upper, int64_t k) {
  GRID_STRIDE(i, n) {
    int64_t c = i % cols, r = (i / cols) % rows;
    bool keep = upper ? c - r >= k : c - r <= k;
    y[i] = keep ? x[i] : W(0);
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Host entry points
//===----------------------------------------------------------------------===//

Status binary(BinaryOp op, DType in, DType out, Operand a, Operand b, void *y,
              int64_t n, const Walk &walk, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  bool logic = isLogic(op);
  if (logic != (out == DType::Bool) || (!logic && out != in))
    return invalidArgument(std::string("binary op from ") + dtypeName(in) +
                           " to " + dtypeName(out) +
                           " is not supported on the CUDA backend");
  return dispatch(in, "element-wise op", [&](auto tag) {
    using T = decltype(tag);
    if (logic)
      binaryKernel<T, true><<<blocksFor(n), kThreads, 0, s>>>(op, a, b, y, n, walk);
    else
      binaryKernel<T, false><<<blocksFor(n), kThreads, 0, s>>>(op, a, b, y, n, walk);
    return launched("element-wise op");
  });
}

Status unary(UnaryOp op, DType type, const void *x, void *y, int64_t n,
             const UnaryParams &p, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  bool numeric = op >= UnaryOp::Neg;
  bool floating = type == DType::F32 || type == DType::F64 ||
                  type == DType::F16 || type == DType::BF16;
  if (!numeric && !floating)
    return invalidArgument(std::string("element type ") + dtypeName(type) +
                           " is not supported by this kernel");
  return dispatch(type, "element-wise op", [&](auto tag) {
    using T = decltype(tag);
    unaryKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        op, static_cast<const T *>(x), static_cast<T *>(y), n, p);
    return launched("element-wise op");
  });
}

Status activationGrad(GradOp op, const float *v, const float *g, float *dx,
                      int64_t n, cudaStream_t s, float alpha, float beta) {
  if (n == 0)
    return Status::ok();
  activationGradKernel<<<blocksFor(n), kThreads, 0, s>>>(op, v, g, dx, n,
                                                         alpha, beta);
  return launched("activation gradient");
}

Status where(const bool *cond, const void *a, const void *b, void *y,
             int width, int64_t n, const Walk &walk, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  auto go = [&](auto w) {
    using W = decltype(w);
    whereKernel<W><<<blocksFor(n), kThreads, 0, s>>>(
        cond, static_cast<const W *>(a), static_cast<const W *>(b),
        static_cast<W *>(y), n, walk);
    return launched("where");
  };
  switch (width) {
  case 1: return go(uint8_t{});
  case 2: return go(uint16_t{});
  case 4: return go(uint32_t{});
  case 8: return go(uint64_t{});
  }
  return invalidArgument("where: elements of " + std::to_string(width) +
                         " bytes");
}

Status cast(DType from, DType to, const void *x, void *y, int64_t n,
            cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  return dispatch(from, "cast", [&](auto src) {
    using S = decltype(src);
    return dispatch(to, "cast", [&](auto dst) {
      using D = decltype(dst);
      castKernel<S, D><<<blocksFor(n), kThreads, 0, s>>>(
          static_cast<const S *>(x), static_cast<D *>(y), n);
      return launched("cast");
    });
  });
}

Status stridedCopy(const void *src, void *dst, int width, const Walk &walk,
                   cudaStream_t s) {
  int64_t n = 1;
  for (int d = 0; d < walk.rank; ++d)
    n *= walk.shape[d];
  if (n == 0)
    return Status::ok();
  switch (width) {
  case 1: return copyAs<uint8_t>(src, dst, n, walk, s);
  case 2: return copyAs<uint16_t>(src, dst, n, walk, s);
  case 4: return copyAs<uint32_t>(src, dst, n, walk, s);
  case 8: return copyAs<uint64_t>(src, dst, n, walk, s);
  }
  return invalidArgument("strided copy: elements of " + std::to_string(width) +
                         " bytes");
}

Status gather(const void *x, const void *indices, bool wide, void *y,
              int64_t outer, int64_t n, int64_t count, int64_t innerBytes,
              DeviceError *error, int instr, cudaStream_t s) {
  auto go = [&](auto w) {
    using W = decltype(w);
    int64_t inner = innerBytes / sizeof(W), total = outer * count * inner;
    if (total == 0)
      return Status::ok();
    gatherKernel<W><<<blocksFor(total), kThreads, 0, s>>>(
        static_cast<const W *>(x), indices, wide, static_cast<W *>(y), outer,
        n, count, inner, error, instr);
    return launched("gather");
  };
  if (innerBytes % 4 == 0)
    return go(uint32_t{});
  if (innerBytes % 2 == 0)
    return go(uint16_t{});
  return go(uint8_t{});
}

Status gatherGrad(const void *indices, bool wide, const float *g, float *y,
                  int64_t outer, int64_t n, int64_t count, int64_t inner,
                  DeviceError *error, int instr, cudaStream_t s) {
  PPRT_RETURN_IF_ERROR(zero(y, outer * n * inner * sizeof(float), s));
  int64_t total = outer * count * inner;
  if (total == 0)
    return Status::ok();
  gatherGradKernel<<<blocksFor(total), kThreads, 0, s>>>(
      indices, wide, g, y, outer, n, count, inner, error, instr);
  return launched("gather_grad");
}

Status reduce(ReduceOp op, DType type, const void *x, void *y,
              int64_t outputs, const Walk &kept, int64_t count,
              const Walk &reduced, cudaStream_t s) {
  if (outputs == 0)
    return Status::ok();
  if (outputs > INT32_MAX)
    return invalidArgument("reduce: more than 2^31 outputs");
  return dispatch(
      type, "reduce",
      [&](auto tag) {
        using T = decltype(tag);
        reduceKernel<T><<<(unsigned)outputs, reduceThreads(count), 0, s>>>(
            op, static_cast<const T *>(x), static_cast<T *>(y), kept, count,
            reduced);
        return launched("reduce");
      });
}

Status softmax(bool log, DType type, const void *x, void *y, Rows r,
               cudaStream_t s) {
  int64_t rows = r.outer * r.inner;
  if (rows == 0 || r.n == 0)
    return Status::ok();
  return dispatch</*Ints=*/false>(
      type, "softmax",
      [&](auto tag) {
        using T = decltype(tag);
        auto *px = static_cast<const T *>(x);
        auto *py = static_cast<T *>(y);
        if (r.inner == 1 && rows <= INT32_MAX)
          softmaxRowKernel<T><<<(unsigned)rows, reduceThreads(r.n), 0, s>>>(
              log, px, py, r.n);
        else
          softmaxStridedKernel<T><<<blocksFor(rows), kThreads, 0, s>>>(
              log, px, py, r);
        return launched("softmax");
      });
}

Status softmaxGrad(bool log, const float *y, const float *g, float *dx,
                   Rows r, cudaStream_t s) {
  int64_t rows = r.outer * r.inner;
  if (rows == 0 || r.n == 0)
    return Status::ok();
  softmaxGradKernel<<<(unsigned)rows, reduceThreads(r.n), 0, s>>>(log, y, g,
                                                                 dx, r);
  return launched("softmax_grad");
}

Status layerNorm(const float *x, const float *scale, const float *bias,
                 float *y, float *mean, float *invStd, int64_t rows, int64_t n,
                 double eps, cudaStream_t s) {
  if (rows == 0 || n == 0)
    return Status::ok();
  layerNormKernel<<<(unsigned)rows, reduceThreads(n), 0, s>>>(
      x, scale, bias, y, mean, invStd, n, eps);
  return launched("layer_norm");
}

Status layerNormGrad(const float *x, const float *scale, const float *mean,
                     const float *invStd, const float *dy, float *dx,
                     int64_t rows, int64_t n, cudaStream_t s) {
  if (rows == 0 || n == 0)
    return Status::ok();
  layerNormGradKernel<<<(unsigned)rows, reduceThreads(n), 0, s>>>(
      x, scale, mean, invStd, dy, dx, n);
  return launched("layer_norm_grad");
}

int64_t layerNormParamChunks(int64_t rows) {
  return std::max<int64_t>(1, std::min<int64_t>(rows, 256));
}

Status layerNormParamGrad(const float *x, const float *mean,
                          const float *invStd, const float *dy, float *dScale,
                          float *dBias, double *partial, int64_t rows,
                          int64_t n, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  int64_t chunks = layerNormParamChunks(rows);
  int64_t perChunk = (rows + chunks - 1) / chunks;
  dim3 grid((unsigned)((n + kThreads - 1) / kThreads), (unsigned)chunks);
  layerNormParamPartialKernel<<<grid, kThreads, 0, s>>>(
      x, mean, invStd, dy, partial, rows, n, perChunk);
  PPRT_RETURN_IF_ERROR(launched("layer_norm_param_grad"));
  layerNormParamSumKernel<<<blocksFor(n), kThreads, 0, s>>>(
      partial, dScale, dBias, chunks, n);
  return launched("layer_norm_param_grad");
}

Status crossEntropy(const float *logits, const void *labels, bool wide,
                    float *loss, double *perRow, int64_t rows,
                    int64_t classes, double scale, DeviceError *error,
                    int instr, cudaStream_t s) {
  if (rows > 0 && classes > 0) {
    crossEntropyRowsKernel<<<(unsigned)rows, reduceThreads(classes), 0, s>>>(
        logits, labels, wide, perRow, classes, error, instr);
    PPRT_RETURN_IF_ERROR(launched("cross_entropy"));
  }
  sumToLossKernel<<<1, 256, 0, s>>>(perRow, rows, scale, loss);
  return launched("cross_entropy");
}

Status crossEntropyGrad(const float *logits, const void *labels, bool wide,
                        float *dx, int64_t rows, int64_t classes, double scale,
                        DeviceError *error, int instr, cudaStream_t s) {
  if (rows == 0 || classes == 0)
    return Status::ok();
  crossEntropyGradKernel<<<(unsigned)rows, reduceThreads(classes), 0, s>>>(
      logits, labels, wide, dx, classes, scale, error, instr);
  return launched("cross_entropy_grad");
}

Status mseLoss(const float *p, const float *t, float *loss, double *partial,
               int64_t n, double scale, cudaStream_t s) {
  squaredErrorKernel<<<kReduceBlocks, 256, 0, s>>>(p, t, partial, n);
  PPRT_RETURN_IF_ERROR(launched("mse_loss"));
  sumToLossKernel<<<1, 256, 0, s>>>(partial, kReduceBlocks, scale, loss);
  return launched("mse_loss");
}

Status mseLossGrad(const float *p, const float *t, float *dx, int64_t n,
                   double scale, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  mseGradKernel<<<blocksFor(n), kThreads, 0, s>>>(p, t, dx, n,
                                                  float(2 * scale));
  return launched("mse_loss_grad");
}

Status scaleAdd(float *y, float alpha, float beta, Operand c, int64_t n,
                const Walk &walk, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  scaleAddKernel<<<blocksFor(n), kThreads, 0, s>>>(y, alpha, beta, c, n, walk);
  return launched("gemm's C term");
}

Status im2col(const float *x, float *col, int64_t n, int64_t c,
              const ConvWindow &w, cudaStream_t s) {
  int64_t total = c * w.kPlane * n * w.outPlane;
  if (total == 0)
    return Status::ok();
  im2colKernel<<<blocksFor(total), kThreads, 0, s>>>(x, col, n, c, w);
  return launched("im2col");
}

Status col2im(const float *col, float *x, int64_t n, int64_t c,
              const ConvWindow &w, cudaStream_t s) {
  int64_t total = n * c * w.inPlane;
  if (total == 0)
    return Status::ok();
  col2imKernel<<<blocksFor(total), kThreads, 0, s>>>(col, x, n, c, w);
  return launched("col2im");
}

Status pool(bool max, bool includePad, DType type, const void *x, void *y,
            int64_t planes, const ConvWindow &w, cudaStream_t s) {
  int64_t total = planes * w.outPlane;
  if (total == 0)
    return Status::ok();
  if (type == DType::Bool || (!max && type != DType::F32))
    return invalidArgument(std::string(max ? "max_pool" : "avg_pool") +
                           " on the CUDA backend takes " +
                           (max ? "numbers" : "f32") + ", not " +
                           dtypeName(type));
  return dispatch(type, "pool", [&](auto tag) {
    using T = decltype(tag);
    poolKernel<T><<<blocksFor(total), kThreads, 0, s>>>(
        max, includePad, static_cast<const T *>(x), static_cast<T *>(y),
        planes, w);
    return launched("pool");
  });
}

Status poolGrad(bool max, bool includePad, const float *x, const float *dy,
                float *dx, int64_t planes, const ConvWindow &w,
                cudaStream_t s) {
  int64_t total = planes * w.inPlane;
  if (total == 0)
    return Status::ok();
  poolGradKernel<<<blocksFor(total), kThreads, 0, s>>>(max, includePad, x, dy,
                                                       dx, planes, w);
  return launched("pool gradient");
}

Status batchNormTrain(const float *x, const float *scale, const float *bias,
                      const float *runMean, const float *runVar, float *y,
                      float *mean, float *invStd, float *newMean,
                      float *newVar, float *affine, int64_t n, int64_t c,
                      int64_t plane, double eps, double momentum,
                      bool unbiased, bool evaluation, cudaStream_t s) {
  if (c == 0)
    return Status::ok();
  batchNormStatsKernel<<<(unsigned)c, reduceThreads(n * plane), 0, s>>>(
      x, scale, bias, runMean, runVar, mean, invStd, newMean, newVar, affine,
      n, c, plane, eps, momentum, unbiased, evaluation);
  PPRT_RETURN_IF_ERROR(launched("batch_norm_train"));
  int64_t total = n * c * plane;
  if (total == 0)
    return Status::ok();
  batchNormApplyKernel<<<blocksFor(total), kThreads, 0, s>>>(x, affine, y,
                                                             total, c, plane);
  return launched("batch_norm_train");
}

Status batchNorm(const float *x, const float *scale, const float *bias,
                 const float *mean, const float *var, float *y, float *affine,
                 int64_t n, int64_t c, int64_t plane, double eps,
                 cudaStream_t s) {
  if (c == 0)
    return Status::ok();
  batchNormAffineKernel<<<blocksFor(c), kThreads, 0, s>>>(scale, bias, mean,
                                                          var, affine, c, eps);
  PPRT_RETURN_IF_ERROR(launched("batch_norm"));
  int64_t total = n * c * plane;
  if (total == 0)
    return Status::ok();
  batchNormApplyKernel<<<blocksFor(total), kThreads, 0, s>>>(x, affine, y,
                                                             total, c, plane);
  return launched("batch_norm");
}

Status batchNormGrad(const float *x, const float *scale, const float *mean,
                     const float *invStd, const float *dy, float *dx,
                     double *sums, int64_t n, int64_t c, int64_t plane,
                     cudaStream_t s) {
  if (c == 0)
    return Status::ok();
  batchNormSumsKernel<<<(unsigned)c, reduceThreads(n * plane), 0, s>>>(
      x, mean, invStd, dy, sums, nullptr, nullptr, n, c, plane);
  PPRT_RETURN_IF_ERROR(launched("batch_norm_grad"));
  int64_t total = n * c * plane;
  if (total == 0)
    return Status::ok();
  batchNormGradKernel<<<blocksFor(total), kThreads, 0, s>>>(
      x, scale, mean, invStd, dy, sums, dx, total, c, plane,
      double(n * plane));
  return launched("batch_norm_grad");
}

Status batchNormParamGrad(const float *x, const float *mean,
                          const float *invStd, const float *dy, float *dScale,
                          float *dBias, int64_t n, int64_t c, int64_t plane,
                          cudaStream_t s) {
  if (c == 0)
    return Status::ok();
  batchNormSumsKernel<<<(unsigned)c, reduceThreads(n * plane), 0, s>>>(
      x, mean, invStd, dy, nullptr, dScale, dBias, n, c, plane);
  return launched("batch_norm_param_grad");
}

Status pad(const void *x, void *y, int width, const Walk &out,
           const int64_t *inShape, const int64_t *pads, int mode,
           uint64_t value, cudaStream_t s) {
  int64_t total = 1;
  PadAxes axes;
  for (int d = 0; d < out.rank; ++d) {
    total *= out.shape[d];
    axes.inShape[d] = inShape[d];
    axes.pads[d] = pads[d];
  }
  if (total == 0)
    return Status::ok();
  auto go = [&](auto tag) {
    using W = decltype(tag);
    W v;
    std::memcpy(&v, &value, sizeof v);
    padKernel<W><<<blocksFor(total), kThreads, 0, s>>>(
        static_cast<const W *>(x), static_cast<W *>(y), total, out, axes,
        mode, v);
    return launched("pad");
  };
  switch (width) {
  case 1: return go(uint8_t{});
  case 2: return go(uint16_t{});
  case 4: return go(uint32_t{});
  case 8: return go(uint64_t{});
  }
  return invalidArgument("pad: elements of " + std::to_string(width) +
                         " bytes");
}

Status resize(const float *x, float *y, const Walk &out,
              const ResizeTable &table, cudaStream_t s) {
  int64_t total = 1;
  for (int d = 0; d < out.rank; ++d)
    total *= out.shape[d];
  if (total == 0)
    return Status::ok();
  resizeKernel<<<blocksFor(total), kThreads, 0, s>>>(x, y, total, out, table);
  return launched("resize");
}

Status trilu(const void *x, void *y, int width, int64_t n, int64_t rows,
             int64_t cols, bool upper, int64_t k, cudaStream_t s) {
  if (n == 0)
    return Status::ok();
  auto go = [&](auto tag) {
    using W = decltype(tag);
    triluKernel<W><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const W *>(x), static_cast<W *>(y), n, rows, cols, upper,
        k);
    return launched("trilu");
  };
  switch (width) {
  case 1: return go(uint8_t{});
  case 2: return go(uint16_t{});
  case 4: return go(uint32_t{});
  case 8: return go(uint64_t{});
  }
  return invalidArgument("trilu: elements of " + std::to_string(width) +
                         " bytes");
}

Status zero(void *y, int64_t bytes, cudaStream_t s) {
  if (bytes == 0)
    return Status::ok();
  return cudaStatus(cudaMemsetAsync(y, 0, bytes, s), "cudaMemsetAsync");
}

} // namespace cuda
} // namespace pprt
