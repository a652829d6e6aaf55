//===- OpImportersSequence.cpp - sequences as the exporters write them ----===//
//
// ppc has no run-time sequence type: a sequence is resolved while importing
// into the list of its elements' values, so its length and every position
// must be known at compile time. That covers what torch's exporters write
// (SplitToSequence + SequenceAt for `split`, SequenceConstruct +
// ConcatFromSequence for `cat` of a list, SequenceEmpty + SequenceInsert
// for a list built in a loop that was unrolled). A position known only at
// run time is refused by name. Elements are the values themselves, so a
// sequence costs no op and gradients flow through the slices, reshapes
// and concats its ops write.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {
namespace {

/// The sequence input `i`, or an error naming it.
FailureOr<const std::vector<std::string> *> sequenceInput(NodeContext &ctx,
                                                          unsigned i) {
  if (const std::vector<std::string> *seq = ctx.sequence(i))
    return seq;
  if (!ctx.hasInput(i))
    return ctx.emitError() << "input " << i << " is missing";
  return ctx.emitError() << "input '" << ctx.node.input(i)
                         << "' must be a sequence";
}

/// A position input: a constant scalar in [-size, size + extra), made
/// non-negative. `extra` is 1 where a position may name the end (insert).
FailureOr<int64_t> position(NodeContext &ctx, unsigned i, int64_t size,
                            int64_t extra) {
  if (!ctx.constant(i))
    return ctx.emitError()
           << "position (input '" << ctx.node.input(i)
           << "') must be known at compile time: ppc resolves sequences "
              "while importing, with no run-time sequence type";
  const HostTensor *p = ctx.constant(i);
  if (p->numElements() != 1)
    return ctx.emitError() << "position must hold one value";
  int64_t at = p->getInt(0);
  if (at < -size || at >= size + extra)
    return ctx.emitError() << "position " << at
                           << " is out of range for a sequence of " << size
                           << " elements";
  return at < 0 ? at + size : at;
}

LogicalResult importSplitToSequence(NodeContext &ctx) {
  RankedTensorType type = ctx.inputType(0);
  ArrayRef<int64_t> in = type.getShape();
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.intAttr("axis", 0), in.size());
  if (failed(axis))
    return failure();
  int64_t length = in[*axis];
  bool keepdims = ctx.intAttr("keepdims", 1) != 0;
  SmallVector<int64_t> sizes;
  if (ctx.hasInput(1)) {
    FailureOr<const HostTensor *> split =
        ctx.requireConstant(1, "split (its count is the sequence's length)");
    if (failed(split))
      return failure();
    const HostTensor &s = **split;
    if (s.shape().empty()) {
      // One size: chunks of it, the last one smaller.
      int64_t chunk = s.getInt(0);
      if (chunk <= 0)
        return ctx.emitError() << "split " << chunk << " must be positive";
      for (int64_t at = 0; at < length; at += chunk)
        sizes.push_back(std::min(chunk, length - at));
    } else {
      if (s.shape().size() != 1)
        return ctx.emitError() << "split must be a scalar or 1-D";
      int64_t sum = 0;
      for (int64_t k = 0; k < s.numElements(); ++k) {
        if (s.getInt(k) < 0)
          return ctx.emitError() << "split size " << s.getInt(k)
                                 << " is negative";
        sizes.push_back(s.getInt(k));
        sum += s.getInt(k);
      }
      if (sum != length)
        return ctx.emitError() << "split sizes add up to " << sum
                               << ", not the axis size " << length;
    }
    keepdims = true; // ONNX: keepdims is ignored when split is given
  } else {
    sizes.assign(length, 1);
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  std::vector<std::string> elements;
  int64_t offset = 0;
  for (auto [k, size] : llvm::enumerate(sizes)) {
    SmallVector<int64_t> starts(in.size(), 0), ends(in), steps(in.size(), 1),
        shape(in);
    starts[*axis] = offset;
    ends[*axis] = offset + size;
    shape[*axis] = size;
    offset += size;
    Value v = pp::SliceOp::create(ctx.b, ctx.loc,
                                  RankedTensorType::get(shape,
                                                        type.getElementType()),
                                  *x, ctx.b.getDenseI64ArrayAttr(starts),
                                  ctx.b.getDenseI64ArrayAttr(ends),
                                  ctx.b.getDenseI64ArrayAttr(steps));
    if (!keepdims) {
      shape.erase(shape.begin() + *axis);
      v = pp::ReshapeOp::create(
          ctx.b, ctx.loc, RankedTensorType::get(shape, type.getElementType()),
          v);
    }
    elements.push_back(ctx.defineElement(0, k, v));
  }
  ctx.setSequence(0, std::move(elements), type.getElementType());
  return success();
}

LogicalResult importSequenceConstruct(NodeContext &ctx) {
  if (ctx.numInputs() == 0)
    return ctx.emitError() << "needs at least one input";
  Type element = ctx.elementType(0);
  std::vector<std::string> elements;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i) || ctx.sequence(i))
      return ctx.emitError() << "input " << i << " must be a tensor";
    if (ctx.elementType(i) != element)
      return ctx.emitError() << "input '" << ctx.node.input(i)
                             << "' has element type " << ctx.elementType(i)
                             << " where the sequence holds " << element;
    elements.push_back(ctx.node.input(i));
  }
  ctx.setSequence(0, std::move(elements), element);
  return success();
}

LogicalResult importSequenceEmpty(NodeContext &ctx) {
  int32_t dtype = (int32_t)ctx.intAttr("dtype", TensorProto::FLOAT);
  Type element = elementTypeFor(ctx.getContext(), dtype);
  if (!element)
    return ctx.emitError() << "dtype " << onnxTypeName(dtype)
                           << " is not supported";
  ctx.setSequence(0, {}, element);
  return success();
}

LogicalResult importSequenceAt(NodeContext &ctx) {
  FailureOr<const std::vector<std::string> *> seq = sequenceInput(ctx, 0);
  if (failed(seq))
    return failure();
  FailureOr<int64_t> at = position(ctx, 1, (*seq)->size(), 0);
  if (failed(at))
    return failure();
  return ctx.forwardOutput(0, (**seq)[*at]);
}

LogicalResult importSequenceLength(NodeContext &ctx) {
  FailureOr<const std::vector<std::string> *> seq = sequenceInput(ctx, 0);
  if (failed(seq))
    return failure();
  ctx.setConstant(0, HostTensor::ofInts(TensorProto::INT64, {},
                                        {(int64_t)(*seq)->size()}));
  return success();
}

LogicalResult importSequenceInsert(NodeContext &ctx) {
  FailureOr<const std::vector<std::string> *> seq = sequenceInput(ctx, 0);
  if (failed(seq))
    return failure();
  if (!ctx.hasInput(1) || ctx.sequence(1))
    return ctx.emitError() << "input 1 must be a tensor";
  Type element = ctx.sequenceElementType(0);
  if (element && ctx.elementType(1) != element)
    return ctx.emitError() << "inserts a tensor of element type "
                           << ctx.elementType(1) << " into a sequence of "
                           << element;
  std::vector<std::string> elements = **seq;
  int64_t at = elements.size();
  if (ctx.hasInput(2)) {
    FailureOr<int64_t> p = position(ctx, 2, elements.size(), 1);
    if (failed(p))
      return failure();
    at = *p;
  }
  elements.insert(elements.begin() + at, ctx.node.input(1));
  ctx.setSequence(0, std::move(elements), ctx.elementType(1));
  return success();
}

LogicalResult importSequenceErase(NodeContext &ctx) {
  FailureOr<const std::vector<std::string> *> seq = sequenceInput(ctx, 0);
  if (failed(seq))
    return failure();
  std::vector<std::string> elements = **seq;
  if (elements.empty())
    return ctx.emitError() << "erases from an empty sequence";
  int64_t at = elements.size() - 1;
  if (ctx.hasInput(1)) {
    FailureOr<int64_t> p = position(ctx, 1, elements.size(), 0);
    if (failed(p))
      return failure();
    at = *p;
  }
  elements.erase(elements.begin() + at);
  ctx.setSequence(0, std::move(elements), ctx.sequenceElementType(0));
  return success();
}

/// ConcatFromSequence: pp.concat of the elements along `axis`, each given a
/// new axis there first with `new_axis` (numpy.stack).
LogicalResult importConcatFromSequence(NodeContext &ctx) {
  FailureOr<const std::vector<std::string> *> seq = sequenceInput(ctx, 0);
  if (failed(seq))
    return failure();
  const std::vector<std::string> &names = **seq;
  if (names.empty())
    return ctx.emitError() << "concatenates an empty sequence";
  bool newAxis = ctx.intAttr("new_axis", 0) != 0;
  if (!ctx.attribute("axis"))
    return ctx.emitError() << "needs the axis attribute";
  int64_t rank = ctx.typeOf(names[0]).getRank() + (newAxis ? 1 : 0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<Value> parts;
  SmallVector<pp::Shape> shapes;
  for (const std::string &name : names) {
    FailureOr<Value> v = ctx.valueOf(name);
    if (failed(v))
      return failure();
    auto type = cast<RankedTensorType>(v->getType());
    pp::Shape shape(type.getShape());
    if (newAxis) {
      shape.insert(shape.begin() + *axis, 1);
      *v = pp::ReshapeOp::create(
          ctx.b, ctx.loc, RankedTensorType::get(shape, type.getElementType()),
          *v);
    }
    parts.push_back(*v);
    shapes.push_back(shape);
  }
  SmallVector<ArrayRef<int64_t>> shapeRefs(shapes.begin(), shapes.end());
  FailureOr<pp::Shape> shape = pp::concatShape(shapeRefs, *axis, ctx.errors());
  if (failed(shape))
    return failure();
  Type element = cast<RankedTensorType>(parts[0].getType()).getElementType();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, element);
  if (failed(type))
    return failure();
  if (parts.size() == 1) {
    ctx.setOutput(0, parts[0]);
    return success();
  }
  ctx.setOutput(0, pp::ConcatOp::create(ctx.b, ctx.loc, *type, parts, *axis));
  return success();
}

} // namespace

void registerSequenceOps(OpRegistry &r) {
  r.add("SplitToSequence", importSplitToSequence);
  r.add("SequenceConstruct", importSequenceConstruct);
  r.add("SequenceEmpty", importSequenceEmpty);
  r.add("SequenceAt", importSequenceAt);
  r.add("SequenceLength", importSequenceLength);
  r.add("SequenceInsert", importSequenceInsert);
  r.add("SequenceErase", importSequenceErase);
  r.add("ConcatFromSequence", importConcatFromSequence);
}

} // namespace ppc::onnximport
