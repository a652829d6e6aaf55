//===- PPOps.cpp - pp op verifiers, folders and costs ---------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/IR/ShapeInference.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace ppc::pp;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}
static ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }
static int64_t numElements(Value v) { return tensorType(v).getNumElements(); }

static int64_t byteSize(Type type) {
  auto t = cast<RankedTensorType>(type);
  int64_t bits = t.getElementType().getIntOrFloatBitWidth();
  return t.getNumElements() * ((bits + 7) / 8);
}

/// Checks that `result` has shape `expected` (already computed by a shape
/// rule) and element type `elementType`.
static LogicalResult verifyResult(Operation *op, Value result,
                                  ArrayRef<int64_t> expected,
                                  Type elementType) {
  auto type = tensorType(result);
  if (type.getShape() != expected) {
    auto diag = op->emitOpError("result shape ");
    diag << type << " does not match the expected shape [";
    llvm::interleave(expected, diag, "x");
    return diag << "]";
  }
  if (type.getElementType() != elementType)
    return op->emitOpError("result element type ")
           << type.getElementType() << " should be " << elementType;
  return success();
}

static LogicalResult verifyInferred(Operation *op, Value result,
                                    FailureOr<Shape> expected,
                                    Type elementType) {
  if (failed(expected))
    return failure();
  return verifyResult(op, result, *expected, elementType);
}

static LogicalResult sameElementTypes(Operation *op, ValueRange values) {
  Type first = tensorType(values.front()).getElementType();
  for (Value v : values.drop_front())
    if (tensorType(v).getElementType() != first)
      return op->emitOpError("operands must share one element type, got ")
             << first << " and " << tensorType(v).getElementType();
  return success();
}

static auto errorsOf(Operation *op) {
  return [op]() { return op->emitOpError(); };
}

/// The element type a product (matmul, gemm, conv) of `factors` returns:
/// theirs, or f32 when they are f16 or bf16 (-pp-precision: low-precision
/// operands, accumulated and returned in f32). An `addend` (gemm's C,
/// conv's bias) has the result's type. Errors name the disagreement.
static FailureOr<Type> productElementType(Operation *op, ValueRange factors,
                                          Value addend) {
  if (failed(sameElementTypes(op, factors)))
    return failure();
  Type factor = tensorType(factors.front()).getElementType();
  Type result = tensorType(op->getResult(0)).getElementType();
  Type want = (factor.isF16() || factor.isBF16()) && result.isF32() ? result
                                                                   : factor;
  if (addend && tensorType(addend).getElementType() != want)
    return op->emitOpError("addend must have the result's element type ")
           << want << ", got " << tensorType(addend).getElementType();
  return want;
}

//===----------------------------------------------------------------------===//
// Cost defaults
//===----------------------------------------------------------------------===//

int64_t ppc::pp::detail::defaultFlops(Operation *op) {
  int64_t n = 0;
  for (Type t : op->getResultTypes())
    n += cast<RankedTensorType>(t).getNumElements();
  return n;
}

int64_t ppc::pp::detail::defaultBytesMoved(Operation *op) {
  int64_t n = 0;
  for (Type t : op->getOperandTypes())
    n += byteSize(t);
  for (Type t : op->getResultTypes())
    n += byteSize(t);
  return n;
}

//===----------------------------------------------------------------------===//
// Parameters and constants
//===----------------------------------------------------------------------===//

LogicalResult GetParamOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto param = symbolTable.lookupNearestSymbolFrom<ParamOp>(*this, getNameAttr());
  if (!param)
    return emitOpError("'") << getName() << "' does not name a pp.param";
  if (param.getType() != getType())
    return emitOpError("type ") << getType() << " differs from pp.param @"
                                << getName() << " of type " << param.getType();
  return success();
}
int64_t GetParamOp::getFlops() { return 0; }
int64_t GetParamOp::getBytesMoved() { return 0; }

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }
int64_t ConstantOp::getFlops() { return 0; }
int64_t ConstantOp::getBytesMoved() { return 0; }

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Broadcast operands, shared element type (but pow's exponent), result
/// element type of the op's kind.
static LogicalResult verifyBroadcastOp(Operation *op, ValueRange operands,
                                       Type resultElementType,
                                       bool checkSameElementTypes) {
  if (checkSameElementTypes && failed(sameElementTypes(op, operands)))
    return failure();
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Value v : operands)
    shapes.push_back(shapeOf(v));
  return verifyInferred(op, op->getResult(0),
                      broadcastShapes(shapes, errorsOf(op)),
                      resultElementType);
}

#define PP_VERIFY_BINARY(OP, RESULT_ELEMENT, SAME)                             \
  LogicalResult OP::verify() {                                                 \
    return verifyBroadcastOp(*this, getOperation()->getOperands(),             \
                             RESULT_ELEMENT, SAME);                            \
  }
#define PP_ARITH(OP)                                                           \
  PP_VERIFY_BINARY(OP, tensorType(getLhs()).getElementType(), true)
#define PP_LOGIC(OP)                                                           \
  PP_VERIFY_BINARY(OP, IntegerType::get(getContext(), 1), true)
PP_ARITH(AddOp)
PP_ARITH(SubOp)
PP_ARITH(MulOp)
PP_ARITH(DivOp)
PP_ARITH(MaxOp)
PP_ARITH(MinOp)
PP_ARITH(ModOp)
PP_VERIFY_BINARY(PowOp, tensorType(getLhs()).getElementType(), false)
PP_LOGIC(EqualOp)
PP_LOGIC(LessOp)
PP_LOGIC(LessEqualOp)
PP_LOGIC(GreaterOp)
PP_LOGIC(GreaterEqualOp)
PP_LOGIC(AndOp)
PP_LOGIC(OrOp)
PP_LOGIC(XorOp)
#undef PP_ARITH
#undef PP_LOGIC
#undef PP_VERIFY_BINARY

LogicalResult WhereOp::verify() {
  if (failed(sameElementTypes(*this, {getLhs(), getRhs()})))
    return failure();
  return verifyBroadcastOp(*this, getOperation()->getOperands(),
                           tensorType(getLhs()).getElementType(), false);
}

LogicalResult ClipOp::verify() {
  if (getMin() && getMax() && *getMin() > *getMax())
    return emitOpError("min ") << getMin()->convertToDouble() << " exceeds max "
                               << getMax()->convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

LogicalResult MatMulOp::verify() {
  FailureOr<Type> element =
      productElementType(*this, {getLhs(), getRhs()}, nullptr);
  if (failed(element))
    return failure();
  return verifyInferred(*this, getResult(),
                      matmulShape(shapeOf(getLhs()), shapeOf(getRhs()),
                                  errorsOf(*this)),
                      *element);
}
int64_t MatMulOp::getFlops() {
  ArrayRef<int64_t> lhs = shapeOf(getLhs());
  return 2 * numElements(getResult()) * lhs.back();
}

LogicalResult GemmOp::verify() {
  FailureOr<Type> element = productElementType(*this, {getA(), getB()}, getC());
  if (failed(element))
    return failure();
  std::optional<ArrayRef<int64_t>> c;
  if (getC())
    c = shapeOf(getC());
  return verifyInferred(*this, getResult(),
                      gemmShape(shapeOf(getA()), shapeOf(getB()), c,
                                getTransA(), getTransB(), errorsOf(*this)),
                      *element);
}
int64_t GemmOp::getFlops() {
  ArrayRef<int64_t> a = shapeOf(getA());
  int64_t k = getTransA() ? a[0] : a[1];
  int64_t mn = numElements(getResult());
  return 2 * mn * k + (getC() ? 2 * mn : 0);
}

LogicalResult ConvOp::verify() {
  FailureOr<Type> element =
      productElementType(*this, {getInput(), getFilter()}, getBias());
  if (failed(element))
    return failure();
  ArrayRef<int64_t> filter = shapeOf(getFilter());
  if (getBias() && shapeOf(getBias()) != ArrayRef<int64_t>{filter[0]})
    return emitOpError("bias must have one value per output channel (")
           << filter[0] << ")";
  return verifyInferred(*this, getResult(),
                      convShape(shapeOf(getInput()), filter, getStrides(),
                                getPads(), getDilations(),
                                getGroupAttr().getInt(), errorsOf(*this)),
                      *element);
}
int64_t ConvOp::getFlops() {
  // Multiply-adds per output element: input channels per group times the
  // kernel's spatial size.
  ArrayRef<int64_t> filter = shapeOf(getFilter());
  int64_t perOutput = 1;
  for (int64_t d : filter.drop_front())
    perOutput *= d;
  return numElements(getResult()) * (2 * perOutput + (getBias() ? 1 : 0));
}

// The two halves of conv's backward each cost what the forward does.
int64_t ConvInputGradOp::getFlops() {
  ArrayRef<int64_t> filter = shapeOf(getFilter());
  int64_t perOutput = 1;
  for (int64_t d : filter.drop_front())
    perOutput *= d;
  return 2 * numElements(getGrad()) * perOutput;
}
int64_t ConvFilterGradOp::getFlops() {
  ArrayRef<int64_t> filter = shapeOf(getResult());
  int64_t perOutput = 1;
  for (int64_t d : filter.drop_front())
    perOutput *= d;
  return 2 * numElements(getGrad()) * perOutput;
}

static int64_t poolFlops(Value result, ArrayRef<int64_t> kernel) {
  int64_t window = 1;
  for (int64_t k : kernel)
    window *= k;
  return numElements(result) * window;
}

LogicalResult MaxPoolOp::verify() {
  return verifyInferred(*this, getResult(),
                      poolShape(shapeOf(getInput()), getKernelShape(),
                                getStrides(), getPads(), getDilations(),
                                getCeilMode(), errorsOf(*this)),
                      tensorType(getInput()).getElementType());
}
int64_t MaxPoolOp::getFlops() { return poolFlops(getResult(), getKernelShape()); }

LogicalResult AvgPoolOp::verify() {
  SmallVector<int64_t> ones(getKernelShape().size(), 1);
  return verifyInferred(*this, getResult(),
                      poolShape(shapeOf(getInput()), getKernelShape(),
                                getStrides(), getPads(), ones, getCeilMode(),
                                errorsOf(*this)),
                      tensorType(getInput()).getElementType());
}
int64_t AvgPoolOp::getFlops() { return poolFlops(getResult(), getKernelShape()); }

//===----------------------------------------------------------------------===//
// Normalisation and softmax
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::verify() {
  if (failed(sameElementTypes(*this, getOperation()->getOperands())))
    return failure();
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (in.size() < 2)
    return emitOpError("input must be N x C x ..., got rank ") << in.size();
  for (Value v : {getScale(), getBias(), getMean(), getVariance()})
    if (shapeOf(v) != ArrayRef<int64_t>{in[1]})
      return emitOpError("scale, bias, mean and variance must be vectors of "
                         "the channel count ")
             << in[1];
  if (getEpsilon().isNegative())
    return emitOpError("epsilon must not be negative");
  return verifyResult(*this, getResult(), in,
                      tensorType(getInput()).getElementType());
}
int64_t BatchNormOp::getFlops() { return 2 * numElements(getResult()); }

LogicalResult BatchNormTrainOp::verify() {
  if (failed(sameElementTypes(*this, getOperation()->getOperands())))
    return failure();
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (in.size() < 2)
    return emitOpError("input must be N x C x ..., got rank ") << in.size();
  for (Value v : {getScale(), getBias(), getRunningMean(), getRunningVar()})
    if (shapeOf(v) != ArrayRef<int64_t>{in[1]})
      return emitOpError("scale, bias and the running statistics must be "
                         "vectors of the channel count ")
             << in[1];
  if (getEpsilon().isNegative())
    return emitOpError("epsilon must not be negative");
  Type f = tensorType(getInput()).getElementType();
  for (Value v : {getMean(), getInvStdDev(), getNewRunningMean(),
                  getNewRunningVar()})
    if (failed(verifyResult(*this, v, {in[1]}, f)))
      return failure();
  return verifyResult(*this, getResult(), in, f);
}
int64_t BatchNormTrainOp::getFlops() { return 6 * numElements(getResult()); }

LogicalResult LayerNormOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t axis = getAxisAttr().getInt();
  FailureOr<Shape> stats = layerNormStatsShape(in, axis, errorsOf(*this));
  if (failed(stats))
    return failure();
  ArrayRef<int64_t> normalized = in.drop_front(axis);
  for (Value v : {getScale(), getBias()}) {
    if (!v)
      continue;
    // Unidirectional broadcast of scale/bias to the normalised axes.
    ArrayRef<int64_t> s = shapeOf(v);
    bool fits = s.size() <= normalized.size();
    for (size_t i = 0; fits && i < s.size(); ++i) {
      int64_t n = normalized[normalized.size() - s.size() + i];
      fits = s[i] == n || s[i] == 1;
    }
    if (!fits)
      return emitOpError("scale and bias must broadcast to the normalised "
                         "axes");
    if (tensorType(v).getElementType() != tensorType(getInput()).getElementType())
      return emitOpError("scale and bias must have the input's element type");
  }
  if (getEpsilon().isNegative())
    return emitOpError("epsilon must not be negative");
  if (failed(verifyResult(*this, getResult(), in,
                          tensorType(getInput()).getElementType())))
    return failure();
  for (Value v : {getMean(), getInvStdDev()})
    if (shapeOf(v) != ArrayRef<int64_t>(*stats))
      return emitOpError("mean and inv_std_dev must have the input's shape "
                         "with the normalised axes set to 1");
  return success();
}
int64_t LayerNormOp::getFlops() { return 8 * numElements(getResult()); }

static LogicalResult verifySoftmaxAxis(Operation *op, int64_t axis, Value input) {
  int64_t rank = tensorType(input).getRank();
  if (axis < 0 || axis >= rank)
    return op->emitOpError("axis ") << axis << " is out of range for rank "
                                    << rank;
  return success();
}
LogicalResult SoftmaxOp::verify() {
  return verifySoftmaxAxis(*this, getAxisAttr().getInt(), getInput());
}
LogicalResult LogSoftmaxOp::verify() {
  return verifySoftmaxAxis(*this, getAxisAttr().getInt(), getInput());
}
int64_t SoftmaxOp::getFlops() { return 5 * numElements(getResult()); }
int64_t LogSoftmaxOp::getFlops() { return 5 * numElements(getResult()); }

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

#define PP_REDUCE(OP)                                                          \
  LogicalResult OP::verify() {                                                 \
    return verifyInferred(*this, getResult(),                                  \
                        reduceShape(shapeOf(getInput()), getAxes(),            \
                                    getKeepdims(), errorsOf(*this)),           \
                        tensorType(getInput()).getElementType());              \
  }                                                                            \
  int64_t OP::getFlops() { return numElements(getInput()); }
PP_REDUCE(ReduceSumOp)
PP_REDUCE(ReduceMeanOp)
PP_REDUCE(ReduceMaxOp)
PP_REDUCE(ReduceMinOp)
PP_REDUCE(ReduceProdOp)
#undef PP_REDUCE

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  auto in = tensorType(getInput()), out = tensorType(getResult());
  if (in.getElementType() != out.getElementType())
    return emitOpError("element type must not change");
  if (in.getNumElements() != out.getNumElements())
    return emitOpError("cannot reshape ")
           << in << " (" << in.getNumElements() << " elements) to " << out
           << " (" << out.getNumElements() << " elements)";
  return success();
}
OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (auto producer = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(producer.getInput());
    return getResult();
  }
  if (auto value = dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    return value.reshape(getType());
  return {};
}
int64_t ReshapeOp::getFlops() { return 0; }
int64_t ReshapeOp::getBytesMoved() { return 0; }

LogicalResult TransposeOp::verify() {
  return verifyInferred(*this, getResult(),
                      transposeShape(shapeOf(getInput()), getPerm(),
                                     errorsOf(*this)),
                      tensorType(getInput()).getElementType());
}
int64_t TransposeOp::getFlops() { return 0; }

LogicalResult SliceOp::verify() {
  return verifyInferred(*this, getResult(),
                      sliceShape(shapeOf(getInput()), getStarts(), getEnds(),
                                 getSteps(), errorsOf(*this)),
                      tensorType(getInput()).getElementType());
}
int64_t SliceOp::getFlops() { return 0; }

LogicalResult ConcatOp::verify() {
  if (failed(sameElementTypes(*this, getInputs())))
    return failure();
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Value v : getInputs())
    shapes.push_back(shapeOf(v));
  return verifyInferred(*this, getResult(),
                      concatShape(shapes, getAxisAttr().getInt(),
                                  errorsOf(*this)),
                      tensorType(getInputs().front()).getElementType());
}
int64_t ConcatOp::getFlops() { return 0; }

LogicalResult GatherOp::verify() {
  return verifyInferred(*this, getResult(),
                      gatherShape(shapeOf(getData()), shapeOf(getIndices()),
                                  getAxisAttr().getInt(), errorsOf(*this)),
                      tensorType(getData()).getElementType());
}
int64_t GatherOp::getFlops() { return 0; }

LogicalResult BroadcastOp::verify() {
  ArrayRef<int64_t> out = shapeOf(getResult());
  FailureOr<Shape> b =
      broadcastShapes({shapeOf(getInput()), out}, errorsOf(*this));
  if (failed(b))
    return failure();
  if (ArrayRef<int64_t>(*b) != out)
    return emitOpError("input ") << getInput().getType()
                                 << " does not broadcast to " << getType();
  return verifyResult(*this, getResult(), out,
                      tensorType(getInput()).getElementType());
}
int64_t BroadcastOp::getFlops() { return 0; }

LogicalResult PadOp::verify() {
  if (getMode() != PadMode::Constant) {
    ArrayRef<int64_t> in = shapeOf(getInput());
    ArrayRef<int64_t> pads = getPads();
    for (size_t i = 0; i < in.size() && 2 * in.size() == pads.size(); ++i) {
      if (getMode() == PadMode::Reflect &&
          (pads[i] >= in[i] || pads[i + in.size()] >= in[i]) &&
          (pads[i] > 0 || pads[i + in.size()] > 0))
        return emitOpError("reflect padding of axis ")
               << i << " must be smaller than its size " << in[i];
      if (in[i] == 0 && (pads[i] > 0 || pads[i + in.size()] > 0))
        return emitOpError("cannot ") << stringifyPadMode(getMode())
                                      << "-pad the empty axis " << i;
    }
  }
  return verifyInferred(*this, getResult(),
                      padShape(shapeOf(getInput()), getPads(), errorsOf(*this)),
                      tensorType(getInput()).getElementType());
}
int64_t PadOp::getFlops() { return 0; }

LogicalResult ResizeOp::verify() {
  int64_t rank = tensorType(getInput()).getRank();
  if (tensorType(getResult()).getRank() != rank)
    return emitOpError("result rank must equal the input rank ") << rank;
  if ((int64_t)getScales().size() != rank)
    return emitOpError("scales needs one value per axis (") << rank << ")";
  for (double s : getScales())
    if (!(s > 0))
      return emitOpError("scales must be positive");
  if (getRoi() && (int64_t)getRoi()->size() != 2 * rank)
    return emitOpError("roi needs ") << 2 * rank << " values";
  if (getCoordinateTransform() == CoordinateTransform::TfCropAndResize &&
      !getRoi())
    return emitOpError("tf_crop_and_resize needs a roi");
  if (tensorType(getResult()).getElementType() !=
      tensorType(getInput()).getElementType())
    return emitOpError("element type must not change");
  return success();
}
int64_t ResizeOp::getFlops() {
  int64_t perOutput = getMode() == ResizeMode::Nearest ? 1
                      : getMode() == ResizeMode::Linear ? 4
                                                        : 16;
  return perOutput * numElements(getResult());
}

LogicalResult TriluOp::verify() {
  if (tensorType(getInput()).getRank() < 2)
    return emitOpError("input must have rank >= 2");
  return success();
}

#define GET_OP_CLASSES
#include "ppc/Dialect/PP/IR/PPOps.cpp.inc"

#include "ppc/Dialect/PP/IR/PPInterfaces.cpp.inc"
