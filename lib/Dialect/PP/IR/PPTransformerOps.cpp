//===- PPTransformerOps.cpp - rms_norm, rotary_embedding, attention -------===//
//
// Verifiers and costs of the ops in PPTransformerOps.td; the shape rules are
// ShapeInference.cpp's, shared with the importer.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/IR/ShapeInference.h"

#include <cmath>

using namespace mlir;
using namespace ppc::pp;

namespace {
RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }
Type elementOf(Value v) { return tensorType(v).getElementType(); }
int64_t numElements(Value v) { return tensorType(v).getNumElements(); }

LogicalResult checkType(Operation *op, StringRef what, Value v,
                        ArrayRef<int64_t> shape, Type element) {
  auto type = tensorType(v);
  if (type.getShape() != shape) {
    auto diag = op->emitOpError(what) << " shape ";
    diag << type << " does not match the expected shape [";
    llvm::interleave(shape, diag, "x");
    return diag << "]";
  }
  if (type.getElementType() != element)
    return op->emitOpError(what) << " element type " << type.getElementType()
                                 << " should be " << element;
  return success();
}

/// Query-key pairs the scores are computed for: all of them, or with a
/// causal mask those with key <= query.
int64_t attentionPairs(ArrayRef<int64_t> q, ArrayRef<int64_t> k, bool causal) {
  int64_t sq = q[2], skv = k[2], perHead = sq * skv;
  if (causal) {
    perHead = 0;
    for (int64_t i = 0; i < sq; ++i)
      perHead += std::min(i + 1, skv);
  }
  return q[0] * q[1] * perHead;
}
} // namespace

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

LogicalResult RmsNormOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0 || axis >= (int64_t)in.size())
    return emitOpError("axis ") << axis << " is out of range for rank "
                                << in.size();
  Type f = elementOf(getInput());
  if (failed(checkType(*this, "scale", getScale(), in.drop_front(axis), f)))
    return failure();
  if (getEpsilon().isNegative())
    return emitOpError("epsilon must not be negative");
  SmallVector<int64_t> stats(in);
  for (size_t d = axis; d < stats.size(); ++d)
    stats[d] = 1;
  if (failed(checkType(*this, "result", getResult(), in, f)))
    return failure();
  return checkType(*this, "inv_rms", getInvRms(), stats, f);
}
int64_t RmsNormOp::getFlops() { return 4 * numElements(getInput()); }
int64_t RmsNormGradOp::getFlops() { return 8 * numElements(getInput()); }

//===----------------------------------------------------------------------===//
// rotary_embedding
//===----------------------------------------------------------------------===//

LogicalResult RotaryEmbeddingOp::verify() {
  std::optional<ArrayRef<int64_t>> ids;
  if (getPositionIds())
    ids = shapeOf(getPositionIds());
  FailureOr<RotaryShape> g = rotaryShape(
      shapeOf(getInput()), shapeOf(getCos()), shapeOf(getSin()), ids,
      getNumHeadsAttr().getInt(), getRotaryDimAttr().getInt(),
      [&] { return emitOpError(); });
  if (failed(g))
    return failure();
  Type f = elementOf(getInput());
  if (elementOf(getCos()) != f || elementOf(getSin()) != f)
    return emitOpError("cos and sin must have the input's element type ") << f;
  return checkType(*this, "result", getResult(), shapeOf(getInput()), f);
}
// Four multiply-adds per rotated pair.
int64_t RotaryEmbeddingOp::getFlops() { return 3 * numElements(getInput()); }

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

static LogicalResult verifyMask(Operation *op, Value mask, Type f) {
  if (!mask)
    return success();
  Type m = elementOf(mask);
  if (m.isInteger(1) || m == f)
    return success();
  return op->emitOpError("mask must be i1 or the element type of q (")
         << f << "), got " << m;
}

LogicalResult AttentionOp::verify() {
  std::optional<ArrayRef<int64_t>> mask;
  if (getMask())
    mask = shapeOf(getMask());
  FailureOr<AttentionShapes> s =
      attentionShapes(shapeOf(getQ()), shapeOf(getK()), shapeOf(getV()), mask,
                      [&] { return emitOpError(); });
  if (failed(s))
    return failure();
  Type f = elementOf(getQ());
  if (elementOf(getK()) != f || elementOf(getV()) != f)
    return emitOpError("q, k and v must share one element type");
  if (failed(verifyMask(*this, getMask(), f)))
    return failure();
  if (!std::isfinite(getScale().convertToDouble()))
    return emitOpError("scale must be finite");
  if (failed(checkType(*this, "result", getResult(), s->result, f)))
    return failure();
  return checkType(*this, "lse", getLse(), s->lse, f);
}
// Per query-key pair: the score (2 head_size), softmax (about 5) and the
// weighted sum (2 v_head_size). The probabilities never reach memory, so
// the default bytes (operands and results once) hold.
int64_t AttentionOp::getFlops() {
  ArrayRef<int64_t> q = shapeOf(getQ()), k = shapeOf(getK()), v = shapeOf(getV());
  return attentionPairs(q, k, getIsCausal()) * (2 * q[3] + 2 * v[3] + 5);
}
// Scores and dP recomputed twice (once for dq, once for dk and dv), then
// the three products.
int64_t AttentionGradOp::getFlops() {
  ArrayRef<int64_t> q = shapeOf(getQ()), k = shapeOf(getK()), v = shapeOf(getV());
  int64_t d = q[3], dv = v[3];
  return attentionPairs(q, k, getIsCausal()) * (2 * (2 * d + 2 * dv + 4) +
                                                4 * d + 2 * dv);
}
