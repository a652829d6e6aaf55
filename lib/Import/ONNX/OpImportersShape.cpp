//===- OpImportersShape.cpp - reshape, transpose, slice, concat, ... ------===//

#include "HostEval.h"
#include "NodeContext.h"

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {
namespace {

/// Reads a list of integers from an attribute (before `inputSince`) or from
/// constant input `input` (from that opset on).
FailureOr<std::optional<SmallVector<int64_t>>>
intsFromAttrOrInput(NodeContext &ctx, StringRef attr, unsigned input,
                    int64_t inputSince, StringRef what) {
  if (ctx.opset < inputSince)
    return ctx.intsAttr(attr);
  if (!ctx.hasInput(input))
    return std::optional<SmallVector<int64_t>>();
  FailureOr<const HostTensor *> c = ctx.requireConstant(input, what);
  if (failed(c))
    return failure();
  std::vector<int64_t> v = (*c)->toInts();
  return std::optional<SmallVector<int64_t>>(SmallVector<int64_t>(v.begin(), v.end()));
}

/// Emits the input reshaped to `shape` (folded when the input is constant).
LogicalResult reshapeTo(NodeContext &ctx, ArrayRef<int64_t> shape) {
  FailureOr<RankedTensorType> type = ctx.tensorType(shape, ctx.elementType(0));
  if (failed(type))
    return failure();
  if (type->getNumElements() != ctx.inputType(0).getNumElements())
    return ctx.emitError() << "cannot reshape " << ctx.inputType(0) << " to "
                           << *type;
  if (ctx.allFoldable()) {
    ctx.setConstant(0, ctx.constant(0)->reshaped(pp::Shape(shape)));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  if (x->getType() == *type)
    ctx.setOutput(0, *x);
  else
    ctx.setOutput(0, pp::ReshapeOp::create(ctx.b, ctx.loc, *type, *x));
  return success();
}

LogicalResult importReshape(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  SmallVector<int64_t> target;
  if (ctx.opset < 5) {
    target = ctx.intsAttr("shape").value_or(SmallVector<int64_t>());
  } else {
    FailureOr<const HostTensor *> s = ctx.requireConstant(1, "the target shape");
    if (failed(s))
      return failure();
    std::vector<int64_t> v = (*s)->toInts();
    target.assign(v.begin(), v.end());
  }
  bool allowZero = ctx.intAttr("allowzero", 0);
  int64_t inferAt = -1, known = 1;
  for (auto [i, d] : llvm::enumerate(target)) {
    if (d == 0 && !allowZero) {
      if (i >= in.size())
        return ctx.emitError() << "target shape copies dimension " << i
                               << ", which the input does not have";
      d = in[i];
    }
    if (d == -1) {
      if (inferAt >= 0)
        return ctx.emitError() << "target shape has more than one -1";
      inferAt = i;
      continue;
    }
    if (d < 0)
      return ctx.emitError() << "target shape has dimension " << d;
    known *= d;
  }
  int64_t total = ctx.inputType(0).getNumElements();
  if (inferAt >= 0) {
    if (known == 0 || total % known != 0)
      return ctx.emitError() << "cannot infer the -1 dimension reshaping "
                             << ctx.inputType(0) << " (" << total
                             << " elements)";
    target[inferAt] = total / known;
  }
  return reshapeTo(ctx, target);
}

LogicalResult importFlatten(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  int64_t rank = in.size(), axis = ctx.intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return ctx.emitError() << "axis " << axis << " is out of range for rank "
                           << rank;
  if (axis < 0)
    axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i)
    (i < axis ? outer : inner) *= in[i];
  return reshapeTo(ctx, {outer, inner});
}

LogicalResult importSqueeze(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  auto axes = intsFromAttrOrInput(ctx, "axes", 1, 13, "axes");
  if (failed(axes))
    return failure();
  SmallVector<bool> drop(in.size(), false);
  if (!*axes) {
    for (auto [i, d] : llvm::enumerate(in))
      drop[i] = d == 1;
  } else {
    for (int64_t a : **axes) {
      FailureOr<int64_t> n = ctx.normalizeAxis(a, in.size());
      if (failed(n))
        return failure();
      if (in[*n] != 1)
        return ctx.emitError() << "cannot squeeze axis " << *n << " of size "
                               << in[*n];
      drop[*n] = true;
    }
  }
  pp::Shape out;
  for (auto [i, d] : llvm::enumerate(in))
    if (!drop[i])
      out.push_back(d);
  return reshapeTo(ctx, out);
}

LogicalResult importUnsqueeze(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  auto axes = intsFromAttrOrInput(ctx, "axes", 1, 13, "axes");
  if (failed(axes))
    return failure();
  if (!*axes)
    return ctx.emitError() << "axes are required";
  int64_t rank = in.size() + (*axes)->size();
  SmallVector<bool> inserted(rank, false);
  for (int64_t a : **axes) {
    FailureOr<int64_t> n = ctx.normalizeAxis(a, rank);
    if (failed(n))
      return failure();
    if (inserted[*n])
      return ctx.emitError() << "axis " << *n << " is listed twice";
    inserted[*n] = true;
  }
  pp::Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i)
    out.push_back(inserted[i] ? 1 : in[next++]);
  return reshapeTo(ctx, out);
}

LogicalResult importTranspose(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  SmallVector<int64_t> perm;
  if (auto p = ctx.intsAttr("perm"))
    perm = *p;
  else
    for (int64_t i = in.size() - 1; i >= 0; --i)
      perm.push_back(i);
  FailureOr<pp::Shape> shape = pp::transposeShape(in, perm, ctx.errors());
  if (failed(shape))
    return failure();
  if (ctx.allFoldable()) {
    const HostTensor &x = *ctx.constant(0);
    pp::Shape inStrides = stridesOf(in);
    pp::Shape outShape = *shape;
    ctx.setConstant(0, gatherElements(x, outShape, [&](int64_t i) {
      int64_t src = 0;
      for (int64_t d = (int64_t)outShape.size() - 1; d >= 0; --d) {
        src += (i % outShape[d]) * inStrides[perm[d]];
        i /= outShape[d];
      }
      return src;
    }));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  auto type = RankedTensorType::get(*shape, ctx.elementType(0));
  ctx.setOutput(0, pp::TransposeOp::create(ctx.b, ctx.loc, type, *x, perm));
  return success();
}

/// Emits (or folds) a slice with normalised full-rank bounds.
LogicalResult emitSlice(NodeContext &ctx, unsigned output, ArrayRef<int64_t> starts,
                        ArrayRef<int64_t> ends, ArrayRef<int64_t> steps) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  FailureOr<pp::Shape> shape =
      pp::sliceShape(in, starts, ends, steps, ctx.errors());
  if (failed(shape))
    return failure();
  if (ctx.allFoldable()) {
    pp::Shape inStrides = stridesOf(in), outShape = *shape;
    ctx.setConstant(output, gatherElements(*ctx.constant(0), outShape,
                                           [&](int64_t i) {
      int64_t src = 0;
      for (int64_t d = (int64_t)outShape.size() - 1; d >= 0; --d) {
        src += (starts[d] + (i % outShape[d]) * steps[d]) * inStrides[d];
        i /= outShape[d];
      }
      return src;
    }));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  auto type = RankedTensorType::get(*shape, ctx.elementType(0));
  if (type == x->getType()) {
    ctx.setOutput(output, *x);
    return success();
  }
  ctx.setOutput(output, pp::SliceOp::create(ctx.b, ctx.loc, type, *x, starts,
                                            ends, steps));
  return success();
}

LogicalResult importSlice(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  int64_t rank = in.size();
  SmallVector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.intsAttr("starts").value_or(SmallVector<int64_t>());
    ends = ctx.intsAttr("ends").value_or(SmallVector<int64_t>());
    axes = ctx.intsAttr("axes").value_or(SmallVector<int64_t>());
  } else {
    const char *what[] = {"", "starts", "ends", "axes", "steps"};
    SmallVector<int64_t> *into[] = {nullptr, &starts, &ends, &axes, &steps};
    for (unsigned i = 1; i <= 4; ++i) {
      if (!ctx.hasInput(i))
        continue;
      FailureOr<const HostTensor *> c = ctx.requireConstant(i, what[i]);
      if (failed(c))
        return failure();
      std::vector<int64_t> v = (*c)->toInts();
      into[i]->assign(v.begin(), v.end());
    }
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return ctx.emitError() << "starts, ends, axes and steps differ in length";
  SmallVector<int64_t> fullStarts(rank, 0), fullEnds(in), fullSteps(rank, 1);
  SmallVector<bool> seen(rank, false);
  for (size_t k = 0; k < axes.size(); ++k) {
    FailureOr<int64_t> a = ctx.normalizeAxis(axes[k], rank);
    if (failed(a))
      return failure();
    if (seen[*a])
      return ctx.emitError() << "axis " << *a << " is sliced twice";
    seen[*a] = true;
    if (steps[k] == 0)
      return ctx.emitError() << "step of axis " << *a << " is 0";
    int64_t start = starts[k], end = ends[k];
    pp::normalizeSliceBounds(in[*a], start, end, steps[k]);
    fullStarts[*a] = start;
    fullEnds[*a] = end;
    fullSteps[*a] = steps[k];
  }
  return emitSlice(ctx, 0, fullStarts, fullEnds, fullSteps);
}

LogicalResult importSplit(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.intAttr("axis", 0), in.size());
  if (failed(axis))
    return failure();
  auto split = intsFromAttrOrInput(ctx, "split", 1, 13, "split");
  if (failed(split))
    return failure();
  int64_t n = ctx.numOutputs();
  SmallVector<int64_t> sizes;
  // Opset 18 asks for either the split sizes or num_outputs, which cuts
  // chunks of ceil(size / num_outputs) with a smaller last one.
  bool hasSplit = *split && !(*split)->empty();
  if (ctx.opset >= 18 && ctx.attribute("num_outputs")) {
    if (hasSplit)
      return ctx.emitError() << "takes the split input or num_outputs, not "
                                "both";
    int64_t k = ctx.intAttr("num_outputs", 0);
    if (k != n)
      return ctx.emitError() << "num_outputs is " << k << " but the node has "
                             << n << " outputs";
    int64_t chunk = (in[*axis] + k - 1) / k;
    int64_t last = in[*axis] - chunk * (k - 1);
    if (last <= 0)
      return ctx.emitError() << "an axis of size " << in[*axis]
                             << " does not split into " << k
                             << " chunks of " << chunk;
    sizes.assign(k - 1, chunk);
    sizes.push_back(last);
  } else if (ctx.opset >= 18 && !hasSplit) {
    return ctx.emitError() << "needs the split input or num_outputs at opset "
                           << ctx.opset;
  } else if (hasSplit) {
    sizes = **split;
    if ((int64_t)sizes.size() != n)
      return ctx.emitError() << "split lists " << sizes.size()
                             << " sizes for " << n << " outputs";
    int64_t sum = 0;
    for (int64_t s : sizes)
      sum += s;
    if (sum != in[*axis])
      return ctx.emitError() << "split sizes add up to " << sum
                             << ", not the axis size " << in[*axis];
  } else {
    if (in[*axis] % n != 0)
      return ctx.emitError() << "axis of size " << in[*axis]
                             << " does not split evenly into " << n;
    sizes.assign(n, in[*axis] / n);
  }
  int64_t offset = 0;
  for (int64_t i = 0; i < n; ++i) {
    SmallVector<int64_t> starts(in.size(), 0), ends(in), steps(in.size(), 1);
    starts[*axis] = offset;
    ends[*axis] = offset + sizes[i];
    offset += sizes[i];
    if (failed(emitSlice(ctx, i, starts, ends, steps)))
      return failure();
  }
  return success();
}

LogicalResult importConcat(NodeContext &ctx) {
  if (ctx.numInputs() == 0)
    return ctx.emitError() << "needs at least one input";
  int64_t rank = ctx.inputType(0).getRank();
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<ArrayRef<int64_t>> shapes;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    shapes.push_back(ctx.inputShape(i));
  FailureOr<pp::Shape> shape = pp::concatShape(shapes, *axis, ctx.errors());
  if (failed(shape))
    return failure();
  if (ctx.allFoldable()) {
    // Walk the output; each element comes from the input covering its index
    // along the axis.
    pp::Shape outShape = *shape;
    HostTensor out(ctx.constant(0)->onnxType(), outShape);
    pp::Shape outStrides = stridesOf(outShape);
    for (int64_t i = 0, e = out.numElements(); i < e; ++i) {
      int64_t along = (i / outStrides[*axis]) % outShape[*axis];
      unsigned k = 0;
      while (along >= shapes[k][*axis])
        along -= shapes[k++][*axis];
      const HostTensor &src = *ctx.constant(k);
      pp::Shape srcStrides = stridesOf(shapes[k]);
      int64_t rest = i, j = 0;
      for (int64_t d = rank - 1; d >= 0; --d) {
        int64_t c = rest % outShape[d];
        rest /= outShape[d];
        j += (d == *axis ? along : c) * srcStrides[d];
      }
      if (src.isFloat())
        out.setFloat(i, src.getFloat(j));
      else
        out.setInt(i, src.getInt(j));
    }
    ctx.setConstant(0, std::move(out));
    return success();
  }
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    FailureOr<Value> v = ctx.input(i);
    if (failed(v))
      return failure();
    inputs.push_back(*v);
  }
  if (inputs.size() == 1) {
    ctx.setOutput(0, inputs[0]);
    return success();
  }
  auto type = RankedTensorType::get(*shape, ctx.elementType(0));
  ctx.setOutput(0, pp::ConcatOp::create(ctx.b, ctx.loc, type, inputs, *axis));
  return success();
}

LogicalResult importGather(NodeContext &ctx) {
  ArrayRef<int64_t> data = ctx.inputShape(0), indices = ctx.inputShape(1);
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.intAttr("axis", 0), data.size());
  if (failed(axis))
    return failure();
  FailureOr<pp::Shape> shape =
      pp::gatherShape(data, indices, *axis, ctx.errors());
  if (failed(shape))
    return failure();
  if (ctx.allFoldable()) {
    const HostTensor &x = *ctx.constant(0), &idx = *ctx.constant(1);
    int64_t outer = 1, inner = 1, n = data[*axis];
    for (int64_t d = 0; d < *axis; ++d)
      outer *= data[d];
    for (size_t d = *axis + 1; d < data.size(); ++d)
      inner *= data[d];
    int64_t count = idx.numElements();
    for (int64_t k = 0; k < count; ++k)
      if (idx.getInt(k) < -n || idx.getInt(k) >= n)
        return ctx.emitError() << "index " << idx.getInt(k)
                               << " is out of range for an axis of size " << n;
    ctx.setConstant(0, gatherElements(x, *shape, [&](int64_t i) {
      int64_t in = i % inner, rest = i / inner;
      int64_t k = rest % count, out = rest / count;
      int64_t j = idx.getInt(k);
      if (j < 0)
        j += n;
      return (out * n + j) * inner + in;
    }));
    return success();
  }
  FailureOr<Value> x = ctx.input(0), idx = ctx.input(1);
  if (failed(x) || failed(idx))
    return failure();
  auto type = RankedTensorType::get(*shape, ctx.elementType(0));
  ctx.setOutput(0, pp::GatherOp::create(ctx.b, ctx.loc, type, *x, *idx, *axis));
  return success();
}

LogicalResult importExpand(NodeContext &ctx) {
  FailureOr<const HostTensor *> s = ctx.requireConstant(1, "the target shape");
  if (failed(s))
    return failure();
  std::vector<int64_t> target = (*s)->toInts();
  FailureOr<pp::Shape> shape =
      pp::broadcastShapes({ctx.inputShape(0), target}, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  if (failed(type))
    return failure();
  if (ctx.allFoldable() && type->getNumElements() <= kMaxFoldElements) {
    const HostTensor &x = *ctx.constant(0);
    pp::Shape outShape = *shape;
    ctx.setConstant(0, gatherElements(x, outShape, [&](int64_t i) {
      return broadcastIndex(i, outShape, x.shape());
    }));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  if (x->getType() == *type)
    ctx.setOutput(0, *x);
  else
    ctx.setOutput(0, pp::BroadcastOp::create(ctx.b, ctx.loc, *type, *x));
  return success();
}

/// Pad's wrap mode (opset 19), which pp.pad does not have: negative amounts
/// crop first (a slice), then each axis wraps around what is left, as a
/// concat of the slices that output index i reads, (i - begin) mod size
/// (or, for pads over four times the axis, a window of the axis doubled).
LogicalResult emitWrapPad(NodeContext &ctx, Value x, ArrayRef<int64_t> pads) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(type.getShape());
  size_t rank = shape.size();
  SmallVector<int64_t> starts(rank, 0), ends(shape), steps(rank, 1);
  bool crop = false;
  for (size_t a = 0; a < rank; ++a) {
    starts[a] = std::max<int64_t>(0, -pads[a]);
    ends[a] = shape[a] - std::max<int64_t>(0, -pads[a + rank]);
    if (ends[a] <= starts[a])
      return ctx.emitError() << "pads crop all of axis " << a;
    crop |= starts[a] != 0 || ends[a] != shape[a];
  }
  if (crop) {
    for (size_t a = 0; a < rank; ++a)
      shape[a] = ends[a] - starts[a];
    x = pp::SliceOp::create(ctx.b, ctx.loc,
                            RankedTensorType::get(shape, type.getElementType()),
                            x, starts, ends, steps);
  }
  for (size_t a = 0; a < rank; ++a) {
    int64_t before = std::max<int64_t>(0, pads[a]),
            after = std::max<int64_t>(0, pads[a + rank]), m = shape[a];
    if (before == 0 && after == 0)
      continue;
    int64_t total = m + before + after;
    shape[a] = total;
    auto outType = RankedTensorType::get(shape, type.getElementType());
    if (before + after > 4 * m) {
      // Pads much wider than the axis wrap around it many times. Slices would
      // need one piece per turn (a hostile file's turns are unbounded), so
      // the axis is doubled until it covers the window that output index 0
      // starts, (-before) mod m, and the window is sliced out: at most 64
      // concats, and nothing materialized.
      int64_t start = ((-before) % m + m) % m;
      SmallVector<int64_t> longShape(shape);
      for (int64_t len = m; len < start + total;) {
        len *= 2;
        longShape[a] = len;
        x = pp::ConcatOp::create(
            ctx.b, ctx.loc,
            RankedTensorType::get(longShape, type.getElementType()),
            ValueRange{x, x}, a);
      }
      SmallVector<int64_t> s(rank, 0), e(shape);
      s[a] = start;
      e[a] = start + total;
      x = pp::SliceOp::create(ctx.b, ctx.loc, outType, x, s, e, steps);
      continue;
    }
    SmallVector<Value> pieces;
    SmallVector<int64_t> inShape(shape);
    inShape[a] = m;
    for (int64_t i = 0; i < total;) {
      int64_t from = ((i - before) % m + m) % m;
      int64_t len = std::min(m - from, total - i);
      SmallVector<int64_t> pieceShape(inShape), s(rank, 0), e(inShape);
      s[a] = from;
      e[a] = from + len;
      pieceShape[a] = len;
      i += len;
      if (len == m) {
        pieces.push_back(x);
        continue;
      }
      pieces.push_back(pp::SliceOp::create(
          ctx.b, ctx.loc,
          RankedTensorType::get(pieceShape, type.getElementType()), x, s, e,
          steps));
    }
    x = pp::ConcatOp::create(ctx.b, ctx.loc, outType, pieces, a);
  }
  ctx.setOutput(0, x);
  return success();
}

LogicalResult importPad(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  int64_t rank = in.size();
  std::string modeName = ctx.stringAttr("mode", "constant");
  std::optional<pp::PadMode> mode = pp::symbolizePadMode(modeName);
  bool wrap = modeName == "wrap" && ctx.opset >= 19;
  if (!mode && !wrap)
    return ctx.emitError() << "pad mode '" << modeName << "' is not "
                           << (modeName == "wrap" ? "valid before opset 19"
                                                  : "supported");
  SmallVector<int64_t> pads;
  double value = 0;
  if (ctx.opset < 11) {
    pads = ctx.intsAttr("pads").value_or(SmallVector<int64_t>());
    value = ctx.floatAttr("value", 0.0);
  } else {
    FailureOr<const HostTensor *> p = ctx.requireConstant(1, "pads");
    if (failed(p))
      return failure();
    std::vector<int64_t> v = (*p)->toInts();
    pads.assign(v.begin(), v.end());
    if (ctx.hasInput(2)) {
      FailureOr<const HostTensor *> c = ctx.requireConstant(2, "constant_value");
      if (failed(c))
        return failure();
      if ((*c)->numElements() > 0)
        value = (*c)->getFloat(0);
    }
  }
  // From opset 18, pads may name only some axes (input 3); the others get 0.
  if (ctx.opset >= 18 && ctx.hasInput(3)) {
    FailureOr<const HostTensor *> a = ctx.requireConstant(3, "axes");
    if (failed(a))
      return failure();
    std::vector<int64_t> axes = (*a)->toInts();
    if (pads.size() != 2 * axes.size())
      return ctx.emitError() << "pads needs " << 2 * axes.size()
                             << " values for " << axes.size() << " axes";
    SmallVector<int64_t> full(2 * rank, 0);
    SmallVector<bool> seen(rank, false);
    for (auto [k, axis] : llvm::enumerate(axes)) {
      FailureOr<int64_t> n = ctx.normalizeAxis(axis, rank);
      if (failed(n))
        return failure();
      if (seen[*n])
        return ctx.emitError() << "axis " << *n << " is listed twice";
      seen[*n] = true;
      full[*n] = pads[k];
      full[*n + rank] = pads[k + axes.size()];
    }
    pads = std::move(full);
  }
  FailureOr<pp::Shape> shape = pp::padShape(in, pads, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  FailureOr<Value> x = ctx.input(0);
  if (failed(type) || failed(x))
    return failure();
  if (wrap)
    return emitWrapPad(ctx, *x, pads);
  ctx.setOutput(0, pp::PadOp::create(ctx.b, ctx.loc, *type, *x, pads, *mode,
                                     APFloat(value)));
  return success();
}

/// Resize (opset 10+) and its predecessor Upsample (opsets 7 to 9).
LogicalResult importResize(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.inputShape(0);
  size_t rank = in.size();
  bool upsample = ctx.node.op_type() == "Upsample";
  std::string modeName = ctx.stringAttr("mode", "nearest");
  std::optional<pp::ResizeMode> mode = pp::symbolizeResizeMode(modeName);
  if (modeName == "bilinear")
    mode = pp::ResizeMode::Linear;
  if (!mode)
    return ctx.emitError() << "resize mode '" << modeName
                           << "' is not supported";
  // Before opset 11, coordinates map asymmetrically and nearest rounds down.
  bool legacy = upsample || ctx.opset < 11;
  std::string transformName = legacy ? "asymmetric"
                                     : ctx.stringAttr(
                                           "coordinate_transformation_mode",
                                           "half_pixel");
  // half_pixel_symmetric (opset 19) differs from half_pixel only where an
  // output size is not exactly scale x input size; checked below.
  bool symmetric = transformName == "half_pixel_symmetric" && ctx.opset >= 19;
  std::optional<pp::CoordinateTransform> transform =
      symmetric ? pp::CoordinateTransform::HalfPixel
                : pp::symbolizeCoordinateTransform(transformName);
  if (!transform)
    return ctx.emitError() << "coordinate_transformation_mode '"
                           << transformName << "' is not supported";
  std::string nearestName =
      legacy ? "floor" : ctx.stringAttr("nearest_mode", "round_prefer_floor");
  std::optional<pp::NearestMode> nearest = pp::symbolizeNearestMode(nearestName);
  if (!nearest)
    return ctx.emitError() << "nearest_mode '" << nearestName
                           << "' is not supported";

  SmallVector<double> scales, roi;
  pp::Shape outShape;
  auto readFloats = [&](unsigned i, StringRef what,
                        SmallVector<double> &into) -> LogicalResult {
    if (!ctx.hasInput(i))
      return success();
    FailureOr<const HostTensor *> c = ctx.requireConstant(i, what);
    if (failed(c))
      return failure();
    std::vector<double> v = (*c)->toFloats();
    into.assign(v.begin(), v.end());
    return success();
  };
  if (upsample && ctx.opset < 9) {
    scales = ctx.floatsAttr("scales").value_or(SmallVector<double>());
  } else if (upsample || ctx.opset == 10) {
    if (failed(readFloats(1, "scales", scales)))
      return failure();
  } else {
    SmallVector<double> sizes;
    if (failed(readFloats(1, "roi", roi)) ||
        failed(readFloats(2, "scales", scales)) ||
        failed(readFloats(3, "sizes", sizes)))
      return failure();
    // From opset 18, roi, scales and sizes may cover only the axes listed
    // in `axes`; the others keep their size.
    SmallVector<int64_t> axes;
    for (size_t i = 0; i < rank; ++i)
      axes.push_back(i);
    if (ctx.opset >= 18 && ctx.attribute("axes")) {
      axes.clear();
      SmallVector<bool> seen(rank, false);
      SmallVector<int64_t> listed = *ctx.intsAttr("axes");
      for (int64_t a : listed) {
        FailureOr<int64_t> n = ctx.normalizeAxis(a, rank);
        if (failed(n))
          return failure();
        if (seen[*n])
          return ctx.emitError() << "axis " << *n << " is listed twice";
        seen[*n] = true;
        axes.push_back(*n);
      }
      size_t k = axes.size();
      auto spread = [&](SmallVector<double> &v, size_t per, StringRef what,
                        double fill0, double fill1) -> LogicalResult {
        if (v.empty())
          return success();
        if (v.size() != per * k)
          return ctx.emitError() << what << " needs " << per * k
                                 << " values for " << k << " axes";
        SmallVector<double> full(per * rank);
        for (size_t i = 0; i < rank; ++i) {
          full[i] = fill0 < 0 ? in[i] : fill0;
          if (per == 2)
            full[i + rank] = fill1;
        }
        for (size_t j = 0; j < k; ++j) {
          full[axes[j]] = v[j];
          if (per == 2)
            full[axes[j] + rank] = v[j + k];
        }
        v = std::move(full);
        return success();
      };
      if (failed(spread(roi, 2, "roi", 0.0, 1.0)) ||
          failed(spread(scales, 1, "scales", 1.0, 0)) ||
          failed(spread(sizes, 1, "sizes", -1.0, 0)))
        return failure();
    }
    if (!sizes.empty()) {
      if (sizes.size() != rank)
        return ctx.emitError() << "sizes needs " << rank << " values";
      scales.clear();
      for (size_t i = 0; i < rank; ++i) {
        outShape.push_back((int64_t)sizes[i]);
        scales.push_back(sizes[i] / in[i]);
      }
      // keep_aspect_ratio_policy (opset 18): one scale for every listed
      // axis, the smallest (not_larger) or largest (not_smaller) of theirs;
      // sizes round half up.
      std::string policy = ctx.opset >= 18
                               ? ctx.stringAttr("keep_aspect_ratio_policy",
                                                "stretch")
                               : "stretch";
      if (policy == "not_larger" || policy == "not_smaller") {
        double scale = scales[axes[0]];
        for (int64_t a : axes)
          scale = policy == "not_larger" ? std::min(scale, scales[a])
                                         : std::max(scale, scales[a]);
        for (int64_t a : axes) {
          scales[a] = scale;
          outShape[a] = (int64_t)(scale * in[a] + 0.5);
        }
      } else if (policy != "stretch") {
        return ctx.emitError() << "keep_aspect_ratio_policy '" << policy
                               << "' is not valid";
      }
    }
  }
  if (scales.size() != rank)
    return ctx.emitError() << "scales needs " << rank << " values, one per axis";
  if (outShape.empty())
    for (size_t i = 0; i < rank; ++i) {
      if (!(scales[i] > 0))
        return ctx.emitError() << "scales must be positive";
      outShape.push_back((int64_t)std::floor(in[i] * scales[i]));
    }
  for (size_t i = 0; symmetric && i < rank; ++i) {
    double exact = scales[i] * in[i];
    if (std::abs(outShape[i] - exact) > 1e-9 * exact)
      return ctx.emitError()
             << "coordinate_transformation_mode 'half_pixel_symmetric' is "
                "supported only where the output size is scale x input size "
                "(axis "
             << i << ": " << outShape[i] << " for " << exact << ")";
  }
  // antialias (opset 18) filters linear and cubic downscaling only; where
  // no axis shrinks it changes nothing.
  if (ctx.opset >= 18 && ctx.intAttr("antialias", 0) &&
      *mode != pp::ResizeMode::Nearest)
    for (size_t i = 0; i < rank; ++i)
      if (scales[i] < 1)
        return ctx.emitError() << "antialias=1 is not supported when "
                               << modeName << " resize downscales (axis " << i
                               << ", scale " << scales[i] << ")";
  if (*transform != pp::CoordinateTransform::TfCropAndResize)
    roi.clear();
  else if (roi.size() != 2 * rank)
    return ctx.emitError() << "tf_crop_and_resize needs a roi of " << 2 * rank
                           << " values";
  FailureOr<RankedTensorType> type = ctx.tensorType(outShape, ctx.elementType(0));
  FailureOr<Value> x = ctx.input(0);
  if (failed(type) || failed(x))
    return failure();
  ctx.setOutput(0, pp::ResizeOp::create(
                       ctx.b, ctx.loc, *type, *x, *mode, *transform, *nearest,
                       scales,
                       roi.empty() ? DenseF64ArrayAttr()
                                   : ctx.b.getDenseF64ArrayAttr(roi),
                       APFloat(ctx.floatAttr("cubic_coeff_a", -0.75)),
                       (bool)ctx.intAttr("exclude_outside", 0),
                       APFloat(ctx.floatAttr("extrapolation_value", 0.0))));
  return success();
}

LogicalResult importTrilu(NodeContext &ctx) {
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    FailureOr<const HostTensor *> c = ctx.requireScalar(1, "k");
    if (failed(c))
      return failure();
    k = (*c)->getInt(0);
  }
  if (ctx.inputType(0).getRank() < 2)
    return ctx.emitError() << "input must have rank >= 2";
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  UnitAttr upper = ctx.intAttr("upper", 1) ? ctx.b.getUnitAttr() : UnitAttr();
  ctx.setOutput(0, pp::TriluOp::create(ctx.b, ctx.loc, x->getType(), *x, upper,
                                       ctx.b.getI64IntegerAttr(k)));
  return success();
}

} // namespace

void registerShapeOps(OpRegistry &r) {
  r.add("Reshape", importReshape);
  r.add("Flatten", importFlatten);
  r.add("Squeeze", importSqueeze);
  r.add("Unsqueeze", importUnsqueeze);
  r.add("Transpose", importTranspose);
  r.add("Slice", importSlice);
  r.add("Split", importSplit);
  r.add("Concat", importConcat);
  r.add("Gather", importGather);
  r.add("Expand", importExpand);
  r.add("Pad", importPad);
  r.add("Resize", importResize);
  r.add("Upsample", importResize);
  r.add("Trilu", importTrilu);
}

} // namespace ppc::onnximport
