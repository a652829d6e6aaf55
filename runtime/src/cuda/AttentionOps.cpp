//===- AttentionOps.cpp - rms_norm, rotary_embedding, attention on CUDA ---===//
//
// The host side: the shared geometry (../OpGeometry.h), then
// AttentionKernels.cu on the stage's stream.
//
//===----------------------------------------------------------------------===//

#include "CudaOps.h"
#include "DeviceAttention.h"

#include "../OpGeometry.h"

namespace pprt {
namespace cuda {
namespace {

Status needF32(const TensorRef &t, const char *kernel) {
  if (t.desc.dtype != DType::F32)
    return invalidArgument(std::string(kernel) + " on the CUDA backend takes "
                           "f32, not " + t.desc.toString());
  return Status::ok();
}

/// rmsRows (../OpGeometry.h) of f32 operands.
StatusOr<std::pair<int64_t, int64_t>> rmsRows(Tensors &in, const Attrs &a,
                                              const char *kernel) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], kernel));
  PPRT_RETURN_IF_ERROR(needF32(*in[1], kernel));
  return pprt::rmsRows(in[0]->desc, in[1]->desc, a, kernel);
}

Status rmsNormKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto r = rmsRows(in, a, "rms_norm");
  if (!r)
    return r.status();
  return rmsNorm(in[0]->as<float>(), in[1]->as<float>(), out[0]->as<float>(),
                 out.size() > 1 ? out[1]->as<float>() : nullptr, r->first,
                 r->second, a.f("epsilon", 1e-5), c.stream);
}

Status rmsNormGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto r = rmsRows(in, a, "rms_norm_grad");
  if (!r)
    return r.status();
  return rmsNormGrad(in[0]->as<float>(), in[1]->as<float>(),
                     in[2]->as<float>(), in[3]->as<float>(),
                     out[0]->as<float>(), r->first, r->second, c.stream);
}

RotaryParams rotaryParams(const RotaryGeometry &g);

Status rotaryKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0], &cs = *in[1], &sn = *in[2];
  const TensorRef *pos = in.size() > 3 ? in[3] : nullptr;
  for (const TensorRef *t : {&x, &cs, &sn})
    PPRT_RETURN_IF_ERROR(needF32(*t, "rotary_embedding"));
  auto g = rotaryGeometry(x.desc, cs.desc, pos ? &pos->desc : nullptr, a);
  if (!g)
    return g.status();
  RotaryParams p = rotaryParams(*g);
  if (pos) {
    p.positions = pos->data;
    p.positions64 = pos->desc.dtype == DType::I64;
  }
  return rotary(x.as<float>(), cs.as<float>(), sn.as<float>(),
                out[0]->as<float>(), p, c.error, c.instr, c.stream);
}

RotaryParams rotaryParams(const RotaryGeometry &g) {
  RotaryParams p;
  p.batch = g.batch;
  p.sequence = g.sequence;
  p.heads = g.heads;
  p.headSize = g.headSize;
  p.rotaryDim = g.rotaryDim;
  p.strideB = g.strideB;
  p.strideS = g.strideS;
  p.strideH = g.strideH;
  p.maxPosition = g.maxPosition;
  p.interleaved = g.interleaved;
  return p;
}

Status rotaryCacheGradKernel(Tensors &in, Tensors &out, const Attrs &a,
                             Ctx &c) {
  for (const TensorRef *t : {in[0], in[1], out[0], out[1]})
    PPRT_RETURN_IF_ERROR(needF32(*t, "rotary_embedding_cache_grad"));
  auto g = rotaryGeometry(in[0]->desc, out[0]->desc, nullptr, a);
  if (!g)
    return g.status();
  return rotaryCacheGrad(in[0]->as<float>(), in[1]->as<float>(),
                         out[0]->as<float>(), out[1]->as<float>(),
                         rotaryParams(*g), c.stream);
}

StatusOr<AttentionParams> attentionParams(Tensors &in, size_t maskAt,
                                          const Attrs &a, const char *kernel) {
  const TensorRef *mask = in.size() > maskAt ? in[maskAt] : nullptr;
  auto g = attentionGeometry(in[0]->desc, in[1]->desc, in[2]->desc,
                             mask ? &mask->desc : nullptr, a, kernel);
  if (!g)
    return g.status();
  AttentionParams p;
  p.batch = g->batch;
  p.qHeads = g->qHeads;
  p.kvHeads = g->kvHeads;
  p.qSeq = g->qSeq;
  p.kvSeq = g->kvSeq;
  p.headSize = g->headSize;
  p.vHeadSize = g->vHeadSize;
  p.group = g->group;
  p.causal = g->causal;
  p.boolMask = g->boolMask;
  p.mask = mask ? mask->data : nullptr;
  for (int d = 0; d < 4; ++d)
    p.maskStrides[d] = g->maskStrides[d];
  p.scale = float(g->scale);
  return p;
}

Status attentionKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto p = attentionParams(in, 3, a, "attention");
  if (!p)
    return p.status();
  return attention(in[0]->as<float>(), in[1]->as<float>(), in[2]->as<float>(),
                   *p, out[0]->as<float>(),
                   out.size() > 1 ? out[1]->as<float>() : nullptr, c.stream);
}

Status attentionGradKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto p = attentionParams(in, 6, a, "attention_grad");
  if (!p)
    return p.status();
  for (int i : {3, 4, 5})
    PPRT_RETURN_IF_ERROR(needF32(*in[i], "attention_grad"));
  int64_t rows = p->batch * p->qHeads * p->qSeq;
  auto rowDot = c.scratch(a, std::max<int64_t>(1, rows) * sizeof(float));
  if (!rowDot)
    return rowDot.status();
  return attentionGrad(in[0]->as<float>(), in[1]->as<float>(),
                       in[2]->as<float>(), in[3]->as<float>(),
                       in[4]->as<float>(), in[5]->as<float>(), *p,
                       out[0]->as<float>(), out[1]->as<float>(),
                       out[2]->as<float>(), static_cast<float *>(*rowDot),
                       c.stream);
}

} // namespace

void registerAttentionOps(Registry &r) {
  r["rms_norm"] = rmsNormKernel;
  r["rms_norm_grad"] = rmsNormGradKernel;
  r["rotary_embedding"] = rotaryKernel;
  r["rotary_embedding_cache_grad"] = rotaryCacheGradKernel;
  r["attention"] = attentionKernel;
  r["attention_grad"] = attentionGradKernel;
}

} // namespace cuda
} // namespace pprt
