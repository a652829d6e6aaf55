//===- HostEval.h - evaluating small constants on the host ------*- C++ -*-===//

#ifndef PPC_LIB_IMPORT_ONNX_HOSTEVAL_H
#define PPC_LIB_IMPORT_ONNX_HOSTEVAL_H

#include "HostTensor.h"

#include "llvm/ADT/STLFunctionalExtras.h"

namespace ppc::onnximport {

/// Linear index into a tensor of shape `in` that broadcasts to `out`, for the
/// element at linear index `flat` of `out`.
int64_t broadcastIndex(int64_t flat, llvm::ArrayRef<int64_t> out,
                       llvm::ArrayRef<int64_t> in);

/// Elementwise map of inputs (broadcast to `shape`) into a new tensor of
/// `resultType`. `fn` sees each input element's position as (tensor, index).
HostTensor mapBroadcast(llvm::ArrayRef<const HostTensor *> inputs,
                        llvm::ArrayRef<int64_t> shape, int32_t resultType,
                        llvm::function_ref<void(HostTensor &, int64_t,
                                                llvm::ArrayRef<int64_t>)>
                            fn);

/// Strided gather of `in` into `shape`: element i of the result is
/// in[index(i)], both as linear indices.
HostTensor gatherElements(const HostTensor &in, llvm::ArrayRef<int64_t> shape,
                          llvm::function_ref<int64_t(int64_t)> index);

/// Row-major strides of a shape.
pp::Shape stridesOf(llvm::ArrayRef<int64_t> shape);

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_HOSTEVAL_H
