//===- Tensor.cpp - element types and shapes of runtime tensors -----------===//

#include "pprt/Tensor.h"

namespace pprt {

size_t dtypeSize(DType dtype) { return dtypeInfo(dtype).size; }
const char *dtypeName(DType dtype) { return dtypeInfo(dtype).name; }

StatusOr<DType> parseDType(const std::string &name) {
  for (const DTypeInfo &i : kDTypes)
    if (name == i.name)
      return i.value;
  return invalidArgument("unknown element type '" + name + "'");
}

StatusOr<int64_t> TensorDesc::numElements() const {
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      return invalidArgument("dimension " + std::to_string(i) + " of " +
                             toString() + " is negative");
    if (__builtin_mul_overflow(n, shape[i], &n))
      return invalidArgument("element count of " + toString() +
                             " overflows 64 bits");
  }
  return n;
}

StatusOr<int64_t> TensorDesc::byteSize() const {
  StatusOr<int64_t> n = numElements();
  if (!n)
    return n.status();
  int64_t bytes;
  if (__builtin_mul_overflow(*n, (int64_t)dtypeSize(dtype), &bytes))
    return invalidArgument("byte size of " + toString() + " overflows 64 bits");
  return bytes;
}

std::string TensorDesc::toString() const {
  std::string s = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace pprt
