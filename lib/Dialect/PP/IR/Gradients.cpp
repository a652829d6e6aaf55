//===- Gradients.cpp - the gradient rule of every differentiable op -------===//
//
// GradientOpInterface::buildGradient, one function per op. A rule sees the
// gradients of its results (null: that result does not reach the loss) and
// fills the gradients of its operands. Broadcast operands get the gradient
// summed back to their own shape (sumToShape). Ops that need their own
// backward kernel build the ops of PPTrainingOps.td.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace ppc::pp;

namespace {
RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

template <typename OpTy>
Value make(OpBuilder &b, Location loc, Type type, ValueRange operands,
           ArrayRef<NamedAttribute> attrs = {}) {
  return OpTy::create(b, loc, TypeRange{type}, operands, attrs)->getResult(0);
}

NamedAttribute named(OpBuilder &b, StringRef name, Attribute a) {
  return b.getNamedAttr(name, a);
}

/// `grad` summed over the axes along which `target` was broadcast, in
/// `target`'s shape.
Value sumToShape(OpBuilder &b, Location loc, Value grad, RankedTensorType target) {
  auto gt = tensorType(grad);
  if (gt.getShape() == target.getShape())
    return grad;
  ArrayRef<int64_t> g = gt.getShape(), t = target.getShape();
  size_t lead = g.size() - t.size();
  SmallVector<int64_t> axes, kept;
  for (size_t i = 0; i < g.size(); ++i) {
    bool reduce = i < lead || (t[i - lead] == 1 && g[i] != 1);
    if (reduce)
      axes.push_back(i);
    kept.push_back(reduce ? 1 : g[i]);
  }
  Value sum = grad;
  if (!axes.empty())
    sum = make<ReduceSumOp>(
        b, loc, RankedTensorType::get(kept, gt.getElementType()), {grad},
        {named(b, "axes", b.getDenseI64ArrayAttr(axes)),
         named(b, "keepdims", b.getUnitAttr())});
  if (tensorType(sum).getShape() != target.getShape())
    sum = make<ReshapeOp>(b, loc, target, {sum});
  return sum;
}

/// The last two axes swapped.
Value swapLast(OpBuilder &b, Location loc, Value v) {
  auto t = tensorType(v);
  int64_t r = t.getRank();
  SmallVector<int64_t> perm, shape(t.getShape());
  for (int64_t i = 0; i < r; ++i)
    perm.push_back(i);
  std::swap(perm[r - 1], perm[r - 2]);
  std::swap(shape[r - 1], shape[r - 2]);
  return make<TransposeOp>(b, loc,
                           RankedTensorType::get(shape, t.getElementType()),
                           {v}, {named(b, "perm", b.getDenseI64ArrayAttr(perm))});
}

/// gemm(a, b) with the given transposes, as a matrix of `type`.
Value gemm(OpBuilder &b, Location loc, Type type, Value x, Value y, bool ta,
           bool tb, double alpha) {
  SmallVector<NamedAttribute> attrs{named(b, "alpha", b.getF64FloatAttr(alpha))};
  if (ta)
    attrs.push_back(named(b, "trans_a", b.getUnitAttr()));
  if (tb)
    attrs.push_back(named(b, "trans_b", b.getUnitAttr()));
  return make<GemmOp>(b, loc, type, {x, y}, attrs);
}

/// Elementwise binary op whose result has the type of `like`.
template <typename OpTy>
Value binary(OpBuilder &b, Location loc, Value like, Value x, Value y) {
  return make<OpTy>(b, loc, like.getType(), {x, y});
}

/// A float tensor of `type` filled with `value`, as a broadcast scalar (so
/// that no constant of the full size reaches the program).
Value filled(OpBuilder &b, Location loc, RankedTensorType type, double value) {
  Value scalar = splatConstant(
      b, loc, RankedTensorType::get({}, type.getElementType()), value);
  if (type.getRank() == 0)
    return scalar;
  return make<BroadcastOp>(b, loc, type, {scalar});
}

bool isFloat(Value v) { return isa<FloatType>(tensorType(v).getElementType()); }

/// Whether `v` is computed from a trainable parameter: a gradient rule that
/// has no gradient for an operand refuses it then, rather than dropping
/// the gradient. Model inputs are not trained.
bool dependsOnTrainable(Value v) {
  SmallVector<Value> work{v};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!work.empty()) {
    Operation *def = work.pop_back_val().getDefiningOp();
    if (!def || !seen.insert(def).second)
      continue;
    if (auto get = dyn_cast<GetParamOp>(def)) {
      auto param =
          SymbolTable::lookupNearestSymbolFrom<ParamOp>(def, get.getNameAttr());
      if (param && !param.getConstant() && isFloat(get.getResult()))
        return true;
      continue;
    }
    for (Value operand : def->getOperands())
      work.push_back(operand);
  }
  return false;
}
} // namespace

Value ppc::pp::splatConstant(OpBuilder &b, Location loc, RankedTensorType type,
                            double value) {
  return make<ConstantOp>(
      b, loc, type, {},
      {named(b, "value", DenseElementsAttr::get(
                             type, b.getFloatAttr(type.getElementType(), value)))});
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult AddOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  dx[0] = sumToShape(b, getLoc(), dy[0], tensorType(getLhs()));
  dx[1] = sumToShape(b, getLoc(), dy[0], tensorType(getRhs()));
  return success();
}

LogicalResult SubOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  dx[0] = sumToShape(b, getLoc(), dy[0], tensorType(getLhs()));
  Value neg = make<NegOp>(b, getLoc(), dy[0].getType(), {dy[0]});
  dx[1] = sumToShape(b, getLoc(), neg, tensorType(getRhs()));
  return success();
}

LogicalResult MulOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  dx[0] = sumToShape(b, loc, binary<MulOp>(b, loc, dy[0], dy[0], getRhs()),
                     tensorType(getLhs()));
  dx[1] = sumToShape(b, loc, binary<MulOp>(b, loc, dy[0], dy[0], getLhs()),
                     tensorType(getRhs()));
  return success();
}

LogicalResult DivOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  dx[0] = sumToShape(b, loc, binary<DivOp>(b, loc, dy[0], dy[0], getRhs()),
                     tensorType(getLhs()));
  // d(a / b)/db = -(a / b) / b = -y / b.
  Value t = binary<DivOp>(b, loc, dy[0], getResult(), getRhs());
  Value m = binary<MulOp>(b, loc, dy[0], dy[0], t);
  Value neg = make<NegOp>(b, loc, m.getType(), {m});
  dx[1] = sumToShape(b, loc, neg, tensorType(getRhs()));
  return success();
}

LogicalResult NegOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  dx[0] = make<NegOp>(b, getLoc(), dy[0].getType(), {dy[0]});
  return success();
}

LogicalResult ReluOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  dx[0] = make<ReluGradOp>(b, getLoc(), dy[0].getType(), {getInput(), dy[0]});
  return success();
}

LogicalResult TanhOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  dx[0] = make<TanhGradOp>(b, getLoc(), dy[0].getType(), {getResult(), dy[0]});
  return success();
}

LogicalResult SigmoidOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  dx[0] =
      make<SigmoidGradOp>(b, getLoc(), dy[0].getType(), {getResult(), dy[0]});
  return success();
}

LogicalResult GeluOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  SmallVector<NamedAttribute> attrs;
  if (getApproximate())
    attrs.push_back(named(b, "approximate", b.getUnitAttr()));
  dx[0] = make<GeluGradOp>(b, getLoc(), dy[0].getType(), {getInput(), dy[0]},
                           attrs);
  return success();
}

// Rotary embeddings' caches are cos and sin of trained frequencies.
LogicalResult SinOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value c = make<CosOp>(b, loc, getInput().getType(), {getInput()});
  dx[0] = binary<MulOp>(b, loc, dy[0], dy[0], c);
  return success();
}

LogicalResult CosOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value s = make<SinOp>(b, loc, getInput().getType(), {getInput()});
  Value m = binary<MulOp>(b, loc, dy[0], dy[0], s);
  dx[0] = make<NegOp>(b, loc, m.getType(), {m});
  return success();
}

// The rules below are PyTorch's (tools/autograd/derivatives.yaml), so that
// exported models train as torch does: sqrt: g / (2 y); exp: g y; log:
// g / x; reciprocal: -g y^2; erf: g 2/sqrt(pi) exp(-x^2); pow: g b a^(b-1)
// for the base, g y log(a) for a trained exponent.
LogicalResult SqrtOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value two = splatConstant(
      b, loc, RankedTensorType::get({}, tensorType(getResult()).getElementType()),
      2.0);
  Value twice = binary<MulOp>(b, loc, getResult(), getResult(), two);
  dx[0] = binary<DivOp>(b, loc, dy[0], dy[0], twice);
  return success();
}

LogicalResult ExpOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  dx[0] = binary<MulOp>(b, getLoc(), dy[0], dy[0], getResult());
  return success();
}

LogicalResult LogOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  dx[0] = binary<DivOp>(b, getLoc(), dy[0], dy[0], getInput());
  return success();
}

LogicalResult ReciprocalOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                          SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value square = binary<MulOp>(b, loc, getResult(), getResult(), getResult());
  Value m = binary<MulOp>(b, loc, dy[0], dy[0], square);
  dx[0] = make<NegOp>(b, loc, m.getType(), {m});
  return success();
}

LogicalResult ErfOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value x = getInput();
  auto scalar = RankedTensorType::get({}, tensorType(x).getElementType());
  Value square = binary<MulOp>(b, loc, x, x, x);
  Value negSquare = make<NegOp>(b, loc, x.getType(), {square});
  Value e = make<ExpOp>(b, loc, x.getType(), {negSquare});
  Value scaled = binary<MulOp>(b, loc, x, e,
                               splatConstant(b, loc, scalar, 1.1283791670955126));
  dx[0] = binary<MulOp>(b, loc, dy[0], dy[0], scaled);
  return success();
}

LogicalResult PowOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  if (!isFloat(getLhs()))
    return success();
  Location loc = getLoc();
  Type element = tensorType(getLhs()).getElementType();
  Value exponent = getRhs();
  if (tensorType(exponent).getElementType() != element)
    exponent = make<CastOp>(
        b, loc, RankedTensorType::get(tensorType(exponent).getShape(), element),
        {exponent});
  auto scalar = RankedTensorType::get({}, element);
  Value minusOne = binary<SubOp>(b, loc, exponent, exponent,
                                 splatConstant(b, loc, scalar, 1.0));
  Value p = binary<PowOp>(b, loc, getResult(), getLhs(), minusOne);
  Value t = binary<MulOp>(b, loc, getResult(), p, exponent);
  dx[0] = sumToShape(b, loc, binary<MulOp>(b, loc, dy[0], dy[0], t),
                     tensorType(getLhs()));
  if (isFloat(getRhs()) && dependsOnTrainable(getRhs())) {
    Value l = make<LogOp>(b, loc, getLhs().getType(), {getLhs()});
    Value yl = binary<MulOp>(b, loc, getResult(), getResult(), l);
    dx[1] = sumToShape(b, loc, binary<MulOp>(b, loc, dy[0], dy[0], yl),
                       tensorType(getRhs()));
  }
  return success();
}

LogicalResult HardSigmoidOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                           SmallVectorImpl<Value> &dx) {
  dx[0] = make<HardSigmoidGradOp>(b, getLoc(), dy[0].getType(),
                                  {getInput(), dy[0]},
                                  {named(b, "alpha", getAlphaAttr()),
                                   named(b, "beta", getBetaAttr())});
  return success();
}

LogicalResult HardSwishOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  dx[0] =
      make<HardSwishGradOp>(b, getLoc(), dy[0].getType(), {getInput(), dy[0]});
  return success();
}

/// a mod b = a - q b with q = trunc(a / b) (fmod) or floor(a / b): the
/// gradient is dy for a and -q dy for b, q recovered as (a - y) / b.
LogicalResult ModOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  if (!isFloat(getResult()))
    return success();
  Location loc = getLoc();
  dx[0] = sumToShape(b, loc, dy[0], tensorType(getLhs()));
  Value diff = binary<SubOp>(b, loc, dy[0], getLhs(), getResult());
  Value q = binary<DivOp>(b, loc, dy[0], diff, getRhs());
  Value m = binary<MulOp>(b, loc, dy[0], dy[0], q);
  Value neg = make<NegOp>(b, loc, m.getType(), {m});
  dx[1] = sumToShape(b, loc, neg, tensorType(getRhs()));
  return success();
}

LogicalResult WhereOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                     SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value zero = splatConstant(
      b, loc, RankedTensorType::get({}, tensorType(dy[0]).getElementType()), 0.0);
  Value cond = getOperand(0);
  Value onTrue = make<WhereOp>(b, loc, dy[0].getType(), {cond, dy[0], zero});
  Value onFalse = make<WhereOp>(b, loc, dy[0].getType(), {cond, zero, dy[0]});
  dx[1] = sumToShape(b, loc, onTrue, tensorType(getOperand(1)));
  dx[2] = sumToShape(b, loc, onFalse, tensorType(getOperand(2)));
  return success();
}

//===----------------------------------------------------------------------===//
// Matrix products
//===----------------------------------------------------------------------===//

LogicalResult MatMulOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                      SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  auto at = tensorType(getLhs()), bt = tensorType(getRhs());
  auto gt = tensorType(dy[0]);
  if (at.getRank() < 2 || bt.getRank() < 2)
    return emitOpError("gradient of a matmul with a 1-D operand is not "
                       "supported");
  if (!isa<FloatType>(gt.getElementType()))
    return emitOpError("gradient of an integer matmul");
  int64_t m = gt.getDimSize(gt.getRank() - 2), n = gt.getDimSize(gt.getRank() - 1);
  int64_t k = at.getDimSize(at.getRank() - 1);
  Type f = gt.getElementType();
  if (bt.getRank() == 2) {
    // A weight: one GEMM over all rows of every batch.
    int64_t rows = gt.getNumElements() / n;
    auto flat = [&](Value v, int64_t cols) {
      auto t = RankedTensorType::get({rows, cols}, f);
      return tensorType(v).getRank() == 2 ? v : make<ReshapeOp>(b, loc, t, {v});
    };
    Value g2 = flat(dy[0], n), a2 = flat(getLhs(), k);
    Value da = gemm(b, loc, RankedTensorType::get({rows, k}, f), g2, getRhs(),
                    false, true, 1.0);
    dx[0] = at.getRank() == 2 ? da : make<ReshapeOp>(b, loc, at, {da});
    dx[1] = gemm(b, loc, bt, a2, g2, true, false, 1.0);
    return success();
  }
  // Batched: dA = dY B^T, dB = A^T dY, summed over broadcast batch axes.
  SmallVector<int64_t> daShape(gt.getShape()), dbShape(gt.getShape());
  daShape.back() = k;
  dbShape[dbShape.size() - 2] = k;
  dbShape.back() = n;
  (void)m;
  Value da = make<MatMulOp>(b, loc, RankedTensorType::get(daShape, f),
                            {dy[0], swapLast(b, loc, getRhs())});
  Value db = make<MatMulOp>(b, loc, RankedTensorType::get(dbShape, f),
                            {swapLast(b, loc, getLhs()), dy[0]});
  dx[0] = sumToShape(b, loc, da, at);
  dx[1] = sumToShape(b, loc, db, bt);
  return success();
}

LogicalResult GemmOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  double alpha = getAlpha().convertToDouble(), beta = getBeta().convertToDouble();
  bool ta = getTransA(), tb = getTransB();
  Value g = dy[0], a = getA(), bm = getB();
  // op(A) = A or A^T; d op(A) = alpha g op(B)^T, d op(B) = alpha op(A)^T g.
  dx[0] = ta ? gemm(b, loc, a.getType(), bm, g, tb, true, alpha)
             : gemm(b, loc, a.getType(), g, bm, false, !tb, alpha);
  dx[1] = tb ? gemm(b, loc, bm.getType(), g, a, true, ta, alpha)
             : gemm(b, loc, bm.getType(), a, g, !ta, false, alpha);
  if (getC()) {
    Value scaled = g;
    if (beta != 1.0) {
      Value c = splatConstant(
          b, loc, RankedTensorType::get({}, tensorType(g).getElementType()), beta);
      scaled = binary<MulOp>(b, loc, g, g, c);
    }
    dx[2] = sumToShape(b, loc, scaled, tensorType(getC()));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

LogicalResult ConvOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  SmallVector<NamedAttribute> attrs{named(b, "strides", getStridesAttr()),
                                    named(b, "pads", getPadsAttr()),
                                    named(b, "dilations", getDilationsAttr()),
                                    named(b, "group", getGroupAttr())};
  dx[0] = make<ConvInputGradOp>(b, loc, getInput().getType(),
                                {dy[0], getFilter()}, attrs);
  dx[1] = make<ConvFilterGradOp>(b, loc, getFilter().getType(),
                                 {getInput(), dy[0]}, attrs);
  if (getBias()) {
    // The bias gradient: dy summed over every axis but the channels.
    auto gt = tensorType(dy[0]);
    SmallVector<int64_t> axes{0};
    for (int64_t d = 2; d < gt.getRank(); ++d)
      axes.push_back(d);
    dx[2] = make<ReduceSumOp>(b, loc, getBias().getType(), {dy[0]},
                              {named(b, "axes", b.getDenseI64ArrayAttr(axes))});
  }
  return success();
}

LogicalResult MaxPoolOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  SmallVector<NamedAttribute> attrs{
      named(b, "kernel_shape", getKernelShapeAttr()),
      named(b, "strides", getStridesAttr()), named(b, "pads", getPadsAttr()),
      named(b, "dilations", getDilationsAttr())};
  if (getCeilMode())
    attrs.push_back(named(b, "ceil_mode", b.getUnitAttr()));
  dx[0] = make<MaxPoolGradOp>(b, getLoc(), getInput().getType(),
                              {getInput(), dy[0]}, attrs);
  return success();
}

LogicalResult AvgPoolOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  SmallVector<NamedAttribute> attrs{
      named(b, "kernel_shape", getKernelShapeAttr()),
      named(b, "strides", getStridesAttr()), named(b, "pads", getPadsAttr())};
  if (getCeilMode())
    attrs.push_back(named(b, "ceil_mode", b.getUnitAttr()));
  if (getCountIncludePad())
    attrs.push_back(named(b, "count_include_pad", b.getUnitAttr()));
  dx[0] = make<AvgPoolGradOp>(b, getLoc(), getInput().getType(), {dy[0]}, attrs);
  return success();
}

//===----------------------------------------------------------------------===//
// Normalisation and softmax
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  if (!dy[0])
    return success();
  Location loc = getLoc();
  auto axis = named(b, "axis", getAxisAttr());
  dx[0] = make<LayerNormGradOp>(
      b, loc, getInput().getType(),
      {getInput(), getScale(), getMean(), getInvStdDev(), dy[0]}, {axis});
  auto pg = LayerNormParamGradOp::create(
      b, loc, TypeRange{getScale().getType(), getScale().getType()},
      ValueRange{getInput(), getMean(), getInvStdDev(), dy[0]},
      ArrayRef<NamedAttribute>{axis});
  dx[1] = pg->getResult(0);
  if (getBias())
    dx[2] = sumToShape(b, loc, pg->getResult(1), tensorType(getBias()));
  return success();
}

LogicalResult BatchNormTrainOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                              SmallVectorImpl<Value> &dx) {
  for (unsigned i = 1; i < dy.size(); ++i)
    if (dy[i])
      return emitOpError("the loss depends on the batch statistics or the "
                         "running statistics: only the normalised result "
                         "has a gradient rule");
  if (!dy[0])
    return success();
  Location loc = getLoc();
  dx[0] = make<BatchNormGradOp>(
      b, loc, getInput().getType(),
      {getInput(), getScale(), getMean(), getInvStdDev(), dy[0]});
  auto pg = BatchNormParamGradOp::create(
      b, loc, TypeRange{getScale().getType(), getBias().getType()},
      ValueRange{getInput(), getMean(), getInvStdDev(), dy[0]},
      ArrayRef<NamedAttribute>{});
  dx[1] = pg->getResult(0);
  dx[2] = pg->getResult(1);
  return success();
}

LogicalResult SoftmaxOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  dx[0] = make<SoftmaxGradOp>(b, getLoc(), dy[0].getType(), {getResult(), dy[0]},
                              {named(b, "axis", getAxisAttr())});
  return success();
}

LogicalResult LogSoftmaxOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                          SmallVectorImpl<Value> &dx) {
  dx[0] = make<SoftmaxGradOp>(b, getLoc(), dy[0].getType(), {getResult(), dy[0]},
                              {named(b, "axis", getAxisAttr()),
                               named(b, "log", b.getUnitAttr())});
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  dx[0] = make<ReshapeOp>(b, getLoc(), getInput().getType(), {dy[0]});
  return success();
}

LogicalResult TransposeOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  ArrayRef<int64_t> perm = getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = i;
  dx[0] = make<TransposeOp>(b, getLoc(), getInput().getType(), {dy[0]},
                            {named(b, "perm", b.getDenseI64ArrayAttr(inverse))});
  return success();
}

LogicalResult SliceOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                     SmallVectorImpl<Value> &dx) {
  dx[0] = make<SliceGradOp>(b, getLoc(), getInput().getType(), {dy[0]},
                            {named(b, "starts", getStartsAttr()),
                             named(b, "steps", getStepsAttr())});
  return success();
}

/// A constant pad's gradient crops what it added (and pads back with zeros
/// what it cropped): the pad with the amounts negated.
LogicalResult PadOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                   SmallVectorImpl<Value> &dx) {
  if (getMode() != PadMode::Constant)
    return emitOpError("gradient of an edge or reflect pad is not supported");
  SmallVector<int64_t> negated;
  for (int64_t p : getPads())
    negated.push_back(-p);
  dx[0] = make<PadOp>(b, getLoc(), getInput().getType(), {dy[0]},
                      {named(b, "pads", b.getDenseI64ArrayAttr(negated)),
                       named(b, "mode", getModeAttr())});
  return success();
}

LogicalResult ConcatOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                      SmallVectorImpl<Value> &dx) {
  auto gt = tensorType(dy[0]);
  int64_t axis = getAxis(), at = 0;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    auto it = tensorType(input);
    SmallVector<int64_t> starts(gt.getRank(), 0), ends(gt.getShape()),
        steps(gt.getRank(), 1);
    starts[axis] = at;
    ends[axis] = at + it.getDimSize(axis);
    at = ends[axis];
    dx[i] = make<SliceOp>(b, getLoc(), it, {dy[0]},
                          {named(b, "starts", b.getDenseI64ArrayAttr(starts)),
                           named(b, "ends", b.getDenseI64ArrayAttr(ends)),
                           named(b, "steps", b.getDenseI64ArrayAttr(steps))});
  }
  return success();
}

LogicalResult BroadcastOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  dx[0] = sumToShape(b, getLoc(), dy[0], tensorType(getInput()));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions: the gradient broadcast back over the reduced axes.
//===----------------------------------------------------------------------===//

namespace {
/// dy of a reduction over `axes` of `input`, broadcast back to its shape.
Value unreduce(OpBuilder &b, Location loc, Value dy, Value input,
               ArrayRef<int64_t> axes) {
  auto it = tensorType(input);
  SmallVector<int64_t> kept(it.getShape());
  for (int64_t a : axes)
    kept[a] = 1;
  auto keptType = RankedTensorType::get(kept, it.getElementType());
  Value g = dy;
  if (tensorType(g).getShape() != keptType.getShape())
    g = make<ReshapeOp>(b, loc, keptType, {g});
  if (keptType.getShape() != it.getShape())
    g = make<BroadcastOp>(b, loc, it, {g});
  return g;
}
} // namespace

LogicalResult ReduceSumOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  dx[0] = unreduce(b, getLoc(), dy[0], getInput(), getAxes());
  return success();
}

LogicalResult ReduceMeanOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                          SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  auto it = tensorType(getInput());
  int64_t count = 1;
  for (int64_t a : getAxes())
    count *= it.getDimSize(a);
  Value g = unreduce(b, loc, dy[0], getInput(), getAxes());
  // Divided, not multiplied by 1/count, as PyTorch does.
  Value n = splatConstant(b, loc, RankedTensorType::get({}, it.getElementType()),
                          double(count));
  dx[0] = binary<DivOp>(b, loc, g, g, n);
  return success();
}

LogicalResult GatherOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                      SmallVectorImpl<Value> &dx) {
  if (!isa<FloatType>(tensorType(getData()).getElementType()))
    return success();
  dx[0] = make<GatherGradOp>(b, getLoc(), getData().getType(),
                             {getIndices(), dy[0]},
                             {named(b, "axis", getAxisAttr())});
  return success();
}

LogicalResult GatherNDOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                        SmallVectorImpl<Value> &dx) {
  if (!isFloat(getData()))
    return success();
  Location loc = getLoc();
  // Every gathered slice added back where it came from.
  Value zeros = filled(b, loc, tensorType(getData()), 0.0);
  dx[0] = make<ScatterNDOp>(b, loc, getData().getType(),
                            {zeros, getIndices(), dy[0]},
                            {named(b, "reduction", b.getStringAttr("add")),
                             named(b, "batch_dims", getBatchDimsAttr())});
  return success();
}

LogicalResult GatherElementsOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                              SmallVectorImpl<Value> &dx) {
  if (!isFloat(getData()))
    return success();
  // Every gathered element added back where it came from, into zeros.
  dx[0] = make<GatherElementsGradOp>(b, getLoc(), getData().getType(),
                                     {getIndices(), dy[0]},
                                     {named(b, "axis", getAxisAttr())});
  return success();
}

/// none: the scattered places take nothing from data, and each update its
/// place's gradient; add: data's gradient passes, updates gather theirs;
/// mul: data's gradient times the product of its place's updates, and an
/// update's its place's gradient times data (exact where the index tuples
/// are distinct: with repeated tuples it leaves out the other updates'
/// factors).
LogicalResult ScatterNDOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  if (!isFloat(getData()))
    return success();
  Location loc = getLoc();
  StringRef r = getReduction();
  auto batch = named(b, "batch_dims", getBatchDimsAttr());
  auto gather = [&](Value from) {
    return make<GatherNDOp>(b, loc, getUpdates().getType(),
                            {from, getIndices()}, {batch});
  };
  if (r == "none") {
    Value zeros = filled(b, loc, tensorType(getUpdates()), 0.0);
    dx[0] = make<ScatterNDOp>(b, loc, getData().getType(),
                              {dy[0], getIndices(), zeros},
                              {named(b, "reduction", b.getStringAttr("none")),
                               batch});
    dx[2] = gather(dy[0]);
    return success();
  }
  if (r == "add") {
    dx[0] = dy[0];
    dx[2] = gather(dy[0]);
    return success();
  }
  if (r == "mul") {
    Value ones = filled(b, loc, tensorType(getData()), 1.0);
    Value factors = make<ScatterNDOp>(
        b, loc, getData().getType(), {ones, getIndices(), getUpdates()},
        {named(b, "reduction", b.getStringAttr("mul")), batch});
    dx[0] = binary<MulOp>(b, loc, dy[0], dy[0], factors);
    dx[2] = gather(binary<MulOp>(b, loc, dy[0], dy[0], getData()));
    return success();
  }
  return emitOpError("gradient of a scatter_nd with reduction '")
         << r << "' is not supported (none, add and mul are)";
}

LogicalResult CumSumOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                      SmallVectorImpl<Value> &dx) {
  if (!isFloat(getInput()))
    return success();
  // Each output sums a run of inputs; an input's gradient sums the outputs'
  // gradients whose runs hold it: the scan the other way.
  SmallVector<NamedAttribute> attrs{named(b, "axis", getAxisAttr())};
  if (getExclusive())
    attrs.push_back(named(b, "exclusive", b.getUnitAttr()));
  if (!getReverse())
    attrs.push_back(named(b, "reverse", b.getUnitAttr()));
  dx[0] = make<CumSumOp>(b, getLoc(), dy[0].getType(), {dy[0]}, attrs);
  return success();
}

/// y[i] = start + i delta: start's gradient is the sum of dy, delta's the
/// sum of i dy; limit only sets the (static) length.
LogicalResult RangeOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                     SmallVectorImpl<Value> &dx) {
  if (!isFloat(getResult()))
    return success();
  Location loc = getLoc();
  auto t = tensorType(getResult());
  auto scalar = RankedTensorType::get({}, t.getElementType());
  auto sum = [&](Value v, Value like) {
    Value s = make<ReduceSumOp>(b, loc, scalar, {v},
                                {named(b, "axes", b.getDenseI64ArrayAttr({0}))});
    return like.getType() == scalar ? s
                                    : make<ReshapeOp>(b, loc, like.getType(), {s});
  };
  dx[0] = sum(dy[0], getStart());
  Value iota = make<RangeOp>(
      b, loc, t,
      {splatConstant(b, loc, scalar, 0.0),
       splatConstant(b, loc, scalar, double(t.getDimSize(0))),
       splatConstant(b, loc, scalar, 1.0)});
  dx[2] = sum(binary<MulOp>(b, loc, dy[0], dy[0], iota), getDelta());
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

LogicalResult RmsNormOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  if (dy[1])
    return emitOpError("the loss depends on inv_rms: only the normalised "
                       "result has a gradient rule");
  if (!dy[0])
    return success();
  Location loc = getLoc();
  auto axis = named(b, "axis", getAxisAttr());
  dx[0] = make<RmsNormGradOp>(b, loc, getInput().getType(),
                              {getInput(), getScale(), getInvRms(), dy[0]},
                              {axis});
  // The scale's gradient is layer normalisation's with a zero mean.
  Value zeroMean = filled(b, loc, tensorType(getInvRms()), 0.0);
  auto pg = LayerNormParamGradOp::create(
      b, loc, TypeRange{getScale().getType(), getScale().getType()},
      ValueRange{getInput(), zeroMean, getInvRms(), dy[0]},
      ArrayRef<NamedAttribute>{axis});
  dx[1] = pg->getResult(0);
  return success();
}

/// The rotation's transpose is the rotation by the opposite angle: the
/// same op with the sines negated. The caches (computed from a float
/// initializer, which ppc trains, in the exports of LLaMA-like models) get
/// theirs per token, scattered to their rows by position.
LogicalResult RotaryEmbeddingOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                               SmallVectorImpl<Value> &dx) {
  Location loc = getLoc();
  Value negSin = make<NegOp>(b, loc, getSin().getType(), {getSin()});
  SmallVector<Value> operands{dy[0], getCos(), negSin};
  if (getPositionIds())
    operands.push_back(getPositionIds());
  SmallVector<NamedAttribute> attrs{named(b, "num_heads", getNumHeadsAttr()),
                                    named(b, "rotary_dim", getRotaryDimAttr())};
  if (getInterleaved())
    attrs.push_back(named(b, "interleaved", b.getUnitAttr()));
  dx[0] = make<RotaryEmbeddingOp>(b, loc, getInput().getType(), operands, attrs);
  if (!dependsOnTrainable(getCos()) && !dependsOnTrainable(getSin()))
    return success();
  auto cache = tensorType(getCos());
  RankedTensorType perToken = cache;
  if (getPositionIds()) {
    SmallVector<int64_t> shape(tensorType(getPositionIds()).getShape());
    shape.push_back(cache.getDimSize(1));
    perToken = RankedTensorType::get(shape, cache.getElementType());
  }
  auto grads = RotaryEmbeddingCacheGradOp::create(
      b, loc, TypeRange{perToken, perToken}, ValueRange{getInput(), dy[0]},
      attrs);
  for (unsigned i = 0; i < 2; ++i) {
    Value g = grads->getResult(i);
    if (getPositionIds())
      g = make<GatherGradOp>(b, loc, cache, {getPositionIds(), g},
                             {named(b, "axis", b.getI64IntegerAttr(0))});
    dx[1 + i] = g;
  }
  return success();
}

LogicalResult AttentionOp::buildGradient(OpBuilder &b, ArrayRef<Value> dy,
                                         SmallVectorImpl<Value> &dx) {
  if (dy[1])
    return emitOpError("the loss depends on the log-sum-exp: only the "
                       "attention result has a gradient rule");
  if (!dy[0])
    return success();
  if (getMask() && isFloat(getMask()) && dependsOnTrainable(getMask()))
    return emitOpError("the mask depends on a trainable parameter: its "
                       "gradient is not supported");
  SmallVector<Value> operands{getQ(), getK(), getV(), getResult(), getLse(),
                              dy[0]};
  if (getMask())
    operands.push_back(getMask());
  SmallVector<NamedAttribute> attrs{named(b, "scale", getScaleAttr())};
  if (getIsCausal())
    attrs.push_back(named(b, "is_causal", b.getUnitAttr()));
  auto grad = AttentionGradOp::create(
      b, getLoc(),
      TypeRange{getQ().getType(), getK().getType(), getV().getType()},
      operands, attrs);
  dx[0] = grad.getDq();
  dx[1] = grad.getDk();
  dx[2] = grad.getDv();
  return success();
}

//===----------------------------------------------------------------------===//
// Losses: the root of the backward; their result gradient is 1.
//===----------------------------------------------------------------------===//

LogicalResult CrossEntropyOp::buildGradient(OpBuilder &b, ArrayRef<Value>,
                                            SmallVectorImpl<Value> &dx) {
  dx[0] = make<CrossEntropyGradOp>(b, getLoc(), getLogits().getType(),
                                   {getLogits(), getLabels()},
                                   {named(b, "scale", getScaleAttr())});
  return success();
}

LogicalResult MseLossOp::buildGradient(OpBuilder &b, ArrayRef<Value>,
                                       SmallVectorImpl<Value> &dx) {
  dx[0] = make<MseLossGradOp>(b, getLoc(), getPrediction().getType(),
                              {getPrediction(), getTarget()},
                              {named(b, "scale", getScaleAttr())});
  return success();
}
