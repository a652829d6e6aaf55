//===- TrainDevice.h - the training state's kernels, as host calls -*- C++ -*-===//
//
// What a CUDA training step runs besides its stage programs (TrainKernels.cu):
// gradient sums, the norm's chunk squares and the multi-tensor optimizer
// updates, on device vectors, so that the step moves no parameter or
// gradient bytes to the host. Every call enqueues on `stream`.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CUDA_TRAINDEVICE_H
#define PPRT_CUDA_TRAINDEVICE_H

#include "pprt/Backend.h"
#include "pprt/Status.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace pprt {
namespace cuda {

/// acc += g over n floats.
Status addFloats(float *acc, const float *g, int64_t n, cudaStream_t stream);

/// out[i] = the sum of squares, in double, of elements [c * chunk,
/// min(n, (c + 1) * chunk)) of g for c = first + i, i < count (device
/// memory); a block's fixed tree, so the same bits run to run.
Status chunkSquares(const float *g, int64_t n, int64_t chunk, int64_t first,
                    int64_t count, double *out, cudaStream_t stream);

/// Up to this many tensors per multi-tensor launch (the list travels as a
/// kernel argument: nothing is copied to the device for it).
constexpr int kMaxUpdateTensors = 24;
struct UpdateList {
  int count = 0;
  float *w[kMaxUpdateTensors] = {};
  const float *g[kMaxUpdateTensors] = {};
  float *m[kMaxUpdateTensors] = {}; // null: none (SGD without momentum)
  float *v[kMaxUpdateTensors] = {};
  long long n[kMaxUpdateTensors] = {};
  int first[kMaxUpdateTensors] = {};
};
/// One torch.optim SGD or AdamW step over every tensor of the list, in one
/// launch (the arithmetic of the CPU backend's loops).
Status optimizerUpdate(const UpdateList &list, const OptimizerStep &s,
                       cudaStream_t stream);

} // namespace cuda
} // namespace pprt

#endif // PPRT_CUDA_TRAINDEVICE_H
