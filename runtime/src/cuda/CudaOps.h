//===- CudaOps.h - the CUDA backend's instructions, by kernel name -*- C++ -*-===//
//
// CudaOps.cpp maps every instruction the CUDA backend runs to host code
// that checks shapes and types and enqueues the device kernels (Device.h)
// or cuBLASLt products (LtGemm.h); CudaBackend.cpp prepares and runs stage
// programs with it.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CUDA_CUDAOPS_H
#define PPRT_CUDA_CUDAOPS_H

#include "../Attrs.h"
#include "Device.h"
#include "LtGemm.h"
#include "pprt/Program.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pprt {
namespace cuda {

using Tensors = std::vector<TensorRef *>;

/// A device allocation, freed with its owner.
struct DeviceMemory {
  void *ptr = nullptr;
  int64_t bytes = 0;
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory &) = delete;
  DeviceMemory &operator=(const DeviceMemory &) = delete;
  ~DeviceMemory() {
    if (ptr)
      cudaFree(ptr);
  }
};

/// "12.3 MiB".
std::string mib(int64_t bytes);

/// What a kernel gets besides its tensors.
struct Ctx {
  cudaStream_t stream = nullptr;
  LtGemm *gemm = nullptr;
  bool tf32 = false;
  DeviceError *error = nullptr; // device view of the mapped record
  int instr = 0;
  /// Device scratch of at least `bytes`, kept in the instruction's state
  /// (allocated on the first run only).
  StatusOr<void *> scratch(const Attrs &a, int64_t bytes) {
    auto &state = a.state();
    auto *mem = static_cast<DeviceMemory *>(state.get());
    if (mem && mem->bytes >= bytes)
      return mem->ptr;
    auto fresh = std::make_shared<DeviceMemory>();
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaMalloc(&fresh->ptr, bytes),
                                    "scratch of " + std::to_string(bytes) +
                                        " bytes"));
    fresh->bytes = bytes;
    state = fresh;
    return fresh->ptr;
  }
};

using Kernel =
    std::function<Status(Tensors &in, Tensors &out, const Attrs &, Ctx &)>;
using Registry = std::map<std::string, Kernel>;

/// The instructions the CUDA backend has, by kernel name.
const Registry &registry();
/// gather_nd, scatter_nd, cumsum, range (IndexingOps.cpp).
void registerIndexingOps(Registry &r);
/// rms_norm, rotary_embedding, attention and their gradients
/// (AttentionOps.cpp).
void registerAttentionOps(Registry &r);

} // namespace cuda
} // namespace pprt

#endif // PPRT_CUDA_CUDAOPS_H
