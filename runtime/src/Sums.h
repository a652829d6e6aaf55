//===- Sums.h - gradient sums on the rank's threads -------------*- C++ -*-===//

#ifndef PPRT_SUMS_H
#define PPRT_SUMS_H

#include <cstdint>

namespace pprt {

/// acc += g over n floats, element by element (so bitwise the same on any
/// thread count), on the calling rank's OpenMP team: micro-batch and use
/// sums, and the collectives' member-order sums.
inline void addInto(float *acc, const float *g, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    acc[i] += g[i];
}

} // namespace pprt

#endif // PPRT_SUMS_H
