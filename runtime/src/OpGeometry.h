//===- OpGeometry.h - index geometry both backends' kernels share -*- C++ -*-===//
//
// How gather_nd / scatter_nd tuples, gather_elements' positions, rotary
// embeddings and attention lay
// their operands out, computed once from the shapes and attributes for the
// CPU kernels (cpu/Indexing.cpp, cpu/Attention.cpp) and the CUDA ones
// (cuda/IndexingOps.cpp, cuda/AttentionOps.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_OPGEOMETRY_H
#define PPRT_OPGEOMETRY_H

#include "Attrs.h"
#include "pprt/Status.h"
#include "pprt/Tensor.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pprt {

inline int64_t productOf(const std::vector<int64_t> &shape, size_t from,
                         size_t to) {
  int64_t n = 1;
  for (size_t d = from; d < to && d < shape.size(); ++d)
    n *= shape[d];
  return n;
}

/// gather_nd / scatter_nd: `batches` x `tuples` index tuples of `m`
/// entries, each selecting a slice of `slice` elements; batch b's data
/// starts at b * perBatch, and tuple entry k steps by strides[k] over data
/// axis batch_dims + k of size dims[k].
struct TupleGeometry {
  int64_t batches = 1, tuples = 1, m = 0, slice = 1, perBatch = 1;
  std::vector<int64_t> strides, dims;
};
inline StatusOr<TupleGeometry> tupleGeometry(const TensorDesc &data,
                                             const TensorDesc &indices,
                                             int64_t batchDims,
                                             const char *kernel) {
  const auto &d = data.shape, &i = indices.shape;
  if (indices.dtype != DType::I64 && indices.dtype != DType::I32)
    return invalidArgument(std::string(kernel) + ": indices of type " +
                           dtypeName(indices.dtype));
  if (i.empty() || batchDims < 0 || batchDims >= (int64_t)i.size() ||
      i.back() < 1 || batchDims + i.back() > (int64_t)d.size())
    return invalidArgument(std::string(kernel) + ": indices " +
                           indices.toString() + " do not index data " +
                           data.toString());
  TupleGeometry g;
  g.m = i.back();
  g.batches = productOf(d, 0, batchDims);
  g.tuples = productOf(i, batchDims, i.size() - 1);
  g.perBatch = productOf(d, batchDims, d.size());
  g.slice = productOf(d, batchDims + g.m, d.size());
  for (int64_t k = 0; k < g.m; ++k) {
    g.dims.push_back(d[batchDims + k]);
    g.strides.push_back(productOf(d, batchDims + k + 1, d.size()));
  }
  return g;
}

/// gather_elements (and its gradient): result element i, at position
/// (c0, .., cr-1) of indices' shape `dims`, reads data at
/// sum_{d != axis} c_d * dataStrides[d] + j * dataStrides[axis], j the
/// index there, in [-axisSize, axisSize).
struct ElementsGeometry {
  int64_t rank = 0, axis = 0, axisSize = 0, count = 0;
  std::vector<int64_t> dims, dataStrides;
};
inline StatusOr<ElementsGeometry> elementsGeometry(const TensorDesc &data,
                                                   const TensorDesc &indices,
                                                   int64_t axis,
                                                   const char *kernel) {
  const auto &d = data.shape, &i = indices.shape;
  if (indices.dtype != DType::I64 && indices.dtype != DType::I32)
    return invalidArgument(std::string(kernel) + ": indices of type " +
                           dtypeName(indices.dtype));
  int64_t r = d.size();
  if (axis < 0)
    axis += r;
  bool fits = (int64_t)i.size() == r && axis >= 0 && axis < r;
  for (int64_t k = 0; fits && k < r; ++k)
    fits = k == axis || i[k] <= d[k];
  if (!fits)
    return invalidArgument(std::string(kernel) + ": indices " +
                           indices.toString() + " do not index data " +
                           data.toString() + " along axis " +
                           std::to_string(axis));
  ElementsGeometry g;
  g.rank = r;
  g.axis = axis;
  g.axisSize = d[axis];
  g.count = productOf(i, 0, i.size());
  g.dims = i;
  for (int64_t k = 0; k < r; ++k)
    g.dataStrides.push_back(productOf(d, k + 1, d.size()));
  return g;
}

/// rotary_embedding: the input seen as batch x sequence x heads x
/// head_size through element strides (4-D inputs are batch x heads x
/// sequence x head_size, 3-D batch x sequence x hidden).
struct RotaryGeometry {
  int64_t batch = 0, sequence = 0, heads = 0, headSize = 0, rotaryDim = 0;
  int64_t strideB = 0, strideS = 0, strideH = 0;
  bool interleaved = false, positions = false;
  int64_t maxPosition = 0; // rows of the caches with positions
};
inline StatusOr<RotaryGeometry> rotaryGeometry(const TensorDesc &x,
                                               const TensorDesc &cache,
                                               const TensorDesc *positions,
                                               const Attrs &a) {
  RotaryGeometry g;
  const auto &s = x.shape;
  if (s.size() == 4) {
    g.batch = s[0];
    g.heads = s[1];
    g.sequence = s[2];
    g.headSize = s[3];
    g.strideB = s[1] * s[2] * s[3];
    g.strideH = s[2] * s[3];
    g.strideS = s[3];
  } else if (s.size() == 3 && a.i("num_heads") > 0 &&
             s[2] % a.i("num_heads") == 0) {
    g.batch = s[0];
    g.sequence = s[1];
    g.heads = a.i("num_heads");
    g.headSize = s[2] / g.heads;
    g.strideB = s[1] * s[2];
    g.strideS = s[2];
    g.strideH = g.headSize;
  } else {
    return invalidArgument("rotary_embedding: input " + x.toString() +
                           " is not 4-D or 3-D with num_heads heads");
  }
  g.rotaryDim = a.i("rotary_dim") ? a.i("rotary_dim") : g.headSize;
  g.interleaved = a.i("interleaved");
  g.positions = positions != nullptr;
  int64_t half = g.rotaryDim / 2;
  bool ok = g.rotaryDim % 2 == 0 && g.rotaryDim <= g.headSize;
  if (g.positions) {
    ok = ok && positions->shape == std::vector<int64_t>{g.batch, g.sequence} &&
         cache.shape.size() == 2 && cache.shape[1] == half &&
         (positions->dtype == DType::I64 || positions->dtype == DType::I32);
    g.maxPosition = cache.shape.empty() ? 0 : cache.shape[0];
  } else {
    ok = ok && cache.shape == std::vector<int64_t>{g.batch, g.sequence, half};
  }
  if (!ok)
    return invalidArgument("rotary_embedding: caches " + cache.toString() +
                           (positions ? " and positions " + positions->toString()
                                      : std::string()) +
                           " do not fit input " + x.toString());
  return g;
}

/// attention: q batch x qHeads x qSeq x headSize, k and v batch x kvHeads x
/// kvSeq x (headSize, vHeadSize); q head h reads kv head h / group. The
/// mask is read at (b, h, i, j) through maskStrides (0 on broadcast axes).
struct AttentionGeometry {
  int64_t batch = 0, qHeads = 0, kvHeads = 0, qSeq = 0, kvSeq = 0,
          headSize = 0, vHeadSize = 0, group = 1;
  bool mask = false, boolMask = false, causal = false;
  int64_t maskStrides[4] = {0, 0, 0, 0};
  double scale = 1;
};
inline StatusOr<AttentionGeometry> attentionGeometry(const TensorDesc &q,
                                                     const TensorDesc &k,
                                                     const TensorDesc &v,
                                                     const TensorDesc *mask,
                                                     const Attrs &a,
                                                     const char *kernel) {
  AttentionGeometry g;
  if (q.shape.size() != 4 || k.shape.size() != 4 || v.shape.size() != 4 ||
      k.shape[0] != q.shape[0] || v.shape[0] != q.shape[0] ||
      k.shape[1] != v.shape[1] || k.shape[2] != v.shape[2] ||
      k.shape[3] != q.shape[3] || k.shape[1] <= 0 ||
      q.shape[1] % k.shape[1] != 0)
    return invalidArgument(std::string(kernel) + ": q " + q.toString() +
                           ", k " + k.toString() + ", v " + v.toString() +
                           " do not fit");
  for (const TensorDesc *t : {&q, &k, &v})
    if (t->dtype != DType::F32)
      return invalidArgument(std::string(kernel) + " takes f32, not " +
                             t->toString());
  g.batch = q.shape[0];
  g.qHeads = q.shape[1];
  g.qSeq = q.shape[2];
  g.headSize = q.shape[3];
  g.kvHeads = k.shape[1];
  g.kvSeq = k.shape[2];
  g.vHeadSize = v.shape[3];
  g.group = g.qHeads / g.kvHeads;
  g.causal = a.i("is_causal");
  g.scale = a.f("scale", 1);
  if (mask) {
    g.mask = true;
    g.boolMask = mask->dtype == DType::Bool;
    if (!g.boolMask && mask->dtype != DType::F32)
      return invalidArgument(std::string(kernel) + ": a mask of type " +
                             dtypeName(mask->dtype));
    const int64_t full[4] = {g.batch, g.qHeads, g.qSeq, g.kvSeq};
    const auto &ms = mask->shape;
    if (ms.size() > 4)
      return invalidArgument(std::string(kernel) + ": mask " +
                             mask->toString() + " has more than 4 axes");
    int64_t stride = 1;
    for (int d = (int)ms.size() - 1; d >= 0; --d) {
      int axis = 4 - (int)ms.size() + d;
      if (ms[d] != 1 && ms[d] != full[axis])
        return invalidArgument(std::string(kernel) + ": mask " +
                               mask->toString() + " does not broadcast");
      g.maskStrides[axis] = ms[d] == 1 ? 0 : stride;
      stride *= ms[d];
    }
  }
  return g;
}

/// rms_norm: rows of the normalised axes (from `axis` on) and their
/// length, with a scale of their exact shape.
inline StatusOr<std::pair<int64_t, int64_t>>
rmsRows(const TensorDesc &x, const TensorDesc &scale, const Attrs &a,
        const char *kernel) {
  int64_t rank = x.shape.size(), axis = a.i("axis", -1);
  if (axis < 0)
    axis += rank;
  int64_t inner = productOf(x.shape, axis, rank);
  int64_t all = productOf(x.shape, 0, rank);
  if (productOf(scale.shape, 0, scale.shape.size()) != inner)
    return invalidArgument(std::string(kernel) + ": scale " +
                           scale.toString() +
                           " does not cover the normalised axes of " +
                           x.toString());
  return std::make_pair(inner ? all / inner : 0, inner);
}

} // namespace pprt

#endif // PPRT_OPGEOMETRY_H
