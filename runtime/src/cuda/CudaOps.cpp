//===- CudaOps.cpp - the CUDA backend's instructions ----------------------===//
//
// Each instruction's host side: the CPU backend's shape and type rules,
// then the device kernels (Kernels.cu) or cuBLASLt (LtGemm.cpp) on the
// stage's stream. Statistics and losses sum in double in a fixed order, as
// on the CPU; scratch an instruction needs is allocated on its first run.
//
//===----------------------------------------------------------------------===//

#include "CudaOps.h"

#include "../cpu/Kernels.h"

#include <cstdio>
#include <cstring>

namespace pprt {
namespace cuda {

std::string mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", bytes / 1048576.0);
  return text;
}

namespace {

using cpu::broadcastStrides;
using cpu::stridesOf;

int64_t normAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + (int64_t)rank : axis;
}

Status needF32(const TensorRef &t, const char *kernel) {
  if (t.desc.dtype != DType::F32)
    return invalidArgument(std::string(kernel) + " on the CUDA backend takes "
                           "f32, not " + t.desc.toString());
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Element-wise
//===----------------------------------------------------------------------===//

/// How `t` is read from the index of `out`: whole, repeated (a scalar, or a
/// bias over the leading axes), or through broadcast strides in `slot`.
Operand operandFor(const TensorRef &t, const TensorRef &out, int slot,
                   std::vector<std::vector<int64_t>> &strides) {
  Operand o;
  o.data = t.data;
  o.slot = slot;
  const auto &s = t.desc.shape, &y = out.desc.shape;
  strides[slot] = broadcastStrides(s, y);
  if (s == y)
    return o;
  size_t lead = 0;
  while (lead < s.size() && s[lead] == 1)
    ++lead;
  size_t n = s.size() - lead;
  if (t.numel > 0 && n <= y.size() &&
      std::equal(s.begin() + lead, s.end(), y.end() - n)) {
    o.index = Index::Repeat;
    o.count = t.numel;
    return o;
  }
  o.index = Index::Strided;
  return o;
}

/// pow of a base and an exponent of different types (ONNX's Pow takes
/// any pair): both in f64, the result converted to the base's type, as the
/// CPU backend computes it.
Status mixedPow(const TensorRef &a, const TensorRef &b, TensorRef &y,
                const Attrs &attrs, Ctx &c) {
  auto scratch = c.scratch(attrs, (a.numel + b.numel + y.numel) * 8 + 8);
  if (!scratch)
    return scratch.status();
  double *a64 = static_cast<double *>(*scratch), *b64 = a64 + a.numel,
         *y64 = b64 + b.numel;
  PPRT_RETURN_IF_ERROR(cast(a.desc.dtype, DType::F64, a.data, a64, a.numel,
                            c.stream));
  PPRT_RETURN_IF_ERROR(cast(b.desc.dtype, DType::F64, b.data, b64, b.numel,
                            c.stream));
  TensorRef wa = a, wb = b, wy = y;
  wa.data = reinterpret_cast<uint8_t *>(a64);
  wb.data = reinterpret_cast<uint8_t *>(b64);
  wy.data = reinterpret_cast<uint8_t *>(y64);
  wa.desc.dtype = wb.desc.dtype = wy.desc.dtype = DType::F64;
  std::vector<std::vector<int64_t>> strides(2);
  Operand oa = operandFor(wa, wy, 0, strides), ob = operandFor(wb, wy, 1, strides);
  auto walk = makeWalk(y.desc.shape, strides);
  if (!walk)
    return walk.status();
  PPRT_RETURN_IF_ERROR(binary(BinaryOp::Pow, DType::F64, DType::F64, oa, ob,
                              y64, y.numel, *walk, c.stream));
  return cast(DType::F64, y.desc.dtype, y64, y.data, y.numel, c.stream);
}

Kernel binaryKernel(BinaryOp op) {
  return [op](Tensors &in, Tensors &out, const Attrs &attrs,
              Ctx &c) -> Status {
    const TensorRef &a = *in[0], &b = *in[1];
    TensorRef &y = *out[0];
    if (a.desc.dtype != b.desc.dtype && op == BinaryOp::Pow)
      return mixedPow(a, b, y, attrs, c);
    if (a.desc.dtype != b.desc.dtype)
      return invalidArgument("operands of different types (" +
                             a.desc.toString() + ", " + b.desc.toString() +
                             ") are not supported on the CUDA backend");
    std::vector<std::vector<int64_t>> strides(2);
    Operand oa = operandFor(a, y, 0, strides), ob = operandFor(b, y, 1, strides);
    auto walk = makeWalk(y.desc.shape, strides);
    if (!walk)
      return walk.status();
    return binary(op, a.desc.dtype, y.desc.dtype, oa, ob, y.data, y.numel,
                  *walk, c.stream);
  };
}

Kernel unaryKernel(UnaryOp op) {
  return [op](Tensors &in, Tensors &out, const Attrs &a, Ctx &c) -> Status {
    UnaryParams p;
    p.alpha = float(a.f("alpha", op == UnaryOp::HardSigmoid ? 0.2 : 0.01));
    p.beta = float(a.f("beta", 0.5));
    p.hasLo = a.has("min");
    p.hasHi = a.has("max");
    p.lo = a.f("min");
    p.hi = a.f("max");
    UnaryOp actual = op;
    if (op == UnaryOp::Gelu && a.i("approximate"))
      actual = UnaryOp::GeluTanh;
    return unary(actual, in[0]->desc.dtype, in[0]->data, out[0]->data,
                 out[0]->numel, p, c.stream);
  };
}

Kernel gradKernel(GradOp op, const char *name) {
  return [op, name](Tensors &in, Tensors &out, const Attrs &a,
                    Ctx &c) -> Status {
    PPRT_RETURN_IF_ERROR(needF32(*in[0], name));
    GradOp actual = op == GradOp::Gelu && a.i("approximate") ? GradOp::GeluTanh : op;
    return activationGrad(actual, in[0]->as<float>(), in[1]->as<float>(),
                          out[0]->as<float>(), out[0]->numel, c.stream,
                          float(a.f("alpha", 0.2)), float(a.f("beta", 0.5)));
  };
}

Status whereKernel(Tensors &in, Tensors &out, const Attrs &, Ctx &c) {
  const TensorRef &cond = *in[0], &a = *in[1], &b = *in[2];
  TensorRef &y = *out[0];
  const auto &shape = y.desc.shape;
  auto walk = makeWalk(shape, {broadcastStrides(cond.desc.shape, shape),
                               broadcastStrides(a.desc.shape, shape),
                               broadcastStrides(b.desc.shape, shape)});
  if (!walk)
    return walk.status();
  return where(cond.as<bool>(), a.data, b.data, y.data,
               (int)dtypeSize(y.desc.dtype), y.numel, *walk, c.stream);
}

Status castKernel(Tensors &in, Tensors &out, const Attrs &, Ctx &c) {
  return cast(in[0]->desc.dtype, out[0]->desc.dtype, in[0]->data,
              out[0]->data, out[0]->numel, c.stream);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

/// dst (through dstStrides from dstBase) = src (through srcStrides from
/// srcBase) over `shape`.
Status copy(const TensorRef &src, const TensorRef &dst,
            const std::vector<int64_t> &shape,
            const std::vector<int64_t> &srcStrides, int64_t srcBase,
            const std::vector<int64_t> &dstStrides, int64_t dstBase,
            cudaStream_t s) {
  auto walk = makeWalk(shape, {srcStrides, dstStrides}, {srcBase, dstBase});
  if (!walk)
    return walk.status();
  return stridedCopy(src.data, dst.data, (int)dtypeSize(dst.desc.dtype), *walk,
                     s);
}

Status reshapeKernel(Tensors &in, Tensors &out, const Attrs &, Ctx &c) {
  if (in[0]->data == out[0]->data || out[0]->bytes == 0)
    return Status::ok();
  return cudaStatus(cudaMemcpyAsync(out[0]->data, in[0]->data, out[0]->bytes,
                                    cudaMemcpyDeviceToDevice, c.stream),
                    "reshape copy");
}

Status transposeKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  std::vector<int64_t> perm = a.ints("perm");
  auto st = stridesOf(in[0]->desc.shape);
  std::vector<int64_t> strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d)
    strides[d] = st[perm[d]];
  const auto &shape = out[0]->desc.shape;
  return copy(*in[0], *out[0], shape, strides, 0, stridesOf(shape), 0, c.stream);
}

Status sliceKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  cpu::SliceWindow w =
      cpu::sliceWindow(in[0]->desc.shape, a.ints("starts"), a.ints("steps"));
  const auto &shape = out[0]->desc.shape;
  return copy(*in[0], *out[0], shape, w.strides, w.base, stridesOf(shape), 0,
              c.stream);
}

Status sliceGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &g = *in[0];
  TensorRef &y = *out[0];
  std::vector<int64_t> starts = a.ints("starts"), steps = a.ints("steps");
  if (starts.size() != y.desc.shape.size() || steps.size() != starts.size())
    return invalidArgument("slice_grad: starts and steps need one entry per "
                           "axis");
  cpu::SliceWindow w = cpu::sliceWindow(y.desc.shape, starts, steps);
  PPRT_RETURN_IF_ERROR(zero(y.data, y.bytes, c.stream));
  return copy(g, y, g.desc.shape, stridesOf(g.desc.shape), 0, w.strides,
              w.base, c.stream);
}

Status broadcastKernel(Tensors &in, Tensors &out, const Attrs &, Ctx &c) {
  const auto &shape = out[0]->desc.shape;
  return copy(*in[0], *out[0], shape,
              broadcastStrides(in[0]->desc.shape, shape), 0, stridesOf(shape),
              0, c.stream);
}

Status concatKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  TensorRef &y = *out[0];
  int64_t axis = normAxis(a.i("axis"), y.desc.shape.size());
  auto ys = stridesOf(y.desc.shape);
  int64_t at = 0;
  for (TensorRef *x : in) {
    PPRT_RETURN_IF_ERROR(copy(*x, y, x->desc.shape, stridesOf(x->desc.shape),
                              0, ys, at * ys[axis], c.stream));
    at += x->desc.shape[axis];
  }
  return Status::ok();
}

struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisSplit splitAt(const std::vector<int64_t> &shape, int64_t axis) {
  AxisSplit s;
  s.n = shape[axis];
  for (int64_t d = 0; d < axis; ++d)
    s.outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d)
    s.inner *= shape[d];
  return s;
}

Status indicesType(const TensorRef &t, const char *kernel) {
  if (t.desc.dtype != DType::I64 && t.desc.dtype != DType::I32)
    return invalidArgument(std::string(kernel) + ": indices of type " +
                           dtypeName(t.desc.dtype));
  return Status::ok();
}

Status gatherKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0], &ind = *in[1];
  PPRT_RETURN_IF_ERROR(indicesType(ind, "gather"));
  AxisSplit s = splitAt(x.desc.shape, normAxis(a.i("axis"), x.desc.shape.size()));
  return gather(x.data, ind.data, ind.desc.dtype == DType::I64, out[0]->data,
                s.outer, s.n, ind.numel, s.inner * dtypeSize(x.desc.dtype),
                c.error, c.instr, c.stream);
}

Status gatherGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &ind = *in[0], &g = *in[1];
  TensorRef &y = *out[0];
  PPRT_RETURN_IF_ERROR(needF32(g, "gather_grad"));
  PPRT_RETURN_IF_ERROR(indicesType(ind, "gather_grad"));
  AxisSplit s = splitAt(y.desc.shape, normAxis(a.i("axis"), y.desc.shape.size()));
  return gatherGrad(ind.data, ind.desc.dtype == DType::I64, g.as<float>(),
                    y.as<float>(), s.outer, s.n, ind.numel, s.inner, c.error,
                    c.instr, c.stream);
}

//===----------------------------------------------------------------------===//
// Reductions and normalisation
//===----------------------------------------------------------------------===//

Kernel reduceKernel(ReduceOp op) {
  return [op](Tensors &in, Tensors &out, const Attrs &a, Ctx &c) -> Status {
    const TensorRef &x = *in[0];
    TensorRef &y = *out[0];
    size_t rank = x.desc.shape.size();
    std::vector<bool> reduced(rank, a.ints("axes").empty());
    for (int64_t ax : a.ints("axes"))
      reduced[normAxis(ax, rank)] = true;
    auto st = stridesOf(x.desc.shape);
    std::vector<int64_t> keptShape, keptStrides, redShape, redStrides;
    for (size_t d = 0; d < rank; ++d) {
      auto &shape = reduced[d] ? redShape : keptShape;
      auto &strides = reduced[d] ? redStrides : keptStrides;
      shape.push_back(x.desc.shape[d]);
      strides.push_back(st[d]);
    }
    auto kept = makeWalk(keptShape, {keptStrides});
    auto red = makeWalk(redShape, {redStrides});
    if (!kept || !red)
      return (!kept ? kept : red).status();
    int64_t count = y.numel ? x.numel / y.numel : 0;
    return reduce(op, x.desc.dtype, x.data, y.data, y.numel, *kept, count,
                  *red, c.stream);
  };
}

Rows rowsAlong(const TensorRef &t, int64_t axis) {
  AxisSplit s = splitAt(t.desc.shape, normAxis(axis, t.desc.shape.size()));
  return {s.outer, s.n, s.inner};
}

Kernel softmaxKernel(bool log) {
  return [log](Tensors &in, Tensors &out, const Attrs &a, Ctx &c) -> Status {
    return softmax(log, in[0]->desc.dtype, in[0]->data, out[0]->data,
                   rowsAlong(*in[0], a.i("axis", -1)), c.stream);
  };
}

Status softmaxGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], "softmax_grad"));
  return softmaxGrad(a.i("log"), in[0]->as<float>(), in[1]->as<float>(),
                     out[0]->as<float>(), rowsAlong(*in[0], a.i("axis", -1)),
                     c.stream);
}

/// Rows of the normalised axes (from `axis` on), and a check that the
/// scale covers them element for element.
StatusOr<std::pair<int64_t, int64_t>> normRows(const TensorRef &x,
                                               const TensorRef *scale,
                                               const Attrs &a,
                                               const char *kernel) {
  PPRT_RETURN_IF_ERROR(needF32(x, kernel));
  int64_t axis = normAxis(a.i("axis", -1), x.desc.shape.size());
  int64_t inner = 1;
  for (size_t d = axis; d < x.desc.shape.size(); ++d)
    inner *= x.desc.shape[d];
  if (scale && scale->numel != inner)
    return invalidArgument(std::string(kernel) +
                           ": a scale broadcast over the normalised axes (" +
                           scale->desc.toString() +
                           ") is not supported on the CUDA backend");
  return std::make_pair(inner ? x.numel / inner : 0, inner);
}

Status layerNormKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto r = normRows(*in[0], in[1], a, "layer_norm");
  if (!r)
    return r.status();
  return layerNorm(in[0]->as<float>(), in[1]->as<float>(),
                   in.size() > 2 ? in[2]->as<float>() : nullptr,
                   out[0]->as<float>(),
                   out.size() > 1 ? out[1]->as<float>() : nullptr,
                   out.size() > 2 ? out[2]->as<float>() : nullptr, r->first,
                   r->second, a.f("epsilon", 1e-5), c.stream);
}

Status layerNormGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto r = normRows(*in[0], in[1], a, "layer_norm_grad");
  if (!r)
    return r.status();
  return layerNormGrad(in[0]->as<float>(), in[1]->as<float>(),
                       in[2]->as<float>(), in[3]->as<float>(),
                       in[4]->as<float>(), out[0]->as<float>(), r->first,
                       r->second, c.stream);
}

Status layerNormParamGradKernel(Tensors &in, Tensors &out, const Attrs &a,
                                Ctx &c) {
  auto r = normRows(*in[0], nullptr, a, "layer_norm_param_grad");
  if (!r)
    return r.status();
  if (out[0]->numel != r->second || out[1]->numel != r->second)
    return invalidArgument("layer_norm_param_grad: the scale has " +
                           std::to_string(out[0]->numel) +
                           " elements, the normalised axes " +
                           std::to_string(r->second));
  auto partial = c.scratch(
      a, std::max<int64_t>(1, 2 * layerNormParamChunks(r->first) * r->second) *
             8);
  if (!partial)
    return partial.status();
  return layerNormParamGrad(in[0]->as<float>(), in[1]->as<float>(),
                            in[2]->as<float>(), in[3]->as<float>(),
                            out[0]->as<float>(), out[1]->as<float>(),
                            static_cast<double *>(*partial), r->first,
                            r->second, c.stream);
}

/// Rows and classes of a loss's logits against its labels (their values
/// are checked on the device).
StatusOr<cpu::Classes> lossRows(const TensorRef &logits,
                                const TensorRef &labels) {
  PPRT_RETURN_IF_ERROR(indicesType(labels, "cross_entropy"));
  return cpu::lossClasses(logits, labels);
}

Status crossEntropyKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto r = lossRows(*in[0], *in[1]);
  if (!r)
    return r.status();
  auto scratch = c.scratch(a, std::max<int64_t>(1, r->rows) * sizeof(double));
  if (!scratch)
    return scratch.status();
  return crossEntropy(in[0]->as<float>(), in[1]->data,
                      in[1]->desc.dtype == DType::I64, out[0]->as<float>(),
                      static_cast<double *>(*scratch), r->rows, r->classes,
                      a.f("scale", 1), c.error, c.instr, c.stream);
}

Status crossEntropyGradKernel(Tensors &in, Tensors &out, const Attrs &a,
                              Ctx &c) {
  auto r = lossRows(*in[0], *in[1]);
  if (!r)
    return r.status();
  return crossEntropyGrad(in[0]->as<float>(), in[1]->data,
                          in[1]->desc.dtype == DType::I64, out[0]->as<float>(),
                          r->rows, r->classes, a.f("scale", 1), c.error,
                          c.instr, c.stream);
}

Status sameShape(const TensorRef &p, const TensorRef &t, const char *what) {
  PPRT_RETURN_IF_ERROR(needF32(p, what));
  if (!(p.desc == t.desc))
    return invalidArgument(std::string(what) + ": the prediction is " +
                           p.desc.toString() + ", the target " +
                           t.desc.toString());
  return Status::ok();
}

Status mseLossKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  PPRT_RETURN_IF_ERROR(sameShape(*in[0], *in[1], "mse_loss"));
  auto scratch = c.scratch(a, kReduceBlocks * sizeof(double));
  if (!scratch)
    return scratch.status();
  return mseLoss(in[0]->as<float>(), in[1]->as<float>(), out[0]->as<float>(),
                 static_cast<double *>(*scratch), in[0]->numel,
                 a.f("scale", 1), c.stream);
}

Status mseLossGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  PPRT_RETURN_IF_ERROR(sameShape(*in[0], *in[1], "mse_loss_grad"));
  return mseLossGrad(in[0]->as<float>(), in[1]->as<float>(),
                     out[0]->as<float>(), in[0]->numel, a.f("scale", 1),
                     c.stream);
}

//===----------------------------------------------------------------------===//
// Convolution (im2col + cuBLASLt), pooling, batch normalisation
//===----------------------------------------------------------------------===//

StatusOr<ConvWindow> convWindow(const Attrs &a, const TensorRef &x,
                                const TensorRef &y,
                                std::vector<int64_t> kernel) {
  cpu::Window win(a, x, y, std::move(kernel));
  if (win.spatial < 1 || win.spatial > kMaxSpatial)
    return invalidArgument("a window over " + std::to_string(win.spatial) +
                           " spatial axes: the CUDA backend takes 1 to " +
                           std::to_string(kMaxSpatial));
  ConvWindow w;
  w.spatial = win.spatial;
  for (int d = 0; d < win.spatial; ++d) {
    w.inSize[d] = win.inSize[d];
    w.outSize[d] = win.outSize[d];
    w.kernel[d] = win.kernel[d];
    w.strides[d] = win.strides[d];
    w.dilations[d] = win.dilations[d];
    w.pads[d] = win.pads[d];
    w.pads[win.spatial + d] = win.pads[win.spatial + d];
  }
  w.inPlane = win.inPlane;
  w.outPlane = win.outPlane;
  w.kPlane = win.kPlane;
  return w;
}

/// What conv and its gradients share: the window (x input-shaped, y
/// output-shaped), the sizes, and scratch for the columns (K x N outPlane
/// per group, all groups) and the output-major gradient or result (cout x
/// N outPlane).
struct ConvPlan {
  ConvWindow w;
  int64_t n, cin, cout, group, cinG, coutG, rows, columns;
  float *col, *staged;
};
StatusOr<ConvPlan> convPlan(const TensorRef &x, const TensorRef &y,
                            const TensorRef &filter, const Attrs &a, Ctx &c,
                            const char *what) {
  for (const TensorRef *t : {&x, &y, &filter})
    PPRT_RETURN_IF_ERROR(needF32(*t, what));
  auto w = convWindow(a, x, y, {filter.desc.shape.begin() + 2,
                                filter.desc.shape.end()});
  if (!w)
    return w.status();
  ConvPlan p;
  p.w = *w;
  p.n = x.desc.shape[0];
  p.cin = x.desc.shape[1];
  p.cout = y.desc.shape[1];
  p.group = a.i("group", 1);
  p.cinG = p.cin / p.group;
  p.coutG = p.cout / p.group;
  p.rows = p.cinG * w->kPlane;
  p.columns = p.n * w->outPlane;
  int64_t colFloats = p.cin * w->kPlane * p.columns;
  auto scratch =
      c.scratch(a, std::max<int64_t>(1, colFloats + p.cout * p.columns) * 4);
  if (!scratch)
    return scratch.status();
  p.col = static_cast<float *>(*scratch);
  p.staged = p.col + colFloats;
  return p;
}

/// Between N x C x plane and C x (N plane): `toChannels` gathers the
/// channels first.
Status channelsMajor(const float *src, float *dst, int64_t n, int64_t ch,
                     int64_t plane, bool toChannels, cudaStream_t s) {
  std::vector<int64_t> nchw = {plane * ch, plane, 1}; // strides of N, C, P
  std::vector<int64_t> cnp = {plane, n * plane, 1};   // of N, C, P in C x NP
  auto walk = toChannels ? makeWalk({n, ch, plane}, {nchw, cnp})
                         : makeWalk({n, ch, plane}, {cnp, nchw});
  if (!walk)
    return walk.status();
  return stridedCopy(src, dst, 4, *walk, s);
}

Status convKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &X = *in[0], &W = *in[1];
  TensorRef &Y = *out[0];
  auto p = convPlan(X, Y, W, a, c, "conv");
  if (!p)
    return p.status();
  PPRT_RETURN_IF_ERROR(im2col(X.as<float>(), p->col, p->n, p->cin, p->w, c.stream));
  GemmShape s;
  s.type = c.tf32 ? GemmType::TF32 : GemmType::F32;
  s.m = p->coutG;
  s.n = p->columns;
  s.k = p->rows;
  for (int64_t g = 0; g < p->group && Y.numel > 0; ++g)
    PPRT_RETURN_IF_ERROR(c.gemm->run(
        s, W.as<float>() + g * p->coutG * p->rows,
        p->col + g * p->rows * p->columns,
        p->staged + g * p->coutG * p->columns, nullptr, c.stream));
  PPRT_RETURN_IF_ERROR(channelsMajor(p->staged, Y.as<float>(), p->n, p->cout,
                                     p->w.outPlane, false, c.stream));
  if (in.size() < 3)
    return Status::ok();
  // The bias, one per output channel.
  Operand y, b;
  y.data = Y.data;
  b.data = in[2]->data;
  b.index = Index::Strided;
  b.slot = 1;
  auto walk = makeWalk({p->n, p->cout, p->w.outPlane}, {{}, {0, 1, 0}});
  if (!walk)
    return walk.status();
  return binary(BinaryOp::Add, DType::F32, DType::F32, y, b, Y.data, Y.numel,
                *walk, c.stream);
}

/// conv_input_grad: dX = col2im(W^T dY), group by group.
Status convInputGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &dY = *in[0], &W = *in[1];
  TensorRef &dX = *out[0];
  auto p = convPlan(dX, dY, W, a, c, "conv_input_grad");
  if (!p)
    return p.status();
  PPRT_RETURN_IF_ERROR(channelsMajor(dY.as<float>(), p->staged, p->n, p->cout,
                                     p->w.outPlane, true, c.stream));
  GemmShape s;
  s.type = c.tf32 ? GemmType::TF32 : GemmType::F32;
  s.transA = true;
  s.m = p->rows;
  s.n = p->columns;
  s.k = p->coutG;
  for (int64_t g = 0; g < p->group && p->columns > 0; ++g) {
    float *dcol = p->col + g * p->rows * p->columns;
    if (p->coutG == 0)
      PPRT_RETURN_IF_ERROR(zero(dcol, p->rows * p->columns * 4, c.stream));
    else
      PPRT_RETURN_IF_ERROR(c.gemm->run(
          s, W.as<float>() + g * p->coutG * p->rows,
          p->staged + g * p->coutG * p->columns, dcol, nullptr, c.stream));
  }
  return col2im(p->col, dX.as<float>(), p->n, p->cin, p->w, c.stream);
}

/// conv_filter_grad: dW = dY im2col(X)^T over all images at once.
Status convFilterGradKernel(Tensors &in, Tensors &out, const Attrs &a,
                            Ctx &c) {
  const TensorRef &X = *in[0], &dY = *in[1];
  TensorRef &dW = *out[0];
  auto p = convPlan(X, dY, dW, a, c, "conv_filter_grad");
  if (!p)
    return p.status();
  if (p->columns == 0)
    return zero(dW.data, dW.bytes, c.stream);
  PPRT_RETURN_IF_ERROR(im2col(X.as<float>(), p->col, p->n, p->cin, p->w, c.stream));
  PPRT_RETURN_IF_ERROR(channelsMajor(dY.as<float>(), p->staged, p->n, p->cout,
                                     p->w.outPlane, true, c.stream));
  GemmShape s;
  s.type = c.tf32 ? GemmType::TF32 : GemmType::F32;
  s.transB = true;
  s.m = p->coutG;
  s.n = p->rows;
  s.k = p->columns;
  for (int64_t g = 0; g < p->group && dW.numel > 0; ++g)
    PPRT_RETURN_IF_ERROR(c.gemm->run(
        s, p->staged + g * p->coutG * p->columns,
        p->col + g * p->rows * p->columns,
        dW.as<float>() + g * p->coutG * p->rows, nullptr, c.stream));
  return Status::ok();
}

Kernel poolKernel(bool max) {
  return [max](Tensors &in, Tensors &out, const Attrs &a, Ctx &c) -> Status {
    const TensorRef &X = *in[0];
    TensorRef &Y = *out[0];
    auto w = convWindow(a, X, Y, a.ints("kernel_shape"));
    if (!w)
      return w.status();
    return pool(max, a.i("count_include_pad"), X.desc.dtype, X.data, Y.data,
                X.desc.shape[0] * X.desc.shape[1], *w, c.stream);
  };
}

Kernel poolGradKernel(bool max) {
  return [max](Tensors &in, Tensors &out, const Attrs &a, Ctx &c) -> Status {
    const TensorRef *X = max ? in[0] : nullptr;
    const TensorRef &dY = *in[max ? 1 : 0];
    TensorRef &dX = *out[0];
    const char *name = max ? "max_pool_grad" : "avg_pool_grad";
    PPRT_RETURN_IF_ERROR(needF32(dY, name));
    PPRT_RETURN_IF_ERROR(needF32(dX, name));
    auto w = convWindow(a, dX, dY, a.ints("kernel_shape"));
    if (!w)
      return w.status();
    return poolGrad(max, a.i("count_include_pad"),
                    X ? X->as<float>() : nullptr, dY.as<float>(),
                    dX.as<float>(), dX.desc.shape[0] * dX.desc.shape[1], *w,
                    c.stream);
  };
}

struct Channels {
  int64_t n, c, plane;
};
StatusOr<Channels> channelsOf(const Tensors &in, const char *kernel) {
  for (const TensorRef *t : in)
    PPRT_RETURN_IF_ERROR(needF32(*t, kernel));
  const TensorRef &x = *in[0];
  Channels ch{x.desc.shape[0], x.desc.shape[1], 0};
  ch.plane = ch.n * ch.c != 0 ? x.numel / (ch.n * ch.c) : 0;
  return ch;
}

Status batchNormKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto ch = channelsOf(in, "batch_norm");
  if (!ch)
    return ch.status();
  auto affine = c.scratch(a, std::max<int64_t>(1, 2 * ch->c) * 4);
  if (!affine)
    return affine.status();
  return batchNorm(in[0]->as<float>(), in[1]->as<float>(), in[2]->as<float>(),
                   in[3]->as<float>(), in[4]->as<float>(), out[0]->as<float>(),
                   static_cast<float *>(*affine), ch->n, ch->c, ch->plane,
                   a.f("epsilon", 1e-5), c.stream);
}

Status batchNormTrainKernel(Tensors &in, Tensors &out, const Attrs &a,
                            Ctx &c) {
  auto ch = channelsOf(in, "batch_norm_train");
  if (!ch)
    return ch.status();
  bool evaluation = a.evaluation(), unbiased = a.has("unbiased_running_var");
  int64_t count = ch->n * ch->plane;
  if (!evaluation && unbiased && count < 2)
    return invalidArgument(
        "batch_norm_train normalises each channel over " +
        std::to_string(count) +
        " value: a training micro-batch needs more than one value per channel");
  auto affine = c.scratch(a, std::max<int64_t>(1, 2 * ch->c) * 4);
  if (!affine)
    return affine.status();
  return batchNormTrain(
      in[0]->as<float>(), in[1]->as<float>(), in[2]->as<float>(),
      in[3]->as<float>(), in[4]->as<float>(), out[0]->as<float>(),
      out[1]->as<float>(), out[2]->as<float>(), out[3]->as<float>(),
      out[4]->as<float>(), static_cast<float *>(*affine), ch->n, ch->c,
      ch->plane, a.f("epsilon", 1e-5), a.f("momentum", 0.9), unbiased,
      evaluation, c.stream);
}

Status batchNormGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto ch = channelsOf(in, "batch_norm_grad");
  if (!ch)
    return ch.status();
  auto sums = c.scratch(a, std::max<int64_t>(1, 2 * ch->c) * 8);
  if (!sums)
    return sums.status();
  return batchNormGrad(in[0]->as<float>(), in[1]->as<float>(),
                       in[2]->as<float>(), in[3]->as<float>(),
                       in[4]->as<float>(), out[0]->as<float>(),
                       static_cast<double *>(*sums), ch->n, ch->c, ch->plane,
                       c.stream);
}

Status batchNormParamGradKernel(Tensors &in, Tensors &out, const Attrs &,
                                Ctx &c) {
  auto ch = channelsOf(in, "batch_norm_param_grad");
  if (!ch)
    return ch.status();
  return batchNormParamGrad(in[0]->as<float>(), in[1]->as<float>(),
                            in[2]->as<float>(), in[3]->as<float>(),
                            out[0]->as<float>(), out[1]->as<float>(), ch->n,
                            ch->c, ch->plane, c.stream);
}

/// One element of `dtype` holding `value`, as bytes.
StatusOr<uint64_t> elementBytes(DType dtype, double value) {
  uint64_t bits = 0;
  auto put = [&](auto v) { std::memcpy(&bits, &v, sizeof v); };
  switch (dtype) {
  case DType::F32: put(float(value)); break;
  case DType::F64: put(value); break;
  case DType::F16: put(cpu::floatToHalf(float(value))); break;
  case DType::BF16: put(cpu::floatToBf16(float(value))); break;
  case DType::I64: put(int64_t(value)); break;
  case DType::I32: put(int32_t(value)); break;
  case DType::I16: put(int16_t(value)); break;
  case DType::I8: put(int8_t(value)); break;
  case DType::U8: put(uint8_t(value)); break;
  case DType::Bool: put(uint8_t(value != 0)); break;
  case DType::U16: put(uint16_t(value)); break;
  case DType::U32: put(uint32_t(value)); break;
  case DType::U64: put(uint64_t(value)); break;
  }
  return bits;
}

Status padKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  std::vector<int64_t> pads = a.ints("pads");
  std::string mode = a.s("mode", "constant");
  int m = mode == "constant" ? 0 : mode == "edge" ? 1 : mode == "reflect" ? 2 : -1;
  if (m < 0)
    return invalidArgument("pad mode '" + mode + "'");
  size_t rank = x.desc.shape.size();
  pads.resize(2 * rank, 0);
  if (m != 0 && x.numel == 0 && y.numel > 0)
    return invalidArgument("pad: " + mode + " padding of an empty tensor");
  auto value = elementBytes(y.desc.dtype, a.f("value", 0));
  if (!value)
    return value.status();
  auto walk = makeWalk(y.desc.shape, {});
  if (!walk)
    return walk.status();
  return pad(x.data, y.data, (int)dtypeSize(y.desc.dtype), *walk,
             x.desc.shape.data(), pads.data(), m, *value, c.stream);
}

Status triluKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0];
  size_t rank = x.desc.shape.size();
  if (rank < 2)
    return invalidArgument("trilu of a tensor of fewer than 2 axes");
  return trilu(x.data, out[0]->data, (int)dtypeSize(x.desc.dtype), x.numel,
               x.desc.shape[rank - 2], x.desc.shape[rank - 1], a.i("upper"),
               a.i("k"), c.stream);
}

/// The taps, flattened and on the device, built on the first run.
struct ResizeState {
  DeviceMemory memory;
  ResizeTable table;
};

Status resizeKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  PPRT_RETURN_IF_ERROR(needF32(x, "resize"));
  auto walk = makeWalk(y.desc.shape, {});
  if (!walk)
    return walk.status();
  auto &state = a.state();
  if (!state) {
    cpu::ResizeTaps taps = cpu::resizeTaps(a, x, y);
    std::vector<int64_t> start, index;
    std::vector<int32_t> count;
    std::vector<uint8_t> outside;
    std::vector<double> weight;
    auto made = std::make_shared<ResizeState>();
    ResizeTable &t = made->table;
    auto st = stridesOf(x.desc.shape);
    for (size_t d = 0; d < taps.taps.size(); ++d) {
      t.axisBase[d] = start.size();
      t.inStrides[d] = st[d];
      for (size_t o = 0; o < taps.taps[d].size(); ++o) {
        start.push_back(index.size());
        count.push_back(taps.taps[d][o].size());
        outside.push_back(taps.outside[d][o]);
        for (const auto &tap : taps.taps[d][o]) {
          index.push_back(tap.index);
          weight.push_back(tap.weight);
        }
      }
    }
    t.extrapolation = taps.extrapolation;
    // One allocation: the 8-byte arrays first, then the 4- and 1-byte ones.
    int64_t bytes = 8 * (start.size() + index.size() + weight.size()) +
                    4 * count.size() + outside.size() + 8;
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaMalloc(&made->memory.ptr, bytes),
                                    "resize's taps"));
    made->memory.bytes = bytes;
    uint8_t *at = static_cast<uint8_t *>(made->memory.ptr);
    auto put = [&](const auto &v) -> StatusOr<const void *> {
      const void *where = at;
      size_t n = v.size() * sizeof(v[0]);
      if (n)
        PPRT_RETURN_IF_ERROR(cudaStatus(
            cudaMemcpy(at, v.data(), n, cudaMemcpyHostToDevice),
            "uploading resize's taps"));
      at += n;
      return where;
    };
    auto s1 = put(start), s2 = put(index), s3 = put(weight), s4 = put(count),
         s5 = put(outside);
    for (auto *r : {&s1, &s2, &s3, &s4, &s5})
      if (!*r)
        return r->status();
    t.tapStart = static_cast<const int64_t *>(*s1);
    t.index = static_cast<const int64_t *>(*s2);
    t.weight = static_cast<const double *>(*s3);
    t.tapCount = static_cast<const int32_t *>(*s4);
    t.outside = static_cast<const uint8_t *>(*s5);
    state = made;
  }
  const auto *rs = static_cast<const ResizeState *>(state.get());
  return resize(x.as<float>(), y.as<float>(), *walk, rs->table, c.stream);
}

//===----------------------------------------------------------------------===//
// Matrix products (cuBLASLt)
//===----------------------------------------------------------------------===//

StatusOr<GemmType> gemmType(const TensorRef &t, bool tf32, const char *kernel) {
  switch (t.desc.dtype) {
  case DType::F32: return tf32 ? GemmType::TF32 : GemmType::F32;
  case DType::BF16: return GemmType::BF16;
  case DType::F16: return GemmType::F16;
  default:
    return invalidArgument(std::string(kernel) + " on the CUDA backend takes "
                           "f32, bf16 or f16, not " + t.desc.toString());
  }
}

/// numpy matmul: leading axes broadcast, 1-D operands promoted.
Status matmulKernel(Tensors &in, Tensors &out, const Attrs &, Ctx &c) {
  const TensorRef &A = *in[0], &B = *in[1];
  TensorRef &C = *out[0];
  auto type = gemmType(C, c.tf32, "matmul");
  if (!type)
    return type.status();
  if (A.desc.dtype != C.desc.dtype || B.desc.dtype != C.desc.dtype)
    return invalidArgument(
        cpu::lowProduct(A, C)
            ? "matmul with " + A.desc.toString() + " factors and an f32 result "
              "(ppc -precision=bf16/fp16) has no CUDA kernel yet; compile "
              "with -precision=fp32 or run on the CPU backend"
            : std::string("matmul of mixed types on the CUDA backend"));
  cpu::MatmulShape ms = cpu::matmulShape(A.desc.shape, B.desc.shape);
  int64_t m = ms.m, k = ms.k, n = ms.n, count = ms.count;
  if (C.numel == 0)
    return Status::ok();
  if (k == 0)
    return zero(C.data, C.bytes, c.stream);
  size_t w = dtypeSize(C.desc.dtype);
  GemmShape s;
  s.type = *type;
  s.n = n;
  s.k = k;
  if (ms.countB == 1 && ms.countA == count) {
    // One weight for every batch entry: the entries' rows stack into one
    // product.
    s.m = m * count;
    return c.gemm->run(s, A.data, B.data, C.data, nullptr, c.stream);
  }
  s.m = m;
  if (ms.countA == count && ms.countB == count) {
    s.batch = count;
    s.strideA = m * k;
    s.strideB = k * n;
    s.strideC = m * n;
    return c.gemm->run(s, A.data, B.data, C.data, nullptr, c.stream);
  }
  // Broadcast in both: one product per entry.
  for (int64_t bi = 0; bi < count; ++bi) {
    auto [oa, ob] = ms.entry(bi);
    PPRT_RETURN_IF_ERROR(c.gemm->run(s, A.data + oa * m * k * w,
                                     B.data + ob * k * n * w,
                                     C.data + bi * m * n * w, nullptr,
                                     c.stream));
  }
  return Status::ok();
}

/// ONNX Gemm: alpha op(A) op(B) + beta C. A bias C (n values, alpha and
/// beta 1) rides cuBLASLt's epilogue; any other C is added after.
Status gemmKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &A = *in[0], &B = *in[1];
  TensorRef &Y = *out[0];
  auto type = gemmType(Y, c.tf32, "gemm");
  if (!type)
    return type.status();
  if (A.desc.dtype != Y.desc.dtype || B.desc.dtype != Y.desc.dtype)
    return invalidArgument(
        cpu::lowProduct(A, Y)
            ? "gemm with " + A.desc.toString() + " factors and an f32 result "
              "(ppc -precision=bf16/fp16) has no CUDA kernel yet; compile "
              "with -precision=fp32 or run on the CPU backend"
            : std::string("gemm of mixed types on the CUDA backend"));
  GemmShape s;
  s.type = *type;
  s.transA = a.i("trans_a");
  s.transB = a.i("trans_b");
  s.m = Y.desc.shape[0];
  s.n = Y.desc.shape[1];
  s.k = s.transA ? A.desc.shape[0] : A.desc.shape[1];
  double alpha = a.f("alpha", 1.0), beta = a.f("beta", 1.0);
  const TensorRef *Cm = in.size() > 2 && beta != 0 ? in[2] : nullptr;
  if (Y.numel == 0)
    return Status::ok();
  bool biasRow = Cm && Cm->numel == s.n &&
                 (Cm->desc.shape.size() == 1 ||
                  (Cm->desc.shape.size() == 2 && Cm->desc.shape[0] == 1));
  if (alpha == 1 && beta == 1 && biasRow && s.k > 0) {
    s.epilogue = Epilogue::Bias;
    return c.gemm->run(s, A.data, B.data, Y.data, Cm->data, c.stream);
  }
  if (s.k > 0)
    PPRT_RETURN_IF_ERROR(c.gemm->run(s, A.data, B.data, Y.data, nullptr, c.stream));
  else
    PPRT_RETURN_IF_ERROR(zero(Y.data, Y.bytes, c.stream));
  if (alpha == 1 && !Cm)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(needF32(Y, "gemm with alpha or a general C"));
  std::vector<std::vector<int64_t>> strides(1);
  Operand oc;
  oc.data = Y.data; // read with beta 0 when there is no C
  if (Cm)
    oc = operandFor(*Cm, Y, 0, strides);
  auto walk = makeWalk(Y.desc.shape, strides);
  if (!walk)
    return walk.status();
  return scaleAdd(Y.as<float>(), float(alpha), Cm ? float(beta) : 0.0f, oc,
                  Y.numel, *walk, c.stream);
}

} // namespace

const Registry &registry() {
  static const Registry r = [] {
    Registry r;
    r["add"] = binaryKernel(BinaryOp::Add);
    r["sub"] = binaryKernel(BinaryOp::Sub);
    r["mul"] = binaryKernel(BinaryOp::Mul);
    r["div"] = binaryKernel(BinaryOp::Div);
    r["max"] = binaryKernel(BinaryOp::Max);
    r["min"] = binaryKernel(BinaryOp::Min);
    r["pow"] = binaryKernel(BinaryOp::Pow);
    r["mod"] = [](Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
      return binaryKernel(a.i("fmod") ? BinaryOp::Fmod : BinaryOp::Mod)(
          in, out, a, c);
    };
    r["equal"] = binaryKernel(BinaryOp::Equal);
    r["less"] = binaryKernel(BinaryOp::Less);
    r["less_equal"] = binaryKernel(BinaryOp::LessEqual);
    r["greater"] = binaryKernel(BinaryOp::Greater);
    r["greater_equal"] = binaryKernel(BinaryOp::GreaterEqual);
    r["and"] = binaryKernel(BinaryOp::And);
    r["or"] = binaryKernel(BinaryOp::Or);
    r["xor"] = binaryKernel(BinaryOp::Xor);
    static const std::pair<const char *, UnaryOp> unaries[] = {
        {"relu", UnaryOp::Relu},       {"sigmoid", UnaryOp::Sigmoid},
        {"tanh", UnaryOp::Tanh},       {"erf", UnaryOp::Erf},
        {"sqrt", UnaryOp::Sqrt},       {"exp", UnaryOp::Exp},
        {"log", UnaryOp::Log},         {"reciprocal", UnaryOp::Reciprocal},
        {"floor", UnaryOp::Floor},     {"ceil", UnaryOp::Ceil},
        {"round", UnaryOp::Round},     {"sin", UnaryOp::Sin},
        {"cos", UnaryOp::Cos},         {"softplus", UnaryOp::Softplus},
        {"gelu", UnaryOp::Gelu},       {"neg", UnaryOp::Neg},
        {"abs", UnaryOp::Abs},         {"sign", UnaryOp::Sign},
        {"not", UnaryOp::Not},         {"leaky_relu", UnaryOp::LeakyRelu},
        {"clip", UnaryOp::Clip},       {"hard_sigmoid", UnaryOp::HardSigmoid},
        {"hard_swish", UnaryOp::HardSwish}};
    for (auto &[name, op] : unaries)
      r[name] = unaryKernel(op);
    r["relu_grad"] = gradKernel(GradOp::Relu, "relu_grad");
    r["tanh_grad"] = gradKernel(GradOp::Tanh, "tanh_grad");
    r["sigmoid_grad"] = gradKernel(GradOp::Sigmoid, "sigmoid_grad");
    r["gelu_grad"] = gradKernel(GradOp::Gelu, "gelu_grad");
    r["hard_sigmoid_grad"] = gradKernel(GradOp::HardSigmoid, "hard_sigmoid_grad");
    r["hard_swish_grad"] = gradKernel(GradOp::HardSwish, "hard_swish_grad");
    registerIndexingOps(r);
    registerAttentionOps(r);
    r["where"] = whereKernel;
    r["cast"] = castKernel;
    r["reshape"] = reshapeKernel;
    r["transpose"] = transposeKernel;
    r["slice"] = sliceKernel;
    r["slice_grad"] = sliceGradKernel;
    r["broadcast"] = broadcastKernel;
    r["concat"] = concatKernel;
    r["gather"] = gatherKernel;
    r["gather_grad"] = gatherGradKernel;
    r["reduce_sum"] = reduceKernel(ReduceOp::Sum);
    r["reduce_mean"] = reduceKernel(ReduceOp::Mean);
    r["reduce_max"] = reduceKernel(ReduceOp::Max);
    r["reduce_min"] = reduceKernel(ReduceOp::Min);
    r["reduce_prod"] = reduceKernel(ReduceOp::Prod);
    r["softmax"] = softmaxKernel(false);
    r["log_softmax"] = softmaxKernel(true);
    r["softmax_grad"] = softmaxGradKernel;
    r["layer_norm"] = layerNormKernel;
    r["layer_norm_grad"] = layerNormGradKernel;
    r["layer_norm_param_grad"] = layerNormParamGradKernel;
    r["cross_entropy"] = crossEntropyKernel;
    r["cross_entropy_grad"] = crossEntropyGradKernel;
    r["mse_loss"] = mseLossKernel;
    r["mse_loss_grad"] = mseLossGradKernel;
    r["matmul"] = matmulKernel;
    r["gemm"] = gemmKernel;
    r["conv"] = convKernel;
    r["conv_input_grad"] = convInputGradKernel;
    r["conv_filter_grad"] = convFilterGradKernel;
    r["max_pool"] = poolKernel(true);
    r["avg_pool"] = poolKernel(false);
    r["max_pool_grad"] = poolGradKernel(true);
    r["avg_pool_grad"] = poolGradKernel(false);
    r["batch_norm"] = batchNormKernel;
    r["batch_norm_train"] = batchNormTrainKernel;
    r["batch_norm_grad"] = batchNormGradKernel;
    r["batch_norm_param_grad"] = batchNormParamGradKernel;
    r["pad"] = padKernel;
    r["trilu"] = triluKernel;
    r["resize"] = resizeKernel;
    return r;
  }();
  return r;
}

} // namespace cuda
} // namespace pprt
