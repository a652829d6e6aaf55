//===- ShapeInference.h - shape rules of the pp ops -------------*- C++ -*-===//
//
// One function per shape rule. The op verifiers check declared result types
// against them and the ONNX importer builds result types from them, so each
// rule is written once. Errors go to the emitter the caller passes: the op's
// own diagnostic in a verifier, the ONNX node's location in the importer.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_SHAPEINFERENCE_H
#define PPC_DIALECT_PP_IR_SHAPEINFERENCE_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"

namespace ppc::pp {

using Shape = llvm::SmallVector<int64_t, 6>;
using EmitErrorFn = llvm::function_ref<mlir::InFlightDiagnostic()>;

/// Largest element count a tensor may have; products past it are an error.
constexpr int64_t kMaxElements = int64_t(1) << 48;

/// Number of elements, or failure (with a diagnostic) when a dimension is
/// negative or the product exceeds kMaxElements. (Empty tensors are legal:
/// slices produce them. Model inputs are checked for positive sizes apart.)
mlir::FailureOr<int64_t> checkedNumElements(llvm::ArrayRef<int64_t> shape,
                                            EmitErrorFn emitError);

/// Multidirectional (numpy) broadcast of any number of shapes.
mlir::FailureOr<Shape> broadcastShapes(llvm::ArrayRef<llvm::ArrayRef<int64_t>> shapes,
                                       EmitErrorFn emitError);

mlir::FailureOr<Shape> matmulShape(llvm::ArrayRef<int64_t> lhs,
                                   llvm::ArrayRef<int64_t> rhs,
                                   EmitErrorFn emitError);

mlir::FailureOr<Shape> gemmShape(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b,
                                 std::optional<llvm::ArrayRef<int64_t>> c,
                                 bool transA, bool transB, EmitErrorFn emitError);

/// Output spatial size of a window op along one axis.
mlir::FailureOr<int64_t> windowOutputSize(int64_t input, int64_t kernel,
                                          int64_t stride, int64_t padBegin,
                                          int64_t padEnd, int64_t dilation,
                                          bool ceilMode, EmitErrorFn emitError);

mlir::FailureOr<Shape> convShape(llvm::ArrayRef<int64_t> input,
                                 llvm::ArrayRef<int64_t> filter,
                                 llvm::ArrayRef<int64_t> strides,
                                 llvm::ArrayRef<int64_t> pads,
                                 llvm::ArrayRef<int64_t> dilations,
                                 int64_t group, EmitErrorFn emitError);

mlir::FailureOr<Shape> poolShape(llvm::ArrayRef<int64_t> input,
                                 llvm::ArrayRef<int64_t> kernel,
                                 llvm::ArrayRef<int64_t> strides,
                                 llvm::ArrayRef<int64_t> pads,
                                 llvm::ArrayRef<int64_t> dilations,
                                 bool ceilMode, EmitErrorFn emitError);

mlir::FailureOr<Shape> reduceShape(llvm::ArrayRef<int64_t> input,
                                   llvm::ArrayRef<int64_t> axes, bool keepdims,
                                   EmitErrorFn emitError);

mlir::FailureOr<Shape> transposeShape(llvm::ArrayRef<int64_t> input,
                                      llvm::ArrayRef<int64_t> perm,
                                      EmitErrorFn emitError);

/// Size of one sliced axis for normalised bounds.
int64_t sliceAxisSize(int64_t start, int64_t end, int64_t step);

/// Normalises ONNX Slice bounds of one axis in place (negative indices count
/// from the end; clamping as the ONNX spec says).
void normalizeSliceBounds(int64_t dim, int64_t &start, int64_t &end,
                          int64_t step);

mlir::FailureOr<Shape> sliceShape(llvm::ArrayRef<int64_t> input,
                                  llvm::ArrayRef<int64_t> starts,
                                  llvm::ArrayRef<int64_t> ends,
                                  llvm::ArrayRef<int64_t> steps,
                                  EmitErrorFn emitError);

mlir::FailureOr<Shape> concatShape(llvm::ArrayRef<llvm::ArrayRef<int64_t>> inputs,
                                   int64_t axis, EmitErrorFn emitError);

mlir::FailureOr<Shape> gatherShape(llvm::ArrayRef<int64_t> data,
                                   llvm::ArrayRef<int64_t> indices,
                                   int64_t axis, EmitErrorFn emitError);

mlir::FailureOr<Shape> padShape(llvm::ArrayRef<int64_t> input,
                                llvm::ArrayRef<int64_t> pads,
                                EmitErrorFn emitError);

/// Shape of layer_norm's mean and inv_std_dev results.
mlir::FailureOr<Shape> layerNormStatsShape(llvm::ArrayRef<int64_t> input,
                                           int64_t axis, EmitErrorFn emitError);

/// ONNX GatherND: indices.shape[:-1] ++ data.shape[batchDims + m:], m the
/// length of indices' last axis.
mlir::FailureOr<Shape> gatherNDShape(llvm::ArrayRef<int64_t> data,
                                     llvm::ArrayRef<int64_t> indices,
                                     int64_t batchDims, EmitErrorFn emitError);

/// ONNX ScatterND: checks that `updates` has gather_nd(data, indices)'s
/// shape.
mlir::LogicalResult checkScatterNDShapes(llvm::ArrayRef<int64_t> data,
                                         llvm::ArrayRef<int64_t> indices,
                                         llvm::ArrayRef<int64_t> updates,
                                         int64_t batchDims,
                                         EmitErrorFn emitError);

/// ONNX GatherElements: indices has data's rank, axis in [0, rank), and
/// on every other axis at most data's size. The result has indices' shape.
mlir::LogicalResult checkGatherElementsShapes(llvm::ArrayRef<int64_t> data,
                                              llvm::ArrayRef<int64_t> indices,
                                              int64_t axis,
                                              EmitErrorFn emitError);

/// The geometry of a rotary embedding's input (4-D batch x heads x sequence
/// x head_size, or 3-D batch x sequence x hidden with `numHeads` heads).
struct RotaryShape {
  int64_t batch, sequence, heads, headSize, rotaryDim;
};
mlir::FailureOr<RotaryShape>
rotaryShape(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> cos,
            llvm::ArrayRef<int64_t> sin,
            std::optional<llvm::ArrayRef<int64_t>> positionIds,
            int64_t numHeads, int64_t rotaryDim, EmitErrorFn emitError);

/// pp.attention's result (batch x q_heads x q_sequence x v_head_size) and
/// log-sum-exp (batch x q_heads x q_sequence) shapes from 4-D q, k and v; the
/// mask must broadcast to batch x q_heads x q_sequence x kv_sequence.
struct AttentionShapes {
  Shape result, lse;
};
mlir::FailureOr<AttentionShapes>
attentionShapes(llvm::ArrayRef<int64_t> q, llvm::ArrayRef<int64_t> k,
                llvm::ArrayRef<int64_t> v,
                std::optional<llvm::ArrayRef<int64_t>> mask,
                EmitErrorFn emitError);

} // namespace ppc::pp

#endif // PPC_DIALECT_PP_IR_SHAPEINFERENCE_H
