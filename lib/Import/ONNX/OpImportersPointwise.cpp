//===- OpImportersPointwise.cpp - HardSigmoid, HardSwish, Mod -------------===//
//
// MobileNetV3's activations and Mod (which Swin's exports apply to shape
// values: those fold on the host).
//
//===----------------------------------------------------------------------===//

#include "HostEval.h"
#include "NodeContext.h"

#include <cmath>

using namespace mlir;

namespace ppc::onnximport {
namespace {

double hardSigmoid(double x, double alpha, double beta) {
  return std::max(0.0, std::min(1.0, alpha * x + beta));
}

/// Folds when the input is a known constant.
template <typename F> bool foldFloatUnary(NodeContext &ctx, F fn) {
  if (!ctx.allFoldable())
    return false;
  const HostTensor *x = ctx.constant(0);
  HostTensor out(x->onnxType(), x->shape());
  for (int64_t i = 0, e = x->numElements(); i < e; ++i)
    out.setFloat(i, fn(x->getFloat(i)));
  ctx.setConstant(0, std::move(out));
  return true;
}

LogicalResult importHardSigmoid(NodeContext &ctx) {
  double alpha = ctx.floatAttr("alpha", 0.2), beta = ctx.floatAttr("beta", 0.5);
  if (foldFloatUnary(ctx, [&](double x) { return hardSigmoid(x, alpha, beta); }))
    return success();
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  ctx.setOutput(0, pp::HardSigmoidOp::create(ctx.b, ctx.loc, x->getType(), *x,
                                             ctx.b.getF64FloatAttr(alpha),
                                             ctx.b.getF64FloatAttr(beta)));
  return success();
}

LogicalResult importHardSwish(NodeContext &ctx) {
  if (foldFloatUnary(ctx, [](double x) { return x * hardSigmoid(x, 1 / 6.0, 0.5); }))
    return success();
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  ctx.setOutput(0, pp::HardSwishOp::create(ctx.b, ctx.loc, x->getType(), *x));
  return success();
}

int64_t modInt(int64_t a, int64_t b, bool fmod) {
  if (b == 0)
    return 0;
  if (b == -1) // INT64_MIN % -1 overflows; the remainder is 0
    return 0;
  int64_t r = a % b;
  if (!fmod && r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

double modFloat(double a, double b, bool fmod) {
  double r = std::fmod(a, b);
  if (!fmod && r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

LogicalResult importMod(NodeContext &ctx) {
  bool fmod = ctx.intAttr("fmod", 0) != 0;
  if (ctx.numInputs() < 2)
    return ctx.emitError() << "needs two inputs";
  if (ctx.elementType(0) != ctx.elementType(1))
    return ctx.emitError() << "the inputs' element types differ";
  FailureOr<pp::Shape> shape = pp::broadcastShapes(
      {ctx.inputShape(0), ctx.inputShape(1)}, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  if (failed(type))
    return failure();
  if (ctx.allFoldable()) {
    const HostTensor &a = *ctx.constant(0), &b = *ctx.constant(1);
    ctx.setConstant(0, mapBroadcast({&a, &b}, *shape, a.onnxType(),
                                    [&](HostTensor &out, int64_t i,
                                        ArrayRef<int64_t> idx) {
                                      if (a.isFloat())
                                        out.setFloat(i, modFloat(a.getFloat(idx[0]),
                                                                 b.getFloat(idx[1]),
                                                                 fmod));
                                      else
                                        out.setInt(i, modInt(a.getInt(idx[0]),
                                                             b.getInt(idx[1]),
                                                             fmod));
                                    }));
    return success();
  }
  FailureOr<Value> lhs = ctx.input(0), rhs = ctx.input(1);
  if (failed(lhs) || failed(rhs))
    return failure();
  auto op = pp::ModOp::create(ctx.b, ctx.loc, *type, *lhs, *rhs);
  if (fmod)
    op.setFmod(true);
  ctx.setOutput(0, op);
  return success();
}

} // namespace

void registerPointwiseOps(OpRegistry &r) {
  r.add("HardSigmoid", importHardSigmoid);
  r.add("HardSwish", importHardSwish);
  r.add("Mod", importMod);
}

} // namespace ppc::onnximport
