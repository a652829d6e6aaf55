//===- Indexing.cpp - gather_nd, scatter_nd, gather_elements, cumsum, range ===//
//
// Index tuples are checked (negative ones count from the end of their
// axis; out of range is an error naming the index). scatter_nd combines
// tuple after tuple in order, so repeated tuples give the same result
// every run.
//
//===----------------------------------------------------------------------===//

#include "../OpGeometry.h"
#include "Kernels.h"

#include <cmath>
#include <cstring>

namespace pprt {
namespace cpu {
namespace {

int64_t indexAt(const TensorRef &t, int64_t i) {
  return t.desc.dtype == DType::I64 ? t.as<int64_t>()[i] : t.as<int32_t>()[i];
}

/// The data offset of every tuple's slice (batch-major), or an error.
StatusOr<std::vector<int64_t>> sliceOffsets(const TupleGeometry &g,
                                            const TensorRef &indices,
                                            const char *kernel) {
  std::vector<int64_t> offsets(g.batches * g.tuples);
  for (int64_t bt = 0; bt < g.batches * g.tuples; ++bt) {
    int64_t offset = (bt / g.tuples) * g.perBatch;
    for (int64_t k = 0; k < g.m; ++k) {
      int64_t j = indexAt(indices, bt * g.m + k), n = g.dims[k];
      if (j < -n || j >= n)
        return invalidArgument(std::string(kernel) + ": index " +
                               std::to_string(j) + " of tuple " +
                               std::to_string(bt) +
                               " is out of range for an axis of size " +
                               std::to_string(n));
      offset += (j < 0 ? j + n : j) * g.strides[k];
    }
    offsets[bt] = offset;
  }
  return offsets;
}

Status gatherND(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0], &idx = *in[1];
  TensorRef &y = *out[0];
  auto g = tupleGeometry(x.desc, idx.desc, a.i("batch_dims"), "gather_nd");
  if (!g)
    return g.status();
  auto offsets = sliceOffsets(*g, idx, "gather_nd");
  if (!offsets)
    return offsets.status();
  size_t width = dtypeSize(x.desc.dtype), bytes = g->slice * width;
  parallelFor(offsets->size(), [&](int64_t t) {
    std::memcpy(y.data + t * bytes, x.data + (*offsets)[t] * width, bytes);
  });
  return Status::ok();
}

/// The data offset that gather_elements' element i reads, or -1 when its
/// index is out of range.
int64_t elementOffset(const ElementsGeometry &g, const TensorRef &indices,
                      int64_t i) {
  int64_t at = 0, rest = i;
  for (int64_t d = g.rank - 1; d >= 0; --d) {
    int64_t c = rest % g.dims[d];
    rest /= g.dims[d];
    if (d == g.axis) {
      int64_t j = indexAt(indices, i);
      if (j < -g.axisSize || j >= g.axisSize)
        return -1;
      c = j < 0 ? j + g.axisSize : j;
    }
    at += c * g.dataStrides[d];
  }
  return at;
}

Status indexError(const char *kernel, const TensorRef &indices, int64_t i,
                  int64_t n) {
  return invalidArgument(std::string(kernel) + ": index " +
                         std::to_string(indexAt(indices, i)) + " at " +
                         std::to_string(i) +
                         " is out of range for an axis of size " +
                         std::to_string(n));
}

Status gatherElements(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0], &idx = *in[1];
  TensorRef &y = *out[0];
  auto g = elementsGeometry(x.desc, idx.desc, a.i("axis"), "gather_elements");
  if (!g)
    return g.status();
  for (int64_t i = 0; i < g->count; ++i)
    if (elementOffset(*g, idx, i) < 0)
      return indexError("gather_elements", idx, i, g->axisSize);
  size_t width = dtypeSize(x.desc.dtype);
  parallelFor(g->count, [&](int64_t i) {
    std::memcpy(y.data + i * width, x.data + elementOffset(*g, idx, i) * width,
                width);
  });
  return Status::ok();
}

/// Zeros, then each gradient element added at its place in index order (a
/// place's terms in the order of their indices along the axis, as the CUDA
/// kernel adds them).
template <typename T>
Status gatherElementsGradAs(const ElementsGeometry &g, const TensorRef &idx,
                            const TensorRef &grad, TensorRef &y) {
  T *dst = y.as<T>();
  const T *src = grad.as<T>();
  std::fill(dst, dst + y.numel, T(0));
  for (int64_t i = 0; i < g.count; ++i) {
    int64_t at = elementOffset(g, idx, i);
    if (at < 0)
      return indexError("gather_elements_grad", idx, i, g.axisSize);
    dst[at] += src[i];
  }
  return Status::ok();
}

Status gatherElementsGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &idx = *in[0], &grad = *in[1];
  TensorRef &y = *out[0];
  auto g = elementsGeometry(y.desc, idx.desc, a.i("axis"),
                            "gather_elements_grad");
  if (!g)
    return g.status();
  if (y.desc.dtype == DType::F32)
    return gatherElementsGradAs<float>(*g, idx, grad, y);
  if (y.desc.dtype == DType::F64)
    return gatherElementsGradAs<double>(*g, idx, grad, y);
  return invalidArgument("gather_elements_grad: element type " +
                         std::string(dtypeName(y.desc.dtype)) +
                         " (f32 and f64 are supported)");
}

template <typename T> T combine(const std::string &r, T a, T u) {
  if (r == "add")
    return T(a + u);
  if (r == "mul")
    return T(a * u);
  if (r == "max")
    return a > u || a != a ? a : u; // NaN stays, as numpy.maximum keeps it
  if (r == "min")
    return a < u || a != a ? a : u;
  return u;
}

Status scatterND(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0], &idx = *in[1], &upd = *in[2];
  TensorRef &y = *out[0];
  auto g = tupleGeometry(x.desc, idx.desc, a.i("batch_dims"), "scatter_nd");
  if (!g)
    return g.status();
  if (upd.numel != g->batches * g->tuples * g->slice ||
      upd.desc.dtype != x.desc.dtype)
    return invalidArgument("scatter_nd: updates " + upd.desc.toString() +
                           " do not fit data " + x.desc.toString());
  auto offsets = sliceOffsets(*g, idx, "scatter_nd");
  if (!offsets)
    return offsets.status();
  if (y.data != x.data)
    std::memcpy(y.data, x.data, y.bytes);
  std::string r = a.s("reduction", "none");
  size_t width = dtypeSize(x.desc.dtype);
  if (r == "none") {
    for (size_t t = 0; t < offsets->size(); ++t)
      std::memcpy(y.data + (*offsets)[t] * width,
                  upd.data + t * g->slice * width, g->slice * width);
    return Status::ok();
  }
  if (r != "add" && r != "mul" && r != "max" && r != "min")
    return invalidArgument("scatter_nd: reduction '" + r + "'");
  return dispatch(x.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    T *dst = y.as<T>();
    const T *src = upd.as<T>();
    // Tuples in order; a slice's elements are independent.
    for (size_t t = 0; t < offsets->size(); ++t) {
      T *d = dst + (*offsets)[t];
      const T *s = src + t * g->slice;
      parallelFor(g->slice, [&](int64_t e) { d[e] = combine(r, d[e], s[e]); });
    }
  });
}

Status cumsum(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0];
  const auto &shape = x.desc.shape;
  int64_t axis = a.i("axis");
  if (axis < 0 || axis >= (int64_t)shape.size())
    return invalidArgument("cumsum: axis " + std::to_string(axis) +
                           " is out of range for " + x.desc.toString());
  int64_t n = shape[axis], inner = productOf(shape, axis + 1, shape.size());
  int64_t outer = n * inner != 0 ? x.numel / (n * inner) : 0;
  bool exclusive = a.i("exclusive"), reverse = a.i("reverse");
  return dispatch(x.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    // Floats accumulate in double, integers in their own type.
    using A = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    const T *src = x.as<T>();
    T *dst = out[0]->as<T>();
    parallelFor(outer * inner, [&](int64_t line) {
      int64_t base = (line / inner) * n * inner + line % inner;
      A acc = 0;
      for (int64_t s = 0; s < n; ++s) {
        int64_t at = base + (reverse ? n - 1 - s : s) * inner;
        A v = src[at];
        if (exclusive)
          dst[at] = T(acc);
        acc = A(acc + v);
        if (!exclusive)
          dst[at] = T(acc);
      }
    });
  });
}

Status range(Tensors &in, Tensors &out, const Attrs &) {
  TensorRef &y = *out[0];
  int64_t n = y.numel;
  bool fits = true;
  Status st = dispatch(y.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    T start = in[0]->as<T>()[0], limit = in[1]->as<T>()[0],
      delta = in[2]->as<T>()[0];
    double count = ((double)limit - (double)start) / (double)delta;
    fits = delta != T(0) && std::max(std::ceil(count), 0.0) == double(n);
    if (!fits)
      return;
    T *dst = y.as<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_floating_point_v<T>)
        dst[i] = T((double)start + i * (double)delta);
      else
        dst[i] = T(start + T(i) * delta);
    }
  });
  if (!st.isOk())
    return st;
  if (!fits)
    return invalidArgument("range: start, limit and delta give another "
                           "length than the " + std::to_string(n) +
                           " elements it was compiled for");
  return Status::ok();
}

} // namespace

void registerIndexing(Registry &r) {
  r["gather_nd"] = gatherND;
  r["scatter_nd"] = scatterND;
  r["gather_elements"] = gatherElements;
  r["gather_elements_grad"] = gatherElementsGrad;
  r["cumsum"] = cumsum;
  r["range"] = range;
}

} // namespace cpu
} // namespace pprt
