//===- Elementwise.cpp - unary, binary, compare, logic, where, cast -------===//
//
// Binary ops broadcast numpy-style: each operand is read through strides
// that are 0 on its broadcast axes; equal shapes take a flat loop.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace pprt {
namespace cpu {

std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = (int)shape.size() - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &in,
                                      const std::vector<int64_t> &out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> own = stridesOf(in);
  size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    strides[offset + i] = in[i] == 1 ? 0 : own[i];
  return strides;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while (!(man & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = ((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) // inf or nan
    return sign | 0x7c00u | (man ? 0x200u : 0);
  if (exp >= 31)
    return sign | 0x7c00u;
  if (exp <= 0) {
    if (exp < -10)
      return sign;
    man |= 0x800000u;
    uint32_t shift = 14 - exp;
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1),
             mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      ++half;
    return sign | half;
  }
  uint32_t half = sign | exp << 10 | man >> 13, rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1)))
    ++half;
  return half;
}

float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return (x >> 16) | 0x40;
  x += 0x7fffu + ((x >> 16) & 1);
  return x >> 16;
}

Window::Window(const Attrs &a, const TensorRef &x, const TensorRef &y,
               std::vector<int64_t> kernelShape)
    : spatial(x.desc.shape.size() - 2), kernel(std::move(kernelShape)),
      strides(a.ints("strides")), pads(a.ints("pads")),
      dilations(a.ints("dilations")),
      inSize(x.desc.shape.begin() + 2, x.desc.shape.end()),
      outSize(y.desc.shape.begin() + 2, y.desc.shape.end()) {
  strides.resize(spatial, 1);
  dilations.resize(spatial, 1);
  pads.resize(2 * spatial, 0);
  kernel.resize(spatial, 1);
  for (int d = 0; d < spatial; ++d) {
    inPlane *= inSize[d];
    kPlane *= kernel[d];
    outPlane *= outSize[d];
  }
}

Status unsupported(const TensorRef &t, const char *what) {
  return invalidArgument(std::string(what) + " does not support " +
                         t.desc.toString());
}

namespace {
/// Visits every output element with the offsets of both operands.
template <typename F>
void forEachBroadcast(const TensorRef &a, const TensorRef &b,
                      const TensorRef &out, F &&f) {
  if (a.desc.shape == out.desc.shape && b.desc.shape == out.desc.shape) {
    parallelFor(out.numel, [&](int64_t i) { f(i, i, i); });
    return;
  }
  if (a.desc.shape == out.desc.shape && b.numel == 1) {
    parallelFor(out.numel, [&](int64_t i) { f(i, i, 0); });
    return;
  }
  // b repeats along the leading axes (a bias): its shape, without leading
  // ones, is the output's trailing shape.
  auto trailing = [&](const TensorRef &t) {
    size_t lead = 0;
    while (lead < t.desc.shape.size() && t.desc.shape[lead] == 1)
      ++lead;
    size_t n = t.desc.shape.size() - lead;
    return n <= out.desc.shape.size() &&
           std::equal(t.desc.shape.begin() + lead, t.desc.shape.end(),
                      out.desc.shape.end() - n);
  };
  if (a.desc.shape == out.desc.shape && b.numel > 0 && trailing(b)) {
    parallelFor(out.numel, [&](int64_t i) { f(i, i, i % b.numel); });
    return;
  }
  if (b.desc.shape == out.desc.shape && a.numel > 0 && trailing(a)) {
    parallelFor(out.numel, [&](int64_t i) { f(i, i % a.numel, i); });
    return;
  }
  const auto &shape = out.desc.shape;
  forEachIndexParallel<2>(shape,
                          {broadcastStrides(a.desc.shape, shape),
                           broadcastStrides(b.desc.shape, shape)},
                          [&](int64_t i, const std::array<int64_t, 2> &o) {
                            f(i, o[0], o[1]);
                          });
}

template <typename Op> Kernel floatUnary(Op op) {
  return [op](Tensors &in, Tensors &out, const Attrs &) {
    return dispatchElementwise(
        in[0]->desc.dtype,
        [&](auto tag) {
          using T = decltype(tag);
          const T *x = in[0]->as<T>();
          T *y = out[0]->as<T>();
          parallelFor(out[0]->numel, [&](int64_t i) { y[i] = (T)op(x[i]); });
        },
        /*floatOnly=*/true);
  };
}

template <typename Op> Kernel numericUnary(Op op) {
  return [op](Tensors &in, Tensors &out, const Attrs &a) {
    return dispatchElementwise(in[0]->desc.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T *x = in[0]->as<T>();
      T *y = out[0]->as<T>();
      parallelFor(out[0]->numel, [&](int64_t i) { y[i] = op(x[i], a); });
    });
  };
}

/// A broadcasting binary op; Out is the result type (void: the operands').
template <typename Out, typename Op> Kernel binary(Op op) {
  return [op](Tensors &in, Tensors &out, const Attrs &) {
    return dispatchElementwise(in[0]->desc.dtype, [&](auto tag) {
      using T = decltype(tag);
      using R = std::conditional_t<std::is_void_v<Out>, T, Out>;
      const T *a = in[0]->as<T>(), *b = in[1]->as<T>();
      R *y = out[0]->as<R>();
      forEachBroadcast(*in[0], *in[1], *out[0],
                       [&](int64_t i, int64_t ia, int64_t ib) {
                         y[i] = op(a[ia], b[ib]);
                       });
    });
  };
}
template <typename Op> Kernel arith(Op op) { return binary<void>(op); }
template <typename Op> Kernel compare(Op op) { return binary<bool>(op); }

Status where(Tensors &in, Tensors &out, const Attrs &) {
  const TensorRef &c = *in[0], &a = *in[1], &b = *in[2], &y = *out[0];
  const auto &shape = y.desc.shape;
  size_t width = dtypeSize(y.desc.dtype);
  const bool *cond = c.as<bool>();
  forEachIndexParallel<3>(
      shape,
      {broadcastStrides(c.desc.shape, shape),
       broadcastStrides(a.desc.shape, shape),
       broadcastStrides(b.desc.shape, shape)},
      [&](int64_t i, const std::array<int64_t, 3> &o) {
        const uint8_t *src =
            cond[o[0]] ? a.data + o[1] * width : b.data + o[2] * width;
        if (width == 4)
          reinterpret_cast<uint32_t *>(y.data)[i] =
              *reinterpret_cast<const uint32_t *>(src);
        else
          std::memcpy(y.data + i * width, src, width);
      });
  return Status::ok();
}

bool isHalf(DType d) { return d == DType::F16 || d == DType::BF16; }

Status cast(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  // f32 <-> bf16/f16 directly (-pp-precision's casts, on every step).
  if ((x.desc.dtype == DType::F32 && isHalf(y.desc.dtype)) ||
      (isHalf(x.desc.dtype) && y.desc.dtype == DType::F32)) {
    int64_t n = x.numel;
    bool big = n > (1 << 16);
    // One plain loop per direction, so that the compiler vectorises it.
    if (x.desc.dtype == DType::F32 && y.desc.dtype == DType::BF16) {
      const uint32_t *src = x.as<uint32_t>();
      uint16_t *dst = y.as<uint16_t>();
#pragma omp parallel for simd schedule(static) if (big)
      for (int64_t i = 0; i < n; ++i) {
        uint32_t v = src[i];
        uint16_t rounded = uint16_t((v + 0x7fffu + ((v >> 16) & 1)) >> 16);
        uint16_t nan = uint16_t((v >> 16) | 0x40);
        dst[i] = (v & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
      }
    } else if (x.desc.dtype == DType::BF16 && y.desc.dtype == DType::F32) {
      const uint16_t *src = x.as<uint16_t>();
      uint32_t *dst = y.as<uint32_t>();
#pragma omp parallel for simd schedule(static) if (big)
      for (int64_t i = 0; i < n; ++i)
        dst[i] = uint32_t(src[i]) << 16;
    } else if (x.desc.dtype == DType::F32) {
#pragma omp parallel for schedule(static) if (big)
      for (int64_t i = 0; i < n; ++i)
        y.as<uint16_t>()[i] = floatToHalf(x.as<float>()[i]);
    } else {
#pragma omp parallel for schedule(static) if (big)
      for (int64_t i = 0; i < n; ++i)
        y.as<float>()[i] = halfToFloat(x.as<uint16_t>()[i]);
    }
    return Status::ok();
  }
  // Other half casts go through float.
  if (isHalf(x.desc.dtype) || isHalf(y.desc.dtype)) {
    std::vector<float> f(x.numel);
    if (isHalf(x.desc.dtype)) {
      const uint16_t *h = x.as<uint16_t>();
      for (int64_t i = 0; i < x.numel; ++i)
        f[i] = x.desc.dtype == DType::F16 ? halfToFloat(h[i]) : bf16ToFloat(h[i]);
    } else {
      TensorRef tmp{{DType::F32, x.desc.shape},
                    reinterpret_cast<uint8_t *>(f.data()), x.numel, x.numel * 4};
      Tensors i2 = {const_cast<TensorRef *>(&x)}, o2 = {&tmp};
      PPRT_RETURN_IF_ERROR(cast(i2, o2, a));
    }
    if (isHalf(y.desc.dtype)) {
      uint16_t *h = y.as<uint16_t>();
      for (int64_t i = 0; i < y.numel; ++i)
        h[i] = y.desc.dtype == DType::F16 ? floatToHalf(f[i]) : floatToBf16(f[i]);
      return Status::ok();
    }
    TensorRef tmp{{DType::F32, x.desc.shape},
                  reinterpret_cast<uint8_t *>(f.data()), x.numel, x.numel * 4};
    Tensors i2 = {&tmp}, o2 = {&y};
    return cast(i2, o2, a);
  }
  return dispatch(x.desc.dtype, [&](auto from) {
    using S = decltype(from);
    const S *src = x.as<S>();
    (void)dispatch(y.desc.dtype, [&](auto to) {
      using D = decltype(to);
      D *dst = y.as<D>();
      for (int64_t i = 0; i < y.numel; ++i) {
        if constexpr (std::is_same_v<D, bool>)
          dst[i] = src[i] != S(0);
        else if constexpr (std::is_floating_point_v<S> &&
                           std::is_integral_v<D>)
          dst[i] = std::isnan((double)src[i]) ? D(0) : (D)src[i];
        else
          dst[i] = (D)src[i];
      }
    });
  });
}

/// Base and exponent may differ in type (ONNX Pow).
Status powKernel(Tensors &in, Tensors &out, const Attrs &) {
  return dispatch(in[0]->desc.dtype, [&](auto base) {
    using T = decltype(base);
    const T *a = in[0]->as<T>();
    T *y = out[0]->as<T>();
    (void)dispatch(in[1]->desc.dtype, [&](auto exponent) {
      using E = decltype(exponent);
      const E *b = in[1]->as<E>();
      forEachBroadcast(*in[0], *in[1], *out[0],
                       [&](int64_t i, int64_t ia, int64_t ib) {
                         y[i] = T(std::pow((double)a[ia], (double)b[ib]));
                       });
    });
  });
}

/// ONNX Mod: the remainder takes the divisor's sign (fmod: the
/// dividend's); an integer remainder by zero is 0.
template <typename T> T modOf(T a, T b, bool fmod) {
  if constexpr (std::is_same_v<T, bool>) {
    (void)a, (void)b, (void)fmod;
    return false;
  } else if constexpr (isFloatLike<T>) {
    using C = std::conditional_t<isHalf16<T>, float, T>;
    C r = std::fmod(C(a), C(b));
    if (!fmod && r != C(0) && ((r < C(0)) != (C(b) < C(0))))
      r += C(b);
    return T(r);
  } else {
    if (b == T(0))
      return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1)) // the most negative value % -1 overflows; it is 0
        return T(0);
    T r = T(a % b);
    if constexpr (std::is_signed_v<T>)
      if (!fmod && r != T(0) && ((r < T(0)) != (b < T(0))))
        r = T(r + b);
    return r;
  }
}

Status modKernel(Tensors &in, Tensors &out, const Attrs &attrs) {
  bool fmod = attrs.i("fmod");
  return dispatchElementwise(in[0]->desc.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *a = in[0]->as<T>(), *b = in[1]->as<T>();
    T *y = out[0]->as<T>();
    forEachBroadcast(*in[0], *in[1], *out[0],
                     [&](int64_t i, int64_t ia, int64_t ib) {
                       y[i] = modOf(a[ia], b[ib], fmod);
                     });
  });
}

/// max(0, min(1, alpha x + beta)); NaN passes through.
template <typename T> T hardSigmoid(T x, T alpha, T beta) {
  T v = alpha * x + beta;
  return v != v ? v : v < T(0) ? T(0) : v > T(1) ? T(1) : v;
}

template <typename T> T gelu(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
}
template <typename T> T geluTanh(T x) {
  return T(0.5) * x *
         (T(1) + std::tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
}
} // namespace

void registerElementwise(Registry &r) {
  // NaN passes through, as in PyTorch and numpy (max(x, 0) would drop it).
  r["relu"] = floatUnary(
      [](auto x) { return x > 0 || x != x ? x : decltype(x)(0); });
  r["sigmoid"] = floatUnary([](auto x) {
    using T = decltype(x);
    return T(1) / (T(1) + std::exp(-x));
  });
  r["tanh"] = floatUnary([](auto x) { return std::tanh(x); });
  r["erf"] = floatUnary([](auto x) { return std::erf(x); });
  r["sqrt"] = floatUnary([](auto x) { return std::sqrt(x); });
  r["exp"] = floatUnary([](auto x) { return std::exp(x); });
  r["log"] = floatUnary([](auto x) { return std::log(x); });
  r["reciprocal"] = floatUnary([](auto x) { return decltype(x)(1) / x; });
  r["floor"] = floatUnary([](auto x) { return std::floor(x); });
  r["ceil"] = floatUnary([](auto x) { return std::ceil(x); });
  r["round"] = floatUnary([](auto x) { return std::nearbyint(x); });
  r["sin"] = floatUnary([](auto x) { return std::sin(x); });
  r["cos"] = floatUnary([](auto x) { return std::cos(x); });
  r["softplus"] = floatUnary([](auto x) { return std::log1p(std::exp(x)); });
  r["gelu"] = [](Tensors &in, Tensors &out, const Attrs &a) {
    auto f = a.i("approximate")
                 ? floatUnary([](auto x) { return geluTanh(x); })
                 : floatUnary([](auto x) { return gelu(x); });
    return f(in, out, a);
  };
  r["hard_sigmoid"] = [](Tensors &in, Tensors &out, const Attrs &a) {
    double alpha = a.f("alpha", 0.2), beta = a.f("beta", 0.5);
    return floatUnary([alpha, beta](auto x) {
      using T = decltype(x);
      return hardSigmoid(x, T(alpha), T(beta));
    })(in, out, a);
  };
  r["hard_swish"] = floatUnary([](auto x) {
    using T = decltype(x);
    return x * hardSigmoid(x, T(1.0 / 6), T(0.5));
  });
  r["mod"] = modKernel;
  r["neg"] = numericUnary([](auto x, const Attrs &) { return decltype(x)(-x); });
  r["abs"] = numericUnary([](auto x, const Attrs &) {
    using T = decltype(x);
    return x < T(0) ? T(-x) : x;
  });
  r["sign"] = numericUnary([](auto x, const Attrs &) {
    using T = decltype(x);
    return T((x > T(0)) - (x < T(0)));
  });
  r["not"] = numericUnary([](auto x, const Attrs &) { return decltype(x)(!x); });
  r["leaky_relu"] = numericUnary([](auto x, const Attrs &a) {
    using T = decltype(x);
    return x >= T(0) ? x : T(a.f("alpha", 0.01) * x);
  });
  r["clip"] = numericUnary([](auto x, const Attrs &a) {
    using T = decltype(x);
    if (a.has("min") && x < T(a.f("min")))
      x = T(a.f("min"));
    if (a.has("max") && x > T(a.f("max")))
      x = T(a.f("max"));
    return x;
  });
  r["add"] = arith([](auto a, auto b) { return decltype(a)(a + b); });
  r["sub"] = arith([](auto a, auto b) { return decltype(a)(a - b); });
  r["mul"] = arith([](auto a, auto b) { return decltype(a)(a * b); });
  r["div"] = arith([](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_integral_v<T>)
      return b == T(0) ? T(0) : T(a / b);
    else
      return T(a / b);
  });
  r["max"] = arith([](auto a, auto b) { return a > b ? a : b; });
  r["min"] = arith([](auto a, auto b) { return a < b ? a : b; });
  r["pow"] = powKernel;
  r["equal"] = compare([](auto a, auto b) { return a == b; });
  r["less"] = compare([](auto a, auto b) { return a < b; });
  r["less_equal"] = compare([](auto a, auto b) { return a <= b; });
  r["greater"] = compare([](auto a, auto b) { return a > b; });
  r["greater_equal"] = compare([](auto a, auto b) { return a >= b; });
  r["and"] = compare([](auto a, auto b) { return a && b; });
  r["or"] = compare([](auto a, auto b) { return a || b; });
  r["xor"] = compare([](auto a, auto b) { return bool(a) != bool(b); });
  r["where"] = where;
  r["cast"] = cast;
}

} // namespace cpu
} // namespace pprt
