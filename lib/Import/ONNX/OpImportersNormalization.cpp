//===- OpImportersNormalization.cpp - norms, softmax, reductions ----------===//

#include "HostEval.h"
#include "NodeContext.h"

#include <cmath>

using namespace mlir;

namespace ppc::onnximport {
namespace {

LogicalResult importBatchNorm(NodeContext &ctx) {
  bool training = ctx.intAttr("training_mode", 0) != 0;
  if (!training)
    for (unsigned i = 1; i < ctx.numOutputs(); ++i)
      if (ctx.outputUsed(i))
        return ctx.emitError() << "the running-statistics outputs exist only "
                                  "with training_mode=1";
  if (ctx.opset < 9 && ctx.intAttr("spatial", 1) != 1)
    return ctx.emitError() << "spatial=0 is not supported";
  SmallVector<Value> in;
  for (unsigned i = 0; i < 5; ++i) {
    FailureOr<Value> v = ctx.input(i);
    if (failed(v))
      return failure();
    in.push_back(*v);
  }
  APFloat epsilon(ctx.floatAttr("epsilon", 1e-5));
  if (!training) {
    ctx.setOutput(0, pp::BatchNormOp::create(ctx.b, ctx.loc, in[0].getType(),
                                             in[0], in[1], in[2], in[3], in[4],
                                             epsilon));
    return success();
  }
  // Training mode: the batch's statistics; outputs 1 and 2 are the running
  // statistics after this batch. The ONNX operator updates the running
  // variance with the batch's biased variance; PyTorch, whose exporter
  // writes these nodes, keeps the unbiased one, and a model it exported
  // trains as it does in PyTorch.
  auto stats = in[3].getType();
  SmallVector<NamedAttribute> attrs{
      ctx.b.getNamedAttr("epsilon",
                         ctx.b.getF64FloatAttr(epsilon.convertToDouble())),
      ctx.b.getNamedAttr("momentum",
                         ctx.b.getF64FloatAttr(ctx.floatAttr("momentum", 0.9)))};
  if (ctx.producer() == "pytorch")
    attrs.push_back(
        ctx.b.getNamedAttr("unbiased_running_var", ctx.b.getUnitAttr()));
  auto op = pp::BatchNormTrainOp::create(
      ctx.b, ctx.loc, TypeRange{in[0].getType(), stats, stats, stats, stats},
      ValueRange(in), attrs);
  ctx.setOutput(0, op.getResult());
  if (ctx.numOutputs() > 1)
    ctx.setOutput(1, op.getNewRunningMean());
  if (ctx.numOutputs() > 2)
    ctx.setOutput(2, op.getNewRunningVar());
  return success();
}

LogicalResult importLayerNorm(NodeContext &ctx) {
  RankedTensorType inType = ctx.inputType(0);
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.intAttr("axis", -1), inType.getRank());
  if (failed(axis))
    return failure();
  FailureOr<pp::Shape> stats =
      pp::layerNormStatsShape(inType.getShape(), *axis, ctx.errors());
  if (failed(stats))
    return failure();
  Type statsElement = ctx.intAttr("stash_type", 1) == 1
                          ? Float32Type::get(ctx.getContext())
                          : inType.getElementType();
  auto statsType = RankedTensorType::get(*stats, statsElement);
  FailureOr<Value> x = ctx.input(0), scale = ctx.input(1),
                   bias = ctx.optionalInput(2);
  if (failed(x) || failed(scale) || failed(bias))
    return failure();
  auto op = pp::LayerNormOp::create(
      ctx.b, ctx.loc, inType, statsType, statsType, *x, *scale, *bias,
      (uint64_t)*axis, APFloat(ctx.floatAttr("epsilon", 1e-5)));
  ctx.setOutput(0, op.getResult());
  ctx.setOutput(1, op.getMean());
  ctx.setOutput(2, op.getInvStdDev());
  return success();
}

/// Softmax and LogSoftmax. Before opset 13 they coerce the input to 2-D at
/// `axis` (default 1) and normalise the second dimension: a reshape around a
/// softmax over the flattened trailing axes.
template <typename OpT>
LogicalResult importSoftmax(NodeContext &ctx) {
  RankedTensorType type = ctx.inputType(0);
  int64_t rank = type.getRank();
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.intAttr("axis", ctx.opset < 13 ? 1 : -1), rank);
  FailureOr<Value> x = ctx.input(0);
  if (failed(axis) || failed(x))
    return failure();
  if (ctx.opset >= 13 || *axis == rank - 1) {
    ctx.setOutput(0, OpT::create(ctx.b, ctx.loc, type, *x, *axis));
    return success();
  }
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i)
    (i < *axis ? outer : inner) *= type.getDimSize(i);
  auto flat = RankedTensorType::get({outer, inner}, type.getElementType());
  Value v = pp::ReshapeOp::create(ctx.b, ctx.loc, flat, *x);
  v = OpT::create(ctx.b, ctx.loc, flat, v, 1);
  ctx.setOutput(0, pp::ReshapeOp::create(ctx.b, ctx.loc, type, v));
  return success();
}

enum class Reduction { Sum, Mean, Max, Min, Prod };

HostTensor foldReduce(const HostTensor &x, ArrayRef<int64_t> axes,
                      ArrayRef<int64_t> outShape, Reduction kind) {
  HostTensor out(x.onnxType(), pp::Shape(outShape));
  ArrayRef<int64_t> in = x.shape();
  int64_t n = out.numElements();
  std::vector<double> acc(n, kind == Reduction::Prod  ? 1.0
                             : kind == Reduction::Max ? -INFINITY
                             : kind == Reduction::Min ? INFINITY
                                                      : 0.0);
  // Reduced axes kept as size 1 give the output's linear layout.
  pp::Shape keptShape(in);
  for (int64_t a : axes)
    keptShape[a] = 1;
  pp::Shape keptStrides = stridesOf(keptShape);
  int64_t count = x.numElements() / std::max<int64_t>(n, 1);
  for (int64_t i = 0, e = x.numElements(); i < e; ++i) {
    int64_t rest = i, o = 0;
    for (int64_t d = (int64_t)in.size() - 1; d >= 0; --d) {
      int64_t c = rest % in[d];
      rest /= in[d];
      if (!llvm::is_contained(axes, d))
        o += c * keptStrides[d];
    }
    double v = x.getFloat(i);
    switch (kind) {
    case Reduction::Sum:
    case Reduction::Mean:
      acc[o] += v;
      break;
    case Reduction::Prod:
      acc[o] *= v;
      break;
    case Reduction::Max:
      acc[o] = std::max(acc[o], v);
      break;
    case Reduction::Min:
      acc[o] = std::min(acc[o], v);
      break;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    out.setFloat(i, kind == Reduction::Mean ? acc[i] / count : acc[i]);
  return out;
}

template <typename OpT, Reduction Kind>
LogicalResult importReduce(NodeContext &ctx) {
  RankedTensorType type = ctx.inputType(0);
  int64_t rank = type.getRank();
  bool keepdims = ctx.intAttr("keepdims", 1);
  SmallVector<int64_t> axes;
  // axes became an input at opset 13 for ReduceSum, 18 for the others; the
  // noop_with_empty_axes attribute came with it.
  bool axesFromInput = ctx.opset >= (Kind == Reduction::Sum ? 13 : 18);
  if (axesFromInput && ctx.attribute("axes"))
    return ctx.emitError() << "axes is an input at opset " << ctx.opset
                           << ", not an attribute";
  if (axesFromInput) {
    if (ctx.hasInput(1)) {
      FailureOr<const HostTensor *> a = ctx.requireConstant(1, "axes");
      if (failed(a))
        return failure();
      std::vector<int64_t> values = (*a)->toInts();
      axes.assign(values.begin(), values.end());
    }
  } else if (auto a = ctx.intsAttr("axes")) {
    axes = *a;
  }
  if (axes.empty()) {
    if (axesFromInput && ctx.intAttr("noop_with_empty_axes", 0)) {
      FailureOr<Value> x = ctx.input(0);
      if (failed(x))
        return failure();
      ctx.setOutput(0, *x);
      return success();
    }
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  for (int64_t &a : axes) {
    FailureOr<int64_t> n = ctx.normalizeAxis(a, rank);
    if (failed(n))
      return failure();
    a = *n;
  }
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  FailureOr<pp::Shape> shape =
      pp::reduceShape(type.getShape(), axes, keepdims, ctx.errors());
  if (failed(shape))
    return failure();
  if (ctx.allFoldable()) {
    ctx.setConstant(0, foldReduce(*ctx.constant(0), axes, *shape, Kind)
                           .reshaped(*shape));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  auto resultType = RankedTensorType::get(*shape, type.getElementType());
  ctx.setOutput(0, OpT::create(ctx.b, ctx.loc, resultType, *x, axes, keepdims));
  return success();
}

/// GroupNormalization (opsets 18 and 21): normalise each of `num_groups`
/// groups of channels over its channels and spatial axes, then scale and
/// shift, per group at opset 18 and per channel from 21. Built from
/// pp.layer_norm over the grouped layout and element-wise ops, which all
/// have gradients, so it trains.
LogicalResult importGroupNorm(NodeContext &ctx) {
  RankedTensorType inType = ctx.inputType(0);
  ArrayRef<int64_t> in = inType.getShape();
  if (in.size() < 2)
    return ctx.emitError() << "input must be N x C x ...";
  if (!ctx.attribute("num_groups"))
    return ctx.emitError() << "num_groups is required";
  int64_t groups = ctx.intAttr("num_groups", 0), channels = in[1];
  if (groups <= 0 || channels % groups != 0)
    return ctx.emitError() << "num_groups " << groups
                           << " does not divide the " << channels
                           << " channels";
  // Scale and bias hold one value a group at opset 18, a channel from 21.
  int64_t perAffine = ctx.opset >= 21 ? channels : groups;
  for (unsigned i : {1u, 2u})
    if (ctx.inputType(i).getNumElements() != perAffine ||
        ctx.inputType(i).getRank() != 1)
      return ctx.emitError() << (i == 1 ? "scale" : "bias") << " must hold "
                             << perAffine << " values (one a "
                             << (ctx.opset >= 21 ? "channel" : "group")
                             << " at opset " << ctx.opset << "), not "
                             << ctx.inputType(i);
  Type element = inType.getElementType();
  if (ctx.elementType(1) != element || ctx.elementType(2) != element)
    return ctx.emitError() << "scale and bias must have the input's type";
  FailureOr<Value> x = ctx.input(0), scale = ctx.input(1), bias = ctx.input(2);
  if (failed(x) || failed(scale) || failed(bias))
    return failure();

  int64_t inner = inType.getNumElements() / (in[0] * groups);
  auto grouped = RankedTensorType::get({in[0], groups, inner}, element);
  Value v = pp::ReshapeOp::create(ctx.b, ctx.loc, grouped, *x);
  // pp.layer_norm over the last axis with unit scale; its statistics are
  // kept in float32 unless stash_type (opset 21) asks for the input's type.
  auto unitType = RankedTensorType::get({inner}, element);
  Value unit = pp::ConstantOp::create(
      ctx.b, ctx.loc, unitType,
      DenseElementsAttr::get(unitType, FloatAttr::get(element, 1.0)));
  Type statsElement = ctx.opset < 21 || ctx.intAttr("stash_type", 1) == 1
                          ? Float32Type::get(ctx.getContext())
                          : element;
  auto statsType = RankedTensorType::get({in[0], groups, 1}, statsElement);
  v = pp::LayerNormOp::create(ctx.b, ctx.loc, grouped, statsType, statsType, v,
                              unit, Value(), (uint64_t)2,
                              APFloat(ctx.floatAttr("epsilon", 1e-5)))
          .getResult();
  // Scale and shift: per group in the grouped layout, per channel in the
  // input's.
  SmallVector<int64_t> affineShape;
  if (ctx.opset < 21) {
    affineShape = {groups, 1};
  } else {
    v = pp::ReshapeOp::create(ctx.b, ctx.loc, inType, v);
    affineShape.assign(in.size() - 1, 1);
    affineShape[0] = channels;
  }
  auto affineType = RankedTensorType::get(affineShape, element);
  auto vType = cast<RankedTensorType>(v.getType());
  Value s = pp::ReshapeOp::create(ctx.b, ctx.loc, affineType, *scale);
  Value t = pp::ReshapeOp::create(ctx.b, ctx.loc, affineType, *bias);
  v = pp::MulOp::create(ctx.b, ctx.loc, vType, v, s);
  v = pp::AddOp::create(ctx.b, ctx.loc, vType, v, t);
  if (v.getType() != inType)
    v = pp::ReshapeOp::create(ctx.b, ctx.loc, inType, v);
  ctx.setOutput(0, v);
  return success();
}

} // namespace

void registerNormalizationOps(OpRegistry &r) {
  r.add("GroupNormalization", importGroupNorm);
  r.add("BatchNormalization", importBatchNorm);
  r.add("LayerNormalization", importLayerNorm);
  r.add("Softmax", importSoftmax<pp::SoftmaxOp>);
  r.add("LogSoftmax", importSoftmax<pp::LogSoftmaxOp>);
  r.add("ReduceSum", importReduce<pp::ReduceSumOp, Reduction::Sum>);
  r.add("ReduceMean", importReduce<pp::ReduceMeanOp, Reduction::Mean>);
  r.add("ReduceMax", importReduce<pp::ReduceMaxOp, Reduction::Max>);
  r.add("ReduceMin", importReduce<pp::ReduceMinOp, Reduction::Min>);
  r.add("ReduceProd", importReduce<pp::ReduceProdOp, Reduction::Prod>);
}

} // namespace ppc::onnximport
