//===- OpImportersContraction.cpp - matmul, gemm, conv, pooling -----------===//

#include "NodeContext.h"

using namespace mlir;

namespace ppc::onnximport {
namespace {

LogicalResult importMatMul(NodeContext &ctx) {
  FailureOr<pp::Shape> shape =
      pp::matmulShape(ctx.inputShape(0), ctx.inputShape(1), ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  FailureOr<Value> a = ctx.input(0), b = ctx.input(1);
  if (failed(type) || failed(a) || failed(b))
    return failure();
  ctx.setOutput(0, pp::MatMulOp::create(ctx.b, ctx.loc, *type, *a, *b));
  return success();
}

LogicalResult importGemm(NodeContext &ctx) {
  bool transA = ctx.intAttr("transA", 0), transB = ctx.intAttr("transB", 0);
  std::optional<ArrayRef<int64_t>> cShape;
  if (ctx.hasInput(2))
    cShape = ctx.inputShape(2);
  FailureOr<pp::Shape> shape = pp::gemmShape(
      ctx.inputShape(0), ctx.inputShape(1), cShape, transA, transB, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  FailureOr<Value> a = ctx.input(0), b = ctx.input(1),
                   c = ctx.optionalInput(2);
  if (failed(type) || failed(a) || failed(b) || failed(c))
    return failure();
  ctx.setOutput(0, pp::GemmOp::create(
                       ctx.b, ctx.loc, *type, *a, *b, *c, transA, transB,
                       APFloat(ctx.floatAttr("alpha", 1.0)),
                       APFloat(ctx.floatAttr("beta", 1.0))));
  return success();
}

/// Window attributes shared by Conv and the pooling ops, with auto_pad turned
/// into explicit paddings.
struct Window {
  SmallVector<int64_t> kernel, strides, pads, dilations;
};

FailureOr<Window> readWindow(NodeContext &ctx, ArrayRef<int64_t> input,
                             ArrayRef<int64_t> kernel) {
  size_t n = input.size() - 2;
  Window w;
  w.kernel.assign(kernel.begin(), kernel.end());
  w.strides = ctx.intsAttr("strides").value_or(SmallVector<int64_t>(n, 1));
  w.dilations = ctx.intsAttr("dilations").value_or(SmallVector<int64_t>(n, 1));
  w.pads = ctx.intsAttr("pads").value_or(SmallVector<int64_t>(2 * n, 0));
  if (w.kernel.size() != n || w.strides.size() != n || w.dilations.size() != n ||
      w.pads.size() != 2 * n)
    return ctx.emitError() << "kernel_shape, strides and dilations need " << n
                           << " values and pads " << 2 * n
                           << " for an input of rank " << input.size();
  for (size_t i = 0; i < n; ++i)
    if (w.strides[i] <= 0 || w.dilations[i] <= 0 || w.kernel[i] <= 0)
      return ctx.emitError()
             << "kernel_shape, strides and dilations must be positive";
  std::string autoPad = ctx.stringAttr("auto_pad", "NOTSET");
  if (autoPad == "VALID") {
    std::fill(w.pads.begin(), w.pads.end(), 0);
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      int64_t out = (input[i + 2] + w.strides[i] - 1) / w.strides[i];
      int64_t span = (w.kernel[i] - 1) * w.dilations[i] + 1;
      int64_t total =
          std::max<int64_t>(0, (out - 1) * w.strides[i] + span - input[i + 2]);
      int64_t small = total / 2, big = total - small;
      w.pads[i] = autoPad == "SAME_UPPER" ? small : big;
      w.pads[i + n] = autoPad == "SAME_UPPER" ? big : small;
    }
  } else if (autoPad != "NOTSET") {
    return ctx.emitError() << "auto_pad '" << autoPad << "' is not valid";
  }
  return w;
}

LogicalResult importConv(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0), filter = ctx.inputShape(1);
  if (in.size() < 3 || filter.size() != in.size())
    return ctx.emitError() << "input and filter must be N x C x spatial... of "
                              "one rank";
  FailureOr<Window> w = readWindow(ctx, in, filter.drop_front(2));
  if (failed(w))
    return failure();
  if (auto k = ctx.intsAttr("kernel_shape"))
    if (ArrayRef<int64_t>(*k) != filter.drop_front(2))
      return ctx.emitError() << "kernel_shape does not match the filter";
  int64_t group = ctx.intAttr("group", 1);
  FailureOr<pp::Shape> shape = pp::convShape(in, filter, w->strides, w->pads,
                                             w->dilations, group, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  FailureOr<Value> x = ctx.input(0), f = ctx.input(1),
                   bias = ctx.optionalInput(2);
  if (failed(type) || failed(x) || failed(f) || failed(bias))
    return failure();
  ctx.setOutput(0, pp::ConvOp::create(ctx.b, ctx.loc, *type, *x, *f, *bias,
                                      w->strides, w->pads, w->dilations,
                                      group));
  return success();
}

/// A splat constant of `shape` filled with 1.
Value ones(NodeContext &ctx, ArrayRef<int64_t> shape, Type element) {
  auto type = RankedTensorType::get(shape, element);
  return pp::ConstantOp::create(
      ctx.b, ctx.loc, type,
      DenseElementsAttr::get(type, FloatAttr::get(element, 1.0)));
}

/// AveragePool with dilations (opset 19), which pp.avg_pool does not have:
/// the window sums as a depthwise convolution with a kernel of ones, divided
/// by the count of the taps that each window averages (a convolution of ones
/// over the input, or over the padded input with count_include_pad). Windows
/// that ceil_mode adds past the padding count only their taps inside it.
LogicalResult importDilatedAvgPool(NodeContext &ctx, const Window &w,
                                   ArrayRef<int64_t> outShape) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  size_t n = in.size() - 2;
  Type element = ctx.elementType(0);
  bool includePad = ctx.intAttr("count_include_pad", 0);
  SmallVector<int64_t> convPads(w.pads), countPads(2 * n, 0), countIn{1, 1};
  for (size_t i = 0; i < n; ++i) {
    int64_t span = (w.kernel[i] - 1) * w.dilations[i] + 1;
    int64_t need = (outShape[i + 2] - 1) * w.strides[i] + span;
    int64_t extra = std::max<int64_t>(
        0, need - (in[i + 2] + w.pads[i] + w.pads[i + n]));
    convPads[i + n] += extra;
    countPads[i + n] = extra;
    countIn.push_back(includePad ? in[i + 2] + w.pads[i] + w.pads[i + n]
                                 : in[i + 2]);
  }
  if (!includePad)
    countPads = convPads;
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  SmallVector<int64_t> filter{in[1], 1}, unitFilter{1, 1};
  filter.append(w.kernel.begin(), w.kernel.end());
  unitFilter.append(w.kernel.begin(), w.kernel.end());
  auto sumType = RankedTensorType::get(outShape, element);
  Value sum = pp::ConvOp::create(ctx.b, ctx.loc, sumType, *x,
                                 ones(ctx, filter, element), Value(),
                                 w.strides, convPads, w.dilations, in[1]);
  SmallVector<int64_t> countShape{1, 1};
  countShape.append(outShape.begin() + 2, outShape.end());
  Value count = pp::ConvOp::create(
      ctx.b, ctx.loc, RankedTensorType::get(countShape, element),
      ones(ctx, countIn, element), ones(ctx, unitFilter, element), Value(),
      w.strides, countPads, w.dilations, 1);
  ctx.setOutput(0, pp::DivOp::create(ctx.b, ctx.loc, sumType, sum, count));
  return success();
}

template <bool IsMax>
LogicalResult importPool(NodeContext &ctx) {
  if (IsMax && ctx.outputUsed(1))
    return ctx.emitError() << "the Indices output is not supported";
  ArrayRef<int64_t> in = ctx.inputShape(0);
  if (in.size() < 3)
    return ctx.emitError() << "input must be N x C x spatial...";
  std::optional<SmallVector<int64_t>> kernel = ctx.intsAttr("kernel_shape");
  if (!kernel)
    return ctx.emitError() << "kernel_shape is required";
  FailureOr<Window> w = readWindow(ctx, in, *kernel);
  if (failed(w))
    return failure();
  bool ceilMode = ctx.intAttr("ceil_mode", 0);
  // AveragePool has dilations from opset 19 (before, the checker refuses
  // the attribute).
  SmallVector<int64_t> unit(in.size() - 2, 1);
  bool dilated = ArrayRef<int64_t>(w->dilations) != ArrayRef<int64_t>(unit);
  FailureOr<pp::Shape> shape = pp::poolShape(in, w->kernel, w->strides, w->pads,
                                             w->dilations, ceilMode,
                                             ctx.errors());
  if (failed(shape))
    return failure();
  if (!IsMax && dilated)
    return importDilatedAvgPool(ctx, *w, *shape);
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  FailureOr<Value> x = ctx.input(0);
  if (failed(type) || failed(x))
    return failure();
  if constexpr (IsMax)
    ctx.setOutput(0, pp::MaxPoolOp::create(ctx.b, ctx.loc, *type, *x, w->kernel,
                                           w->strides, w->pads, w->dilations,
                                           ceilMode));
  else
    ctx.setOutput(0, pp::AvgPoolOp::create(
                         ctx.b, ctx.loc, *type, *x, w->kernel, w->strides,
                         w->pads, ceilMode,
                         (bool)ctx.intAttr("count_include_pad", 0)));
  return success();
}

/// GlobalAveragePool and GlobalMaxPool reduce every spatial axis.
template <typename ReduceOpT>
LogicalResult importGlobalPool(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  if (in.size() < 3)
    return ctx.emitError() << "input must be N x C x spatial...";
  SmallVector<int64_t> axes;
  for (size_t i = 2; i < in.size(); ++i)
    axes.push_back(i);
  FailureOr<pp::Shape> shape = pp::reduceShape(in, axes, true, ctx.errors());
  FailureOr<Value> x = ctx.input(0);
  if (failed(shape) || failed(x))
    return failure();
  auto type = RankedTensorType::get(*shape, ctx.elementType(0));
  ctx.setOutput(0, ReduceOpT::create(ctx.b, ctx.loc, type, *x, axes, true));
  return success();
}

} // namespace

void registerContractionOps(OpRegistry &r) {
  r.add("MatMul", importMatMul);
  r.add("Gemm", importGemm);
  r.add("Conv", importConv);
  r.add("MaxPool", importPool<true>);
  r.add("AveragePool", importPool<false>);
  r.add("GlobalAveragePool", importGlobalPool<pp::ReduceMeanOp>);
  r.add("GlobalMaxPool", importGlobalPool<pp::ReduceMaxOp>);
}

} // namespace ppc::onnximport
