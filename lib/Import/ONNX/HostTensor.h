//===- HostTensor.h - constants the importer folds --------------*- C++ -*-===//
//
// A small tensor held on the host while importing: the values of Constant
// nodes, integer initializers and the shape subgraphs exporters emit
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ConstantOfShape, Range).
// Integers (and bools) are kept as int64 so that INT64_MAX slice bounds stay
// exact; floating-point values as double.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_LIB_IMPORT_ONNX_HOSTTENSOR_H
#define PPC_LIB_IMPORT_ONNX_HOSTTENSOR_H

#include "ppc/Dialect/PP/IR/ShapeInference.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "onnx/onnx_pb.h"

#include <string>
#include <vector>

namespace ppc::onnximport {

/// Constants above this many elements are not folded on the host.
constexpr int64_t kMaxFoldElements = int64_t(1) << 16;

class HostTensor {
public:
  HostTensor() = default;
  HostTensor(int32_t onnxType, pp::Shape shape);

  static HostTensor ofInts(int32_t onnxType, pp::Shape shape,
                           std::vector<int64_t> values);
  static HostTensor ofFloats(int32_t onnxType, pp::Shape shape,
                             std::vector<double> values);
  /// Decodes a TensorProto's data (raw or typed fields). `raw` overrides the
  /// proto's own bytes (external data). Returns an error message on failure.
  static std::string fromProto(const onnx::TensorProto &proto,
                               llvm::ArrayRef<uint8_t> raw, HostTensor &out);

  /// The little-endian element bytes of a TensorProto whose data is in its
  /// typed fields (float_data, int32_data, ...), converted element by
  /// element without decoding (a large typed-field weight costs its bytes,
  /// not 8 per element). Returns an error message on failure.
  static std::string protoBytes(const onnx::TensorProto &proto,
                                std::string &out);

  int32_t onnxType() const { return type; }
  const pp::Shape &shape() const { return dims; }
  int64_t numElements() const;
  bool isFloat() const;
  bool isSplat() const;

  int64_t getInt(int64_t i) const { return isFloat() ? (int64_t)f[i] : v[i]; }
  double getFloat(int64_t i) const { return isFloat() ? f[i] : (double)v[i]; }
  void setInt(int64_t i, int64_t x);
  void setFloat(int64_t i, double x);
  std::vector<int64_t> toInts() const;
  std::vector<double> toFloats() const;

  /// The same values in another element type (ONNX Cast semantics).
  HostTensor castTo(int32_t onnxType) const;
  /// Same elements, new shape.
  HostTensor reshaped(pp::Shape shape) const;

  mlir::DenseElementsAttr toAttr(mlir::RankedTensorType type) const;
  /// Little-endian element bytes, as the weight store holds them.
  std::string toBytes() const;

private:
  int32_t type = onnx::TensorProto::FLOAT;
  pp::Shape dims;
  std::vector<int64_t> v;
  std::vector<double> f;
};

/// Rounds and wraps a value to what an integer element of `onnxType` holds.
int64_t wrapInteger(int32_t onnxType, int64_t x);

/// The name of an ONNX element type ("FLOAT", "FLOAT8E4M3FN", ...), also of
/// those newer than libonnx's enum; "type N" for an unknown one.
std::string onnxTypeName(int32_t onnxType);
/// Rounds a value to the precision of a float element of `onnxType`.
double roundFloat(int32_t onnxType, double x);

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_HOSTTENSOR_H
