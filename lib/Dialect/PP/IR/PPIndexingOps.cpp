//===- PPIndexingOps.cpp - gather_nd, scatter_nd, gather_elements, ... ---===//
//
// Verifiers and costs of the ops in PPIndexingOps.td; the shape rules are
// ShapeInference.cpp's, shared with the importer.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/IR/ShapeInference.h"

using namespace mlir;
using namespace ppc::pp;

namespace {
RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }
Type elementOf(Value v) { return tensorType(v).getElementType(); }

int64_t byteSize(Value v) {
  auto t = tensorType(v);
  return t.getNumElements() * ((t.getElementTypeBitWidth() + 7) / 8);
}

LogicalResult checkResult(Operation *op, Value result, ArrayRef<int64_t> shape,
                          Type element) {
  auto type = tensorType(result);
  if (type.getShape() != shape) {
    auto diag = op->emitOpError("result shape ");
    diag << type << " does not match the expected shape [";
    llvm::interleave(shape, diag, "x");
    return diag << "]";
  }
  if (type.getElementType() != element)
    return op->emitOpError("result element type ")
           << type.getElementType() << " should be " << element;
  return success();
}
} // namespace

LogicalResult GatherNDOp::verify() {
  FailureOr<Shape> shape =
      gatherNDShape(shapeOf(getData()), shapeOf(getIndices()),
                    getBatchDimsAttr().getInt(), [&] { return emitOpError(); });
  if (failed(shape))
    return failure();
  return checkResult(*this, getResult(), *shape, elementOf(getData()));
}
int64_t GatherNDOp::getFlops() { return 0; }
// Reads only the slices it gathers.
int64_t GatherNDOp::getBytesMoved() {
  return 2 * byteSize(getResult()) + byteSize(getIndices());
}

LogicalResult ScatterNDOp::verify() {
  StringRef r = getReduction();
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return emitOpError("reduction '")
           << r << "' is not one of none, add, mul, max, min";
  if (elementOf(getUpdates()) != elementOf(getData()))
    return emitOpError("updates must have data's element type");
  if (failed(checkScatterNDShapes(shapeOf(getData()), shapeOf(getIndices()),
                                  shapeOf(getUpdates()),
                                  getBatchDimsAttr().getInt(),
                                  [&] { return emitOpError(); })))
    return failure();
  return checkResult(*this, getResult(), shapeOf(getData()),
                     elementOf(getData()));
}
// One operation per element of the updates (none: a copy).
int64_t ScatterNDOp::getFlops() {
  return getReduction() == "none" ? 0 : tensorType(getUpdates()).getNumElements();
}

LogicalResult GatherElementsOp::verify() {
  if (failed(checkGatherElementsShapes(shapeOf(getData()),
                                       shapeOf(getIndices()),
                                       getAxisAttr().getInt(),
                                       [&] { return emitOpError(); })))
    return failure();
  return checkResult(*this, getResult(), shapeOf(getIndices()),
                     elementOf(getData()));
}
int64_t GatherElementsOp::getFlops() { return 0; }
// Reads one data element and one index per result element.
int64_t GatherElementsOp::getBytesMoved() {
  return 2 * byteSize(getResult()) + byteSize(getIndices());
}

LogicalResult GatherElementsGradOp::verify() {
  if (failed(checkGatherElementsShapes(shapeOf(getResult()),
                                       shapeOf(getIndices()),
                                       getAxisAttr().getInt(),
                                       [&] { return emitOpError(); })))
    return failure();
  if (shapeOf(getGrad()) != shapeOf(getIndices()))
    return emitOpError("grad ")
           << getGrad().getType() << " must have the shape of indices "
           << getIndices().getType();
  if (elementOf(getGrad()) != elementOf(getResult()))
    return emitOpError("result element type ")
           << elementOf(getResult()) << " should be grad's "
           << elementOf(getGrad());
  return success();
}
// One addition per element of grad.
int64_t GatherElementsGradOp::getFlops() {
  return tensorType(getGrad()).getNumElements();
}

LogicalResult CumSumOp::verify() {
  int64_t rank = tensorType(getInput()).getRank(), axis = getAxisAttr().getInt();
  if (axis < 0 || axis >= rank)
    return emitOpError("axis ") << axis << " is out of range for rank " << rank;
  return success();
}

LogicalResult RangeOp::verify() {
  for (Value v : {getStart(), getLimit(), getDelta()}) {
    if (tensorType(v).getNumElements() != 1)
      return emitOpError("start, limit and delta must be scalars, got ")
             << v.getType();
    if (elementOf(v) != elementOf(getResult()))
      return emitOpError("start, limit and delta must have the result's "
                         "element type ")
             << elementOf(getResult());
  }
  if (tensorType(getResult()).getRank() != 1)
    return emitOpError("result must be 1-D");
  return success();
}
