//===- Backward.cpp - losses and backward kernels -------------------------===//
//
// The ops -pp-autodiff adds (include/ppc/Dialect/PP/IR/PPTrainingOps.td).
// fp32 only: training runs in f32 on the CPU. Reductions run in double in a
// fixed order, and parallel loops split only over independent outputs, so
// that results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace pprt {
namespace cpu {

namespace {
Status needF32(const TensorRef &t, const char *kernel) {
  if (t.desc.dtype != DType::F32)
    return unsupported(t, kernel);
  return Status::ok();
}

int64_t labelAt(const TensorRef &labels, int64_t i) {
  return labels.desc.dtype == DType::I64 ? labels.as<int64_t>()[i]
                                         : labels.as<int32_t>()[i];
}

} // namespace

StatusOr<Classes> lossClasses(const TensorRef &logits,
                              const TensorRef &labels) {
  PPRT_RETURN_IF_ERROR(needF32(logits, "cross_entropy"));
  int64_t classes = logits.desc.shape.back();
  int64_t rows = classes ? logits.numel / classes : 0;
  if (labels.numel != rows)
    return invalidArgument("labels have " + std::to_string(labels.numel) +
                           " elements (" + labels.desc.toString() +
                           "), the logits " + logits.desc.toString() + " have " +
                           std::to_string(rows) + " positions");
  return Classes{rows, classes};
}

namespace {
/// lossClasses, and every label within the classes.
StatusOr<Classes> classesOf(const TensorRef &logits, const TensorRef &labels) {
  auto c = lossClasses(logits, labels);
  if (!c)
    return c;
  int64_t rows = c->rows, classes = c->classes;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t k = labelAt(labels, r);
    if (k < 0 || k >= classes)
      return invalidArgument("label " + std::to_string(k) + " at position " +
                             std::to_string(r) + " is outside the " +
                             std::to_string(classes) + " classes [0, " +
                             std::to_string(classes) + ")");
  }
  return Classes{rows, classes};
}

/// log(sum(exp(row))) with the row's maximum taken out, in double.
double logSumExp(const float *row, int64_t n) {
  float m = row[0];
  for (int64_t k = 1; k < n; ++k)
    m = std::max(m, row[k]);
  double sum = 0;
  for (int64_t k = 0; k < n; ++k)
    sum += std::exp((double)row[k] - m);
  return m + std::log(sum);
}

Status crossEntropy(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &logits = *in[0], &labels = *in[1];
  auto c = classesOf(logits, labels);
  if (!c)
    return c.status();
  std::vector<double> perRow(c->rows);
  const float *x = logits.as<float>();
  parallelFor(c->rows, [&](int64_t r) {
    const float *row = x + r * c->classes;
    perRow[r] = logSumExp(row, c->classes) - row[labelAt(labels, r)];
  });
  double sum = 0;
  for (double v : perRow)
    sum += v;
  out[0]->as<float>()[0] = float(sum * a.f("scale", 1));
  return Status::ok();
}

Status crossEntropyGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &logits = *in[0], &labels = *in[1];
  auto c = classesOf(logits, labels);
  if (!c)
    return c.status();
  double scale = a.f("scale", 1);
  const float *x = logits.as<float>();
  float *y = out[0]->as<float>();
  parallelFor(c->rows, [&](int64_t r) {
    const float *row = x + r * c->classes;
    float *dst = y + r * c->classes;
    double lse = logSumExp(row, c->classes);
    for (int64_t k = 0; k < c->classes; ++k)
      dst[k] = float(std::exp((double)row[k] - lse) * scale);
    dst[labelAt(labels, r)] -= float(scale);
  });
  return Status::ok();
}

Status checkSameShape(const TensorRef &a, const TensorRef &b,
                      const char *what) {
  if (!(a.desc == b.desc))
    return invalidArgument(std::string(what) + ": the prediction is " +
                           a.desc.toString() + ", the target " +
                           b.desc.toString());
  return Status::ok();
}

Status mseLoss(Tensors &in, Tensors &out, const Attrs &a) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], "mse_loss"));
  PPRT_RETURN_IF_ERROR(checkSameShape(*in[0], *in[1], "mse_loss"));
  const float *p = in[0]->as<float>(), *t = in[1]->as<float>();
  double sum = 0;
  for (int64_t i = 0; i < in[0]->numel; ++i) {
    double d = (double)p[i] - t[i];
    sum += d * d;
  }
  out[0]->as<float>()[0] = float(sum * a.f("scale", 1));
  return Status::ok();
}

Status mseLossGrad(Tensors &in, Tensors &out, const Attrs &a) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], "mse_loss_grad"));
  PPRT_RETURN_IF_ERROR(checkSameShape(*in[0], *in[1], "mse_loss_grad"));
  const float *p = in[0]->as<float>(), *t = in[1]->as<float>();
  float *y = out[0]->as<float>();
  float twice = float(2 * a.f("scale", 1));
  parallelFor(in[0]->numel, [&](int64_t i) { y[i] = twice * (p[i] - t[i]); });
  return Status::ok();
}

/// result = f(input, grad), element by element.
template <typename F> Kernel activationGrad(const char *name, F f) {
  return [name, f](Tensors &in, Tensors &out, const Attrs &a) -> Status {
    PPRT_RETURN_IF_ERROR(needF32(*in[0], name));
    const float *x = in[0]->as<float>(), *g = in[1]->as<float>();
    float *y = out[0]->as<float>();
    bool approximate = a.i("approximate");
    parallelFor(in[0]->numel,
                [&](int64_t i) { y[i] = f(x[i], g[i], approximate); });
    return Status::ok();
  };
}

float geluGrad(float x, float g, bool approximate) {
  if (approximate) {
    // d/dx 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3).
    const float c = 0.7978845608028654f;
    float u = c * (x + 0.044715f * x * x * x);
    float t = std::tanh(u);
    float du = c * (1 + 3 * 0.044715f * x * x);
    return g * (0.5f * (1 + t) + 0.5f * x * (1 - t * t) * du);
  }
  // Phi(x) + x phi(x).
  float cdf = 0.5f * (1 + std::erf(x * float(M_SQRT1_2)));
  float pdf = std::exp(-0.5f * x * x) * 0.3989422804014327f;
  return g * (cdf + x * pdf);
}

/// PyTorch's hardswish_backward: 0 below -3, (x / 3 + 1 / 2) up to 3, 1
/// above.
float hardSwishGrad(float x, float g, bool) {
  return x < -3 ? 0.0f : x <= 3 ? g * (x / 3 + 0.5f) : g;
}

/// grad * alpha inside the linear part (0 < alpha x + beta < 1).
Status hardSigmoidGrad(Tensors &in, Tensors &out, const Attrs &a) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], "hard_sigmoid_grad"));
  const float *x = in[0]->as<float>(), *g = in[1]->as<float>();
  float *y = out[0]->as<float>();
  float alpha = float(a.f("alpha", 0.2)), beta = float(a.f("beta", 0.5));
  parallelFor(in[0]->numel, [&](int64_t i) {
    float v = alpha * x[i] + beta;
    y[i] = v > 0 && v < 1 ? g[i] * alpha : 0.0f;
  });
  return Status::ok();
}

/// The rows of a softmax along `axis`: outer x n x inner.
struct Rows {
  int64_t outer, n, inner;
};
Rows rowsOf(const TensorRef &t, int64_t axis) {
  int64_t rank = t.desc.shape.size();
  if (axis < 0)
    axis += rank;
  Rows r{1, t.desc.shape[axis], 1};
  for (int64_t d = 0; d < axis; ++d)
    r.outer *= t.desc.shape[d];
  for (int64_t d = axis + 1; d < rank; ++d)
    r.inner *= t.desc.shape[d];
  return r;
}

Status softmaxGrad(Tensors &in, Tensors &out, const Attrs &a) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], "softmax_grad"));
  Rows r = rowsOf(*in[0], a.i("axis", -1));
  bool log = a.i("log");
  const float *y = in[0]->as<float>(), *g = in[1]->as<float>();
  float *dx = out[0]->as<float>();
  parallelFor(r.outer * r.inner, [&](int64_t row) {
    int64_t base = (row / r.inner) * r.n * r.inner + row % r.inner;
    double dot = 0;
    for (int64_t k = 0; k < r.n; ++k) {
      int64_t i = base + k * r.inner;
      dot += log ? (double)g[i] : (double)g[i] * y[i];
    }
    for (int64_t k = 0; k < r.n; ++k) {
      int64_t i = base + k * r.inner;
      dx[i] = log ? float(g[i] - std::exp((double)y[i]) * dot)
                  : float(y[i] * (g[i] - dot));
    }
  });
  return Status::ok();
}

/// layer_norm over the axes from `axis` on: outer rows of `inner`.
StatusOr<Rows> normRows(const TensorRef &x, const TensorRef *scale,
                        const Attrs &a, const char *kernel) {
  PPRT_RETURN_IF_ERROR(needF32(x, kernel));
  int64_t rank = x.desc.shape.size();
  int64_t axis = a.i("axis", -1);
  if (axis < 0)
    axis += rank;
  Rows r{1, 1, 1};
  for (int64_t d = axis; d < rank; ++d)
    r.inner *= x.desc.shape[d];
  r.outer = r.inner ? x.numel / r.inner : 0;
  if (scale && scale->numel != r.inner)
    return invalidArgument(std::string(kernel) +
                           ": a scale broadcast over the normalised axes (" +
                           scale->desc.toString() +
                           ") is not supported in training");
  return r;
}

Status layerNormGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  auto r = normRows(X, in[1], a, "layer_norm_grad");
  if (!r)
    return r.status();
  const float *x = X.as<float>(), *scale = in[1]->as<float>(),
              *mean = in[2]->as<float>(), *inv = in[3]->as<float>(),
              *dy = in[4]->as<float>();
  float *dx = out[0]->as<float>();
  int64_t n = r->inner;
  // dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy s.
  parallelFor(r->outer, [&](int64_t row) {
    const float *xr = x + row * n, *gr = dy + row * n;
    float m = mean[row], is = inv[row];
    double sumG = 0, sumGX = 0;
    for (int64_t i = 0; i < n; ++i) {
      double g = (double)gr[i] * scale[i];
      sumG += g;
      sumGX += g * ((xr[i] - m) * is);
    }
    double meanG = sumG / n, meanGX = sumGX / n;
    for (int64_t i = 0; i < n; ++i) {
      double xhat = (xr[i] - m) * is;
      dx[row * n + i] =
          float(is * ((double)gr[i] * scale[i] - meanG - xhat * meanGX));
    }
  });
  return Status::ok();
}

Status layerNormParamGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &X = *in[0];
  auto r = normRows(X, nullptr, a, "layer_norm_param_grad");
  if (!r)
    return r.status();
  const float *x = X.as<float>(), *mean = in[1]->as<float>(),
              *inv = in[2]->as<float>(), *dy = in[3]->as<float>();
  float *ds = out[0]->as<float>(), *db = out[1]->as<float>();
  int64_t n = r->inner, rows = r->outer;
  if (out[0]->numel != n || out[1]->numel != n)
    return invalidArgument("layer_norm_param_grad: the scale has " +
                           std::to_string(out[0]->numel) +
                           " elements, the normalised axes " +
                           std::to_string(n));
  // Columns in blocks over the threads; each column sums rows in order.
  constexpr int64_t kBlock = 64;
  int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * n >= 2 * kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t begin = b * kBlock, end = std::min(n, begin + kBlock);
    double s[kBlock] = {}, t[kBlock] = {};
    for (int64_t row = 0; row < rows; ++row) {
      const float *xr = x + row * n, *gr = dy + row * n;
      float m = mean[row], is = inv[row];
      for (int64_t i = begin; i < end; ++i) {
        s[i - begin] += (double)gr[i] * ((xr[i] - m) * is);
        t[i - begin] += gr[i];
      }
    }
    for (int64_t i = begin; i < end; ++i) {
      ds[i] = float(s[i - begin]);
      db[i] = float(t[i - begin]);
    }
  }
  return Status::ok();
}

/// Scatter-add of `grad` into zeros of the data's shape, in index order.
/// batch_norm_train's statistics of the gradient, per channel: the sums of
/// grad and of grad * xhat, in double.
struct ChannelSums {
  int64_t n, c, plane;
  std::vector<double> dy, dyXhat;
};
StatusOr<ChannelSums> channelSums(const TensorRef &X, const TensorRef &mean,
                                  const TensorRef &invStd, const TensorRef &dY,
                                  const char *kernel) {
  for (const TensorRef *t : {&X, &mean, &invStd, &dY})
    PPRT_RETURN_IF_ERROR(needF32(*t, kernel));
  ChannelSums s;
  s.n = X.desc.shape[0];
  s.c = X.desc.shape[1];
  s.plane = s.n * s.c != 0 ? X.numel / (s.n * s.c) : 0;
  s.dy.assign(s.c, 0);
  s.dyXhat.assign(s.c, 0);
  const float *x = X.as<float>(), *m = mean.as<float>(),
              *inv = invStd.as<float>(), *dy = dY.as<float>();
#pragma omp parallel for schedule(static) if (X.numel > (1 << 16))
  for (int64_t ch = 0; ch < s.c; ++ch) {
    double sum = 0, dot = 0;
    for (int64_t b = 0; b < s.n; ++b) {
      int64_t at = (b * s.c + ch) * s.plane;
      for (int64_t i = 0; i < s.plane; ++i) {
        sum += dy[at + i];
        dot += double(dy[at + i]) * (x[at + i] - m[ch]);
      }
    }
    s.dy[ch] = sum;
    s.dyXhat[ch] = dot * inv[ch];
  }
  return s;
}

/// dx = scale * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)).
Status batchNormGrad(Tensors &in, Tensors &out, const Attrs &) {
  const TensorRef &X = *in[0], &scale = *in[1], &mean = *in[2],
                  &invStd = *in[3], &dY = *in[4];
  PPRT_RETURN_IF_ERROR(needF32(scale, "batch_norm_grad"));
  auto sums = channelSums(X, mean, invStd, dY, "batch_norm_grad");
  if (!sums)
    return sums.status();
  const ChannelSums &s = *sums;
  double count = double(s.n * s.plane);
  const float *x = X.as<float>(), *m = mean.as<float>(),
              *inv = invStd.as<float>(), *dy = dY.as<float>(),
              *w = scale.as<float>();
  float *dx = out[0]->as<float>();
#pragma omp parallel for schedule(static) if (X.numel > (1 << 16))
  for (int64_t ch = 0; ch < s.c; ++ch) {
    double meanDy = s.dy[ch] / count, meanDyXhat = s.dyXhat[ch] / count;
    double k = double(w[ch]) * inv[ch];
    for (int64_t b = 0; b < s.n; ++b) {
      int64_t at = (b * s.c + ch) * s.plane;
      for (int64_t i = 0; i < s.plane; ++i) {
        double xhat = (x[at + i] - m[ch]) * double(inv[ch]);
        dx[at + i] = float(k * (dy[at + i] - meanDy - xhat * meanDyXhat));
      }
    }
  }
  return Status::ok();
}

/// Per channel: scale's gradient sum(dy * xhat), bias's sum(dy).
Status batchNormParamGrad(Tensors &in, Tensors &out, const Attrs &) {
  auto sums = channelSums(*in[0], *in[1], *in[2], *in[3], "batch_norm_param_grad");
  if (!sums)
    return sums.status();
  float *dScale = out[0]->as<float>(), *dBias = out[1]->as<float>();
  for (int64_t ch = 0; ch < sums->c; ++ch) {
    dScale[ch] = float(sums->dyXhat[ch]);
    dBias[ch] = float(sums->dy[ch]);
  }
  return Status::ok();
}

/// max_pool_grad and avg_pool_grad: dy of each window routed back to the
/// input positions it came from, plane by plane (planes in parallel: each
/// writes only its own).
template <bool Max>
Status poolGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef *X = Max ? in[0] : nullptr;
  const TensorRef &dY = *in[Max ? 1 : 0];
  TensorRef &dX = *out[0];
  const char *name = Max ? "max_pool_grad" : "avg_pool_grad";
  PPRT_RETURN_IF_ERROR(needF32(dY, name));
  PPRT_RETURN_IF_ERROR(needF32(dX, name));
  Window win(a, dX, dY, a.ints("kernel_shape"));
  if (win.spatial > 8)
    return invalidArgument(std::string(name) + ": more than 8 spatial axes");
  bool includePad = a.i("count_include_pad");
  int64_t planes = dX.desc.shape[0] * dX.desc.shape[1];
  const float *x = X ? X->as<float>() : nullptr, *dy = dY.as<float>();
  float *dx = dX.as<float>();
  std::fill(dx, dx + dX.numel, 0.0f);
#pragma omp parallel for schedule(static) if (dX.numel > (1 << 16))
  for (int64_t p = 0; p < planes; ++p) {
    const float *xp = x ? x + p * win.inPlane : nullptr;
    float *dxp = dx + p * win.inPlane;
    for (int64_t op = 0; op < win.outPlane; ++op) {
      float g = dy[p * win.outPlane + op];
      if constexpr (Max) {
        // The first maximum in window order (or the last NaN), exactly as
        // PyTorch's kernel picks it.
        int64_t best = -1;
        float bestValue = -std::numeric_limits<float>::infinity();
        visitWindow(win, op, [&](int64_t offset) {
          float v = xp[offset];
          if (best < 0)
            best = offset;
          if (v > bestValue || std::isnan(v)) {
            best = offset;
            bestValue = v;
          }
        });
        if (best >= 0)
          dxp[best] += g;
      } else {
        int64_t count = 0;
        int64_t padded = visitWindow(win, op, [&](int64_t) { ++count; });
        float share = g / float(std::max<int64_t>(includePad ? padded : count, 1));
        visitWindow(win, op, [&](int64_t offset) { dxp[offset] += share; });
      }
    }
  }
  return Status::ok();
}

Status gatherGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &ind = *in[0], &G = *in[1];
  TensorRef &Y = *out[0];
  PPRT_RETURN_IF_ERROR(needF32(G, "gather_grad"));
  int64_t axis = a.i("axis");
  if (axis < 0)
    axis += Y.desc.shape.size();
  int64_t outer = 1, inner = 1, n = Y.desc.shape[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= Y.desc.shape[d];
  for (size_t d = axis + 1; d < Y.desc.shape.size(); ++d)
    inner *= Y.desc.shape[d];
  float *y = Y.as<float>();
  const float *g = G.as<float>();
  std::fill(y, y + Y.numel, 0.0f);
  // Each element's sum runs in index order.
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < ind.numel; ++i) {
      int64_t k = labelAt(ind, i);
      if (k < 0)
        k += n;
      if (k < 0 || k >= n)
        return invalidArgument("index " + std::to_string(k) +
                               " out of range [0, " + std::to_string(n) + ")");
      float *dst = y + (o * n + k) * inner;
      const float *src = g + (o * ind.numel + i) * inner;
      for (int64_t j = 0; j < inner; ++j)
        dst[j] += src[j];
    }
  return Status::ok();
}

/// grad placed where slice took it from; zeros elsewhere.
Status sliceGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &G = *in[0];
  TensorRef &Y = *out[0];
  std::vector<int64_t> starts = a.ints("starts"), steps = a.ints("steps");
  size_t rank = Y.desc.shape.size();
  if (starts.size() != rank || steps.size() != rank)
    return invalidArgument("slice_grad: starts and steps need one entry per "
                           "axis");
  SliceWindow win = sliceWindow(Y.desc.shape, starts, steps);
  size_t w = dtypeSize(G.desc.dtype);
  std::memset(Y.data, 0, Y.bytes);
  forEachIndex<1>(G.desc.shape, {win.strides},
                  [&](int64_t i, const std::array<int64_t, 1> &o) {
                    std::memcpy(Y.data + (win.base + o[0]) * w, G.data + i * w,
                                w);
                  });
  return Status::ok();
}
} // namespace

void registerBackward(Registry &r) {
  r["cross_entropy"] = crossEntropy;
  r["cross_entropy_grad"] = crossEntropyGrad;
  r["mse_loss"] = mseLoss;
  r["mse_loss_grad"] = mseLossGrad;
  r["relu_grad"] = activationGrad(
      "relu_grad", [](float x, float g, bool) { return x > 0 ? g : 0.0f; });
  r["tanh_grad"] = activationGrad(
      "tanh_grad", [](float y, float g, bool) { return g * (1 - y * y); });
  r["sigmoid_grad"] = activationGrad(
      "sigmoid_grad", [](float y, float g, bool) { return g * y * (1 - y); });
  r["gelu_grad"] = activationGrad("gelu_grad", geluGrad);
  r["hard_swish_grad"] = activationGrad("hard_swish_grad", hardSwishGrad);
  r["hard_sigmoid_grad"] = hardSigmoidGrad;
  r["softmax_grad"] = softmaxGrad;
  r["layer_norm_grad"] = layerNormGrad;
  r["layer_norm_param_grad"] = layerNormParamGrad;
  r["gather_grad"] = gatherGrad;
  r["slice_grad"] = sliceGrad;
  r["batch_norm_grad"] = batchNormGrad;
  r["batch_norm_param_grad"] = batchNormParamGrad;
  r["max_pool_grad"] = poolGrad<true>;
  r["avg_pool_grad"] = poolGrad<false>;
}

} // namespace cpu
} // namespace pprt
