//===- Nn.cpp - pooling, normalisation, softmax, reductions ---------------===//

#include "Kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace pprt {
namespace cpu {
namespace {

int64_t normAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + (int64_t)rank : axis;
}

/// Max or average pooling over the trailing spatial axes.
template <bool Max> Status pool(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  TensorRef &Y = *out[0];
  int spatial = X.desc.shape.size() - 2;
  Window win(a, X, Y, a.ints("kernel_shape"));
  const auto &kernel = win.kernel, &strides = win.strides, &pads = win.pads,
             &dilations = win.dilations, &inSize = win.inSize,
             &outSize = win.outSize;
  int64_t inPlane = win.inPlane, outPlane = win.outPlane;
  bool includePad = a.i("count_include_pad");
  int64_t planes = X.desc.shape[0] * X.desc.shape[1];
  if (spatial > 8)
    return invalidArgument("pooling over more than 8 spatial axes");
  bool plain2d = spatial == 2 && dilations[0] == 1 && dilations[1] == 1;
  if (plain2d && X.desc.dtype == DType::F32) {
    // The common case, with the window clipped to the input once per
    // output position.
    int64_t H = inSize[0], W = inSize[1], OH = outSize[0], OW = outSize[1];
    const float *x = X.as<float>();
    float *y = Y.as<float>();
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oh = 0; oh < OH; ++oh) {
        int64_t h0 = oh * strides[0] - pads[0], h1 = h0 + kernel[0];
        int64_t ph1 = std::min(h1, H + pads[2]);
        int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t w0 = ow * strides[1] - pads[1], w1 = w0 + kernel[1];
          int64_t pw1 = std::min(w1, W + pads[3]);
          int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, W);
          float acc = Max ? -std::numeric_limits<float>::infinity() : 0.0f;
          for (int64_t h = hs; h < he; ++h) {
            const float *row = x + p * inPlane + h * W;
            for (int64_t w = ws; w < we; ++w)
              acc = Max ? std::max(acc, row[w]) : acc + row[w];
          }
          if (!Max) {
            int64_t n = includePad ? (ph1 - h0) * (pw1 - w0)
                                   : (he - hs) * (we - ws);
            acc /= std::max<int64_t>(n, 1);
          }
          y[p * outPlane + oh * OW + ow] = acc;
        }
      }
    return Status::ok();
  }
  return dispatch(X.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = X.as<T>();
    T *y = Y.as<T>();
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t op = 0; op < outPlane; ++op) {
        double acc = Max ? -std::numeric_limits<double>::infinity() : 0;
        int64_t count = 0;
        int64_t padded = visitWindow(win, op, [&](int64_t offset) {
          double v = x[p * inPlane + offset];
          acc = Max ? std::max(acc, v) : acc + v;
          ++count;
        });
        if (!Max)
          acc /= std::max<int64_t>(includePad ? padded : count, 1);
        y[p * outPlane + op] = T(acc);
      }
  }, /*floatOnly=*/!Max);
}

/// y = x * mul + add over channel ch of an N x C x plane tensor.
void scaleChannel(const float *x, float *y, int64_t n, int64_t c,
                  int64_t plane, int64_t ch, float mul, float add) {
  for (int64_t b = 0; b < n; ++b) {
    const float *src = x + (b * c + ch) * plane;
    float *dst = y + (b * c + ch) * plane;
    for (int64_t i = 0; i < plane; ++i)
      dst[i] = src[i] * mul + add;
  }
}

Status batchNorm(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  if (X.desc.dtype != DType::F32)
    return unsupported(X, "batch_norm");
  int64_t n = X.desc.shape[0], c = X.desc.shape[1], plane = X.numel / (n * c);
  const float *x = X.as<float>(), *scale = in[1]->as<float>(),
              *bias = in[2]->as<float>(), *mean = in[3]->as<float>(),
              *var = in[4]->as<float>();
  float *y = out[0]->as<float>();
  double eps = a.f("epsilon", 1e-5);
  for (int64_t ch = 0; ch < c; ++ch) {
    float mul = scale[ch] / std::sqrt(var[ch] + (float)eps);
    scaleChannel(x, y, n, c, plane, ch, mul, bias[ch] - mean[ch] * mul);
  }
  return Status::ok();
}

/// batch_norm_train: each channel normalised with its batch mean and biased
/// variance (or, in evaluation, the running statistics); also returns the
/// mean and 1/std used, and the running statistics after this batch (the
/// variance in them biased, or unbiased with unbiased_running_var).
/// Statistics are summed in double, channel by channel.
Status batchNormTrain(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  for (const TensorRef *t : in)
    if (t->desc.dtype != DType::F32)
      return unsupported(*t, "batch_norm_train");
  int64_t n = X.desc.shape[0], c = X.desc.shape[1];
  int64_t plane = n * c != 0 ? X.numel / (n * c) : 0, count = n * plane;
  const float *x = X.as<float>(), *scale = in[1]->as<float>(),
              *bias = in[2]->as<float>(), *runMean = in[3]->as<float>(),
              *runVar = in[4]->as<float>();
  float *y = out[0]->as<float>(), *mean = out[1]->as<float>(),
        *invStd = out[2]->as<float>(), *newMean = out[3]->as<float>(),
        *newVar = out[4]->as<float>();
  double eps = a.f("epsilon", 1e-5), momentum = a.f("momentum", 0.9);
  bool evaluation = a.evaluation(), unbiased = a.has("unbiased_running_var");
  if (!evaluation && unbiased && count < 2)
    return invalidArgument(
        "batch_norm_train normalises each channel over " +
        std::to_string(count) +
        " value: a training micro-batch needs more than one value per channel");
#pragma omp parallel for schedule(static) if (X.numel > (1 << 16))
  for (int64_t ch = 0; ch < c; ++ch) {
    double m = runMean[ch], var = runVar[ch];
    if (!evaluation) {
      double sum = 0;
      for (int64_t b = 0; b < n; ++b) {
        const float *src = x + (b * c + ch) * plane;
        for (int64_t i = 0; i < plane; ++i)
          sum += src[i];
      }
      m = sum / count;
      double sq = 0;
      for (int64_t b = 0; b < n; ++b) {
        const float *src = x + (b * c + ch) * plane;
        for (int64_t i = 0; i < plane; ++i)
          sq += (src[i] - m) * (src[i] - m);
      }
      var = sq / count;
      newMean[ch] = float(momentum * runMean[ch] + (1 - momentum) * m);
      newVar[ch] = float(momentum * runVar[ch] +
                         (1 - momentum) * sq / (unbiased ? count - 1 : count));
    } else {
      newMean[ch] = runMean[ch];
      newVar[ch] = runVar[ch];
    }
    double inv = 1.0 / std::sqrt(var + eps);
    mean[ch] = float(m);
    invStd[ch] = float(inv);
    // y = x * alpha + beta, as PyTorch's CPU kernel applies it.
    scaleChannel(x, y, n, c, plane, ch, float(inv * scale[ch]),
                 float(bias[ch] - m * inv * scale[ch]));
  }
  return Status::ok();
}

/// Normalises over the axes from `axis` on; also returns mean and 1/std.
Status layerNorm(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  if (X.desc.dtype != DType::F32)
    return unsupported(X, "layer_norm");
  int64_t axis = normAxis(a.i("axis", -1), X.desc.shape.size());
  int64_t inner = 1;
  for (size_t d = axis; d < X.desc.shape.size(); ++d)
    inner *= X.desc.shape[d];
  int64_t outer = X.numel / inner;
  double eps = a.f("epsilon", 1e-5);
  const float *x = X.as<float>(), *scale = in[1]->as<float>();
  const float *bias = in.size() > 2 ? in[2]->as<float>() : nullptr;
  auto ss = broadcastStrides(in[1]->desc.shape,
                             {X.desc.shape.begin() + axis, X.desc.shape.end()});
  bool flatScale = in[1]->numel == inner;
  float *y = out[0]->as<float>();
  float *meanOut = out.size() > 1 ? out[1]->as<float>() : nullptr;
  float *invOut = out.size() > 2 ? out[2]->as<float>() : nullptr;
  for (int64_t r = 0; r < outer; ++r) {
    const float *row = x + r * inner;
    double mean = 0;
    for (int64_t i = 0; i < inner; ++i)
      mean += row[i];
    mean /= inner;
    double var = 0;
    for (int64_t i = 0; i < inner; ++i)
      var += (row[i] - mean) * (row[i] - mean);
    var /= inner;
    double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < inner; ++i) {
      int64_t si = flatScale ? i : 0;
      if (!flatScale) // scale broadcast over the normalised axes
        for (int64_t rem = i, d = ss.size() - 1; d >= 0; --d) {
          int64_t dim = X.desc.shape[axis + d];
          si += (rem % dim) * ss[d];
          rem /= dim;
        }
      float v = float((row[i] - mean) * inv) * scale[si];
      y[r * inner + i] = bias ? v + bias[si] : v;
    }
    if (meanOut)
      meanOut[r] = float(mean);
    if (invOut)
      invOut[r] = float(inv);
  }
  return Status::ok();
}

template <bool Log> Status softmax(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  int64_t axis = normAxis(a.i("axis", -1), X.desc.shape.size());
  int64_t n = X.desc.shape[axis], inner = 1;
  for (size_t d = axis + 1; d < X.desc.shape.size(); ++d)
    inner *= X.desc.shape[d];
  int64_t outer = X.numel / (n * inner);
  return dispatch(X.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = X.as<T>();
    T *y = out[0]->as<T>();
    // One row per task; each row's sums stay in one thread's order.
    int64_t rows = outer * inner;
#pragma omp parallel for schedule(static) if (X.numel >= 2 * kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t o = r / inner, i = r % inner;
      {
        const T *src = x + o * n * inner + i;
        T *dst = y + o * n * inner + i;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t k = 0; k < n; ++k)
          m = std::max(m, src[k * inner]);
        T sum = 0;
        for (int64_t k = 0; k < n; ++k) {
          T e = std::exp(src[k * inner] - m);
          sum += e;
          if (!Log)
            dst[k * inner] = e;
        }
        for (int64_t k = 0; k < n; ++k)
          dst[k * inner] = Log ? src[k * inner] - m - std::log(sum)
                               : dst[k * inner] / sum;
      }
    }
  }, /*floatOnly=*/true);
}

enum class Reduce { Sum, Mean, Max, Min, Prod };

template <Reduce R> Status reduce(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  TensorRef &Y = *out[0];
  size_t rank = X.desc.shape.size();
  std::vector<bool> reduced(rank, false);
  std::vector<int64_t> axes = a.ints("axes");
  if (axes.empty())
    reduced.assign(rank, true);
  for (int64_t ax : axes)
    reduced[normAxis(ax, rank)] = true;
  // Output strides over the input's axes: 0 on reduced axes.
  std::vector<int64_t> keptShape;
  for (size_t d = 0; d < rank; ++d)
    keptShape.push_back(reduced[d] ? 1 : X.desc.shape[d]);
  std::vector<int64_t> ostr = broadcastStrides(keptShape, X.desc.shape);
  int64_t count = Y.numel ? X.numel / Y.numel : 0;
  return dispatch(X.desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    // The identity of each reduction, which an empty set reduces to:
    // max and min of integers and booleans start at the type's bounds
    // (ONNX: false for a boolean max, true for a min), not at +-inf.
    double lowest = -std::numeric_limits<double>::infinity();
    double highest = std::numeric_limits<double>::infinity();
    if constexpr (std::is_integral_v<T>) {
      lowest = double(std::numeric_limits<T>::lowest());
      highest = double(std::numeric_limits<T>::max());
    }
    std::vector<double> acc(Y.numel, R == Reduce::Max   ? lowest
                                     : R == Reduce::Min  ? highest
                                     : R == Reduce::Prod ? 1.0
                                                         : 0.0);
    const T *x = X.as<T>();
    forEachIndex<1>(X.desc.shape, {ostr},
                    [&](int64_t i, const std::array<int64_t, 1> &o) {
                      double v = x[i];
                      double &t = acc[o[0]];
                      if (R == Reduce::Max)
                        t = std::max(t, v);
                      else if (R == Reduce::Min)
                        t = std::min(t, v);
                      else if (R == Reduce::Prod)
                        t *= v;
                      else
                        t += v;
                    });
    T *y = Y.as<T>();
    for (int64_t i = 0; i < Y.numel; ++i)
      y[i] = T(R == Reduce::Mean ? acc[i] / count : acc[i]);
  });
}
} // namespace

void registerNn(Registry &r) {
  r["max_pool"] = pool<true>;
  r["avg_pool"] = pool<false>;
  r["batch_norm"] = batchNorm;
  r["batch_norm_train"] = batchNormTrain;
  r["layer_norm"] = layerNorm;
  r["softmax"] = softmax<false>;
  r["log_softmax"] = softmax<true>;
  r["reduce_sum"] = reduce<Reduce::Sum>;
  r["reduce_mean"] = reduce<Reduce::Mean>;
  r["reduce_max"] = reduce<Reduce::Max>;
  r["reduce_min"] = reduce<Reduce::Min>;
  r["reduce_prod"] = reduce<Reduce::Prod>;
}

} // namespace cpu
} // namespace pprt
