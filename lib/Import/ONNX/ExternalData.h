//===- ExternalData.h - where an initializer's external bytes lie -*- C++ -*-===//
//
// An initializer stored outside the model names a file (`location`) and a
// byte range (`offset`, `length`) as strings. Both come from the file, so
// they are checked here once: the location must stay inside the model's
// folder (pprt's path rule, the same one pprun uses), and the range must be
// decimal numbers that lie inside that file.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_LIB_IMPORT_ONNX_EXTERNALDATA_H
#define PPC_LIB_IMPORT_ONNX_EXTERNALDATA_H

#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"

#include "onnx/onnx_pb.h"

#include <cstdint>
#include <string>

namespace ppc::onnximport {

struct ExternalData {
  std::string path; // the file, as opened (inside the model's folder)
  uint64_t offset = 0, length = 0;
};

/// The checked external data of `tensor`, whose `modelDir` is the folder
/// the model file lies in ("" for the working directory).
mlir::FailureOr<ExternalData> resolveExternalData(const onnx::TensorProto &tensor,
                                                  llvm::StringRef modelDir,
                                                  mlir::Location loc);

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_EXTERNALDATA_H
