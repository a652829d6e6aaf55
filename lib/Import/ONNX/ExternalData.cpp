//===- ExternalData.cpp - checking an initializer's external data ---------===//

#include "ExternalData.h"

#include "pprt/Paths.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"

namespace ppc::onnximport {

mlir::FailureOr<ExternalData> resolveExternalData(const onnx::TensorProto &tensor,
                                                  llvm::StringRef modelDir,
                                                  mlir::Location loc) {
  std::string what = "initializer '" + tensor.name() + "': external data";
  std::string location;
  bool hasLocation = false;
  std::optional<uint64_t> offset, length;
  for (const onnx::StringStringEntryProto &e : tensor.external_data()) {
    std::optional<uint64_t> *number = nullptr;
    if (e.key() == "location") {
      location = e.value();
      hasLocation = true;
    } else if (e.key() == "offset") {
      number = &offset;
    } else if (e.key() == "length") {
      number = &length;
    }
    if (!number)
      continue;
    uint64_t value;
    // getAsInteger is true on failure; it takes no sign, spaces or suffix.
    if (llvm::StringRef(e.value()).getAsInteger(10, value))
      return mlir::emitError(loc) << what << ": " << e.key() << " '" << e.value()
                                  << "' is not a non-negative decimal number";
    *number = value;
  }
  if (!hasLocation)
    return mlir::emitError(loc) << what << " has no location";
  pprt::StatusOr<std::string> path =
      pprt::resolveInside(modelDir.empty() ? "." : modelDir.str(), location, what);
  if (!path)
    return mlir::emitError(loc) << path.status().message();
  uint64_t fileBytes = 0;
  if (std::error_code ec = llvm::sys::fs::file_size(*path, fileBytes))
    return mlir::emitError(loc) << what << ": cannot read '" << *path
                                << "': " << ec.message();
  ExternalData data;
  data.path = *path;
  data.offset = offset.value_or(0);
  if (data.offset > fileBytes)
    return mlir::emitError(loc) << what << ": offset " << data.offset
                                << " lies past the end of '" << *path << "' ("
                                << fileBytes << " bytes)";
  data.length = length.value_or(fileBytes - data.offset);
  if (data.length > fileBytes - data.offset)
    return mlir::emitError(loc) << what << ": " << data.length << " bytes at offset "
                                << data.offset << " run past the end of '"
                                << *path << "' (" << fileBytes << " bytes)";
  return data;
}

} // namespace ppc::onnximport
