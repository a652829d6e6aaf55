//===- NodeContext.h - what an op importer sees of its node ------*- C++ -*-===//
//
// Each ONNX op type has one handler (OpImporters*.cpp) that reads its node
// through a NodeContext: inputs as SSA values or host constants, attributes
// with defaults, and the node's location for diagnostics.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_LIB_IMPORT_ONNX_NODECONTEXT_H
#define PPC_LIB_IMPORT_ONNX_NODECONTEXT_H

#include "HostTensor.h"

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/IR/ShapeInference.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

#include <functional>

namespace ppc::onnximport {

class GraphImporter;

/// Maps an ONNX element type to its MLIR type; null if unsupported.
mlir::Type elementTypeFor(mlir::MLIRContext *ctx, int32_t onnxType);
/// Maps back (for folding in a result's type).
int32_t onnxTypeFor(mlir::Type type);
/// NameLoc(node name, file) for the `index`-th node; unnamed nodes are named
/// "<OpType>_<index>".
mlir::Location nodeLocation(const onnx::NodeProto &node, unsigned index,
                            mlir::Location file);

class NodeContext {
public:
  NodeContext(GraphImporter &graph, const onnx::NodeProto &node, int64_t opset,
              mlir::Location loc, mlir::OpBuilder &builder);
  NodeContext(const NodeContext &) = delete;
  NodeContext &operator=(const NodeContext &) = delete;

  const onnx::NodeProto &node;
  const int64_t opset;
  const mlir::Location loc;
  mlir::OpBuilder &b;

  mlir::MLIRContext *getContext() { return b.getContext(); }
  mlir::InFlightDiagnostic emitError();
  /// An error emitter for the shared shape rules. It refers to a member, so
  /// it stays valid for the node's import (a function_ref to a lambda made
  /// here would dangle once this returns).
  pp::EmitErrorFn errors() { return errorFn; }

  // Inputs. An input is present when it is listed with a non-empty name.
  unsigned numInputs() const { return node.input_size(); }
  bool hasInput(unsigned i) const;
  /// The input as an SSA value (a constant or parameter is materialized).
  mlir::FailureOr<mlir::Value> input(unsigned i);
  /// Like input(), but a null Value when the optional input is absent.
  mlir::FailureOr<mlir::Value> optionalInput(unsigned i) {
    return hasInput(i) ? input(i) : mlir::FailureOr<mlir::Value>(mlir::Value());
  }
  /// The input's type, without materializing it.
  mlir::RankedTensorType inputType(unsigned i);
  llvm::ArrayRef<int64_t> inputShape(unsigned i) {
    return inputType(i).getShape();
  }
  /// The input's value when known at import time, else null.
  const HostTensor *constant(unsigned i);
  /// The input's value, or an error saying it must be a constant.
  mlir::FailureOr<const HostTensor *> requireConstant(unsigned i,
                                                      llvm::StringRef what);
  /// A one-element constant input, or an error naming `what`.
  mlir::FailureOr<const HostTensor *> requireScalar(unsigned i,
                                                    llvm::StringRef what);
  /// True when every present input is a constant that may be folded through
  /// (not a trainable parameter).
  bool allFoldable();
  /// True when input `i` alone is such a constant.
  bool foldable(unsigned i);

  // Sequences (OpImportersSequence.cpp): a sequence value is the list of
  // its elements' value names, of a length known at import time.
  /// The element names of sequence input `i`, or null when it is a tensor.
  const std::vector<std::string> *sequence(unsigned i);
  /// Element type of sequence input `i` (null if unknown: an empty one).
  mlir::Type sequenceElementType(unsigned i);
  void setSequence(unsigned i, std::vector<std::string> elements,
                   mlir::Type elementType);
  /// Defines a fresh value (named after output `i` and `k`) for an element
  /// of a sequence this node makes; returns its name.
  std::string defineElement(unsigned i, unsigned k, mlir::Value value);
  std::string defineElementConstant(unsigned i, unsigned k, HostTensor value);
  /// The type, SSA value and host constant (or null) of a named value.
  mlir::RankedTensorType typeOf(llvm::StringRef name);
  mlir::FailureOr<mlir::Value> valueOf(llvm::StringRef name);
  const HostTensor *constantOf(llvm::StringRef name);
  /// Output `i` becomes the value `name` (a constant stays one).
  mlir::LogicalResult forwardOutput(unsigned i, llvm::StringRef name);

  // Attributes.
  const onnx::AttributeProto *attribute(llvm::StringRef name) const;
  int64_t intAttr(llvm::StringRef name, int64_t dflt) const;
  double floatAttr(llvm::StringRef name, double dflt) const;
  std::string stringAttr(llvm::StringRef name, llvm::StringRef dflt) const;
  std::optional<llvm::SmallVector<int64_t>> intsAttr(llvm::StringRef name) const;
  std::optional<llvm::SmallVector<double>> floatsAttr(llvm::StringRef name) const;

  // Outputs.
  unsigned numOutputs() const { return node.output_size(); }
  /// True when output `i` is listed and something reads it.
  bool outputUsed(unsigned i) const;
  void setOutput(unsigned i, mlir::Value value);
  void setConstant(unsigned i, HostTensor value);
  /// Output `i`'s static type as the model or ONNX shape inference gives
  /// it, else null.
  mlir::RankedTensorType inferredOutputType(unsigned i);

  /// Builds a tensor type, checking the shape for negative sizes and
  /// overflow.
  mlir::FailureOr<mlir::RankedTensorType> tensorType(llvm::ArrayRef<int64_t> shape,
                                                     mlir::Type elementType);
  mlir::Type elementType(unsigned input) { return inputType(input).getElementType(); }
  /// Normalises an axis attribute or input in [-rank, rank) to [0, rank).
  mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);
  /// The model's producer_name ("pytorch", ...).
  llvm::StringRef producer() const;

private:
  GraphImporter &graph;
  std::function<mlir::InFlightDiagnostic()> errorFn;
};

using OpHandler = mlir::LogicalResult (*)(NodeContext &);

/// Op type (default ONNX domain) to handler.
class OpRegistry {
public:
  void add(llvm::StringRef opType, OpHandler handler) {
    handlers[opType] = handler;
  }
  OpHandler lookup(llvm::StringRef opType) const {
    auto it = handlers.find(opType);
    return it == handlers.end() ? nullptr : it->second;
  }
  const llvm::StringMap<OpHandler> &all() const { return handlers; }

private:
  llvm::StringMap<OpHandler> handlers;
};

/// The registry with every supported op (built once).
const OpRegistry &opRegistry();

// One function per op family, each in its own file.
void registerElementwiseOps(OpRegistry &registry);
void registerContractionOps(OpRegistry &registry);
void registerNormalizationOps(OpRegistry &registry);
void registerShapeOps(OpRegistry &registry);
void registerConstantOps(OpRegistry &registry);
void registerRecurrentOps(OpRegistry &registry);
void registerPointwiseOps(OpRegistry &registry);
void registerIndexingOps(OpRegistry &registry);
void registerEinsumOps(OpRegistry &registry);
void registerTransformerOps(OpRegistry &registry);
void registerSequenceOps(OpRegistry &registry);

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_NODECONTEXT_H
