//===- GraphImporter.h - one ONNX graph into func @main ----------*- C++ -*-===//

#ifndef PPC_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
#define PPC_LIB_IMPORT_ONNX_GRAPHIMPORTER_H

#include "ExternalData.h"
#include "HostTensor.h"
#include "NodeContext.h"

#include "ppc/Dialect/PP/IR/WeightStore.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <memory>

namespace ppc::onnximport {

/// Everything known about one ONNX value name.
struct Slot {
  mlir::RankedTensorType type;
  /// The SSA value, once materialized.
  mlir::Value value;
  /// The value when known at import time.
  std::optional<HostTensor> constant;
  /// The initializer (or bound input) that defines it, if any.
  onnx::TensorProto *initializer = nullptr;
  /// Bytes of an initializer whose data is external (memory-mapped).
  llvm::ArrayRef<uint8_t> externalBytes;
  std::shared_ptr<WeightBuffer> externalOwner;
  /// May be folded through: not a trainable parameter.
  bool foldable = false;
  /// A sequence, resolved at import time: the names of its elements' slots
  /// (of static count), and the element type (for an empty one).
  std::optional<std::vector<std::string>> sequence;
  mlir::Type sequenceElement;
  /// Number of nodes (and graph outputs) that read it.
  unsigned uses = 0;
};

class GraphImporter {
public:
  /// `external`: every external-data initializer, by name, as the importer
  /// resolved and checked it before libonnx's checker ran.
  GraphImporter(mlir::ModuleOp module, WeightStore &store, llvm::StringRef file,
                const llvm::StringMap<ExternalData> &external, int64_t opset,
                llvm::StringRef producer = "");

  /// Imports `graph`; `bound` holds frozen inputs (owned by the caller).
  mlir::LogicalResult import(onnx::GraphProto &graph,
                             std::vector<onnx::TensorProto> &bound);

  // Used by NodeContext.
  Slot *lookup(llvm::StringRef name);
  mlir::FailureOr<mlir::Value> materialize(llvm::StringRef name, Slot &slot,
                                           mlir::Location loc);
  /// The slot's host value, decoding an initializer on first use.
  const HostTensor *hostValue(Slot &slot, mlir::Location loc);
  void define(llvm::StringRef name, Slot slot);
  mlir::Location fileLoc() const { return fileLocation; }
  /// The model's producer_name ("pytorch", ...).
  llvm::StringRef producer() const { return producerName; }
  /// A value's type from the model's value_info or ONNX shape inference.
  const onnx::TypeProto *inferredType(llvm::StringRef name) const {
    return inferred.lookup(name);
  }

private:
  mlir::LogicalResult importNode(const onnx::NodeProto &node, unsigned index);
  mlir::LogicalResult addInitializer(onnx::TensorProto &tensor, bool foldable);
  mlir::LogicalResult loadExternal(onnx::TensorProto &tensor, Slot &slot);

  mlir::ModuleOp module;
  WeightStore &store;
  std::string file;
  const llvm::StringMap<ExternalData> &external;
  int64_t opset;
  std::string producerName;
  mlir::Location fileLocation;
  mlir::OpBuilder paramBuilder;
  mlir::OpBuilder bodyBuilder;
  llvm::StringMap<Slot> slots;
  /// Inferred types from ONNX shape inference, by value name.
  llvm::StringMap<const onnx::TypeProto *> inferred;
};

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
