//===- Importer.h - ONNX model to pp dialect --------------------*- C++ -*-===//

#ifndef PPC_IMPORT_ONNX_IMPORTER_H
#define PPC_IMPORT_ONNX_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ppc {

struct ImportOptions {
  /// The micro-batch: the value of the model inputs' batch dimension (a
  /// symbolic leading one, or the one `batchDim` names or whose name says
  /// "batch": docs/importer.md).
  std::optional<int64_t> batch;
  /// `-batch-dim=NAME`: the symbolic dimension that is the batch.
  std::string batchDim;
  /// The flags the user gave, for errors that say what to pass: -batch
  /// (the whole batch; 0: not given), -microbatches, -data-parallel.
  int64_t userBatch = 0, microbatches = 1, replicas = 1;
  /// Values of named symbolic dimensions (`-dim NAME=VALUE`).
  llvm::StringMap<int64_t> dims;
  /// Graph inputs frozen to constants: (input name, TensorProto .pb file).
  std::vector<std::pair<std::string, std::string>> bindings;
  /// Called as each step of the import ends ("parse", "check", "shape
  /// inference", "import"), for ppc -time-phases.
  std::function<void(llvm::StringRef step)> stepDone;
};

/// Lowest and highest default-domain opsets the importer accepts.
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 23;

/// Imports the ONNX model at `path` into a module holding `pp.param` symbols
/// and `func.func @main`. Parameter bytes go to the pp dialect's weight store.
/// Errors are emitted as diagnostics on `context`; returns null on failure.
mlir::OwningOpRef<mlir::ModuleOp>
importONNXModel(llvm::StringRef path, mlir::MLIRContext &context,
                const ImportOptions &options);

} // namespace ppc

#endif // PPC_IMPORT_ONNX_IMPORTER_H
