//===- Linalg.cpp - matmul, gemm and convolution through BLAS -------------===//
//
// fp32 runs on cblas_sgemm (OpenBLAS); other float types on a plain loop.
// fp32 convolution runs on oneDNN's direct kernels where the runtime is
// built with oneDNN (ConvDnnl.cpp), else as im2col + GEMM per group and
// chunk of images. On resnet18 the direct kernels are the faster of the two
// (bench/README.md, cpu_inference.py's conv table).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#ifdef PPRT_HAVE_BLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace pprt {
namespace cpu {

ConvMethod convMethod() {
  static const ConvMethod method = [] {
    const char *env = std::getenv("PPRT_CONV");
    std::string want = env ? env : "";
    if (want == "im2col")
      return ConvMethod::Im2col;
    if (!want.empty() && want != "direct")
      std::fprintf(stderr, "pprun: PPRT_CONV=%s is not im2col or direct; "
                           "using the default\n", env);
    if (want == "direct" && !haveDnnl())
      std::fprintf(stderr, "pprun: PPRT_CONV=direct needs oneDNN, which this "
                           "runtime was built without; using im2col\n");
    return haveDnnl() ? ConvMethod::Direct : ConvMethod::Im2col;
  }();
  return method;
}

MatmulShape matmulShape(std::vector<int64_t> as, std::vector<int64_t> bs) {
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  MatmulShape s;
  s.m = as[as.size() - 2];
  s.k = as.back();
  s.n = bs.back();
  std::vector<int64_t> abatch(as.begin(), as.end() - 2),
      bbatch(bs.begin(), bs.end() - 2);
  size_t rank = std::max(abatch.size(), bbatch.size());
  abatch.insert(abatch.begin(), rank - abatch.size(), 1);
  bbatch.insert(bbatch.begin(), rank - bbatch.size(), 1);
  s.batch.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    s.batch[i] = std::max(abatch[i], bbatch[i]);
    s.count *= s.batch[i];
    s.countA *= abatch[i];
    s.countB *= bbatch[i];
  }
  s.aStrides = broadcastStrides(abatch, s.batch);
  s.bStrides = broadcastStrides(bbatch, s.batch);
  return s;
}

std::pair<int64_t, int64_t> MatmulShape::entry(int64_t bi) const {
  int64_t oa = 0, ob = 0;
  for (int d = (int)batch.size() - 1; d >= 0; --d) {
    int64_t i = bi % batch[d];
    bi /= batch[d];
    oa += i * aStrides[d];
    ob += i * bStrides[d];
  }
  return {oa, ob};
}

namespace {

/// C[m x n] = alpha * op(A) op(B) + beta * C, row-major.
///
/// fp32 and fp64 run on single-threaded BLAS calls over a fixed grid of
/// tiles of C, the tiles spread over the rank's OpenMP threads. The grid
/// depends on the shape only, so the result is bitwise the same whatever the
/// thread count: OpenBLAS's own threading is not (its split changes the
/// rounding), and a pipeline's ranks get fewer threads than one stage does.
template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
          const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c,
          int64_t ldc) {
#ifdef PPRT_HAVE_BLAS
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    auto call = [&](int64_t i0, int64_t mi, int64_t j0, int64_t nj) {
      const T *ai = ta ? a + i0 : a + i0 * lda;
      const T *bj = tb ? b + j0 * ldb : b + j0;
      T *cij = c + i0 * ldc + j0;
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                    tb ? CblasTrans : CblasNoTrans, mi, nj, k, alpha, ai, lda,
                    bj, ldb, beta, cij, ldc);
      else
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                    tb ? CblasTrans : CblasNoTrans, mi, nj, k, alpha, ai, lda,
                    bj, ldb, beta, cij, ldc);
    };
    // Tiles of about 128 x 128 (a remainder under half a tile joins the
    // last one); small products stay one call.
    auto tile = [](int64_t extent) {
      return extent < 192 ? extent : int64_t(128);
    };
    int64_t tm = std::max<int64_t>(1, tile(m)), tn = std::max<int64_t>(1, tile(n));
    int64_t rows = std::max<int64_t>(1, m / tm), cols = std::max<int64_t>(1, n / tn);
    if (rows * cols == 1 || m * n * k < (1 << 18)) {
      call(0, m, 0, n);
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows * cols; ++t) {
      int64_t r = t / cols, q = t % cols;
      int64_t i0 = r * tm, j0 = q * tn;
      int64_t mi = r == rows - 1 ? m - i0 : tm, nj = q == cols - 1 ? n - j0 : tn;
      call(i0, mi, j0, nj);
    }
    return;
  }
#endif
  // Other types; and every type in a runtime built without BLAS (a GPU
  // machine with CUDA alone), whose CPU backend is then correct and slow.
  {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        T sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += (ta ? a[p * lda + i] : a[i * lda + p]) *
                 (tb ? b[j * ldb + p] : b[p * ldb + j]);
        c[i * ldc + j] = alpha * sum + (beta == T(0) ? T(0) : beta * c[i * ldc + j]);
      }
  }
}

/// numpy matmul: 1-D operands are promoted, batch axes broadcast.
Status matmul(Tensors &in, Tensors &out, const Attrs &attrs) {
  const TensorRef &A = *in[0], &B = *in[1];
  TensorRef &C = *out[0];
  MatmulShape s = matmulShape(A.desc.shape, B.desc.shape);
  int64_t m = s.m, k = s.k, n = s.n;
  if (lowProduct(A, C)) {
    std::vector<Status> failed(s.count);
#pragma omp parallel for schedule(static) if (s.count > 1)
    for (int64_t bi = 0; bi < s.count; ++bi) {
      auto [oa, ob] = s.entry(bi);
      failed[bi] = gemmLow(false, false, m, n, k, 1.0f,
                           A.as<uint16_t>() + oa * m * k, k,
                           B.as<uint16_t>() + ob * k * n, n, false,
                           C.as<float>() + bi * m * n, n, A.desc.dtype,
                           attrs.state());
    }
    for (Status &st : failed)
      if (!st.isOk())
        return st;
    return Status::ok();
  }
  return dispatch(
      C.desc.dtype,
      [&](auto tag) {
        using T = decltype(tag);
        // Batched products run side by side (each one then on one thread).
#pragma omp parallel for schedule(static) if (s.count > 1)
        for (int64_t bi = 0; bi < s.count; ++bi) {
          auto [oa, ob] = s.entry(bi);
          gemm<T>(false, false, m, n, k, T(1), A.as<T>() + oa * m * k, k,
                  B.as<T>() + ob * k * n, n, T(0), C.as<T>() + bi * m * n, n);
        }
      },
      /*floatOnly=*/false);
}

/// ONNX Gemm: alpha op(A) op(B) + beta C, C broadcast to [M, N].
Status gemmKernel(Tensors &in, Tensors &out, const Attrs &attrs) {
  const TensorRef &A = *in[0], &B = *in[1];
  TensorRef &Y = *out[0];
  bool ta = attrs.i("trans_a"), tb = attrs.i("trans_b");
  int64_t m = Y.desc.shape[0], n = Y.desc.shape[1];
  int64_t k = ta ? A.desc.shape[0] : A.desc.shape[1];
  double alpha = attrs.f("alpha", 1.0), beta = attrs.f("beta", 1.0);
  if (lowProduct(A, Y)) {
    // C, scaled by beta, first; the product added to it.
    float *y = Y.as<float>();
    bool withC = in.size() > 2 && beta != 0;
    if (withC) {
      const TensorRef &Cm = *in[2];
      auto sc = broadcastStrides(Cm.desc.shape, Y.desc.shape);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          y[i * n + j] = float(beta) * Cm.as<float>()[i * sc[0] + j * sc[1]];
    }
    return gemmLow(ta, tb, m, n, k, float(alpha), A.as<uint16_t>(),
                   A.desc.shape[1], B.as<uint16_t>(), B.desc.shape[1], withC,
                   y, n, A.desc.dtype, attrs.state());
  }
  return dispatch(
      Y.desc.dtype,
      [&](auto tag) {
        using T = decltype(tag);
        T *y = Y.as<T>();
        bool withC = in.size() > 2 && beta != 0;
        if (withC) {
          const TensorRef &Cm = *in[2];
          auto sc = broadcastStrides(Cm.desc.shape, Y.desc.shape);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j)
              y[i * n + j] = Cm.as<T>()[i * sc[0] + j * sc[1]];
        }
        gemm<T>(ta, tb, m, n, k, T(alpha), A.as<T>(), A.desc.shape[1],
                B.as<T>(), B.desc.shape[1], withC ? T(beta) : T(0), y, n);
      },
      /*floatOnly=*/true);
}

/// The lowering of convolution windows between an image (cinG planes of
/// win.inSize) and its columns cols[(c, kernel offset), position], row
/// stride ld. Gather (im2col): cols take the image's values, zeros where a
/// window reads padding. Scatter (col2im): each column value is added back
/// where it was read from, in a fixed order (the backward of im2col).
template <bool Gather>
void lowerWindows(const Window &win, int64_t cinG, std::conditional_t<Gather, const float *, float *> image,
                  std::conditional_t<Gather, float *, const float *> cols,
                  int64_t ld) {
  const auto &strides = win.strides, &pads = win.pads,
             &dilations = win.dilations, &inSize = win.inSize,
             &kSize = win.kernel, &outSize = win.outSize;
  int spatial = win.spatial;
  int64_t inPlane = win.inPlane, kPlane = win.kPlane, outPlane = win.outPlane;
  if (spatial == 2) {
    int64_t H = inSize[0], W = inSize[1], OH = outSize[0], OW = outSize[1];
    for (int64_t c = 0; c < cinG; ++c)
      for (int64_t kh = 0; kh < kSize[0]; ++kh)
        for (int64_t kw = 0; kw < kSize[1]; ++kw) {
          auto row = cols + ((c * kSize[0] + kh) * kSize[1] + kw) * ld;
          auto plane = image + c * inPlane;
          for (int64_t oh = 0; oh < OH; ++oh) {
            int64_t ih = oh * strides[0] - pads[0] + kh * dilations[0];
            auto dst = row + oh * OW;
            if (ih < 0 || ih >= H) {
              if constexpr (Gather)
                std::fill(dst, dst + OW, 0.0f);
              continue;
            }
            auto src = plane + ih * W;
            int64_t off = kw * dilations[1] - pads[1], sw = strides[1];
            // Output columns [lo, hi) read inside the row; the rest are
            // padding.
            int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
            int64_t hi =
                W - off <= 0 ? 0 : std::min(OW, (W - off + sw - 1) / sw);
            lo = std::min(lo, hi);
            if constexpr (Gather) {
              std::fill(dst, dst + lo, 0.0f);
              std::fill(dst + hi, dst + OW, 0.0f);
              if (sw == 1)
                std::memcpy(dst + lo, src + off + lo, (hi - lo) * sizeof(float));
              else
                for (int64_t ow = lo; ow < hi; ++ow)
                  dst[ow] = src[ow * sw + off];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow)
                src[ow * sw + off] += dst[ow];
            }
          }
        }
    return;
  }
  std::vector<int64_t> kIdx(spatial), oIdx(spatial);
  for (int64_t c = 0; c < cinG; ++c) {
    auto plane = image + c * inPlane;
    for (int64_t kp = 0; kp < kPlane; ++kp) {
      int64_t rem = kp;
      for (int d = spatial - 1; d >= 0; --d) {
        kIdx[d] = rem % kSize[d];
        rem /= kSize[d];
      }
      auto row = cols + (c * kPlane + kp) * ld;
      for (int64_t op = 0; op < outPlane; ++op) {
        int64_t r2 = op, offset = 0;
        bool inside = true;
        for (int d = spatial - 1; d >= 0; --d) {
          oIdx[d] = r2 % outSize[d];
          r2 /= outSize[d];
        }
        for (int d = 0; d < spatial; ++d) {
          int64_t pos = oIdx[d] * strides[d] - pads[d] + kIdx[d] * dilations[d];
          if (pos < 0 || pos >= inSize[d]) {
            inside = false;
            break;
          }
          offset = offset * inSize[d] + pos;
        }
        if constexpr (Gather)
          row[op] = inside ? plane[offset] : 0.0f;
        else if (inside)
          plane[offset] += row[op];
      }
    }
  }
}

void im2col(const Window &win, int64_t cinG, const float *image, float *cols,
            int64_t ld) {
  lowerWindows<true>(win, cinG, image, cols, ld);
}

/// N-d convolution (1-d, 2-d, 3-d) as im2col + GEMM.
Status conv(Tensors &in, Tensors &out, const Attrs &attrs) {
  const TensorRef &X = *in[0], &W = *in[1];
  TensorRef &Y = *out[0];
  if (X.desc.dtype != DType::F32)
    return unsupported(X, "conv");
  int64_t batch = X.desc.shape[0], cin = X.desc.shape[1];
  int64_t cout = Y.desc.shape[1], group = attrs.i("group", 1);
  Window win(attrs, X, Y, {W.desc.shape.begin() + 2, W.desc.shape.end()});
  if (convMethod() == ConvMethod::Direct)
    return convDnnl(in, out, win, group, attrs.state());
  int64_t inPlane = win.inPlane, kPlane = win.kPlane, outPlane = win.outPlane;
  int64_t cinG = cin / group, coutG = cout / group;
  int64_t rows = cinG * kPlane;
  // Scratch that lives across calls (one per thread): allocating and
  // zeroing megabytes per call costs more than the lowering itself.
  thread_local std::vector<float> colsStore, stagedStore;
  const float *x = X.as<float>(), *w = W.as<float>();
  float *y = Y.as<float>();
  // A 1x1 convolution with unit strides and no padding reads the input as
  // the GEMM operand directly.
  bool pointwise = win.pointwise();
  // Images are lowered together when each has few output positions, so
  // that the GEMM's N stays large (ResNet's last stages have 7x7 maps).
  int64_t chunk = pointwise ? 1
                            : std::min<int64_t>(batch, std::max<int64_t>(
                                  1, (1024 + outPlane - 1) / outPlane));
  if (!pointwise && (int64_t)colsStore.size() < rows * outPlane * chunk)
    colsStore.resize(rows * outPlane * chunk);
  if (chunk > 1 && (int64_t)stagedStore.size() < coutG * outPlane * chunk)
    stagedStore.resize(coutG * outPlane * chunk);
  float *cols = colsStore.data(), *staged = stagedStore.data();
  for (int64_t g = 0; g < group; ++g)
    for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
      int64_t n = std::min(chunk, batch - b0), ld = n * outPlane;
      const float *weights = w + g * coutG * rows;
      if (pointwise) {
        gemm<float>(false, false, coutG, outPlane, rows, 1.0f, weights, rows,
                    x + (b0 * cin + g * cinG) * inPlane, outPlane, 0.0f,
                    y + (b0 * cout + g * coutG) * outPlane, outPlane);
        continue;
      }
      for (int64_t i = 0; i < n; ++i)
        im2col(win, cinG, x + ((b0 + i) * cin + g * cinG) * inPlane,
               cols + i * outPlane, ld);
      if (n == 1) {
        gemm<float>(false, false, coutG, outPlane, rows, 1.0f, weights, rows,
                    cols, ld, 0.0f,
                    y + (b0 * cout + g * coutG) * outPlane, outPlane);
        continue;
      }
      gemm<float>(false, false, coutG, ld, rows, 1.0f, weights, rows,
                  cols, ld, 0.0f, staged, ld);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < coutG; ++c)
          std::memcpy(y + ((b0 + i) * cout + g * coutG + c) * outPlane,
                      staged + c * ld + i * outPlane,
                      outPlane * sizeof(float));
    }
  if (in.size() > 2) {
    const float *bias = in[2]->as<float>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t c = 0; c < cout; ++c) {
        float *p = y + (b * cout + c) * outPlane;
        for (int64_t i = 0; i < outPlane; ++i)
          p[i] += bias[c];
      }
  }
  return Status::ok();
}
/// What conv's two gradients share: the fp32 checks, the forward conv's
/// window (X: input-shaped, Y: output-shaped, W: filter-shaped), the GEMM
/// sizes per group, and a rows x outPlane scratch for the columns (none
/// when the window is pointwise: the image is its own columns).
struct ConvGrad {
  Window win;
  int64_t batch, cin, cout, cinG, coutG, rows, group;
  bool pointwise;
  float *cols;
};
StatusOr<ConvGrad> convGrad(const TensorRef &X, const TensorRef &Y,
                            const TensorRef &W, const Attrs &attrs,
                            const char *what) {
  for (const TensorRef *t : {&X, &Y, &W})
    if (t->desc.dtype != DType::F32)
      return unsupported(*t, what);
  Window win(attrs, X, Y, {W.desc.shape.begin() + 2, W.desc.shape.end()});
  int64_t group = attrs.i("group", 1);
  int64_t cin = X.desc.shape[1], cout = Y.desc.shape[1];
  int64_t rows = cin / group * win.kPlane;
  bool pointwise = win.pointwise();
  thread_local std::vector<float> colsStore;
  if (!pointwise && (int64_t)colsStore.size() < rows * win.outPlane)
    colsStore.resize(rows * win.outPlane);
  return ConvGrad{win, X.desc.shape[0], cin, cout, cin / group,
                  cout / group, rows, group, pointwise,
                  pointwise ? nullptr : colsStore.data()};
}

/// conv_input_grad: dX = col2im(W^T dY), image by image.
Status convInputGrad(Tensors &in, Tensors &out, const Attrs &attrs) {
  const TensorRef &dY = *in[0], &W = *in[1];
  TensorRef &dX = *out[0];
  auto c = convGrad(dX, dY, W, attrs, "conv_input_grad");
  if (!c)
    return c.status();
  const float *dy = dY.as<float>(), *w = W.as<float>();
  float *dx = dX.as<float>();
  if (!c->pointwise)
    std::fill(dx, dx + dX.numel, 0.0f);
  int64_t inPlane = c->win.inPlane, outPlane = c->win.outPlane;
  for (int64_t b = 0; b < c->batch; ++b)
    for (int64_t g = 0; g < c->group; ++g) {
      const float *dyg = dy + (b * c->cout + g * c->coutG) * outPlane;
      const float *wg = w + g * c->coutG * c->rows;
      float *dxg = dx + (b * c->cin + g * c->cinG) * inPlane;
      float *cols = c->pointwise ? dxg : c->cols;
      gemm<float>(true, false, c->rows, outPlane, c->coutG, 1.0f, wg, c->rows,
                  dyg, outPlane, 0.0f, cols, outPlane);
      if (!c->pointwise)
        lowerWindows<false>(c->win, c->cinG, dxg, cols, outPlane);
    }
  return Status::ok();
}

/// conv_filter_grad: dW = sum over images of dY im2col(X)^T, the images
/// added in order.
Status convFilterGrad(Tensors &in, Tensors &out, const Attrs &attrs) {
  const TensorRef &X = *in[0], &dY = *in[1];
  TensorRef &dW = *out[0];
  auto c = convGrad(X, dY, dW, attrs, "conv_filter_grad");
  if (!c)
    return c.status();
  const float *x = X.as<float>(), *dy = dY.as<float>();
  float *dw = dW.as<float>();
  int64_t inPlane = c->win.inPlane, outPlane = c->win.outPlane;
  for (int64_t g = 0; g < c->group; ++g)
    for (int64_t b = 0; b < c->batch; ++b) {
      const float *xg = x + (b * c->cin + g * c->cinG) * inPlane;
      const float *cols = xg;
      if (!c->pointwise) {
        im2col(c->win, c->cinG, xg, c->cols, outPlane);
        cols = c->cols;
      }
      gemm<float>(false, true, c->coutG, c->rows, outPlane, 1.0f,
                  dy + (b * c->cout + g * c->coutG) * outPlane, outPlane, cols,
                  outPlane, b == 0 ? 0.0f : 1.0f, dw + g * c->coutG * c->rows,
                  c->rows);
    }
  return Status::ok();
}

/// `kernel` (an fp32 convolution or gradient) on bf16 or f16 factors: the
/// two factors widened to f32, exactly, into scratch, and an f32 result:
/// bf16 products with fp32 accumulation, emulated. (oneDNN's bf16
/// convolution primitives are the faster way, not taken yet.)
Kernel widenedFactors(Kernel kernel) {
  return [kernel](Tensors &in, Tensors &out, const Attrs &attrs) -> Status {
    if (!lowProduct(*in[0], *out[0]))
      return kernel(in, out, attrs);
    thread_local std::vector<float> store[2];
    TensorRef wide[2];
    Tensors args = in;
    for (int f = 0; f < 2; ++f) {
      const TensorRef &x = *in[f];
      store[f].resize(x.numel);
      const uint16_t *h = x.as<uint16_t>();
      float *w = store[f].data();
      bool bf16 = x.desc.dtype == DType::BF16;
#pragma omp parallel for schedule(static) if (x.numel > (1 << 16))
      for (int64_t i = 0; i < x.numel; ++i)
        w[i] = bf16 ? bf16ToFloat(h[i]) : halfToFloat(h[i]);
      wide[f] = TensorRef{{DType::F32, x.desc.shape},
                          reinterpret_cast<uint8_t *>(w), x.numel, x.numel * 4};
      args[f] = &wide[f];
    }
    return kernel(args, out, attrs);
  };
}
} // namespace

void gemmF32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb,
             float beta, float *c, int64_t ldc) {
  gemm<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void registerLinalg(Registry &r) {
  r["matmul"] = matmul;
  r["gemm"] = gemmKernel;
  r["conv"] = widenedFactors(conv);
  r["conv_input_grad"] = widenedFactors(convInputGrad);
  r["conv_filter_grad"] = widenedFactors(convFilterGrad);
}

} // namespace cpu
} // namespace pprt
