//===- Canonicalize.cpp - recognise exporter patterns ---------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace ppc::pp {
#define GEN_PASS_DEF_PPCANONICALIZEPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc::pp;

namespace {

/// True when `v` is a constant whose every element is `expected` (within a
/// relative 1e-5: exporters round sqrt(2) to float).
bool isSplatNear(Value v, double expected) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat() ||
      !isa<FloatType>(attr.getElementType()))
    return false;
  double got = attr.getSplatValue<APFloat>().convertToDouble();
  return std::fabs(got - expected) <= 1e-5 * std::fabs(expected);
}

/// The splat float value of a constant, if it is one.
std::optional<double> splatValue(Value v) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat() ||
      !isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  return attr.getSplatValue<APFloat>().convertToDouble();
}

/// For a commutative binary op, the operand that is not `known` (null if
/// neither is).
template <typename OpT>
Value otherOperand(OpT op, function_ref<bool(Value)> known) {
  if (known(op.getLhs()))
    return op.getRhs();
  if (known(op.getRhs()))
    return op.getLhs();
  return nullptr;
}

/// x * (erf(x / sqrt(2)) + 1) * 0.5, in torch.onnx.export's order, to
/// pp.gelu x.
struct GeluErfPattern : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp root,
                                PatternRewriter &rewriter) const override {
    Value inner =
        otherOperand(root, [](Value v) { return isSplatNear(v, 0.5); });
    auto mul = inner ? inner.getDefiningOp<MulOp>() : nullptr;
    if (!mul)
      return failure();
    for (auto [x, onePlusErf] : {std::pair(mul.getLhs(), mul.getRhs()),
                                 std::pair(mul.getRhs(), mul.getLhs())}) {
      auto add = onePlusErf.getDefiningOp<AddOp>();
      if (!add)
        continue;
      Value erfOut =
          otherOperand(add, [](Value v) { return isSplatNear(v, 1.0); });
      auto erf = erfOut ? erfOut.getDefiningOp<ErfOp>() : nullptr;
      auto div = erf ? erf.getInput().getDefiningOp<DivOp>() : nullptr;
      if (!div || div.getLhs() != x || !isSplatNear(div.getRhs(), M_SQRT2))
        continue;
      if (x.getType() != root.getType())
        return failure();
      rewriter.replaceOpWithNewOp<GeluOp>(root, root.getType(), x,
                                          /*approximate=*/false);
      return success();
    }
    return failure();
  }
};

/// The axes a reduce_mean normalises when it is a LayerNorm's: a suffix of
/// the input's axes, kept as size 1. Returns the first axis or -1.
int64_t layerNormAxis(ReduceMeanOp mean) {
  auto type = cast<RankedTensorType>(mean.getInput().getType());
  ArrayRef<int64_t> axes = mean.getAxes();
  if (!mean.getKeepdims() || axes.empty())
    return -1;
  for (auto [i, a] : llvm::enumerate(axes))
    if (a != type.getRank() - (int64_t)axes.size() + (int64_t)i)
      return -1;
  return axes.front();
}

/// (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * scale + bias, as
/// exporters write LayerNorm before opset 17, to pp.layer_norm.
struct LayerNormPattern : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp root,
                                PatternRewriter &rewriter) const override {
    for (auto [scaled, bias] : {std::pair(root.getLhs(), root.getRhs()),
                                std::pair(root.getRhs(), root.getLhs())}) {
      auto mulScale = scaled.getDefiningOp<MulOp>();
      if (!mulScale)
        continue;
      for (auto [normed, scale] :
           {std::pair(mulScale.getLhs(), mulScale.getRhs()),
            std::pair(mulScale.getRhs(), mulScale.getLhs())}) {
        auto div = normed.getDefiningOp<DivOp>();
        auto centered = div ? div.getLhs().getDefiningOp<SubOp>() : nullptr;
        auto sqrt = div ? div.getRhs().getDefiningOp<SqrtOp>() : nullptr;
        auto addEps = sqrt ? sqrt.getInput().getDefiningOp<AddOp>() : nullptr;
        if (!centered || !addEps)
          continue;
        Value x = centered.getLhs();
        auto mean = centered.getRhs().getDefiningOp<ReduceMeanOp>();
        if (!mean || mean.getInput() != x)
          continue;
        int64_t axis = layerNormAxis(mean);
        std::optional<double> eps = splatValue(addEps.getRhs());
        auto var = addEps.getLhs().getDefiningOp<ReduceMeanOp>();
        auto pow = var ? var.getInput().getDefiningOp<PowOp>() : nullptr;
        if (axis < 0 || !eps || !pow || var.getAxes() != mean.getAxes() ||
            !var.getKeepdims() || pow.getLhs() != centered.getResult() ||
            !isSplatNear(pow.getRhs(), 2.0))
          continue;
        auto xType = cast<RankedTensorType>(x.getType());
        ArrayRef<int64_t> normalized = xType.getShape().drop_front(axis);
        auto fits = [&](Value v) {
          auto t = cast<RankedTensorType>(v.getType());
          return t.getShape().size() <= normalized.size() &&
                 t.getShape() ==
                     normalized.take_back(t.getShape().size()) &&
                 t.getElementType() == xType.getElementType();
        };
        if (!fits(scale) || !fits(bias) || root.getType() != xType)
          continue;
        SmallVector<int64_t> statsShape(xType.getShape());
        for (size_t i = axis; i < statsShape.size(); ++i)
          statsShape[i] = 1;
        auto statsType =
            RankedTensorType::get(statsShape, xType.getElementType());
        auto ln = LayerNormOp::create(rewriter, root.getLoc(), xType, statsType,
                                      statsType, x, scale, bias,
                                      rewriter.getI64IntegerAttr(axis),
                                      rewriter.getF64FloatAttr(*eps));
        rewriter.replaceOp(root, ln.getResult());
        return success();
      }
    }
    return failure();
  }
};

struct PPCanonicalizePass
    : ppc::pp::impl::PPCanonicalizePassBase<PPCanonicalizePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<GeluErfPattern, LayerNormPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
