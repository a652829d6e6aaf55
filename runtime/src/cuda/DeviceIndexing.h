//===- DeviceIndexing.h - gather_nd, scatter_nd, gather_elements, ... -*- C++ -*-===//
//
// IndexingKernels.cu's device code as host calls (plain pointers, the
// shared geometry of ../OpGeometry.h flattened, a stream), as Device.h is
// for Kernels.cu. Index faults are recorded in the DeviceError and
// reported when the stage synchronises.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_CUDA_DEVICEINDEXING_H
#define PPRT_CUDA_DEVICEINDEXING_H

#include "Device.h"

namespace pprt {
namespace cuda {

/// TupleGeometry (../OpGeometry.h) for the device.
struct Tuples {
  int64_t batches = 1, tuples = 1, m = 0, slice = 1, perBatch = 1;
  int64_t strides[kMaxRank] = {}, dims[kMaxRank] = {};
};

/// offsets[t] = the data offset of tuple t's slice (batch-major), -1 (and
/// the fault recorded, code 1) for an index outside its axis.
Status tupleOffsets(const void *indices, bool indices64, const Tuples &g,
                    int64_t *offsets, DeviceError *error, int instr,
                    cudaStream_t stream);
/// y[t, e] = x[offsets[t] + e], elements of `width` bytes.
Status gatherND(const void *x, const int64_t *offsets, void *y, int width,
                int64_t count, int64_t slice, cudaStream_t stream);
/// y (already data) at the tuples' slices: replaced by the updates
/// (reduction 0, none) or combined with them tuple after tuple in order
/// (1 add, 2 mul, 3 max, 4 min; f32, f64, i64, i32).
Status scatterND(DType type, int reduction, const void *updates,
                 const int64_t *offsets, void *y, const Tuples &g,
                 cudaStream_t stream);
/// ElementsGeometry (../OpGeometry.h) for the device.
struct Elements {
  int64_t rank = 0, axis = 0, axisSize = 0, count = 0;
  int64_t dims[kMaxRank] = {}, dataStrides[kMaxRank] = {};
};
/// gather_elements: y[i] = x at element i's place (elements of `width`
/// bytes); an index outside its axis is recorded (code 1).
Status gatherElements(const void *x, const void *indices, bool indices64,
                      void *y, int width, const Elements &g,
                      DeviceError *error, int instr, cudaStream_t stream);
/// gather_elements_grad: y (data's shape, `dataCount` elements) = zeros
/// plus each grad element at its place, one thread per place adding its
/// terms in index order along the axis (no atomics: the CPU's bits). f32,
/// f64.
Status gatherElementsGrad(DType type, const void *indices, bool indices64,
                          const void *grad, void *y, int64_t dataCount,
                          const Elements &g, cudaStream_t stream);
/// Running sums along the middle axis of outer x n x inner (floats summed
/// in double); `exclusive` leaves out the element itself, `reverse` runs
/// from the end. f32, f64, i64, i32.
Status cumsum(DType type, const void *x, void *y, int64_t outer, int64_t n,
              int64_t inner, bool exclusive, bool reverse,
              cudaStream_t stream);
/// y[i] = start + i delta for the n elements compiled; operands giving
/// another length are recorded (code 3). f32, f64, i64, i32.
Status range(DType type, const void *start, const void *limit,
             const void *delta, void *y, int64_t n, DeviceError *error,
             int instr, cudaStream_t stream);

} // namespace cuda
} // namespace pprt

#endif // PPRT_CUDA_DEVICEINDEXING_H
