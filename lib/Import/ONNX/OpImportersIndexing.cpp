//===- OpImportersIndexing.cpp - GatherND, ScatterND, GatherElements, ... -===//
//
// Index-tuple gathers and scatters (shifted-window attention's exports use
// ScatterND), running sums, and Range with run-time operands. Each folds on
// the host when its inputs are known.
//
//===----------------------------------------------------------------------===//

#include "GraphImporter.h"
#include "HostEval.h"
#include "NodeContext.h"

#include <cmath>

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {
namespace {

int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// Where gather_nd and scatter_nd's index tuples point: batch b, tuple t of
/// that batch, and the element offset of the slice it selects.
struct TupleGeometry {
  int64_t batches, tuples, m, slice, perBatch;
  pp::Shape tupleStrides; // element strides of the m indexed axes
  TupleGeometry(ArrayRef<int64_t> data, ArrayRef<int64_t> indices,
                int64_t batchDims)
      : batches(product(data.take_front(batchDims))),
        tuples(product(indices.drop_front(batchDims).drop_back())),
        m(indices.back()), slice(product(data.drop_front(batchDims + m))),
        perBatch(product(data.drop_front(batchDims))) {
    for (int64_t k = 0; k < m; ++k)
      tupleStrides.push_back(product(data.drop_front(batchDims + k + 1)));
  }
};

/// The slice offsets of every index tuple, or an error naming the first
/// index out of range.
FailureOr<std::vector<int64_t>> tupleOffsets(NodeContext &ctx,
                                             ArrayRef<int64_t> data,
                                             const HostTensor &indices,
                                             int64_t batchDims) {
  TupleGeometry g(data, indices.shape(), batchDims);
  std::vector<int64_t> offsets;
  for (int64_t bt = 0; bt < g.batches * g.tuples; ++bt) {
    int64_t offset = (bt / g.tuples) * g.perBatch;
    for (int64_t k = 0; k < g.m; ++k) {
      int64_t dim = data[batchDims + k], j = indices.getInt(bt * g.m + k);
      if (j < -dim || j >= dim)
        return ctx.emitError() << "index " << j << " is out of range for axis "
                               << batchDims + k << " of size " << dim;
      offset += (j < 0 ? j + dim : j) * g.tupleStrides[k];
    }
    offsets.push_back(offset);
  }
  return offsets;
}

LogicalResult importGatherND(NodeContext &ctx) {
  int64_t batchDims = ctx.intAttr("batch_dims", 0);
  ArrayRef<int64_t> data = ctx.inputShape(0), indices = ctx.inputShape(1);
  FailureOr<pp::Shape> shape =
      pp::gatherNDShape(data, indices, batchDims, ctx.errors());
  if (failed(shape))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(*shape, ctx.elementType(0));
  if (failed(type))
    return failure();
  if (ctx.allFoldable()) {
    const HostTensor &x = *ctx.constant(0), &idx = *ctx.constant(1);
    FailureOr<std::vector<int64_t>> offsets =
        tupleOffsets(ctx, data, idx, batchDims);
    if (failed(offsets))
      return failure();
    int64_t slice = TupleGeometry(data, indices, batchDims).slice;
    ctx.setConstant(0, gatherElements(x, *shape, [&](int64_t i) {
      return (*offsets)[i / slice] + i % slice;
    }));
    return success();
  }
  FailureOr<Value> x = ctx.input(0), idx = ctx.input(1);
  if (failed(x) || failed(idx))
    return failure();
  ctx.setOutput(0, pp::GatherNDOp::create(ctx.b, ctx.loc, *type, *x, *idx,
                                          batchDims));
  return success();
}

LogicalResult importScatterND(NodeContext &ctx) {
  std::string reduction = ctx.stringAttr("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" &&
      reduction != "max" && reduction != "min")
    return ctx.emitError() << "reduction '" << reduction
                           << "' is not one of none, add, mul, max, min";
  ArrayRef<int64_t> data = ctx.inputShape(0), indices = ctx.inputShape(1),
                    updates = ctx.inputShape(2);
  if (failed(pp::checkScatterNDShapes(data, indices, updates, 0, ctx.errors())))
    return failure();
  if (ctx.elementType(0) != ctx.elementType(2))
    return ctx.emitError() << "updates must have data's element type";
  if (ctx.allFoldable()) {
    HostTensor out = *ctx.constant(0);
    const HostTensor &idx = *ctx.constant(1), &upd = *ctx.constant(2);
    FailureOr<std::vector<int64_t>> offsets = tupleOffsets(ctx, data, idx, 0);
    if (failed(offsets))
      return failure();
    int64_t slice = TupleGeometry(data, indices, 0).slice;
    for (size_t t = 0; t < offsets->size(); ++t)
      for (int64_t e = 0; e < slice; ++e) {
        int64_t at = (*offsets)[t] + e, from = t * slice + e;
        if (out.isFloat()) {
          double a = out.getFloat(at), u = upd.getFloat(from);
          out.setFloat(at, reduction == "add"   ? a + u
                           : reduction == "mul" ? a * u
                           : reduction == "max" ? std::max(a, u)
                           : reduction == "min" ? std::min(a, u)
                                                : u);
        } else {
          int64_t a = out.getInt(at), u = upd.getInt(from);
          out.setInt(at, reduction == "add"   ? int64_t(uint64_t(a) + uint64_t(u))
                         : reduction == "mul" ? int64_t(uint64_t(a) * uint64_t(u))
                         : reduction == "max" ? std::max(a, u)
                         : reduction == "min" ? std::min(a, u)
                                              : u);
        }
      }
    ctx.setConstant(0, std::move(out));
    return success();
  }
  FailureOr<Value> x = ctx.input(0), idx = ctx.input(1), upd = ctx.input(2);
  if (failed(x) || failed(idx) || failed(upd))
    return failure();
  ctx.setOutput(0, pp::ScatterNDOp::create(ctx.b, ctx.loc, x->getType(), *x,
                                           *idx, *upd, reduction, 0));
  return success();
}

/// GatherElements (opsets 11 and 13, which only adds types): pp.gather_elements,
/// folded when data and indices are known. Known indices are checked here,
/// so that an index out of range names the node at compile time.
LogicalResult importGatherElements(NodeContext &ctx) {
  ArrayRef<int64_t> data = ctx.inputShape(0), indices = ctx.inputShape(1);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.intAttr("axis", 0), data.size());
  if (failed(axis))
    return failure();
  if (failed(pp::checkGatherElementsShapes(data, indices, *axis, ctx.errors())))
    return failure();
  FailureOr<RankedTensorType> type = ctx.tensorType(indices, ctx.elementType(0));
  if (failed(type))
    return failure();
  // Index i of the result to data's linear index (or an error).
  pp::Shape dataStrides = stridesOf(data), indexStrides = stridesOf(indices);
  auto dataIndex = [&](const HostTensor &idx, int64_t i) -> FailureOr<int64_t> {
    int64_t at = 0;
    for (size_t d = 0; d < indices.size(); ++d) {
      int64_t c = (i / indexStrides[d]) % indices[d];
      if ((int64_t)d == *axis) {
        int64_t j = idx.getInt(i), n = data[d];
        if (j < -n || j >= n)
          return ctx.emitError() << "index " << j << " is out of range for axis "
                                 << d << " of size " << n;
        c = j < 0 ? j + n : j;
      }
      at += c * dataStrides[d];
    }
    return at;
  };
  if (const HostTensor *idx = ctx.constant(1))
    for (int64_t i = 0, e = idx->numElements(); i < e; ++i)
      if (failed(dataIndex(*idx, i)))
        return failure();
  if (ctx.allFoldable()) {
    const HostTensor &x = *ctx.constant(0), &idx = *ctx.constant(1);
    ctx.setConstant(0, gatherElements(x, indices, [&](int64_t i) {
      return *dataIndex(idx, i);
    }));
    return success();
  }
  FailureOr<Value> x = ctx.input(0), idx = ctx.input(1);
  if (failed(x) || failed(idx))
    return failure();
  ctx.setOutput(0, pp::GatherElementsOp::create(ctx.b, ctx.loc, *type, *x, *idx,
                                                *axis));
  return success();
}

LogicalResult importCumSum(NodeContext &ctx) {
  FailureOr<const HostTensor *> axisInput = ctx.requireScalar(1, "the axis");
  if (failed(axisInput))
    return failure();
  RankedTensorType type = ctx.inputType(0);
  FailureOr<int64_t> axis =
      ctx.normalizeAxis((*axisInput)->getInt(0), type.getRank());
  if (failed(axis))
    return failure();
  bool exclusive = ctx.intAttr("exclusive", 0) != 0,
       reverse = ctx.intAttr("reverse", 0) != 0;
  if (ctx.allFoldable()) {
    const HostTensor &x = *ctx.constant(0);
    ArrayRef<int64_t> shape = type.getShape();
    int64_t n = shape[*axis], inner = product(shape.drop_front(*axis + 1));
    int64_t outer = n ? x.numElements() / (n * inner) : 0;
    HostTensor out(x.onnxType(), x.shape());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        double f = 0;
        int64_t i = 0;
        for (int64_t s = 0; s < n; ++s) {
          int64_t k = reverse ? n - 1 - s : s, at = (o * n + k) * inner + in;
          if (exclusive) {
            x.isFloat() ? out.setFloat(at, f) : out.setInt(at, i);
          }
          f += x.getFloat(at);
          i = int64_t(uint64_t(i) + uint64_t(x.getInt(at)));
          if (!exclusive) {
            x.isFloat() ? out.setFloat(at, f) : out.setInt(at, i);
          }
        }
      }
    ctx.setConstant(0, std::move(out));
    return success();
  }
  FailureOr<Value> x = ctx.input(0);
  if (failed(x))
    return failure();
  auto op = pp::CumSumOp::create(ctx.b, ctx.loc, type, *x, *axis);
  if (exclusive)
    op.setExclusive(true);
  if (reverse)
    op.setReverse(true);
  ctx.setOutput(0, op);
  return success();
}

/// Range with an operand known only at run time: the length must still be
/// static, as the model's (or ONNX shape inference's) type of the output
/// gives it; the kernel checks the operands agree with it.
LogicalResult importRuntimeRange(NodeContext &ctx) {
  static const char *names[] = {"start", "limit", "delta"};
  Type element = ctx.elementType(0);
  for (unsigned i = 0; i < 3; ++i) {
    if (!ctx.hasInput(i))
      return ctx.emitError() << "needs its " << names[i] << " input";
    if (ctx.inputType(i).getNumElements() != 1)
      return ctx.emitError() << names[i] << " must be a scalar";
    if (ctx.elementType(i) != element)
      return ctx.emitError() << "start, limit and delta must share one type";
  }
  RankedTensorType type = ctx.inferredOutputType(0);
  if (!type || type.getRank() != 1) {
    unsigned unknown = 0;
    while (unknown < 2 && ctx.constant(unknown))
      ++unknown;
    return ctx.emitError()
           << names[unknown]
           << " is known only at run time and the output's length is not "
              "static in the model: ppc compiles static shapes (freeze the "
              "input with -bind NAME=FILE.pb)";
  }
  SmallVector<Value> operands;
  for (unsigned i = 0; i < 3; ++i) {
    FailureOr<Value> v = ctx.input(i);
    if (failed(v))
      return failure();
    operands.push_back(*v);
  }
  ctx.setOutput(0, pp::RangeOp::create(
                       ctx.b, ctx.loc,
                       RankedTensorType::get(type.getShape(), element),
                       operands[0], operands[1], operands[2]));
  return success();
}

/// The Range handler registered before this file's (OpImportersConstant's,
/// which folds known operands).
OpHandler foldingRange = nullptr;

LogicalResult importRange(NodeContext &ctx) {
  bool known = true;
  for (unsigned i = 0; i < 3; ++i)
    known = known && ctx.hasInput(i) && ctx.constant(i);
  if (known && foldingRange)
    return foldingRange(ctx);
  return importRuntimeRange(ctx);
}

} // namespace

RankedTensorType NodeContext::inferredOutputType(unsigned i) {
  if (i >= numOutputs() || node.output(i).empty())
    return nullptr;
  const onnx::TypeProto *type = graph.inferredType(node.output(i));
  if (!type || !type->has_tensor_type() || !type->tensor_type().has_shape())
    return nullptr;
  Type element = elementTypeFor(getContext(), type->tensor_type().elem_type());
  if (!element)
    return nullptr;
  pp::Shape shape;
  for (const auto &d : type->tensor_type().shape().dim()) {
    if (!d.has_dim_value())
      return nullptr;
    shape.push_back(d.dim_value());
  }
  return RankedTensorType::get(shape, element);
}

void registerIndexingOps(OpRegistry &r) {
  r.add("GatherND", importGatherND);
  r.add("ScatterND", importScatterND);
  r.add("GatherElements", importGatherElements);
  r.add("CumSum", importCumSum);
  // Known operands still fold through the constant importers' Range.
  foldingRange = r.lookup("Range");
  r.add("Range", importRange);
}

} // namespace ppc::onnximport
