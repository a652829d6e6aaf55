//===- Attention.cpp - rms_norm, rotary_embedding, attention and backward -===//
//
// f32 kernels that sum in double. Attention never stores the probabilities:
// the forward keeps each query's log-sum-exp, and the backward recomputes
// the scores from it (the same arithmetic as the forward), dq row by row
// and dk, dv key by key, so that every sum runs in a fixed order whatever
// the thread count.
//
//===----------------------------------------------------------------------===//

#include "../OpGeometry.h"
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

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

/// rmsRows (../OpGeometry.h) of f32 operands.
StatusOr<std::pair<int64_t, int64_t>> rmsRows(Tensors &in, const Attrs &a,
                                              const char *kernel) {
  PPRT_RETURN_IF_ERROR(needF32(*in[0], kernel));
  PPRT_RETURN_IF_ERROR(needF32(*in[1], kernel));
  return pprt::rmsRows(in[0]->desc, in[1]->desc, a, kernel);
}

Status rmsNorm(Tensors &in, Tensors &out, const Attrs &a) {
  auto r = rmsRows(in, a, "rms_norm");
  if (!r)
    return r.status();
  auto [rows, n] = *r;
  const float *x = in[0]->as<float>(), *scale = in[1]->as<float>();
  float *y = out[0]->as<float>();
  float *invOut = out.size() > 1 ? out[1]->as<float>() : nullptr;
  double eps = a.f("epsilon", 1e-5);
  parallelFor(rows, [&](int64_t row) {
    const float *xr = x + row * n;
    double sq = 0;
    for (int64_t i = 0; i < n; ++i)
      sq += (double)xr[i] * xr[i];
    double inv = 1.0 / std::sqrt(sq / n + eps);
    for (int64_t i = 0; i < n; ++i)
      y[row * n + i] = float(xr[i] * inv) * scale[i];
    if (invOut)
      invOut[row] = float(inv);
  });
  return Status::ok();
}

/// dx = inv g s - x inv^3 mean(g s x).
Status rmsNormGrad(Tensors &in, Tensors &out, const Attrs &a) {
  auto r = rmsRows(in, a, "rms_norm_grad");
  if (!r)
    return r.status();
  auto [rows, n] = *r;
  const float *x = in[0]->as<float>(), *scale = in[1]->as<float>(),
              *inv = in[2]->as<float>(), *dy = in[3]->as<float>();
  float *dx = out[0]->as<float>();
  parallelFor(rows, [&](int64_t row) {
    const float *xr = x + row * n, *gr = dy + row * n;
    double is = inv[row], dot = 0;
    for (int64_t i = 0; i < n; ++i)
      dot += (double)gr[i] * scale[i] * xr[i];
    double c = is * is * is * dot / n;
    for (int64_t i = 0; i < n; ++i)
      dx[row * n + i] = float(is * gr[i] * scale[i] - xr[i] * c);
  });
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// rotary_embedding
//===----------------------------------------------------------------------===//

Status rotary(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0], &cosT = *in[1], &sinT = *in[2];
  const TensorRef *pos = in.size() > 3 ? in[3] : nullptr;
  for (const TensorRef *t : {&x, &cosT, &sinT})
    PPRT_RETURN_IF_ERROR(needF32(*t, "rotary_embedding"));
  auto g = rotaryGeometry(x.desc, cosT.desc, pos ? &pos->desc : nullptr, a);
  if (!g)
    return g.status();
  if (!(cosT.desc == sinT.desc))
    return invalidArgument("rotary_embedding: cos " + cosT.desc.toString() +
                           " and sin " + sinT.desc.toString() + " differ");
  const float *src = x.as<float>(), *cs = cosT.as<float>(), *sn = sinT.as<float>();
  float *dst = out[0]->as<float>();
  int64_t half = g->rotaryDim / 2, tokens = g->batch * g->sequence;
  // Positions first, so that a bad one fails before anything is written.
  std::vector<int64_t> rows(tokens);
  for (int64_t t = 0; t < tokens; ++t) {
    rows[t] = t;
    if (!pos)
      continue;
    rows[t] = pos->desc.dtype == DType::I64 ? pos->as<int64_t>()[t]
                                            : pos->as<int32_t>()[t];
    if (rows[t] < 0 || rows[t] >= g->maxPosition)
      return invalidArgument("rotary_embedding: position " +
                             std::to_string(rows[t]) + " of token " +
                             std::to_string(t) + " is outside the " +
                             std::to_string(g->maxPosition) + " cached");
  }
  parallelFor(tokens * g->heads, [&](int64_t th) {
    int64_t t = th / g->heads, h = th % g->heads;
    int64_t b = t / g->sequence, s = t % g->sequence;
    int64_t base = b * g->strideB + s * g->strideS + h * g->strideH;
    const float *c = cs + rows[t] * half, *si = sn + rows[t] * half;
    const float *xi = src + base;
    float *yo = dst + base;
    for (int64_t i = 0; i < half; ++i) {
      int64_t i1 = g->interleaved ? 2 * i : i;
      int64_t i2 = g->interleaved ? 2 * i + 1 : i + half;
      float x1 = xi[i1], x2 = xi[i2];
      yo[i1] = c[i] * x1 - si[i] * x2;
      yo[i2] = si[i] * x1 + c[i] * x2;
    }
    for (int64_t d = g->rotaryDim; d < g->headSize; ++d)
      yo[d] = xi[d];
  });
  return Status::ok();
}

/// The caches' gradients per token (batch x sequence x rotary_dim / 2),
/// summed over the heads: cos g1 x1 + g2 x2, sin g2 x1 - g1 x2.
Status rotaryCacheGrad(Tensors &in, Tensors &out, const Attrs &a) {
  const TensorRef &x = *in[0], &dy = *in[1];
  for (const TensorRef *t : {&x, &dy, (const TensorRef *)out[0],
                             (const TensorRef *)out[1]})
    PPRT_RETURN_IF_ERROR(needF32(*t, "rotary_embedding_cache_grad"));
  auto g = rotaryGeometry(x.desc, out[0]->desc, nullptr, a);
  if (!g)
    return g.status();
  const float *src = x.as<float>(), *gr = dy.as<float>();
  float *dc = out[0]->as<float>(), *ds = out[1]->as<float>();
  int64_t half = g->rotaryDim / 2, tokens = g->batch * g->sequence;
  parallelFor(tokens * half, [&](int64_t ti) {
    int64_t t = ti / half, i = ti % half;
    int64_t b = t / g->sequence, s = t % g->sequence;
    int64_t i1 = g->interleaved ? 2 * i : i;
    int64_t i2 = g->interleaved ? 2 * i + 1 : i + half;
    double c = 0, sn = 0;
    for (int64_t h = 0; h < g->heads; ++h) {
      int64_t base = b * g->strideB + s * g->strideS + h * g->strideH;
      double x1 = src[base + i1], x2 = src[base + i2], g1 = gr[base + i1],
             g2 = gr[base + i2];
      c += g1 * x1 + g2 * x2;
      sn += g2 * x1 - g1 * x2;
    }
    dc[ti] = float(c);
    ds[ti] = float(sn);
  });
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

struct AttentionOperands {
  AttentionGeometry g;
  const float *q, *k, *v;
  const uint8_t *mask; // f32 or bool elements

  const float *qRow(int64_t b, int64_t h, int64_t i) const {
    return q + ((b * g.qHeads + h) * g.qSeq + i) * g.headSize;
  }
  const float *kRow(int64_t b, int64_t h, int64_t j) const {
    return k + ((b * g.kvHeads + h / g.group) * g.kvSeq + j) * g.headSize;
  }
  const float *vRow(int64_t b, int64_t h, int64_t j) const {
    return v + ((b * g.kvHeads + h / g.group) * g.kvSeq + j) * g.vHeadSize;
  }
  /// The score of query i and key j: scale q.k plus the bias (-inf where
  /// masked).
  double score(int64_t b, int64_t h, int64_t i, int64_t j) const {
    if (g.causal && j > i)
      return -std::numeric_limits<double>::infinity();
    double bias = 0;
    if (mask) {
      int64_t at = b * g.maskStrides[0] + h * g.maskStrides[1] +
                   i * g.maskStrides[2] + j * g.maskStrides[3];
      if (g.boolMask) {
        if (!mask[at])
          return -std::numeric_limits<double>::infinity();
      } else {
        bias = reinterpret_cast<const float *>(mask)[at];
      }
    }
    const float *qr = qRow(b, h, i), *kr = kRow(b, h, j);
    double dot = 0;
    for (int64_t d = 0; d < g.headSize; ++d)
      dot += (double)qr[d] * kr[d];
    return g.scale * dot + bias;
  }
};

StatusOr<AttentionOperands> attentionOperands(Tensors &in, int maskIndex,
                                              const Attrs &a,
                                              const char *kernel) {
  const TensorRef *mask = (int)in.size() > maskIndex ? in[maskIndex] : nullptr;
  auto g = attentionGeometry(in[0]->desc, in[1]->desc, in[2]->desc,
                             mask ? &mask->desc : nullptr, a, kernel);
  if (!g)
    return g.status();
  return AttentionOperands{*g, in[0]->as<float>(), in[1]->as<float>(),
                           in[2]->as<float>(), mask ? mask->data : nullptr};
}

Status attention(Tensors &in, Tensors &out, const Attrs &a) {
  auto op = attentionOperands(in, 3, a, "attention");
  if (!op)
    return op.status();
  const AttentionGeometry &g = op->g;
  float *y = out[0]->as<float>();
  float *lse = out.size() > 1 ? out[1]->as<float>() : nullptr;
  int64_t rows = g.batch * g.qHeads * g.qSeq;
#pragma omp parallel if (rows * g.kvSeq >= kParallelGrain)
  {
    std::vector<double> s(g.kvSeq), acc(g.vHeadSize);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t i = r % g.qSeq, h = (r / g.qSeq) % g.qHeads,
              b = r / (g.qSeq * g.qHeads);
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < g.kvSeq; ++j) {
        s[j] = op->score(b, h, i, j);
        m = std::max(m, s[j]);
      }
      float *yr = y + r * g.vHeadSize;
      if (m == -std::numeric_limits<double>::infinity()) {
        // Every key masked: a zero row, as ONNX defines it.
        std::fill(yr, yr + g.vHeadSize, 0.0f);
        if (lse)
          lse[r] = -std::numeric_limits<float>::infinity();
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double sum = 0;
      for (int64_t j = 0; j < g.kvSeq; ++j) {
        double p = std::exp(s[j] - m);
        if (p == 0)
          continue;
        sum += p;
        const float *vr = op->vRow(b, h, j);
        for (int64_t d = 0; d < g.vHeadSize; ++d)
          acc[d] += p * vr[d];
      }
      for (int64_t d = 0; d < g.vHeadSize; ++d)
        yr[d] = float(acc[d] / sum);
      if (lse)
        lse[r] = float(m + std::log(sum));
    }
  }
  return Status::ok();
}

/// With P = exp(score - lse) and D_i = dy_i . out_i:
/// dq_i = scale sum_j P (dy_i . v_j - D_i) k_j, and for each key j (over the
/// query heads sharing its kv head) dk_j = scale sum_i P (dy_i . v_j - D_i)
/// q_i, dv_j = sum_i P dy_i.
Status attentionGrad(Tensors &in, Tensors &out, const Attrs &a) {
  auto op = attentionOperands(in, 6, a, "attention_grad");
  if (!op)
    return op.status();
  const AttentionGeometry &g = op->g;
  for (int i : {3, 4, 5})
    PPRT_RETURN_IF_ERROR(needF32(*in[i], "attention_grad"));
  const float *o = in[3]->as<float>(), *lse = in[4]->as<float>(),
              *dy = in[5]->as<float>();
  float *dq = out[0]->as<float>(), *dk = out[1]->as<float>(),
        *dv = out[2]->as<float>();
  int64_t rows = g.batch * g.qHeads * g.qSeq, dvn = g.vHeadSize;
  std::vector<double> D(rows);
  parallelFor(rows, [&](int64_t r) {
    double s = 0;
    for (int64_t d = 0; d < dvn; ++d)
      s += (double)dy[r * dvn + d] * o[r * dvn + d];
    D[r] = s;
  });
  auto dP = [&](int64_t r, const float *vr) {
    double s = 0;
    for (int64_t d = 0; d < dvn; ++d)
      s += (double)dy[r * dvn + d] * vr[d];
    return s;
  };
  bool big = rows * g.kvSeq >= kParallelGrain;
#pragma omp parallel if (big)
  {
    std::vector<double> acc(g.headSize), accV(dvn);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t i = r % g.qSeq, h = (r / g.qSeq) % g.qHeads,
              b = r / (g.qSeq * g.qHeads);
      std::fill(acc.begin(), acc.end(), 0.0);
      if (lse[r] != -std::numeric_limits<float>::infinity())
        for (int64_t j = 0; j < g.kvSeq; ++j) {
          double p = std::exp(op->score(b, h, i, j) - lse[r]);
          if (p == 0)
            continue;
          double ds = p * (dP(r, op->vRow(b, h, j)) - D[r]);
          const float *kr = op->kRow(b, h, j);
          for (int64_t d = 0; d < g.headSize; ++d)
            acc[d] += ds * kr[d];
        }
      for (int64_t d = 0; d < g.headSize; ++d)
        dq[r * g.headSize + d] = float(g.scale * acc[d]);
    }
    int64_t keys = g.batch * g.kvHeads * g.kvSeq;
#pragma omp for schedule(static)
    for (int64_t kr = 0; kr < keys; ++kr) {
      int64_t j = kr % g.kvSeq, hk = (kr / g.kvSeq) % g.kvHeads,
              b = kr / (g.kvSeq * g.kvHeads);
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(accV.begin(), accV.end(), 0.0);
      for (int64_t h = hk * g.group; h < (hk + 1) * g.group; ++h)
        for (int64_t i = 0; i < g.qSeq; ++i) {
          int64_t r = (b * g.qHeads + h) * g.qSeq + i;
          if (lse[r] == -std::numeric_limits<float>::infinity())
            continue;
          double p = std::exp(op->score(b, h, i, j) - lse[r]);
          if (p == 0)
            continue;
          double ds = p * (dP(r, op->vRow(b, h, j)) - D[r]);
          const float *qr = op->qRow(b, h, i);
          for (int64_t d = 0; d < g.headSize; ++d)
            acc[d] += ds * qr[d];
          for (int64_t d = 0; d < dvn; ++d)
            accV[d] += p * dy[r * dvn + d];
        }
      for (int64_t d = 0; d < g.headSize; ++d)
        dk[kr * g.headSize + d] = float(g.scale * acc[d]);
      for (int64_t d = 0; d < dvn; ++d)
        dv[kr * dvn + d] = float(accV[d]);
    }
  }
  return Status::ok();
}

} // namespace

void registerAttention(Registry &r) {
  r["rms_norm"] = rmsNorm;
  r["rms_norm_grad"] = rmsNormGrad;
  r["rotary_embedding"] = rotary;
  r["rotary_embedding_cache_grad"] = rotaryCacheGrad;
  r["attention"] = attention;
  r["attention_grad"] = attentionGrad;
}

} // namespace cpu
} // namespace pprt
