//===- OpImportersElementwise.cpp - unary, binary, where, cast, clip ------===//

#include "HostEval.h"
#include "NodeContext.h"

#include <cmath>

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {
namespace {

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

using FloatFn = double (*)(double);

double relu(double x) { return x > 0 ? x : 0; }
double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
double reciprocal(double x) { return 1 / x; }
double sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }
double softplus(double x) { return std::log1p(std::exp(x)); }
double neg(double x) { return -x; }
double roundEven(double x) { return std::nearbyint(x); }
double fabsD(double x) { return std::fabs(x); }
// Wrappers, so that template arguments name one function each.
double tanhD(double x) { return std::tanh(x); }
double erfD(double x) { return std::erf(x); }
double sqrtD(double x) { return std::sqrt(x); }
double expD(double x) { return std::exp(x); }
double logD(double x) { return std::log(x); }
double floorD(double x) { return std::floor(x); }
double ceilD(double x) { return std::ceil(x); }
double sinD(double x) { return std::sin(x); }
double cosD(double x) { return std::cos(x); }

/// Folds a unary op whose input is a known constant. Integer inputs are
/// folded only by ops that keep them integral.
bool foldUnary(NodeContext &ctx, FloatFn fn) {
  if (!ctx.allFoldable())
    return false;
  const HostTensor *x = ctx.constant(0);
  HostTensor out(x->onnxType(), x->shape());
  for (int64_t i = 0, e = x->numElements(); i < e; ++i) {
    if (x->isFloat())
      out.setFloat(i, fn(x->getFloat(i)));
    else
      out.setInt(i, (int64_t)fn((double)x->getInt(i)));
  }
  ctx.setConstant(0, std::move(out));
  return true;
}

template <typename OpT, FloatFn Fold = nullptr>
LogicalResult importUnary(NodeContext &ctx) {
  if constexpr (Fold != nullptr)
    if (foldUnary(ctx, Fold))
      return success();
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  ctx.setOutput(0, OpT::create(ctx.b, ctx.loc, x->getType(), *x));
  return success();
}

LogicalResult importNot(NodeContext &ctx) {
  if (ctx.allFoldable()) {
    const HostTensor *x = ctx.constant(0);
    HostTensor out(x->onnxType(), x->shape());
    for (int64_t i = 0, e = x->numElements(); i < e; ++i)
      out.setInt(i, !x->getInt(i));
    ctx.setConstant(0, std::move(out));
    return success();
  }
  return importUnary<pp::NotOp>(ctx);
}

LogicalResult importIdentity(NodeContext &ctx) {
  // Identity, and Dropout at inference: the output is the input.
  if (ctx.outputUsed(1))
    return ctx.emitError() << "the mask output is not supported (ppc imports "
                              "Dropout for inference)";
  if (ctx.node.op_type() == "Dropout" && ctx.hasInput(2)) {
    // In training mode Dropout is still the identity with ratio 0, which
    // is what torch's TorchScript exporter writes for an nn.Dropout(0) in
    // a model exported with training=TrainingMode.TRAINING.
    const HostTensor *training = ctx.constant(2);
    const HostTensor *ratio = ctx.hasInput(1) ? ctx.constant(1) : nullptr;
    bool ratioZero = ratio && ratio->numElements() == 1 &&
                     ratio->getFloat(0) == 0.0;
    if (!training || (training->getInt(0) != 0 && !ratioZero))
      return ctx.emitError() << "training_mode must be a constant false, or "
                                "ratio a constant 0: ppc imports Dropout for "
                                "inference";
  }
  if (ctx.allFoldable()) {
    ctx.setConstant(0, *ctx.constant(0));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  ctx.setOutput(0, *x);
  return success();
}

LogicalResult importLeakyRelu(NodeContext &ctx) {
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  ctx.setOutput(0, pp::LeakyReluOp::create(
                       ctx.b, ctx.loc, x->getType(), *x,
                       ctx.b.getF64FloatAttr(ctx.floatAttr("alpha", 0.01))));
  return success();
}

/// Gelu (opset 20): pp.gelu, exact or with the tanh approximation.
LogicalResult importGelu(NodeContext &ctx) {
  std::string approximate = ctx.stringAttr("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return ctx.emitError() << "approximate '" << approximate
                           << "' is not valid (none or tanh)";
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  ctx.setOutput(0, pp::GeluOp::create(ctx.b, ctx.loc, x->getType(), *x,
                                      approximate == "tanh"
                                          ? ctx.b.getUnitAttr()
                                          : UnitAttr()));
  return success();
}

LogicalResult importClip(NodeContext &ctx) {
  std::optional<double> lo, hi;
  if (ctx.opset < 11) {
    if (ctx.attribute("min"))
      lo = ctx.floatAttr("min", 0);
    if (ctx.attribute("max"))
      hi = ctx.floatAttr("max", 0);
  } else {
    for (unsigned i : {1u, 2u}) {
      if (!ctx.hasInput(i))
        continue;
      FailureOr<const HostTensor *> bound =
          ctx.requireScalar(i, i == 1 ? "the min bound" : "the max bound");
      if (failed(bound))
        return failure();
      (i == 1 ? lo : hi) = (*bound)->getFloat(0);
    }
  }
  if (lo && hi && *lo > *hi) {
    // ONNX: every element becomes max when min > max.
    lo = *hi;
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  FloatAttr loAttr = lo ? ctx.b.getF64FloatAttr(*lo) : FloatAttr();
  FloatAttr hiAttr = hi ? ctx.b.getF64FloatAttr(*hi) : FloatAttr();
  ctx.setOutput(0, pp::ClipOp::create(ctx.b, ctx.loc, x->getType(), *x,
                                      loAttr, hiAttr));
  return success();
}

//===----------------------------------------------------------------------===//
// Binary and variadic
//===----------------------------------------------------------------------===//

enum class Kind { Arith, Compare, Logic };

using BinaryFold = double (*)(double, double);
using IntFold = int64_t (*)(int64_t, int64_t);

double addF(double a, double b) { return a + b; }
double subF(double a, double b) { return a - b; }
double mulF(double a, double b) { return a * b; }
double divF(double a, double b) { return a / b; }
double maxF(double a, double b) { return std::isnan(a) || a > b ? a : b; }
double minF(double a, double b) { return std::isnan(a) || a < b ? a : b; }
double powF(double a, double b) { return std::pow(a, b); }
double eqF(double a, double b) { return a == b; }
double ltF(double a, double b) { return a < b; }
double leF(double a, double b) { return a <= b; }
double gtF(double a, double b) { return a > b; }
double geF(double a, double b) { return a >= b; }
int64_t addI(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
int64_t subI(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
int64_t mulI(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
int64_t divI(int64_t a, int64_t b) { return b == 0 ? 0 : a / b; }
int64_t maxI(int64_t a, int64_t b) { return std::max(a, b); }
int64_t minI(int64_t a, int64_t b) { return std::min(a, b); }
int64_t powI(int64_t a, int64_t b) { return (int64_t)std::pow((double)a, (double)b); }
int64_t eqI(int64_t a, int64_t b) { return a == b; }
int64_t ltI(int64_t a, int64_t b) { return a < b; }
int64_t leI(int64_t a, int64_t b) { return a <= b; }
int64_t gtI(int64_t a, int64_t b) { return a > b; }
int64_t geI(int64_t a, int64_t b) { return a >= b; }
int64_t andI(int64_t a, int64_t b) { return a && b; }
int64_t orI(int64_t a, int64_t b) { return a || b; }
int64_t xorI(int64_t a, int64_t b) { return (a != 0) != (b != 0); }

/// Result type of a binary op on `lhs` and `rhs` (broadcast shape).
FailureOr<RankedTensorType> binaryType(NodeContext &ctx, Kind kind,
                                       RankedTensorType lhs,
                                       RankedTensorType rhs) {
  FailureOr<pp::Shape> shape =
      pp::broadcastShapes({lhs.getShape(), rhs.getShape()}, ctx.errors());
  if (failed(shape))
    return failure();
  Type element = kind == Kind::Arith ? lhs.getElementType()
                                     : IntegerType::get(ctx.getContext(), 1);
  return ctx.tensorType(*shape, element);
}

HostTensor foldBinary(const HostTensor &a, const HostTensor &b,
                      ArrayRef<int64_t> shape, int32_t resultType,
                      BinaryFold f, IntFold fi) {
  bool floatMath = a.isFloat() || b.isFloat();
  return mapBroadcast({&a, &b}, shape, resultType,
                      [&](HostTensor &out, int64_t i, ArrayRef<int64_t> idx) {
                        if (floatMath || !fi)
                          out.setFloat(i, f(a.getFloat(idx[0]),
                                            b.getFloat(idx[1])));
                        else
                          out.setInt(i, fi(a.getInt(idx[0]), b.getInt(idx[1])));
                      });
}

template <typename OpT, Kind K, BinaryFold F, IntFold FI>
LogicalResult importBinary(NodeContext &ctx) {
  if (ctx.numInputs() < 2)
    return ctx.emitError() << "needs two inputs";
  FailureOr<RankedTensorType> type =
      binaryType(ctx, K, ctx.inputType(0), ctx.inputType(1));
  if (failed(type))
    return failure();
  if (ctx.allFoldable() && (F || FI)) {
    ctx.setConstant(0, foldBinary(*ctx.constant(0), *ctx.constant(1),
                                  type->getShape(),
                                  onnxTypeFor(type->getElementType()), F, FI));
    return success();
  }
  FailureOr<Value> lhs = ctx.input(0), rhs = ctx.input(1);
  if (failed(lhs) || failed(rhs))
    return failure();
  ctx.setOutput(0, OpT::create(ctx.b, ctx.loc, *type, *lhs, *rhs));
  return success();
}

/// Max, Min, Sum and Mean take any number of inputs: a chain of binary ops
/// (Mean divides the sum by the count).
template <typename OpT, BinaryFold F, IntFold FI, bool Mean = false>
LogicalResult importVariadic(NodeContext &ctx) {
  if (ctx.numInputs() == 0)
    return ctx.emitError() << "needs at least one input";
  if (ctx.allFoldable()) {
    HostTensor acc = *ctx.constant(0);
    for (unsigned i = 1; i < ctx.numInputs(); ++i) {
      const HostTensor &next = *ctx.constant(i);
      FailureOr<pp::Shape> shape =
          pp::broadcastShapes({acc.shape(), next.shape()}, ctx.errors());
      if (failed(shape))
        return failure();
      acc = foldBinary(acc, next, *shape, acc.onnxType(), F, FI);
    }
    if (Mean) {
      HostTensor count(acc.onnxType(), {});
      count.setFloat(0, ctx.numInputs());
      acc = foldBinary(acc, count, acc.shape(), acc.onnxType(), divF, divI);
    }
    ctx.setConstant(0, std::move(acc));
    return success();
  }
  FailureOr<Value> acc = ctx.input(0);
  if (failed(acc))
    return failure();
  for (unsigned i = 1; i < ctx.numInputs(); ++i) {
    FailureOr<Value> next = ctx.input(i);
    if (failed(next))
      return failure();
    FailureOr<RankedTensorType> type =
        binaryType(ctx, Kind::Arith, cast<RankedTensorType>(acc->getType()),
                   cast<RankedTensorType>(next->getType()));
    if (failed(type))
      return failure();
    acc = OpT::create(ctx.b, ctx.loc, *type, *acc, *next).getResult();
  }
  if (Mean) {
    auto type = cast<RankedTensorType>(acc->getType());
    auto scalar = RankedTensorType::get({}, type.getElementType());
    Value count = pp::ConstantOp::create(
        ctx.b, ctx.loc, scalar,
        DenseElementsAttr::get(
            scalar, FloatAttr::get(type.getElementType(), ctx.numInputs())));
    acc = pp::DivOp::create(ctx.b, ctx.loc, type, *acc, count).getResult();
  }
  ctx.setOutput(0, *acc);
  return success();
}

LogicalResult importWhere(NodeContext &ctx) {
  FailureOr<pp::Shape> shape = pp::broadcastShapes(
      {ctx.inputShape(0), ctx.inputShape(1), ctx.inputShape(2)}, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(1));
  if (failed(type))
    return failure();
  if (ctx.allFoldable()) {
    const HostTensor *c = ctx.constant(0), *x = ctx.constant(1),
                     *y = ctx.constant(2);
    ctx.setConstant(0, mapBroadcast({c, x, y}, *shape, x->onnxType(),
                                    [&](HostTensor &out, int64_t i,
                                        ArrayRef<int64_t> idx) {
                                      const HostTensor *src =
                                          c->getInt(idx[0]) ? x : y;
                                      int64_t j = c->getInt(idx[0]) ? idx[1]
                                                                    : idx[2];
                                      if (src->isFloat())
                                        out.setFloat(i, src->getFloat(j));
                                      else
                                        out.setInt(i, src->getInt(j));
                                    }));
    return success();
  }
  FailureOr<Value> c = ctx.input(0), x = ctx.input(1), y = ctx.input(2);
  if (failed(c) || failed(x) || failed(y))
    return failure();
  ctx.setOutput(0, pp::WhereOp::create(ctx.b, ctx.loc, *type, *c, *x, *y));
  return success();
}

/// Output 0 is input 0 cast to `element` (itself when it has that type).
LogicalResult castInputTo(NodeContext &ctx, Type element) {
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  auto type = RankedTensorType::get(ctx.inputShape(0), element);
  if (type == x->getType()) {
    ctx.setOutput(0, *x);
    return success();
  }
  ctx.setOutput(0, pp::CastOp::create(ctx.b, ctx.loc, type, *x));
  return success();
}

/// Cast. Opset 19's `saturate` applies to float8 targets only, which ppc
/// does not have (nor int4, uint4 or float4e2m1 of 21 and 23): those are
/// refused by name.
LogicalResult importCast(NodeContext &ctx) {
  int32_t to = (int32_t)ctx.intAttr("to", 0);
  Type element = elementTypeFor(ctx.getContext(), to);
  if (!element)
    return ctx.emitError() << "cast to " << onnxTypeName(to)
                           << " is not supported";
  if (ctx.allFoldable()) {
    ctx.setConstant(0, ctx.constant(0)->castTo(to));
    return success();
  }
  return castInputTo(ctx, element);
}

/// CastLike (opset 15; `saturate` at 19 as Cast's): a Cast to input 1's
/// element type. Input 1 gives only its type: it is never materialized, and
/// input 0 folds whether or not input 1 is known.
LogicalResult importCastLike(NodeContext &ctx) {
  if (!ctx.hasInput(1))
    return ctx.emitError() << "needs the target_type input";
  Type element = ctx.elementType(1);
  if (ctx.foldable(0)) {
    ctx.setConstant(0, ctx.constant(0)->castTo(onnxTypeFor(element)));
    return success();
  }
  return castInputTo(ctx, element);
}

/// IsNaN and IsInf, written as comparisons that are exact in IEEE
/// arithmetic: a NaN is the one value unequal to itself, and an infinity
/// the one equal to a constant of that infinity. Constants fold.
LogicalResult importIsNaNOrInf(NodeContext &ctx) {
  bool isNaN = ctx.node.op_type() == "IsNaN";
  bool positive = isNaN || ctx.intAttr("detect_positive", 1) != 0,
       negative = isNaN || ctx.intAttr("detect_negative", 1) != 0;
  RankedTensorType inType = ctx.inputType(0);
  if (!isa<FloatType>(inType.getElementType()))
    return ctx.emitError() << "input must be a floating-point tensor";
  auto boolType = RankedTensorType::get(inType.getShape(),
                                        IntegerType::get(ctx.getContext(), 1));
  if (ctx.allFoldable()) {
    const HostTensor *x = ctx.constant(0);
    HostTensor out(TensorProto::BOOL, x->shape());
    for (int64_t i = 0, e = x->numElements(); i < e; ++i) {
      double v = x->getFloat(i);
      out.setInt(i, isNaN ? std::isnan(v)
                          : std::isinf(v) && (v > 0 ? positive : negative));
    }
    ctx.setConstant(0, std::move(out));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  if (isNaN) {
    Value same = pp::EqualOp::create(ctx.b, ctx.loc, boolType, *x, *x);
    ctx.setOutput(0, pp::NotOp::create(ctx.b, ctx.loc, boolType, same));
    return success();
  }
  Type element = inType.getElementType();
  auto scalar = RankedTensorType::get({}, element);
  auto equalsInf = [&](bool negativeInf) -> Value {
    APFloat inf = APFloat::getInf(cast<FloatType>(element).getFloatSemantics(),
                                  negativeInf);
    Value c = pp::ConstantOp::create(
        ctx.b, ctx.loc, scalar,
        DenseElementsAttr::get(scalar, FloatAttr::get(element, inf)));
    return pp::EqualOp::create(ctx.b, ctx.loc, boolType, *x, c);
  };
  Value result;
  if (positive && negative)
    result = pp::OrOp::create(ctx.b, ctx.loc, boolType, equalsInf(false),
                              equalsInf(true));
  else if (positive || negative)
    result = equalsInf(negative);
  else // neither: false everywhere
    result = pp::ConstantOp::create(
        ctx.b, ctx.loc, boolType,
        DenseElementsAttr::get(boolType, false));
  ctx.setOutput(0, result);
  return success();
}

} // namespace

void registerElementwiseOps(OpRegistry &r) {
  r.add("Relu", importUnary<pp::ReluOp, relu>);
  r.add("Sigmoid", importUnary<pp::SigmoidOp, sigmoid>);
  r.add("Tanh", importUnary<pp::TanhOp, tanhD>);
  r.add("Erf", importUnary<pp::ErfOp, erfD>);
  r.add("Sqrt", importUnary<pp::SqrtOp, sqrtD>);
  r.add("Exp", importUnary<pp::ExpOp, expD>);
  r.add("Log", importUnary<pp::LogOp, logD>);
  r.add("Reciprocal", importUnary<pp::ReciprocalOp, reciprocal>);
  r.add("Floor", importUnary<pp::FloorOp, floorD>);
  r.add("Ceil", importUnary<pp::CeilOp, ceilD>);
  r.add("Round", importUnary<pp::RoundOp, roundEven>);
  r.add("Sin", importUnary<pp::SinOp, sinD>);
  r.add("Cos", importUnary<pp::CosOp, cosD>);
  r.add("Softplus", importUnary<pp::SoftplusOp, softplus>);
  r.add("Neg", importUnary<pp::NegOp, neg>);
  r.add("Abs", importUnary<pp::AbsOp, fabsD>);
  r.add("Sign", importUnary<pp::SignOp, sign>);
  r.add("Not", importNot);
  r.add("Identity", importIdentity);
  r.add("Dropout", importIdentity);
  r.add("LeakyRelu", importLeakyRelu);
  r.add("Gelu", importGelu);
  r.add("Clip", importClip);
  r.add("Add", importBinary<pp::AddOp, Kind::Arith, addF, addI>);
  r.add("Sub", importBinary<pp::SubOp, Kind::Arith, subF, subI>);
  r.add("Mul", importBinary<pp::MulOp, Kind::Arith, mulF, mulI>);
  r.add("Div", importBinary<pp::DivOp, Kind::Arith, divF, divI>);
  r.add("Pow", importBinary<pp::PowOp, Kind::Arith, powF, powI>);
  r.add("Equal", importBinary<pp::EqualOp, Kind::Compare, eqF, eqI>);
  r.add("Less", importBinary<pp::LessOp, Kind::Compare, ltF, ltI>);
  r.add("LessOrEqual", importBinary<pp::LessEqualOp, Kind::Compare, leF, leI>);
  r.add("Greater", importBinary<pp::GreaterOp, Kind::Compare, gtF, gtI>);
  r.add("GreaterOrEqual",
        importBinary<pp::GreaterEqualOp, Kind::Compare, geF, geI>);
  r.add("And", importBinary<pp::AndOp, Kind::Logic, nullptr, andI>);
  r.add("Or", importBinary<pp::OrOp, Kind::Logic, nullptr, orI>);
  r.add("Xor", importBinary<pp::XorOp, Kind::Logic, nullptr, xorI>);
  r.add("Max", importVariadic<pp::MaxOp, maxF, maxI>);
  r.add("Min", importVariadic<pp::MinOp, minF, minI>);
  r.add("Sum", importVariadic<pp::AddOp, addF, addI>);
  r.add("Mean", importVariadic<pp::AddOp, addF, addI, /*Mean=*/true>);
  r.add("Where", importWhere);
  r.add("Cast", importCast);
  r.add("CastLike", importCastLike);
  r.add("IsNaN", importIsNaNOrInf);
  r.add("IsInf", importIsNaNOrInf);
}

} // namespace ppc::onnximport
