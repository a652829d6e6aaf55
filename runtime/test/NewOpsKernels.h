//===- NewOpsKernels.h - tensors and attributes for kernel tests -*- C++ -*-===//
//
// What NewOpsTest.cpp and CudaNewOpsTest.cpp build kernel calls from: host
// tensors that own their bytes, and an instruction's attributes as the
// runtime reads them (a FlatBuffer Instr).
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_TEST_NEWOPSKERNELS_H
#define PPRT_TEST_NEWOPSKERNELS_H

#include "../src/cpu/Kernels.h"

#include "pprt/stage_generated.h"

#include <cstring>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace pprt {
namespace newops_test {

/// A host tensor owning its bytes.
struct Buf {
  TensorRef ref;
  std::vector<uint8_t> bytes;

  static Buf make(DType dtype, std::vector<int64_t> shape) {
    Buf b;
    b.ref.desc = {dtype, std::move(shape)};
    b.ref.numel = 1;
    for (int64_t d : b.ref.desc.shape)
      b.ref.numel *= d;
    b.ref.bytes = b.ref.numel * dtypeSize(dtype);
    b.bytes.assign(b.ref.bytes + 8, 0);
    b.ref.data = b.bytes.data();
    return b;
  }
  Buf() = default;
  Buf(const Buf &o) : ref(o.ref), bytes(o.bytes) { ref.data = bytes.data(); }
  Buf &operator=(const Buf &o) {
    ref = o.ref;
    bytes = o.bytes;
    ref.data = bytes.data();
    return *this;
  }
  std::vector<float> floats() const {
    return std::vector<float>(ref.as<float>(), ref.as<float>() + ref.numel);
  }
  std::vector<int64_t> ints() const {
    return std::vector<int64_t>(ref.as<int64_t>(), ref.as<int64_t>() + ref.numel);
  }
};

template <typename T>
Buf filled(DType dtype, const std::vector<T> &values,
           std::vector<int64_t> shape) {
  Buf b = Buf::make(dtype, std::move(shape));
  std::memcpy(b.ref.data, values.data(),
              std::min<size_t>(values.size() * sizeof(T), b.ref.bytes));
  return b;
}
inline Buf f32(const std::vector<float> &v, std::vector<int64_t> shape) {
  return filled(DType::F32, v, std::move(shape));
}
inline Buf i64(const std::vector<int64_t> &v, std::vector<int64_t> shape) {
  return filled(DType::I64, v, std::move(shape));
}
inline Buf boolean(const std::vector<uint8_t> &v, std::vector<int64_t> shape) {
  return filled(DType::Bool, v, std::move(shape));
}
inline Buf zeros(std::vector<int64_t> shape) {
  return Buf::make(DType::F32, std::move(shape));
}

/// An instruction's attributes: ints, floats and strings by name.
class AttrList {
public:
  using Value = std::variant<int64_t, double, std::string>;
  using Spec = std::vector<std::pair<std::string, Value>>;
  AttrList(Spec attrs) : spec(std::move(attrs)) { build(); }
  AttrList(const AttrList &o) : spec(o.spec) { build(); }
  AttrList &operator=(const AttrList &) = delete;
  Attrs get() const {
    return Attrs(flatbuffers::GetRoot<fb::Instr>(fbb.GetBufferPointer()));
  }

private:
  void build() {
    std::vector<flatbuffers::Offset<fb::Attr>> list;
    for (auto &[name, value] : spec) {
      auto n = fbb.CreateString(name);
      if (auto *i = std::get_if<int64_t>(&value))
        list.push_back(fb::CreateAttr(fbb, n, fb::AttrKind::Int, *i));
      else if (auto *f = std::get_if<double>(&value))
        list.push_back(fb::CreateAttr(fbb, n, fb::AttrKind::Float, 0, *f));
      else
        list.push_back(fb::CreateAttr(
            fbb, n, fb::AttrKind::String, 0, 0, 0, 0,
            fbb.CreateString(std::get<std::string>(value))));
    }
    auto kernel = fbb.CreateString("test");
    fbb.Finish(fb::CreateInstr(fbb, kernel, 0, 0, fbb.CreateVector(list)));
  }
  Spec spec;
  flatbuffers::FlatBufferBuilder fbb;
};

} // namespace newops_test
} // namespace pprt

#endif // PPRT_TEST_NEWOPSKERNELS_H
