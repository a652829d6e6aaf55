//===- Tensor.cpp - element types and shapes of runtime tensors -----------===//

#include "pprt/Tensor.h"

namespace pprt {

namespace {
struct DTypeInfo {
  DType dtype;
  const char *name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4},  {DType::F64, "F64", 8},   {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8},  {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},  {DType::I8, "I8", 1},     {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1}, {DType::U16, "U16", 2},  {DType::U32, "U32", 4},
    {DType::U64, "U64", 8},
};
const DTypeInfo &info(DType d) {
  for (const DTypeInfo &i : kDTypes)
    if (i.dtype == d)
      return i;
  return kDTypes[0];
}
} // namespace

size_t dtypeSize(DType dtype) { return info(dtype).size; }
const char *dtypeName(DType dtype) { return info(dtype).name; }

StatusOr<DType> parseDType(const std::string &name) {
  for (const DTypeInfo &i : kDTypes)
    if (name == i.name)
      return i.dtype;
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
