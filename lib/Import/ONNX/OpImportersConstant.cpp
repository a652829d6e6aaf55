//===- OpImportersConstant.cpp - Constant, Shape, ConstantOfShape, Range --===//
//
// These ops produce values known at compile time; they fold on the host and
// emit nothing unless a non-constant op consumes their result.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

#include <cmath>

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {
namespace {

LogicalResult importConstant(NodeContext &ctx) {
  if (ctx.node.attribute_size() != 1)
    return ctx.emitError() << "needs exactly one value attribute";
  const onnx::AttributeProto &a = ctx.node.attribute(0);
  const std::string &name = a.name();
  if (name == "value") {
    HostTensor value;
    std::string error = HostTensor::fromProto(a.t(), {}, value);
    if (!error.empty())
      return ctx.emitError() << error;
    ctx.setConstant(0, std::move(value));
  } else if (name == "value_float") {
    ctx.setConstant(0, HostTensor::ofFloats(TensorProto::FLOAT, {}, {a.f()}));
  } else if (name == "value_floats") {
    std::vector<double> v(a.floats().begin(), a.floats().end());
    ctx.setConstant(0, HostTensor::ofFloats(TensorProto::FLOAT,
                                            {(int64_t)v.size()}, v));
  } else if (name == "value_int") {
    ctx.setConstant(0, HostTensor::ofInts(TensorProto::INT64, {}, {a.i()}));
  } else if (name == "value_ints") {
    std::vector<int64_t> v(a.ints().begin(), a.ints().end());
    ctx.setConstant(0, HostTensor::ofInts(TensorProto::INT64,
                                          {(int64_t)v.size()}, v));
  } else {
    return ctx.emitError() << "a constant given as '" << name
                           << "' is not supported";
  }
  return success();
}

LogicalResult importConstantOfShape(NodeContext &ctx) {
  FailureOr<const HostTensor *> shapeIn = ctx.requireConstant(0, "the shape");
  if (failed(shapeIn))
    return failure();
  std::vector<int64_t> dims = (*shapeIn)->toInts();
  pp::Shape shape(dims.begin(), dims.end());
  HostTensor fill = HostTensor::ofFloats(TensorProto::FLOAT, {1}, {0.0});
  if (const onnx::AttributeProto *a = ctx.attribute("value")) {
    std::string error = HostTensor::fromProto(a->t(), {}, fill);
    if (!error.empty())
      return ctx.emitError() << error;
    if (fill.numElements() != 1)
      return ctx.emitError() << "value must hold one element";
  }
  Type element = elementTypeFor(ctx.getContext(), fill.onnxType());
  FailureOr<RankedTensorType> type = ctx.tensorType(shape, element);
  if (failed(type))
    return failure();
  if (type->getNumElements() > kMaxFoldElements) {
    // Too large to hold on the host: a splat constant in the IR.
    DenseElementsAttr attr = fill.reshaped({}).toAttr(
        RankedTensorType::get({}, element));
    ctx.setOutput(0, pp::ConstantOp::create(ctx.b, ctx.loc, *type,
                                            attr.resizeSplat(*type)));
    return success();
  }
  HostTensor out(fill.onnxType(), shape);
  for (int64_t i = 0, e = out.numElements(); i < e; ++i) {
    if (fill.isFloat())
      out.setFloat(i, fill.getFloat(0));
    else
      out.setInt(i, fill.getInt(0));
  }
  ctx.setConstant(0, std::move(out));
  return success();
}

LogicalResult importShape(NodeContext &ctx) {
  ArrayRef<int64_t> shape = ctx.inputShape(0);
  int64_t rank = shape.size();
  int64_t start = ctx.intAttr("start", 0), end = ctx.intAttr("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  std::vector<int64_t> dims(shape.begin() + start, shape.begin() + end);
  ctx.setConstant(0, HostTensor::ofInts(TensorProto::INT64,
                                        {(int64_t)dims.size()}, dims));
  return success();
}

LogicalResult importSize(NodeContext &ctx) {
  ctx.setConstant(0, HostTensor::ofInts(TensorProto::INT64, {},
                                        {ctx.inputType(0).getNumElements()}));
  return success();
}

LogicalResult importRange(NodeContext &ctx) {
  const HostTensor *bounds[3];
  for (unsigned i = 0; i < 3; ++i) {
    FailureOr<const HostTensor *> c =
        ctx.requireScalar(i, i == 0 ? "start" : i == 1 ? "limit" : "delta");
    if (failed(c))
      return failure();
    bounds[i] = *c;
  }
  int32_t type = bounds[0]->onnxType();
  double start = bounds[0]->getFloat(0), limit = bounds[1]->getFloat(0),
         delta = bounds[2]->getFloat(0);
  if (delta == 0)
    return ctx.emitError() << "delta is 0";
  int64_t n = std::max<int64_t>(0, (int64_t)std::ceil((limit - start) / delta));
  if (n > kMaxFoldElements * 256)
    return ctx.emitError() << "range of " << n << " elements is too large";
  HostTensor out(type, {n});
  for (int64_t i = 0; i < n; ++i) {
    if (out.isFloat())
      out.setFloat(i, start + i * delta);
    else
      out.setInt(i, bounds[0]->getInt(0) + i * bounds[2]->getInt(0));
  }
  ctx.setConstant(0, std::move(out));
  return success();
}

} // namespace

void registerConstantOps(OpRegistry &r) {
  r.add("Constant", importConstant);
  r.add("ConstantOfShape", importConstantOfShape);
  r.add("Shape", importShape);
  r.add("Size", importSize);
  r.add("Range", importRange);
}

} // namespace ppc::onnximport
