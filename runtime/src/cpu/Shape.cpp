//===- Shape.cpp - data movement: reshape, transpose, slice, ... ----------===//
//
// Byte-level copies, so one kernel serves every element type.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace pprt {
namespace cpu {
namespace {

/// Copies y[idx] = x[base + sum(idx[d] * strides[d])] for every output
/// index: the offset advances incrementally, innermost runs with unit
/// stride are copied whole.
void stridedCopy(const TensorRef &x, TensorRef &y, int64_t base,
                 const std::vector<int64_t> &strides) {
  size_t w = dtypeSize(y.desc.dtype);
  int rank = y.desc.shape.size();
  if (rank == 0 || y.numel == 0) {
    if (y.numel)
      std::memcpy(y.data, x.data + base * w, w);
    return;
  }
  int64_t inner = y.desc.shape[rank - 1], is = strides[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t off = base;
  for (int64_t i = 0; i < y.numel; i += inner) {
    uint8_t *dst = y.data + i * w;
    const uint8_t *src = x.data + off * w;
    if (is == 1) {
      std::memcpy(dst, src, inner * w);
    } else if (w == 4) {
      for (int64_t k = 0; k < inner; ++k)
        reinterpret_cast<uint32_t *>(dst)[k] =
            reinterpret_cast<const uint32_t *>(src)[k * is];
    } else {
      for (int64_t k = 0; k < inner; ++k)
        std::memcpy(dst + k * w, src + k * is * w, w);
    }
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < y.desc.shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (y.desc.shape[d] - 1);
      idx[d] = 0;
    }
  }
}

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
  std::vector<int64_t> strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d)
    strides[d] = st[perm[d]];
  stridedCopy(*in[0], *out[0], 0, strides);
  return Status::ok();
}

Status slice(Tensors &in, Tensors &out, const Attrs &a) {
  SliceWindow w =
      sliceWindow(in[0]->desc.shape, a.ints("starts"), a.ints("steps"));
  stridedCopy(*in[0], *out[0], w.base, w.strides);
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
  stridedCopy(*in[0], *out[0], 0,
              broadcastStrides(in[0]->desc.shape, out[0]->desc.shape));
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

} // namespace

ResizeTaps resizeTaps(const Attrs &a, const TensorRef &x, const TensorRef &y) {
  std::string mode = a.s("mode", "nearest"),
              ct = a.s("coordinate_transform", "half_pixel"),
              nearest = a.s("nearest_mode", "round_prefer_floor");
  double cubicA = a.f("cubic_coeff_a", -0.75);
  bool excludeOutside = a.i("exclude_outside");
  ResizeTaps r;
  r.extrapolation = a.f("extrapolation_value", 0);
  std::vector<double> scales = a.floats("scales"), roi = a.floats("roi");
  size_t rank = x.desc.shape.size();
  scales.resize(rank, 1.0);
  // Where output coordinate o of axis d falls in the input (ONNX's
  // formulas; the resized length is in * scale, before rounding).
  auto source = [&](size_t d, int64_t o, bool &outside) {
    double in = x.desc.shape[d], s = scales[d], len = in * s;
    outside = false;
    if (ct == "align_corners")
      return len > 1 ? o * (in - 1) / (len - 1) : 0.0;
    if (ct == "asymmetric")
      return o / s;
    if (ct == "pytorch_half_pixel")
      return len > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    if (ct == "tf_half_pixel_for_nn")
      return (o + 0.5) / s;
    if (ct == "tf_crop_and_resize") {
      double start = roi.size() == 2 * rank ? roi[d] : 0,
             end = roi.size() == 2 * rank ? roi[rank + d] : 1;
      double outLen = y.desc.shape[d];
      double c = outLen > 1 ? start * (in - 1) +
                                  o * (end - start) * (in - 1) / (outLen - 1)
                            : 0.5 * (start + end) * (in - 1);
      outside = c < 0 || c > in - 1;
      return c;
    }
    return (o + 0.5) / s - 0.5; // half_pixel
  };
  using Tap = ResizeTaps::Tap;
  auto cubic = [&](double t) {
    t = std::fabs(t);
    if (t <= 1)
      return ((cubicA + 2) * t - (cubicA + 3)) * t * t + 1;
    if (t < 2)
      return ((cubicA * t - 5 * cubicA) * t + 8 * cubicA) * t - 4 * cubicA;
    return 0.0;
  };
  // taps[d][o]: the input taps of output coordinate o on axis d.
  auto &taps = r.taps;
  auto &outsideAt = r.outside;
  taps.resize(rank);
  outsideAt.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    int64_t n = x.desc.shape[d];
    for (int64_t o = 0; o < y.desc.shape[d]; ++o) {
      bool outside;
      double c = source(d, o, outside);
      outsideAt[d].push_back(outside);
      std::vector<Tap> t;
      if (mode == "nearest") {
        double r = nearest == "floor"  ? std::floor(c)
                   : nearest == "ceil" ? std::ceil(c)
                   : c - std::floor(c) == 0.5
                       ? (nearest == "round_prefer_ceil" ? std::ceil(c)
                                                         : std::floor(c))
                       : std::round(c);
        t.push_back({std::min<int64_t>(std::max<int64_t>(r, 0), n - 1), 1});
      } else if (mode == "linear") {
        c = std::min(std::max(c, 0.0), double(n - 1));
        int64_t lo = std::floor(c), hi = std::min<int64_t>(lo + 1, n - 1);
        t.push_back({lo, 1 - (c - lo)});
        t.push_back({hi, c - lo});
      } else { // cubic
        int64_t base = std::floor(c);
        double f = c - base, sum = 0;
        for (int k = -1; k <= 2; ++k) {
          int64_t idx = base + k;
          double w = cubic(f - k);
          if (idx < 0 || idx >= n) {
            if (excludeOutside)
              continue;
            idx = std::min<int64_t>(std::max<int64_t>(idx, 0), n - 1);
          }
          t.push_back({idx, w});
          sum += w;
        }
        if (excludeOutside && sum != 0)
          for (Tap &tap : t)
            tap.weight /= sum;
      }
      taps[d].push_back(t);
    }
  }
  return r;
}

namespace {

/// Nearest, (multi)linear and cubic resize, separably: each output
/// coordinate maps to a few input taps with weights per axis, and the
/// output is the weighted sum over the product of the axes' taps.
Status resize(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  if (x.desc.dtype != DType::F32)
    return unsupported(x, "resize");
  ResizeTaps r = resizeTaps(a, x, y);
  const auto &taps = r.taps;
  const auto &outsideAt = r.outside;
  double extrapolation = r.extrapolation;
  size_t rank = x.desc.shape.size();
  auto st = stridesOf(x.desc.shape);
  const float *src = x.as<float>();
  float *dst = y.as<float>();
  std::vector<int64_t> idx(rank, 0);
  std::vector<size_t> pick(rank);
  for (int64_t i = 0; i < y.numel; ++i) {
    bool outside = false;
    for (size_t d = 0; d < rank; ++d)
      outside |= outsideAt[d][idx[d]];
    double acc = 0;
    if (outside) {
      acc = extrapolation;
    } else {
      std::fill(pick.begin(), pick.end(), 0);
      while (true) {
        double w = 1;
        int64_t off = 0;
        for (size_t d = 0; d < rank; ++d) {
          const ResizeTaps::Tap &t = taps[d][idx[d]][pick[d]];
          w *= t.weight;
          off += t.index * st[d];
        }
        if (w != 0)
          acc += w * src[off];
        size_t d = rank;
        while (d > 0 && ++pick[d - 1] == taps[d - 1][idx[d - 1]].size())
          pick[--d] = 0;
        if (d == 0)
          break;
      }
    }
    dst[i] = float(acc);
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
