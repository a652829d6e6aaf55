//===- Tensor.h - element types and shapes of runtime tensors ---*- C++ -*-===//

#ifndef PPRT_TENSOR_H
#define PPRT_TENSOR_H

#include "pprt/Status.h"
#include "pprt/Vocabulary.h"

#include <cstdint>
#include <string>
#include <vector>

namespace pprt {

// The element types (DType) are Vocabulary.h's, shared with the compiler.

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// "F32", "BF16", ... (safetensors' spelling).
const char *dtypeName(DType dtype);
/// Parses safetensors' spelling.
StatusOr<DType> parseDType(const std::string &name);

/// A static shape and element type.
struct TensorDesc {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  /// Element count; an error for negative dimensions or overflow.
  StatusOr<int64_t> numElements() const;
  /// Byte size; an error for negative dimensions or overflow.
  StatusOr<int64_t> byteSize() const;
  /// "F32[2x3]".
  std::string toString() const;
  bool operator==(const TensorDesc &o) const {
    return dtype == o.dtype && shape == o.shape;
  }
};

} // namespace pprt

#endif // PPRT_TENSOR_H
