//===- HostEval.cpp - evaluating small constants on the host --------------===//

#include "HostEval.h"

namespace ppc::onnximport {

pp::Shape stridesOf(llvm::ArrayRef<int64_t> shape) {
  pp::Shape strides(shape.size(), 1);
  for (int64_t i = (int64_t)shape.size() - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

int64_t broadcastIndex(int64_t flat, llvm::ArrayRef<int64_t> out,
                       llvm::ArrayRef<int64_t> in) {
  int64_t index = 0, stride = 1;
  size_t off = out.size() - in.size();
  for (int64_t d = (int64_t)out.size() - 1; d >= 0; --d) {
    int64_t coord = flat % out[d];
    flat /= out[d];
    if (d >= (int64_t)off) {
      int64_t size = in[d - off];
      if (size != 1)
        index += coord * stride;
      stride *= size;
    }
  }
  return index;
}

HostTensor mapBroadcast(llvm::ArrayRef<const HostTensor *> inputs,
                        llvm::ArrayRef<int64_t> shape, int32_t resultType,
                        llvm::function_ref<void(HostTensor &, int64_t,
                                                llvm::ArrayRef<int64_t>)>
                            fn) {
  HostTensor out(resultType, pp::Shape(shape));
  llvm::SmallVector<int64_t, 4> idx(inputs.size());
  for (int64_t i = 0, e = out.numElements(); i < e; ++i) {
    for (size_t k = 0; k < inputs.size(); ++k)
      idx[k] = broadcastIndex(i, shape, inputs[k]->shape());
    fn(out, i, idx);
  }
  return out;
}

HostTensor gatherElements(const HostTensor &in, llvm::ArrayRef<int64_t> shape,
                          llvm::function_ref<int64_t(int64_t)> index) {
  HostTensor out(in.onnxType(), pp::Shape(shape));
  for (int64_t i = 0, e = out.numElements(); i < e; ++i) {
    int64_t j = index(i);
    if (in.isFloat())
      out.setFloat(i, in.getFloat(j));
    else
      out.setInt(i, in.getInt(j));
  }
  return out;
}

} // namespace ppc::onnximport
