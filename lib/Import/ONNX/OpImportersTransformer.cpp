//===- OpImportersTransformer.cpp - RMSNormalization, RotaryEmbedding, Attention -===//
//
// The opset-23 transformer ops. Attention imports what LLaMA's and GPT's
// exports need (causal, grouped-query heads, 3-D and 4-D layouts, bool and
// float masks, scale); a KV cache, softcap, qk_matmul_output and
// nonpad_kv_seqlen are refused by name.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

#include <cstdio>

#include <cmath>
#include <limits>

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {
namespace {

/// "30", "0.125": an attribute as a user wrote it.
std::string shortFloat(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

Value reshape(NodeContext &ctx, Value v, ArrayRef<int64_t> shape) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getShape() == shape)
    return v;
  return pp::ReshapeOp::create(ctx.b, ctx.loc,
                               RankedTensorType::get(shape, t.getElementType()),
                               v);
}

/// Swaps axes 1 and 2 of a 4-D tensor (sequence and heads).
Value swapHeads(NodeContext &ctx, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  std::swap(shape[1], shape[2]);
  return pp::TransposeOp::create(
      ctx.b, ctx.loc, RankedTensorType::get(shape, t.getElementType()), v,
      ctx.b.getDenseI64ArrayAttr({0, 2, 1, 3}));
}

LogicalResult importRmsNorm(NodeContext &ctx) {
  RankedTensorType inType = ctx.inputType(0);
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.intAttr("axis", -1), inType.getRank());
  if (failed(axis))
    return failure();
  int64_t stash = ctx.intAttr("stash_type", TensorProto::FLOAT);
  if (stash != TensorProto::FLOAT)
    return ctx.emitError() << "stash_type " << stash
                           << " is not supported (1, float, is)";
  ArrayRef<int64_t> normalized = inType.getShape().drop_front(*axis);
  // Scale broadcasts (unidirectionally) to the normalised axes; the op
  // takes it in exactly their shape.
  ArrayRef<int64_t> s = ctx.inputShape(1);
  while (s.size() > normalized.size() && s.front() == 1)
    s = s.drop_front();
  bool fits = s.size() <= normalized.size();
  for (size_t i = 0; fits && i < s.size(); ++i) {
    int64_t n = normalized[normalized.size() - s.size() + i];
    fits = s[i] == n || s[i] == 1;
  }
  if (!fits)
    return ctx.emitError() << "scale does not broadcast to the normalised axes";
  if (ctx.elementType(1) != inType.getElementType())
    return ctx.emitError() << "scale must have X's element type";
  FailureOr<Value> x = ctx.input(0), scale = ctx.input(1);
  if (failed(x) || failed(scale))
    return failure();
  Value sc = reshape(ctx, *scale, s);
  auto normalizedType =
      RankedTensorType::get(normalized, inType.getElementType());
  if (ArrayRef<int64_t>(s) != normalized) {
    if (s.size() < normalized.size()) {
      SmallVector<int64_t> padded(normalized.size() - s.size(), 1);
      padded.append(s.begin(), s.end());
      sc = reshape(ctx, sc, padded);
    }
    sc = pp::BroadcastOp::create(ctx.b, ctx.loc, normalizedType, sc);
  }
  SmallVector<int64_t> stats(inType.getShape());
  for (size_t d = *axis; d < stats.size(); ++d)
    stats[d] = 1;
  auto op = pp::RmsNormOp::create(
      ctx.b, ctx.loc, inType,
      RankedTensorType::get(stats, inType.getElementType()), *x, sc,
      ctx.b.getI64IntegerAttr(*axis),
      ctx.b.getF64FloatAttr(ctx.floatAttr("epsilon", 1e-5)));
  ctx.setOutput(0, op.getResult());
  return success();
}

LogicalResult importRotaryEmbedding(NodeContext &ctx) {
  std::optional<ArrayRef<int64_t>> ids;
  if (ctx.hasInput(3))
    ids = ctx.inputShape(3);
  int64_t numHeads = ctx.intAttr("num_heads", 0),
          rotaryDim = ctx.intAttr("rotary_embedding_dim", 0);
  if (failed(pp::rotaryShape(ctx.inputShape(0), ctx.inputShape(1),
                             ctx.inputShape(2), ids, numHeads, rotaryDim,
                             ctx.errors())))
    return failure();
  Type f = ctx.elementType(0);
  if (ctx.elementType(1) != f || ctx.elementType(2) != f)
    return ctx.emitError() << "cos_cache and sin_cache must have X's type";
  SmallVector<Value> operands;
  for (unsigned i = 0; i < 4; ++i) {
    if (!ctx.hasInput(i))
      continue;
    FailureOr<Value> v = ctx.input(i);
    if (failed(v))
      return failure();
    operands.push_back(*v);
  }
  SmallVector<NamedAttribute> attrs{
      ctx.b.getNamedAttr("num_heads", ctx.b.getI64IntegerAttr(numHeads)),
      ctx.b.getNamedAttr("rotary_dim", ctx.b.getI64IntegerAttr(rotaryDim))};
  if (ctx.intAttr("interleaved", 0))
    attrs.push_back(ctx.b.getNamedAttr("interleaved", ctx.b.getUnitAttr()));
  ctx.setOutput(0, pp::RotaryEmbeddingOp::create(ctx.b, ctx.loc,
                                                 TypeRange{ctx.inputType(0)},
                                                 operands, attrs)
                       ->getResult(0));
  return success();
}

LogicalResult importAttention(NodeContext &ctx) {
  // What is refused, by name.
  if (ctx.hasInput(4) || ctx.hasInput(5))
    return ctx.emitError() << "past_key and past_value (a KV cache) are not "
                              "supported";
  if (ctx.hasInput(6))
    return ctx.emitError() << "nonpad_kv_seqlen is not supported";
  if (ctx.outputUsed(3))
    return ctx.emitError() << "the qk_matmul_output output is not supported";
  for (const char *window : {"left_window_size", "right_window_size"})
    if (ctx.intAttr(window, -1) != -1)
      return ctx.emitError() << window << " (sliding-window attention) is not "
                                          "supported";
  if (double softcap = ctx.floatAttr("softcap", 0); softcap != 0)
    return ctx.emitError() << "softcap " << shortFloat(softcap)
                           << " is not supported";
  if (ctx.attribute("softmax_precision")) {
    // The kernels compute the softmax in f32 (or better) whatever the
    // inputs' type: any float precision asked for is met or exceeded.
    int64_t p = ctx.intAttr("softmax_precision", TensorProto::FLOAT);
    if (p != TensorProto::FLOAT && p != TensorProto::DOUBLE &&
        p != TensorProto::FLOAT16 && p != TensorProto::BFLOAT16)
      return ctx.emitError() << "softmax_precision " << p
                             << " is not a float type";
  }
  RankedTensorType qt = ctx.inputType(0), kt = ctx.inputType(1),
                   vt = ctx.inputType(2);
  Type f = qt.getElementType();
  if (kt.getElementType() != f || vt.getElementType() != f)
    return ctx.emitError() << "Q, K and V must share one element type";
  int64_t rank = qt.getRank();
  if (kt.getRank() != rank || vt.getRank() != rank || (rank != 3 && rank != 4))
    return ctx.emitError() << "Q, K and V must all be 3-D or all 4-D";
  FailureOr<Value> q = ctx.input(0), k = ctx.input(1), v = ctx.input(2);
  if (failed(q) || failed(k) || failed(v))
    return failure();
  Value q4 = *q, k4 = *k, v4 = *v;
  int64_t qHeads = ctx.intAttr("q_num_heads", 0),
          kvHeads = ctx.intAttr("kv_num_heads", 0);
  if (rank == 3) {
    if (qHeads <= 0 || kvHeads <= 0)
      return ctx.emitError() << "3-D Q, K and V need q_num_heads and "
                                "kv_num_heads";
    auto heads = [&](Value x, RankedTensorType t, int64_t h,
                     StringRef name) -> FailureOr<Value> {
      if (t.getDimSize(2) % h != 0)
        return ctx.emitError() << name << "'s hidden size " << t.getDimSize(2)
                               << " is not a multiple of its " << h << " heads";
      Value r = reshape(
          ctx, x, {t.getDimSize(0), t.getDimSize(1), h, t.getDimSize(2) / h});
      return swapHeads(ctx, r);
    };
    FailureOr<Value> a = heads(*q, qt, qHeads, "Q"), b = heads(*k, kt, kvHeads, "K"),
                     c = heads(*v, vt, kvHeads, "V");
    if (failed(a) || failed(b) || failed(c))
      return failure();
    q4 = *a;
    k4 = *b;
    v4 = *c;
  } else if ((qHeads && qHeads != qt.getDimSize(1)) ||
             (kvHeads && kvHeads != kt.getDimSize(1))) {
    return ctx.emitError() << "q_num_heads and kv_num_heads differ from the "
                              "heads of the 4-D Q and K";
  }
  auto q4t = cast<RankedTensorType>(q4.getType()),
       k4t = cast<RankedTensorType>(k4.getType()),
       v4t = cast<RankedTensorType>(v4.getType());
  int64_t kvSeq = k4t.getDimSize(2);

  Value mask;
  if (ctx.hasInput(3)) {
    RankedTensorType mt = ctx.inputType(3);
    bool boolean = mt.getElementType().isInteger(1);
    if (!boolean && mt.getElementType() != f)
      return ctx.emitError() << "attn_mask must be bool or Q's element type";
    if (mt.getRank() < 1 || mt.getRank() > 4)
      return ctx.emitError() << "attn_mask must have 1 to 4 axes";
    FailureOr<Value> m = ctx.input(3);
    if (failed(m))
      return failure();
    mask = *m;
    int64_t last = mt.getShape().back();
    if (last > kvSeq)
      return ctx.emitError() << "attn_mask covers " << last
                             << " keys; there are " << kvSeq;
    if (last < kvSeq) {
      // ONNX pads a short mask's key axis: False, or -inf.
      SmallVector<int64_t> pads(2 * mt.getRank(), 0), shape(mt.getShape());
      pads.back() = kvSeq - last;
      shape.back() = kvSeq;
      double fill = boolean ? 0.0 : -std::numeric_limits<double>::infinity();
      mask = pp::PadOp::create(
          ctx.b, ctx.loc, RankedTensorType::get(shape, mt.getElementType()),
          mask, ctx.b.getDenseI64ArrayAttr(pads),
          pp::PadModeAttr::get(ctx.getContext(), pp::PadMode::Constant),
          ctx.b.getF64FloatAttr(fill));
    }
  }
  std::optional<ArrayRef<int64_t>> maskShape;
  if (mask)
    maskShape = cast<RankedTensorType>(mask.getType()).getShape();
  FailureOr<pp::AttentionShapes> shapes =
      pp::attentionShapes(q4t.getShape(), k4t.getShape(), v4t.getShape(),
                          maskShape, ctx.errors());
  if (failed(shapes))
    return failure();
  double scale = ctx.attribute("scale")
                     ? ctx.floatAttr("scale", 1)
                     : 1 / std::sqrt(double(q4t.getDimSize(3)));
  SmallVector<Value> operands{q4, k4, v4};
  if (mask)
    operands.push_back(mask);
  SmallVector<NamedAttribute> attrs{
      ctx.b.getNamedAttr("scale", ctx.b.getF64FloatAttr(scale))};
  if (ctx.intAttr("is_causal", 0))
    attrs.push_back(ctx.b.getNamedAttr("is_causal", ctx.b.getUnitAttr()));
  auto op = pp::AttentionOp::create(
      ctx.b, ctx.loc,
      TypeRange{RankedTensorType::get(shapes->result, f),
                RankedTensorType::get(shapes->lse, f)},
      operands, attrs);
  Value y = op.getResult();
  if (rank == 3) {
    auto yt = cast<RankedTensorType>(y.getType());
    y = reshape(ctx, swapHeads(ctx, y),
                {yt.getDimSize(0), yt.getDimSize(2),
                 yt.getDimSize(1) * yt.getDimSize(3)});
  }
  ctx.setOutput(0, y);
  // Without a past, the present key and value are K and V (4-D).
  if (ctx.numOutputs() > 1 && ctx.outputUsed(1))
    ctx.setOutput(1, k4);
  if (ctx.numOutputs() > 2 && ctx.outputUsed(2))
    ctx.setOutput(2, v4);
  return success();
}

} // namespace

void registerTransformerOps(OpRegistry &r) {
  r.add("RMSNormalization", importRmsNorm);
  r.add("RotaryEmbedding", importRotaryEmbedding);
  r.add("Attention", importAttention);
}

} // namespace ppc::onnximport
