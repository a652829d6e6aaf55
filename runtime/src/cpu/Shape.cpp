//===- Shape.cpp - data movement: reshape, transpose, slice, ... ----------===//
//
// Byte-level copies, so one kernel serves every element type.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <cmath>
#include <cstring>

namespace pprt {
namespace cpu {
namespace {

/// Visits every output element with the input element offset `map` gives.
template <typename F>
void gatherCopy(const TensorRef &x, TensorRef &y, F &&offsetOf) {
  size_t w = dtypeSize(y.desc.dtype);
  int rank = y.desc.shape.size();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < y.numel; ++i) {
    int64_t src = offsetOf(idx);
    if (src >= 0)
      std::memcpy(y.data + i * w, x.data + src * w, w);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < y.desc.shape[d])
        break;
      idx[d] = 0;
    }
  }
}

Status reshape(Tensors &in, Tensors &out, const Attrs &) {
  if (in[0]->data != out[0]->data)
    std::memmove(out[0]->data, in[0]->data, out[0]->bytes);
  return Status::ok();
}

Status transpose(Tensors &in, Tensors &out, const Attrs &a) {
  std::vector<int64_t> perm = a.ints("perm");
  auto st = stridesOf(in[0]->desc.shape);
  gatherCopy(*in[0], *out[0], [&](const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += idx[d] * st[perm[d]];
    return off;
  });
  return Status::ok();
}

Status slice(Tensors &in, Tensors &out, const Attrs &a) {
  std::vector<int64_t> starts = a.ints("starts"), steps = a.ints("steps");
  auto st = stridesOf(in[0]->desc.shape);
  gatherCopy(*in[0], *out[0], [&](const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += (starts[d] + idx[d] * steps[d]) * st[d];
    return off;
  });
  return Status::ok();
}

Status concat(Tensors &in, Tensors &out, const Attrs &a) {
  TensorRef &y = *out[0];
  int64_t axis = a.i("axis");
  if (axis < 0)
    axis += y.desc.shape.size();
  size_t w = dtypeSize(y.desc.dtype);
  int64_t outer = 1, inner = w;
  for (int64_t d = 0; d < axis; ++d)
    outer *= y.desc.shape[d];
  for (size_t d = axis + 1; d < y.desc.shape.size(); ++d)
    inner *= y.desc.shape[d];
  int64_t rowOut = y.desc.shape[axis] * inner, at = 0;
  for (TensorRef *x : in) {
    int64_t row = x->desc.shape[axis] * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(y.data + o * rowOut + at, x->data + o * row, row);
    at += row;
  }
  return Status::ok();
}

Status gather(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0], &ind = *in[1];
  TensorRef &y = *out[0];
  int64_t axis = a.i("axis");
  if (axis < 0)
    axis += x.desc.shape.size();
  size_t w = dtypeSize(x.desc.dtype);
  int64_t outer = 1, inner = w, n = x.desc.shape[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= x.desc.shape[d];
  for (size_t d = axis + 1; d < x.desc.shape.size(); ++d)
    inner *= x.desc.shape[d];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < ind.numel; ++i) {
      int64_t k = ind.desc.dtype == DType::I64 ? ind.as<int64_t>()[i]
                                               : ind.as<int32_t>()[i];
      if (k < 0)
        k += n;
      if (k < 0 || k >= n)
        return invalidArgument("index " + std::to_string(k) +
                               " out of range [0, " + std::to_string(n) + ")");
      std::memcpy(y.data + (o * ind.numel + i) * inner,
                  x.data + (o * n + k) * inner, inner);
    }
  return Status::ok();
}

Status broadcast(Tensors &in, Tensors &out, const Attrs &) {
  auto st = broadcastStrides(in[0]->desc.shape, out[0]->desc.shape);
  gatherCopy(*in[0], *out[0], [&](const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += idx[d] * st[d];
    return off;
  });
  return Status::ok();
}

Status pad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  std::vector<int64_t> pads = a.ints("pads");
  std::string mode = a.s("mode", "constant");
  size_t rank = x.desc.shape.size();
  auto st = stridesOf(x.desc.shape);
  double value = a.f("value", 0);
  // Fill with the constant first; copied positions overwrite it.
  Status fill = dispatch(y.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    T *p = y.as<T>();
    for (int64_t i = 0; i < y.numel; ++i)
      p[i] = T(value);
  });
  if (!fill.isOk())
    return fill;
  gatherCopy(x, y, [&](const std::vector<int64_t> &idx) -> int64_t {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) {
      int64_t n = x.desc.shape[d], p = idx[d] - pads[d];
      if (p < 0 || p >= n) {
        if (mode == "constant")
          return -1;
        if (mode == "edge")
          p = p < 0 ? 0 : n - 1;
        else // reflect
          while (p < 0 || p >= n)
            p = p < 0 ? -p : 2 * (n - 1) - p;
      }
      off += p * st[d];
    }
    return off;
  });
  return Status::ok();
}

Status trilu(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  bool upper = a.i("upper");
  int64_t k = a.i("k");
  size_t rank = x.desc.shape.size(), w = dtypeSize(x.desc.dtype);
  int64_t rows = x.desc.shape[rank - 2], cols = x.desc.shape[rank - 1];
  for (int64_t i = 0; i < x.numel; ++i) {
    int64_t c = i % cols, r = (i / cols) % rows;
    bool keep = upper ? c - r >= k : c - r <= k;
    if (keep)
      std::memcpy(y.data + i * w, x.data + i * w, w);
    else
      std::memset(y.data + i * w, 0, w);
  }
  return Status::ok();
}

/// Nearest and (multi)linear resize for the coordinate transforms ONNX has.
Status resize(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  if (x.desc.dtype != DType::F32)
    return unsupported(x, "resize");
  std::string mode = a.s("mode", "nearest"),
              ct = a.s("coordinate_transform", "half_pixel"),
              nearest = a.s("nearest_mode", "round_prefer_floor");
  if (mode == "cubic")
    return invalidArgument("resize: cubic interpolation is not supported on "
                           "the CPU backend");
  std::vector<double> scales = a.floats("scales");
  size_t rank = x.desc.shape.size();
  scales.resize(rank, 1.0);
  auto source = [&](size_t d, int64_t o) {
    double in = x.desc.shape[d], outN = y.desc.shape[d], s = scales[d];
    if (ct == "align_corners")
      return outN > 1 ? o * (in - 1) / (outN - 1) : 0.0;
    if (ct == "asymmetric")
      return o / s;
    if (ct == "pytorch_half_pixel")
      return outN > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    if (ct == "tf_half_pixel_for_nn")
      return (o + 0.5) / s;
    return (o + 0.5) / s - 0.5; // half_pixel
  };
  auto st = stridesOf(x.desc.shape);
  const float *src = x.as<float>();
  float *dst = y.as<float>();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < y.numel; ++i) {
    if (mode == "nearest") {
      int64_t off = 0;
      for (size_t d = 0; d < rank; ++d) {
        double c = source(d, idx[d]);
        double r = nearest == "floor"  ? std::floor(c)
                   : nearest == "ceil" ? std::ceil(c)
                   : nearest == "round_prefer_ceil"
                       ? (c - std::floor(c) == 0.5 ? std::ceil(c) : std::round(c))
                       : (c - std::floor(c) == 0.5 ? std::floor(c)
                                                   : std::round(c));
        int64_t p = std::min<int64_t>(std::max<int64_t>(r, 0),
                                      x.desc.shape[d] - 1);
        off += p * st[d];
      }
      dst[i] = src[off];
    } else { // linear in every resized axis
      double acc = 0;
      int corners = 1 << rank;
      for (int cnr = 0; cnr < corners; ++cnr) {
        double weight = 1;
        int64_t off = 0;
        for (size_t d = 0; d < rank; ++d) {
          double c = std::max(0.0, source(d, idx[d]));
          int64_t lo = std::min<int64_t>(std::floor(c), x.desc.shape[d] - 1);
          int64_t hi = std::min<int64_t>(lo + 1, x.desc.shape[d] - 1);
          double f = c - lo;
          bool up = cnr >> d & 1;
          weight *= up ? f : 1 - f;
          off += (up ? hi : lo) * st[d];
        }
        if (weight != 0)
          acc += weight * src[off];
      }
      dst[i] = float(acc);
    }
    for (int d = (int)rank - 1; d >= 0; --d) {
      if (++idx[d] < y.desc.shape[d])
        break;
      idx[d] = 0;
    }
  }
  return Status::ok();
}
} // namespace

void registerShape(Registry &r) {
  r["reshape"] = reshape;
  r["transpose"] = transpose;
  r["slice"] = slice;
  r["concat"] = concat;
  r["gather"] = gather;
  r["broadcast"] = broadcast;
  r["pad"] = pad;
  r["trilu"] = trilu;
  r["resize"] = resize;
}

} // namespace cpu
} // namespace pprt
