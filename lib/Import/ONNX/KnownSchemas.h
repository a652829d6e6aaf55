//===- KnownSchemas.h - libonnx's schemas where it knows the opset -*- C++ -*-===//
//
// Debian's libonnx (1.12) knows default-domain opsets up to 17; ppc imports
// up to kMaxOpset. For a model past what libonnx knows, onnx::checker and
// shape inference run with this registry: an op whose inputs, outputs or
// attributes changed after libonnx's newest opset (or that libonnx does not
// know at all) gets a permissive schema, so the checker checks only what is
// generic about its node and shape inference leaves its outputs to ppc's own
// shape rules; every other op keeps libonnx's schema, which is still the
// op's schema at the model's opset.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_LIB_IMPORT_ONNX_KNOWNSCHEMAS_H
#define PPC_LIB_IMPORT_ONNX_KNOWNSCHEMAS_H

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include "onnx/defs/schema.h"

#include <memory>

namespace ppc::onnximport {

class KnownSchemas final : public onnx::ISchemaRegistry {
public:
  const onnx::OpSchema *GetSchema(const std::string &key,
                                  const int maxInclusiveVersion,
                                  const std::string &domain) const override;

  /// The newest default-domain opset libonnx knows.
  static int64_t libonnxOpset();
  /// True when libonnx's schema for default-domain `op` is not the op's
  /// schema at `opset`: the op is new since, or its inputs, outputs or
  /// attributes changed at an opset libonnx does not know.
  static bool opaque(llvm::StringRef op, int64_t opset);

private:
  mutable llvm::StringMap<std::unique_ptr<onnx::OpSchema>> permissive;
};

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_KNOWNSCHEMAS_H
