//===- BatchAxis.h - where the model keeps its batch ------------*- C++ -*-===//
//
// ppc splits a batch into micro-batches on the model's batch axis. That is
// the axis of one symbolic dimension of the inputs: the one `-batch-dim`
// names, or else the one whose name says "batch" (what exporters write for
// a dynamic batch: torch's dynamic_axes and Dim names, "batch_size",
// "batch"), on whatever axis each input has it: axis 1 for sequence-first
// models (nn.Transformer, nn.LSTM, nn.GRU by default). An input without
// that dimension (an attention mask) is the same for every micro-batch.
// A model with no such name keeps the batch on the leading axis of every
// input (shared/DESIGN.md §2).
//
// Outputs carry the batch where their declared dimensions name it, or else
// on the axis the inputs have it, when that axis has the micro-batch's
// size.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_LIB_IMPORT_ONNX_BATCHAXIS_H
#define PPC_LIB_IMPORT_ONNX_BATCHAXIS_H

#include "ppc/Import/ONNX/Importer.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include "onnx/onnx_pb.h"

#include <string>

namespace ppc::onnximport {

struct BatchAxes {
  /// The batch's symbolic dimension; empty: the leading axis.
  std::string dim;
  /// Per model input and output, its batch axis; -1: none (the same
  /// tensor for every micro-batch).
  llvm::StringMap<int64_t> inputs, outputs;
};

/// Finds the batch dimension and each model input's batch axis (graph
/// inputs that are not initializers nor in `frozen`), before the symbolic
/// dimensions are given their values.
mlir::FailureOr<BatchAxes> findBatchAxes(const onnx::GraphProto &graph,
                                         const ImportOptions &options,
                                         const llvm::StringSet<> &frozen,
                                         mlir::Location loc);

/// The outputs' batch axes, from their declared dimensions or else from
/// the inputs'; then records every axis other than 0 as the module's
/// `pp.batch_axes` (name -> axis), which pipeline.json carries.
mlir::LogicalResult recordBatchAxes(mlir::ModuleOp module,
                                    const onnx::GraphProto &graph,
                                    BatchAxes &axes,
                                    const ImportOptions &options,
                                    mlir::Location loc);

/// "-batch=8 -microbatches=4" as the user wrote it (ImportOptions' flags),
/// for errors.
std::string batchFlagsText(const ImportOptions &options);

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_BATCHAXIS_H
