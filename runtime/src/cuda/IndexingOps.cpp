//===- IndexingOps.cpp - gather_nd, scatter_nd, gather_elements, ... CUDA -===//
//
// The host side: the shared geometry (../OpGeometry.h), scratch for the
// tuples' offsets, then IndexingKernels.cu on the stage's stream.
//
//===----------------------------------------------------------------------===//

#include "CudaOps.h"
#include "DeviceIndexing.h"

#include "../OpGeometry.h"

namespace pprt {
namespace cuda {
namespace {

/// The tuples of data/indices, their offsets computed on the device into
/// the instruction's scratch.
StatusOr<std::pair<Tuples, int64_t *>> offsetsOf(const TensorRef &data,
                                                 const TensorRef &indices,
                                                 const Attrs &a, Ctx &c,
                                                 const char *kernel) {
  auto g = tupleGeometry(data.desc, indices.desc, a.i("batch_dims"), kernel);
  if (!g)
    return g.status();
  if (g->m > kMaxRank)
    return invalidArgument(std::string(kernel) + ": tuples of " +
                           std::to_string(g->m) + " indices (at most " +
                           std::to_string(kMaxRank) + ")");
  Tuples t;
  t.batches = g->batches;
  t.tuples = g->tuples;
  t.m = g->m;
  t.slice = g->slice;
  t.perBatch = g->perBatch;
  for (int64_t k = 0; k < g->m; ++k) {
    t.strides[k] = g->strides[k];
    t.dims[k] = g->dims[k];
  }
  auto scratch = c.scratch(a, std::max<int64_t>(1, t.batches * t.tuples) * 8);
  if (!scratch)
    return scratch.status();
  auto *offsets = static_cast<int64_t *>(*scratch);
  PPRT_RETURN_IF_ERROR(tupleOffsets(indices.data,
                                    indices.desc.dtype == DType::I64, t,
                                    offsets, c.error, c.instr, c.stream));
  return std::make_pair(t, offsets);
}

Status gatherNDKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  auto o = offsetsOf(*in[0], *in[1], a, c, "gather_nd");
  if (!o)
    return o.status();
  const Tuples &t = o->first;
  return gatherND(in[0]->data, o->second, out[0]->data,
                  (int)dtypeSize(in[0]->desc.dtype), t.batches * t.tuples,
                  t.slice, c.stream);
}

Status scatterNDKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0];
  TensorRef &y = *out[0];
  std::string r = a.s("reduction", "none");
  int reduction = r == "none" ? 0 : r == "add" ? 1 : r == "mul" ? 2
                  : r == "max" ? 3 : r == "min" ? 4 : -1;
  if (reduction < 0)
    return invalidArgument("scatter_nd: reduction '" + r + "'");
  auto o = offsetsOf(x, *in[1], a, c, "scatter_nd");
  if (!o)
    return o.status();
  if (y.data != x.data && y.bytes)
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaMemcpyAsync(y.data, x.data, y.bytes,
                                                    cudaMemcpyDeviceToDevice,
                                                    c.stream),
                                    "scatter_nd's copy of data"));
  return scatterND(x.desc.dtype, reduction, in[2]->data, o->second, y.data,
                   o->first, c.stream);
}

/// The shared geometry flattened for the device.
StatusOr<Elements> elementsOf(const TensorDesc &data, const TensorDesc &indices,
                              const Attrs &a, const char *kernel) {
  auto g = elementsGeometry(data, indices, a.i("axis"), kernel);
  if (!g)
    return g.status();
  if (g->rank > kMaxRank)
    return invalidArgument(std::string(kernel) + ": rank " +
                           std::to_string(g->rank) + " (at most " +
                           std::to_string(kMaxRank) + ")");
  Elements e;
  e.rank = g->rank;
  e.axis = g->axis;
  e.axisSize = g->axisSize;
  e.count = g->count;
  for (int64_t d = 0; d < g->rank; ++d) {
    e.dims[d] = g->dims[d];
    e.dataStrides[d] = g->dataStrides[d];
  }
  return e;
}

Status gatherElementsKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0], &idx = *in[1];
  auto g = elementsOf(x.desc, idx.desc, a, "gather_elements");
  if (!g)
    return g.status();
  return gatherElements(x.data, idx.data, idx.desc.dtype == DType::I64,
                        out[0]->data, (int)dtypeSize(x.desc.dtype), *g,
                        c.error, c.instr, c.stream);
}

Status gatherElementsGradKernel(Tensors &in, Tensors &out, const Attrs &a,
                                Ctx &c) {
  const TensorRef &idx = *in[0], &grad = *in[1];
  TensorRef &y = *out[0];
  auto g = elementsOf(y.desc, idx.desc, a, "gather_elements_grad");
  if (!g)
    return g.status();
  return gatherElementsGrad(y.desc.dtype, idx.data,
                            idx.desc.dtype == DType::I64, grad.data, y.data,
                            y.numel, *g, c.stream);
}

Status cumsumKernel(Tensors &in, Tensors &out, const Attrs &a, Ctx &c) {
  const TensorRef &x = *in[0];
  const auto &shape = x.desc.shape;
  int64_t axis = a.i("axis");
  if (axis < 0 || axis >= (int64_t)shape.size())
    return invalidArgument("cumsum: axis " + std::to_string(axis) +
                           " is out of range for " + x.desc.toString());
  int64_t n = shape[axis], inner = productOf(shape, axis + 1, shape.size());
  int64_t outer = n * inner != 0 ? x.numel / (n * inner) : 0;
  return cumsum(x.desc.dtype, x.data, out[0]->data, outer, n, inner,
                a.i("exclusive"), a.i("reverse"), c.stream);
}

Status rangeKernel(Tensors &in, Tensors &out, const Attrs &, Ctx &c) {
  return range(out[0]->desc.dtype, in[0]->data, in[1]->data, in[2]->data,
               out[0]->data, out[0]->numel, c.error, c.instr, c.stream);
}

} // namespace

void registerIndexingOps(Registry &r) {
  r["gather_nd"] = gatherNDKernel;
  r["scatter_nd"] = scatterNDKernel;
  r["gather_elements"] = gatherElementsKernel;
  r["gather_elements_grad"] = gatherElementsGradKernel;
  r["cumsum"] = cumsumKernel;
  r["range"] = rangeKernel;
}

} // namespace cuda
} // namespace pprt
