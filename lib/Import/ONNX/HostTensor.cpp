//===- HostTensor.cpp - constants the importer folds ----------------------===//

#include "HostTensor.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/APInt.h"
#include "llvm/Support/Endian.h"

#include <cmath>
#include <cstring>
#include <type_traits>

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {

static bool isFloatType(int32_t t) {
  return t == TensorProto::FLOAT || t == TensorProto::DOUBLE ||
         t == TensorProto::FLOAT16 || t == TensorProto::BFLOAT16;
}

static unsigned bitWidth(int32_t t) {
  switch (t) {
  case TensorProto::BOOL:
  case TensorProto::INT8:
  case TensorProto::UINT8:
    return 8;
  case TensorProto::INT16:
  case TensorProto::UINT16:
  case TensorProto::FLOAT16:
  case TensorProto::BFLOAT16:
    return 16;
  case TensorProto::INT32:
  case TensorProto::UINT32:
  case TensorProto::FLOAT:
    return 32;
  default:
    return 64;
  }
}

static const llvm::fltSemantics &semantics(int32_t t) {
  switch (t) {
  case TensorProto::FLOAT16:
    return llvm::APFloat::IEEEhalf();
  case TensorProto::BFLOAT16:
    return llvm::APFloat::BFloat();
  case TensorProto::FLOAT:
    return llvm::APFloat::IEEEsingle();
  default:
    return llvm::APFloat::IEEEdouble();
  }
}

int64_t wrapInteger(int32_t t, int64_t x) {
  switch (t) {
  case TensorProto::BOOL:
    return x != 0;
  case TensorProto::INT8:
    return (int8_t)x;
  case TensorProto::UINT8:
    return (uint8_t)x;
  case TensorProto::INT16:
    return (int16_t)x;
  case TensorProto::UINT16:
    return (uint16_t)x;
  case TensorProto::INT32:
    return (int32_t)x;
  case TensorProto::UINT32:
    return (uint32_t)x;
  default:
    return x;
  }
}

double roundFloat(int32_t t, double x) {
  if (t == TensorProto::DOUBLE)
    return x;
  llvm::APFloat a(x);
  bool lost;
  a.convert(semantics(t), llvm::APFloat::rmNearestTiesToEven, &lost);
  a.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return a.convertToDouble();
}

HostTensor::HostTensor(int32_t onnxType, pp::Shape shape)
    : type(onnxType), dims(std::move(shape)) {
  if (isFloat())
    f.assign(numElements(), 0.0);
  else
    v.assign(numElements(), 0);
}

HostTensor HostTensor::ofInts(int32_t t, pp::Shape shape,
                              std::vector<int64_t> values) {
  HostTensor h;
  h.type = t;
  h.dims = std::move(shape);
  h.v = std::move(values);
  return h;
}

HostTensor HostTensor::ofFloats(int32_t t, pp::Shape shape,
                                std::vector<double> values) {
  HostTensor h;
  h.type = t;
  h.dims = std::move(shape);
  h.f = std::move(values);
  return h;
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

bool HostTensor::isFloat() const { return isFloatType(type); }

bool HostTensor::isSplat() const {
  if (isFloat())
    return std::all_of(f.begin(), f.end(), [&](double x) {
      return std::memcmp(&x, &f[0], sizeof(double)) == 0;
    });
  return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v[0]; });
}

void HostTensor::setInt(int64_t i, int64_t x) {
  if (isFloat())
    f[i] = roundFloat(type, (double)x);
  else
    v[i] = wrapInteger(type, x);
}

void HostTensor::setFloat(int64_t i, double x) {
  if (isFloat()) {
    f[i] = roundFloat(type, x);
    return;
  }
  if (type == TensorProto::BOOL) {
    v[i] = x != 0;
    return;
  }
  // Float to integer truncates toward zero; out-of-range is undefined in
  // ONNX, saturate rather than invoke UB.
  if (std::isnan(x))
    v[i] = 0;
  else if (x >= 9.2233720368547758e18)
    v[i] = INT64_MAX;
  else if (x <= -9.2233720368547758e18)
    v[i] = INT64_MIN;
  else
    v[i] = wrapInteger(type, (int64_t)x);
}

std::vector<int64_t> HostTensor::toInts() const {
  if (!isFloat())
    return v;
  std::vector<int64_t> out;
  for (double x : f)
    out.push_back((int64_t)x);
  return out;
}

std::vector<double> HostTensor::toFloats() const {
  if (isFloat())
    return f;
  return std::vector<double>(v.begin(), v.end());
}

HostTensor HostTensor::castTo(int32_t t) const {
  HostTensor out(t, dims);
  for (int64_t i = 0, e = numElements(); i < e; ++i) {
    if (isFloat())
      out.setFloat(i, f[i]);
    else
      out.setInt(i, v[i]);
  }
  return out;
}

HostTensor HostTensor::reshaped(pp::Shape shape) const {
  HostTensor out = *this;
  out.dims = std::move(shape);
  return out;
}

std::string HostTensor::fromProto(const TensorProto &proto,
                                  llvm::ArrayRef<uint8_t> raw,
                                  HostTensor &out) {
  int32_t t = proto.data_type();
  // The types past BFLOAT16 (float8, int4, float4 of IR versions 9 to 11)
  // are not ppc's either.
  if (t == TensorProto::STRING || t == TensorProto::COMPLEX64 ||
      t == TensorProto::COMPLEX128 || t == TensorProto::UNDEFINED ||
      t > TensorProto::BFLOAT16)
    return "tensor '" + proto.name() + "' has element type " +
           onnxTypeName(t) + ", which ppc does not support";
  pp::Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t d : shape)
    if (d < 0)
      return "tensor '" + proto.name() + "' has a negative dimension";
  out = HostTensor(t, shape);
  int64_t n = out.numElements();
  unsigned bytes = bitWidth(t) / 8;
  if (raw.empty() && proto.has_raw_data())
    raw = llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(proto.raw_data().data()),
        proto.raw_data().size());
  if (!raw.empty() || proto.has_raw_data()) {
    if ((int64_t)raw.size() != n * bytes)
      return "tensor '" + proto.name() + "' holds " +
             std::to_string(raw.size()) + " bytes; its shape needs " +
             std::to_string(n * bytes);
    const uint8_t *p = raw.data();
    for (int64_t i = 0; i < n; ++i, p += bytes) {
      uint64_t bits = 0;
      for (unsigned b = 0; b < bytes; ++b)
        bits |= uint64_t(p[b]) << (8 * b);
      if (out.isFloat()) {
        llvm::APFloat a(semantics(t), llvm::APInt(bytes * 8, bits));
        bool lost;
        a.convert(llvm::APFloat::IEEEdouble(),
                  llvm::APFloat::rmNearestTiesToEven, &lost);
        out.f[i] = a.convertToDouble();
      } else {
        int64_t x = (int64_t)bits;
        out.v[i] = wrapInteger(t, x);
      }
    }
    return "";
  }
  // Typed fields, as the ONNX proto defines them per element type.
  auto sizeError = [&](int64_t have) {
    return "tensor '" + proto.name() + "' holds " + std::to_string(have) +
           " values; its shape needs " + std::to_string(n);
  };
  switch (t) {
  case TensorProto::FLOAT:
    if (proto.float_data_size() != n)
      return sizeError(proto.float_data_size());
    for (int64_t i = 0; i < n; ++i)
      out.f[i] = proto.float_data(i);
    return "";
  case TensorProto::DOUBLE:
    if (proto.double_data_size() != n)
      return sizeError(proto.double_data_size());
    for (int64_t i = 0; i < n; ++i)
      out.f[i] = proto.double_data(i);
    return "";
  case TensorProto::INT64:
    if (proto.int64_data_size() != n)
      return sizeError(proto.int64_data_size());
    for (int64_t i = 0; i < n; ++i)
      out.v[i] = proto.int64_data(i);
    return "";
  case TensorProto::UINT32:
  case TensorProto::UINT64:
    if (proto.uint64_data_size() != n)
      return sizeError(proto.uint64_data_size());
    for (int64_t i = 0; i < n; ++i)
      out.v[i] = wrapInteger(t, (int64_t)proto.uint64_data(i));
    return "";
  default:
    // int32_data carries int32, int16, int8, uint16, uint8, bool, and the
    // bit patterns of float16 and bfloat16.
    if (proto.int32_data_size() != n)
      return sizeError(proto.int32_data_size());
    for (int64_t i = 0; i < n; ++i) {
      int32_t x = proto.int32_data(i);
      if (out.isFloat()) {
        llvm::APFloat a(semantics(t), llvm::APInt(16, (uint16_t)x));
        bool lost;
        a.convert(llvm::APFloat::IEEEdouble(),
                  llvm::APFloat::rmNearestTiesToEven, &lost);
        out.f[i] = a.convertToDouble();
      } else {
        out.v[i] = wrapInteger(t, x);
      }
    }
    return "";
  }
}

std::string HostTensor::protoBytes(const TensorProto &proto, std::string &out) {
  int32_t t = proto.data_type();
  if (t == TensorProto::STRING || t == TensorProto::COMPLEX64 ||
      t == TensorProto::COMPLEX128 || t == TensorProto::UNDEFINED)
    return "tensor '" + proto.name() + "' has element type " +
           TensorProto::DataType_Name((TensorProto::DataType)t) +
           ", which ppc does not support";
  int64_t n = 1;
  for (int64_t d : proto.dims()) {
    if (d < 0)
      return "tensor '" + proto.name() + "' has a negative dimension";
    n *= d;
  }
  unsigned width = bitWidth(t) / 8;
  auto put = [&](auto values) -> std::string {
    if (values.size() != n)
      return "tensor '" + proto.name() + "' holds " +
             std::to_string(values.size()) + " values; its shape needs " +
             std::to_string(n);
    out.resize(n * width);
    for (int64_t i = 0; i < n; ++i) {
      uint64_t bits;
      if constexpr (std::is_same_v<std::decay_t<decltype(values[0])>, float>) {
        uint32_t u;
        std::memcpy(&u, &values[i], 4);
        bits = u;
      } else if constexpr (std::is_same_v<std::decay_t<decltype(values[0])>,
                                          double>) {
        std::memcpy(&bits, &values[i], 8);
      } else {
        bits = (uint64_t)values[i];
      }
      if (t == TensorProto::BOOL)
        bits = bits != 0;
      for (unsigned b = 0; b < width; ++b)
        out[i * width + b] = char((bits >> (8 * b)) & 0xff);
    }
    return "";
  };
  switch (t) {
  case TensorProto::FLOAT:
    return put(proto.float_data());
  case TensorProto::DOUBLE:
    return put(proto.double_data());
  case TensorProto::INT64:
    return put(proto.int64_data());
  case TensorProto::UINT32:
  case TensorProto::UINT64:
    return put(proto.uint64_data());
  default:
    // int32_data: int32, int16, int8, uint16, uint8, bool, and the bit
    // patterns of float16 and bfloat16, truncated to the element's width.
    return put(proto.int32_data());
  }
}

DenseElementsAttr HostTensor::toAttr(RankedTensorType tensorType) const {
  int64_t n = numElements();
  if (type == TensorProto::BOOL) {
    llvm::SmallVector<bool> bits;
    for (int64_t x : v)
      bits.push_back(x != 0);
    return DenseElementsAttr::get(tensorType, bits);
  }
  if (isFloat()) {
    llvm::SmallVector<llvm::APFloat> values;
    values.reserve(n);
    for (double x : f) {
      llvm::APFloat a(x);
      bool lost;
      a.convert(semantics(type), llvm::APFloat::rmNearestTiesToEven, &lost);
      values.push_back(a);
    }
    return DenseElementsAttr::get(tensorType, values);
  }
  llvm::SmallVector<llvm::APInt> values;
  values.reserve(n);
  for (int64_t x : v)
    values.push_back(llvm::APInt(bitWidth(type), (uint64_t)x, true, true));
  return DenseElementsAttr::get(tensorType, values);
}

std::string HostTensor::toBytes() const {
  unsigned bytes = bitWidth(type) / 8;
  std::string out;
  out.resize(numElements() * bytes);
  for (int64_t i = 0, e = numElements(); i < e; ++i) {
    uint64_t bits;
    if (isFloat()) {
      llvm::APFloat a(f[i]);
      bool lost;
      a.convert(semantics(type), llvm::APFloat::rmNearestTiesToEven, &lost);
      bits = a.bitcastToAPInt().getZExtValue();
    } else {
      bits = (uint64_t)v[i];
    }
    for (unsigned b = 0; b < bytes; ++b)
      out[i * bytes + b] = char((bits >> (8 * b)) & 0xff);
  }
  return out;
}

std::string onnxTypeName(int32_t t) {
  // The element types of IR versions 9 to 11, which libonnx 1.12's enum
  // does not name.
  static const char *const kNewer[] = {
      "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
      "UINT4",        "INT4",           "FLOAT4E2M1"};
  if (TensorProto::DataType_IsValid(t))
    return TensorProto::DataType_Name((TensorProto::DataType)t);
  int32_t first = TensorProto::BFLOAT16 + 1;
  if (t >= first && t < first + (int32_t)std::size(kNewer))
    return kNewer[t - first];
  return "type " + std::to_string(t);
}

} // namespace ppc::onnximport
