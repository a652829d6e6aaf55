//===- IndexingKernels.cu - gather_nd, scatter_nd, gather_elements, ... ---===//
//
// scatter_nd with a reduction combines a place's updates tuple after tuple
// in order, one thread per (batch, slice element), so that repeated tuples
// give the CPU backend's result every run; without one, every update
// element is its own thread (repeated tuples are undefined in ONNX).
//
//===----------------------------------------------------------------------===//

#include "DeviceIndexing.h"
#include "Launch.cuh"
#include "LtGemm.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

namespace pprt {
namespace cuda {
namespace {

__device__ void recordError(DeviceError *e, int code, int instr,
                            long long value, long long limit,
                            long long position) {
  if (atomicCAS(&e->code, 0, code) == 0) {
    e->instr = instr;
    e->value = value;
    e->limit = limit;
    e->position = position;
  }
}

/// Calls f(T{}) for f32, f64, i64 and i32; otherwise an error naming `what`.
template <typename F> Status numeric(DType d, const char *what, F &&f) {
  switch (d) {
  case DType::F32: return f(float{});
  case DType::F64: return f(double{});
  case DType::I64: return f(int64_t{});
  case DType::I32: return f(int32_t{});
  default:
    return invalidArgument(std::string(what) + ": element type " +
                           dtypeName(d) + " is not supported on the CUDA backend");
  }
}

__global__ void tupleOffsetsKernel(const void *indices, bool wide, Tuples g,
                                   int64_t *offsets, DeviceError *error,
                                   int instr) {
  GRID_STRIDE(t, g.batches * g.tuples) {
    int64_t offset = (t / g.tuples) * g.perBatch;
    for (int64_t k = 0; k < g.m; ++k) {
      int64_t at = t * g.m + k;
      int64_t j = wide ? static_cast<const int64_t *>(indices)[at]
                       : static_cast<const int32_t *>(indices)[at];
      int64_t n = g.dims[k];
      if (j < -n || j >= n) {
        recordError(error, 1, instr, j, n, at);
        offset = -1;
        break;
      }
      offset += (j < 0 ? j + n : j) * g.strides[k];
    }
    offsets[t] = offset;
  }
}

template <typename W>
__global__ void gatherNDKernel(const W *x, const int64_t *offsets, W *y,
                               int64_t count, int64_t slice) {
  GRID_STRIDE(i, count * slice) {
    int64_t t = i / slice, off = offsets[t];
    if (off >= 0)
      y[i] = x[off + i % slice];
  }
}

template <typename W>
__global__ void scatterNDReplaceKernel(const W *u, const int64_t *offsets,
                                       W *y, int64_t count, int64_t slice) {
  GRID_STRIDE(i, count * slice) {
    int64_t t = i / slice, off = offsets[t];
    if (off >= 0)
      y[off + i % slice] = u[i];
  }
}

template <typename T>
__global__ void scatterNDReduceKernel(int reduction, const T *u,
                                      const int64_t *offsets, T *y, Tuples g) {
  GRID_STRIDE(be, g.batches * g.slice) {
    int64_t b = be / g.slice, e = be % g.slice;
    for (int64_t t = b * g.tuples; t < (b + 1) * g.tuples; ++t) {
      int64_t off = offsets[t];
      if (off < 0)
        continue;
      T &d = y[off + e];
      T v = u[t * g.slice + e];
      switch (reduction) {
      case 1: d = T(d + v); break;
      case 2: d = T(d * v); break;
      case 3: d = d > v || d != d ? d : v; break;
      default: d = d < v || d != d ? d : v; break;
      }
    }
  }
}

__device__ int64_t indexAt(const void *indices, bool wide, int64_t i) {
  return wide ? static_cast<const int64_t *>(indices)[i]
              : static_cast<const int32_t *>(indices)[i];
}

template <typename W>
__global__ void gatherElementsKernel(const W *x, const void *indices, bool wide,
                                     W *y, Elements g, DeviceError *error,
                                     int instr) {
  GRID_STRIDE(i, g.count) {
    int64_t at = 0, rest = i;
    bool ok = true;
    for (int64_t d = g.rank - 1; d >= 0; --d) {
      int64_t c = rest % g.dims[d];
      rest /= g.dims[d];
      if (d == g.axis) {
        int64_t j = indexAt(indices, wide, i);
        if (j < -g.axisSize || j >= g.axisSize) {
          recordError(error, 1, instr, j, g.axisSize, i);
          ok = false;
          break;
        }
        c = j < 0 ? j + g.axisSize : j;
      }
      at += c * g.dataStrides[d];
    }
    if (ok)
      y[i] = x[at];
  }
}

/// One thread per place p of data: the indices' elements on p's line along
/// the axis, in order, add their grad where their index names p.
template <typename T>
__global__ void gatherElementsGradKernel(const void *indices, bool wide,
                                         const T *grad, T *y,
                                         int64_t dataCount, Elements g) {
  GRID_STRIDE(p, dataCount) {
    // p's coordinates in data (row-major by dataStrides), then the linear
    // index in indices of the same place with the axis coordinate 0.
    int64_t rest = p, base = 0, step = 0, stride = 1, axisCoord = 0;
    int64_t coords[kMaxRank];
    for (int64_t d = 0; d < g.rank; ++d) {
      coords[d] = rest / g.dataStrides[d];
      rest %= g.dataStrides[d];
    }
    bool inside = true;
    for (int64_t d = g.rank - 1; d >= 0; --d) {
      if (d == g.axis) {
        axisCoord = coords[d];
        step = stride;
      } else {
        inside = inside && coords[d] < g.dims[d];
        base += coords[d] * stride;
      }
      stride *= g.dims[d];
    }
    T acc = T(0);
    for (int64_t k = 0; inside && k < g.dims[g.axis]; ++k) {
      int64_t i = base + k * step, j = indexAt(indices, wide, i);
      if ((j < 0 ? j + g.axisSize : j) == axisCoord)
        acc = acc + grad[i];
    }
    y[p] = acc;
  }
}

template <typename T>
__global__ void cumsumKernel(const T *x, T *y, int64_t outer, int64_t n,
                             int64_t inner, bool exclusive, bool reverse) {
  using A = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  GRID_STRIDE(line, outer * inner) {
    int64_t base = (line / inner) * n * inner + line % inner;
    A acc = 0;
    for (int64_t s = 0; s < n; ++s) {
      int64_t at = base + (reverse ? n - 1 - s : s) * inner;
      A v = x[at];
      if (exclusive)
        y[at] = T(acc);
      acc = A(acc + v);
      if (!exclusive)
        y[at] = T(acc);
    }
  }
}

template <typename T>
__global__ void rangeKernel(const T *start, const T *limit, const T *delta,
                            T *y, int64_t n, DeviceError *error, int instr) {
  T s = *start, d = *delta;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    double count = d == T(0) ? -1.0
                             : ceil(((double)*limit - (double)s) / (double)d);
    if (count < 0 && d != T(0))
      count = 0;
    if (count != double(n))
      recordError(error, 3, instr, (long long)count, n, 0);
  }
  GRID_STRIDE(i, n) {
    if constexpr (std::is_floating_point_v<T>)
      y[i] = T((double)s + i * (double)d);
    else
      y[i] = T(s + T(i) * d);
  }
}

template <typename F> Status byWidth(int width, const char *what, F &&f) {
  switch (width) {
  case 1: return f(uint8_t{});
  case 2: return f(uint16_t{});
  case 4: return f(uint32_t{});
  case 8: return f(uint64_t{});
  }
  return invalidArgument(std::string(what) + ": elements of " +
                         std::to_string(width) + " bytes");
}

} // namespace

Status gatherElements(const void *x, const void *indices, bool indices64,
                      void *y, int width, const Elements &g,
                      DeviceError *error, int instr, cudaStream_t s) {
  if (g.count == 0)
    return Status::ok();
  return byWidth(width, "gather_elements", [&](auto w) {
    using W = decltype(w);
    gatherElementsKernel<W><<<blocksFor(g.count), kThreads, 0, s>>>(
        static_cast<const W *>(x), indices, indices64, static_cast<W *>(y), g,
        error, instr);
    return launched("gather_elements");
  });
}

Status gatherElementsGrad(DType type, const void *indices, bool indices64,
                          const void *grad, void *y, int64_t dataCount,
                          const Elements &g, cudaStream_t s) {
  if (dataCount == 0)
    return Status::ok();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    gatherElementsGradKernel<T><<<blocksFor(dataCount), kThreads, 0, s>>>(
        indices, indices64, static_cast<const T *>(grad), static_cast<T *>(y),
        dataCount, g);
    return launched("gather_elements_grad");
  };
  if (type == DType::F32)
    return run(float{});
  if (type == DType::F64)
    return run(double{});
  return invalidArgument(std::string("gather_elements_grad: element type ") +
                         dtypeName(type) + " is not supported on the CUDA backend");
}

Status tupleOffsets(const void *indices, bool indices64, const Tuples &g,
                    int64_t *offsets, DeviceError *error, int instr,
                    cudaStream_t s) {
  int64_t n = g.batches * g.tuples;
  if (n == 0)
    return Status::ok();
  tupleOffsetsKernel<<<blocksFor(n), kThreads, 0, s>>>(indices, indices64, g,
                                                       offsets, error, instr);
  return launched("index tuples");
}

Status gatherND(const void *x, const int64_t *offsets, void *y, int width,
                int64_t count, int64_t slice, cudaStream_t s) {
  if (count * slice == 0)
    return Status::ok();
  return byWidth(width, "gather_nd", [&](auto w) {
    using W = decltype(w);
    gatherNDKernel<W><<<blocksFor(count * slice), kThreads, 0, s>>>(
        static_cast<const W *>(x), offsets, static_cast<W *>(y), count, slice);
    return launched("gather_nd");
  });
}

Status scatterND(DType type, int reduction, const void *updates,
                 const int64_t *offsets, void *y, const Tuples &g,
                 cudaStream_t s) {
  int64_t count = g.batches * g.tuples;
  if (count * g.slice == 0)
    return Status::ok();
  if (reduction == 0)
    return byWidth((int)dtypeSize(type), "scatter_nd", [&](auto w) {
      using W = decltype(w);
      scatterNDReplaceKernel<W><<<blocksFor(count * g.slice), kThreads, 0, s>>>(
          static_cast<const W *>(updates), offsets, static_cast<W *>(y), count,
          g.slice);
      return launched("scatter_nd");
    });
  return numeric(type, "scatter_nd with a reduction", [&](auto tag) {
    using T = decltype(tag);
    scatterNDReduceKernel<T><<<blocksFor(g.batches * g.slice), kThreads, 0, s>>>(
        reduction, static_cast<const T *>(updates), offsets,
        static_cast<T *>(y), g);
    return launched("scatter_nd");
  });
}

Status cumsum(DType type, const void *x, void *y, int64_t outer, int64_t n,
              int64_t inner, bool exclusive, bool reverse, cudaStream_t s) {
  if (outer * n * inner == 0)
    return Status::ok();
  return numeric(type, "cumsum", [&](auto tag) {
    using T = decltype(tag);
    cumsumKernel<T><<<blocksFor(outer * inner), kThreads, 0, s>>>(
        static_cast<const T *>(x), static_cast<T *>(y), outer, n, inner,
        exclusive, reverse);
    return launched("cumsum");
  });
}

Status range(DType type, const void *start, const void *limit,
             const void *delta, void *y, int64_t n, DeviceError *error,
             int instr, cudaStream_t s) {
  return numeric(type, "range", [&](auto tag) {
    using T = decltype(tag);
    rangeKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const T *>(start), static_cast<const T *>(limit),
        static_cast<const T *>(delta), static_cast<T *>(y), n, error, instr);
    return launched("range");
  });
}

} // namespace cuda
} // namespace pprt
