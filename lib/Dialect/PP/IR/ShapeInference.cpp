//===- ShapeInference.cpp - shape rules of the pp ops ---------------------===//

#include "ppc/Dialect/PP/IR/ShapeInference.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace ppc::pp {

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  os << "]";
  return s;
}

FailureOr<int64_t> checkedNumElements(ArrayRef<int64_t> shape,
                                      EmitErrorFn emitError) {
  int64_t n = 1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (d < 0)
      return emitError() << "dimension " << i << " of shape " << shapeStr(shape)
                         << " is " << d << "; dimensions must not be negative";
    if (llvm::MulOverflow(n, d, n) || n > kMaxElements)
      return emitError() << "shape " << shapeStr(shape)
                         << " has more than 2^48 elements";
  }
  return n;
}

FailureOr<Shape> broadcastShapes(ArrayRef<ArrayRef<int64_t>> shapes,
                                 EmitErrorFn emitError) {
  size_t rank = 0;
  for (ArrayRef<int64_t> s : shapes)
    rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (ArrayRef<int64_t> s : shapes) {
    size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t d = s[i];
      int64_t &o = out[off + i];
      if (d == o || d == 1)
        continue;
      if (o == 1) {
        o = d;
        continue;
      }
      auto diag = emitError() << "shapes";
      for (ArrayRef<int64_t> t : shapes)
        diag << " " << shapeStr(t);
      return diag << " do not broadcast";
    }
  }
  return out;
}

FailureOr<Shape> matmulShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                             EmitErrorFn emitError) {
  if (lhs.empty() || rhs.empty())
    return emitError() << "matmul operands must have rank >= 1";
  Shape a(lhs), b(rhs);
  bool lhsVec = a.size() == 1, rhsVec = b.size() == 1;
  if (lhsVec)
    a.insert(a.begin(), 1);
  if (rhsVec)
    b.push_back(1);
  int64_t k1 = a.back(), k2 = b[b.size() - 2];
  if (k1 != k2)
    return emitError() << "matmul contracts " << shapeStr(lhs) << " with "
                       << shapeStr(rhs) << ": inner dimensions " << k1
                       << " and " << k2 << " differ";
  ArrayRef<int64_t> batchA = ArrayRef<int64_t>(a).drop_back(2);
  ArrayRef<int64_t> batchB = ArrayRef<int64_t>(b).drop_back(2);
  FailureOr<Shape> batch = broadcastShapes({batchA, batchB}, emitError);
  if (failed(batch))
    return failure();
  Shape out = *batch;
  if (!lhsVec)
    out.push_back(a[a.size() - 2]);
  if (!rhsVec)
    out.push_back(b.back());
  return out;
}

FailureOr<Shape> gemmShape(ArrayRef<int64_t> a, ArrayRef<int64_t> b,
                           std::optional<ArrayRef<int64_t>> c, bool transA,
                           bool transB, EmitErrorFn emitError) {
  if (a.size() != 2 || b.size() != 2)
    return emitError() << "gemm operands must be matrices, got "
                       << shapeStr(a) << " and " << shapeStr(b);
  int64_t m = transA ? a[1] : a[0], ka = transA ? a[0] : a[1];
  int64_t kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1];
  if (ka != kb)
    return emitError() << "gemm inner dimensions " << ka << " and " << kb
                       << " differ";
  Shape out{m, n};
  if (c) {
    FailureOr<Shape> bc = broadcastShapes({*c, out}, emitError);
    if (failed(bc))
      return failure();
    if (*bc != out)
      return emitError() << "gemm C of shape " << shapeStr(*c)
                         << " does not broadcast to " << shapeStr(out);
  }
  return out;
}

FailureOr<int64_t> windowOutputSize(int64_t input, int64_t kernel,
                                    int64_t stride, int64_t padBegin,
                                    int64_t padEnd, int64_t dilation,
                                    bool ceilMode, EmitErrorFn emitError) {
  if (kernel <= 0 || stride <= 0 || dilation <= 0)
    return emitError() << "kernel size, stride and dilation must be positive";
  if (padBegin < 0 || padEnd < 0)
    return emitError() << "paddings must be non-negative";
  int64_t span = dilation * (kernel - 1) + 1;
  int64_t padded = input + padBegin + padEnd;
  if (padded < span)
    return emitError() << "window of " << span << " exceeds the padded input of "
                       << padded;
  int64_t out = ceilMode ? llvm::divideCeil(padded - span, stride) + 1
                         : (padded - span) / stride + 1;
  // As ONNX and PyTorch: the last window must start inside the input or the
  // begin padding.
  if (ceilMode && (out - 1) * stride >= input + padBegin)
    --out;
  return out;
}

static LogicalResult checkSpatialAttrs(size_t spatial, ArrayRef<int64_t> strides,
                                       ArrayRef<int64_t> pads,
                                       ArrayRef<int64_t> dilations,
                                       EmitErrorFn emitError) {
  if (strides.size() != spatial || dilations.size() != spatial)
    return emitError() << "strides and dilations need " << spatial
                       << " values, one per spatial axis";
  if (pads.size() != 2 * spatial)
    return emitError() << "pads needs " << 2 * spatial
                       << " values (begins, then ends)";
  return success();
}

FailureOr<Shape> convShape(ArrayRef<int64_t> input, ArrayRef<int64_t> filter,
                           ArrayRef<int64_t> strides, ArrayRef<int64_t> pads,
                           ArrayRef<int64_t> dilations, int64_t group,
                           EmitErrorFn emitError) {
  if (input.size() < 3)
    return emitError() << "conv input must be N x C x spatial..., got "
                       << shapeStr(input);
  if (filter.size() != input.size())
    return emitError() << "conv filter " << shapeStr(filter)
                       << " must have the rank of the input " << shapeStr(input);
  size_t spatial = input.size() - 2;
  if (failed(checkSpatialAttrs(spatial, strides, pads, dilations, emitError)))
    return failure();
  if (group <= 0)
    return emitError() << "conv group must be positive, got " << group;
  if (input[1] % group != 0 || filter[0] % group != 0)
    return emitError() << "conv group " << group
                       << " must divide the input channels " << input[1]
                       << " and the output channels " << filter[0];
  if (filter[1] * group != input[1])
    return emitError() << "conv filter has " << filter[1]
                       << " input channels per group; the input has "
                       << input[1] << " channels in " << group << " groups";
  Shape out{input[0], filter[0]};
  for (size_t i = 0; i < spatial; ++i) {
    FailureOr<int64_t> d =
        windowOutputSize(input[i + 2], filter[i + 2], strides[i], pads[i],
                         pads[i + spatial], dilations[i], false, emitError);
    if (failed(d))
      return failure();
    out.push_back(*d);
  }
  return out;
}

FailureOr<Shape> poolShape(ArrayRef<int64_t> input, ArrayRef<int64_t> kernel,
                           ArrayRef<int64_t> strides, ArrayRef<int64_t> pads,
                           ArrayRef<int64_t> dilations, bool ceilMode,
                           EmitErrorFn emitError) {
  if (input.size() < 3)
    return emitError() << "pooling input must be N x C x spatial..., got "
                       << shapeStr(input);
  size_t spatial = input.size() - 2;
  if (kernel.size() != spatial)
    return emitError() << "kernel_shape needs " << spatial << " values";
  if (failed(checkSpatialAttrs(spatial, strides, pads, dilations, emitError)))
    return failure();
  Shape out{input[0], input[1]};
  for (size_t i = 0; i < spatial; ++i) {
    if (pads[i] >= kernel[i] || pads[i + spatial] >= kernel[i])
      return emitError() << "padding must be smaller than the kernel";
    FailureOr<int64_t> d =
        windowOutputSize(input[i + 2], kernel[i], strides[i], pads[i],
                         pads[i + spatial], dilations[i], ceilMode, emitError);
    if (failed(d))
      return failure();
    out.push_back(*d);
  }
  return out;
}

FailureOr<Shape> reduceShape(ArrayRef<int64_t> input, ArrayRef<int64_t> axes,
                             bool keepdims, EmitErrorFn emitError) {
  int64_t prev = -1;
  for (int64_t a : axes) {
    if (a < 0 || a >= (int64_t)input.size())
      return emitError() << "reduction axis " << a << " is out of range for rank "
                         << input.size();
    if (a <= prev)
      return emitError() << "reduction axes must be sorted and distinct";
    prev = a;
  }
  Shape out;
  for (auto [i, d] : llvm::enumerate(input)) {
    if (llvm::is_contained(axes, (int64_t)i)) {
      if (keepdims)
        out.push_back(1);
    } else {
      out.push_back(d);
    }
  }
  return out;
}

FailureOr<Shape> transposeShape(ArrayRef<int64_t> input, ArrayRef<int64_t> perm,
                                EmitErrorFn emitError) {
  if (perm.size() != input.size())
    return emitError() << "perm has " << perm.size()
                       << " entries for a tensor of rank " << input.size();
  llvm::SmallVector<bool> seen(perm.size(), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= (int64_t)perm.size() || seen[p])
      return emitError() << "perm is not a permutation of 0.." << perm.size() - 1;
    seen[p] = true;
    out.push_back(input[p]);
  }
  return out;
}

int64_t sliceAxisSize(int64_t start, int64_t end, int64_t step) {
  if (step > 0)
    return end > start ? llvm::divideCeil(end - start, step) : 0;
  return start > end ? llvm::divideCeil(start - end, -step) : 0;
}

void normalizeSliceBounds(int64_t dim, int64_t &start, int64_t &end,
                          int64_t step) {
  if (start < 0)
    start = start < -dim ? 0 : start + dim;
  if (end < 0)
    end = end < -dim ? -1 : end + dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
  }
}

FailureOr<Shape> sliceShape(ArrayRef<int64_t> input, ArrayRef<int64_t> starts,
                            ArrayRef<int64_t> ends, ArrayRef<int64_t> steps,
                            EmitErrorFn emitError) {
  size_t rank = input.size();
  if (starts.size() != rank || ends.size() != rank || steps.size() != rank)
    return emitError() << "slice needs one start, end and step per axis ("
                       << rank << ")";
  Shape out;
  for (size_t i = 0; i < rank; ++i) {
    if (steps[i] == 0)
      return emitError() << "slice step of axis " << i << " is 0";
    int64_t lo = steps[i] > 0 ? 0 : -1;
    int64_t hi = steps[i] > 0 ? input[i] : input[i] - 1;
    if (starts[i] < 0 || starts[i] > input[i] || ends[i] < lo || ends[i] > hi)
      return emitError() << "slice bounds of axis " << i
                         << " are not normalised for size " << input[i];
    out.push_back(sliceAxisSize(starts[i], ends[i], steps[i]));
  }
  return out;
}

FailureOr<Shape> concatShape(ArrayRef<ArrayRef<int64_t>> inputs, int64_t axis,
                             EmitErrorFn emitError) {
  if (inputs.empty())
    return emitError() << "concat needs at least one input";
  Shape out(inputs.front());
  if (axis < 0 || axis >= (int64_t)out.size())
    return emitError() << "concat axis " << axis << " is out of range for rank "
                       << out.size();
  for (ArrayRef<int64_t> in : inputs.drop_front()) {
    if (in.size() != out.size())
      return emitError() << "concat inputs must have equal ranks";
    for (size_t i = 0; i < in.size(); ++i) {
      if ((int64_t)i == axis)
        out[i] += in[i];
      else if (in[i] != out[i])
        return emitError() << "concat inputs " << shapeStr(inputs.front())
                           << " and " << shapeStr(in) << " differ off axis "
                           << axis;
    }
  }
  return out;
}

FailureOr<Shape> gatherShape(ArrayRef<int64_t> data, ArrayRef<int64_t> indices,
                             int64_t axis, EmitErrorFn emitError) {
  if (axis < 0 || axis >= (int64_t)data.size())
    return emitError() << "gather axis " << axis << " is out of range for rank "
                       << data.size();
  Shape out(data.begin(), data.begin() + axis);
  out.append(indices.begin(), indices.end());
  out.append(data.begin() + axis + 1, data.end());
  return out;
}

FailureOr<Shape> padShape(ArrayRef<int64_t> input, ArrayRef<int64_t> pads,
                          EmitErrorFn emitError) {
  if (pads.size() != 2 * input.size())
    return emitError() << "pads needs " << 2 * input.size()
                       << " values (begins, then ends)";
  Shape out;
  for (size_t i = 0; i < input.size(); ++i) {
    std::optional<int64_t> begin = llvm::checkedAdd(input[i], pads[i]);
    std::optional<int64_t> sum =
        begin ? llvm::checkedAdd(*begin, pads[i + input.size()]) : begin;
    if (!sum || *sum > (int64_t(1) << 48))
      return emitError() << "pads make axis " << i << " larger than 2^48";
    int64_t d = *sum;
    if (d < 0)
      return emitError() << "pads crop axis " << i << " below zero";
    out.push_back(d);
  }
  return out;
}

FailureOr<Shape> layerNormStatsShape(ArrayRef<int64_t> input, int64_t axis,
                                     EmitErrorFn emitError) {
  if (axis < 0 || axis >= (int64_t)input.size())
    return emitError() << "layer_norm axis " << axis
                       << " is out of range for rank " << input.size();
  Shape out(input);
  for (size_t i = axis; i < out.size(); ++i)
    out[i] = 1;
  return out;
}

FailureOr<Shape> gatherNDShape(ArrayRef<int64_t> data, ArrayRef<int64_t> indices,
                               int64_t batchDims, EmitErrorFn emitError) {
  if (indices.empty())
    return emitError() << "indices must have at least one axis";
  int64_t r = data.size(), q = indices.size(), m = indices.back();
  if (batchDims < 0 || batchDims >= std::min(r, q))
    return emitError() << "batch_dims " << batchDims
                       << " must lie in [0, min(rank of data, rank of "
                          "indices)) = [0, "
                       << std::min(r, q) << ")";
  if (m < 1 || m > r - batchDims)
    return emitError() << "index tuples of " << m
                       << " entries: they must have 1 to "
                       << r - batchDims << " for data " << shapeStr(data)
                       << " and batch_dims " << batchDims;
  for (int64_t i = 0; i < batchDims; ++i)
    if (data[i] != indices[i])
      return emitError() << "batch axis " << i << " is " << data[i]
                         << " in data " << shapeStr(data) << " and "
                         << indices[i] << " in indices " << shapeStr(indices);
  Shape out(indices.begin(), indices.end() - 1);
  out.append(data.begin() + batchDims + m, data.end());
  return out;
}

LogicalResult checkScatterNDShapes(ArrayRef<int64_t> data,
                                   ArrayRef<int64_t> indices,
                                   ArrayRef<int64_t> updates, int64_t batchDims,
                                   EmitErrorFn emitError) {
  FailureOr<Shape> expected = gatherNDShape(data, indices, batchDims, emitError);
  if (failed(expected))
    return failure();
  if (ArrayRef<int64_t>(*expected) != updates)
    return emitError() << "updates " << shapeStr(updates)
                       << " should have shape " << shapeStr(*expected)
                       << " (indices.shape[:-1] ++ data.shape[m:])";
  return success();
}

LogicalResult checkGatherElementsShapes(ArrayRef<int64_t> data,
                                        ArrayRef<int64_t> indices, int64_t axis,
                                        EmitErrorFn emitError) {
  int64_t r = data.size();
  if ((int64_t)indices.size() != r)
    return emitError() << "indices " << shapeStr(indices)
                       << " must have the rank of data " << shapeStr(data);
  if (axis < 0 || axis >= r)
    return emitError() << "axis " << axis << " is out of range for rank " << r;
  for (int64_t d = 0; d < r; ++d)
    if (d != axis && indices[d] > data[d])
      return emitError() << "indices " << shapeStr(indices)
                         << " are larger than data " << shapeStr(data)
                         << " on axis " << d;
  return success();
}

FailureOr<RotaryShape> rotaryShape(ArrayRef<int64_t> input, ArrayRef<int64_t> cos,
                                   ArrayRef<int64_t> sin,
                                   std::optional<ArrayRef<int64_t>> positionIds,
                                   int64_t numHeads, int64_t rotaryDim,
                                   EmitErrorFn emitError) {
  RotaryShape g;
  if (input.size() == 4) {
    g = {input[0], input[2], input[1], input[3], rotaryDim};
    if (numHeads != 0 && numHeads != input[1])
      return emitError() << "num_heads " << numHeads << " differs from the "
                         << input[1] << " heads of the 4-D input";
  } else if (input.size() == 3) {
    if (numHeads <= 0)
      return emitError() << "a 3-D input needs num_heads";
    if (input[2] % numHeads != 0)
      return emitError() << "hidden size " << input[2]
                         << " is not a multiple of num_heads " << numHeads;
    g = {input[0], input[1], numHeads, input[2] / numHeads, rotaryDim};
  } else {
    return emitError() << "input must be 3-D or 4-D, got rank "
                       << input.size();
  }
  if (g.rotaryDim == 0)
    g.rotaryDim = g.headSize;
  if (g.rotaryDim < 0 || g.rotaryDim > g.headSize || g.rotaryDim % 2 != 0)
    return emitError() << "rotary_embedding_dim " << g.rotaryDim
                       << " must be even and at most the head size "
                       << g.headSize;
  if (cos != sin)
    return emitError() << "cos_cache " << shapeStr(cos)
                       << " and sin_cache " << shapeStr(sin)
                       << " must have one shape";
  int64_t half = g.rotaryDim / 2;
  if (positionIds) {
    ArrayRef<int64_t> p = *positionIds;
    if (p.size() != 2 || p[0] != g.batch || p[1] != g.sequence)
      return emitError() << "position_ids " << shapeStr(p)
                         << " should be batch x sequence ["
                         << g.batch << "x" << g.sequence << "]";
    if (cos.size() != 2 || cos[1] != half)
      return emitError() << "with position_ids the caches must be "
                            "max_position x rotary_dim / 2 (x"
                         << half << "), got " << shapeStr(cos);
  } else if (cos.size() != 3 || cos[0] != g.batch || cos[1] != g.sequence ||
             cos[2] != half) {
    return emitError() << "without position_ids the caches must be batch x "
                          "sequence x rotary_dim / 2 ["
                       << g.batch << "x" << g.sequence << "x" << half
                       << "], got " << shapeStr(cos);
  }
  return g;
}

FailureOr<AttentionShapes> attentionShapes(ArrayRef<int64_t> q, ArrayRef<int64_t> k,
                                           ArrayRef<int64_t> v,
                                           std::optional<ArrayRef<int64_t>> mask,
                                           EmitErrorFn emitError) {
  if (q.size() != 4 || k.size() != 4 || v.size() != 4)
    return emitError() << "q, k and v must be 4-D (batch x heads x sequence "
                          "x head_size), got "
                       << shapeStr(q) << ", " << shapeStr(k) << ", "
                       << shapeStr(v);
  if (k[0] != q[0] || v[0] != q[0])
    return emitError() << "q, k and v must share the batch size";
  if (k[1] != v[1] || k[2] != v[2])
    return emitError() << "k " << shapeStr(k) << " and v " << shapeStr(v)
                       << " must share heads and sequence";
  if (k[1] <= 0 || q[1] % k[1] != 0)
    return emitError() << "q's " << q[1]
                       << " heads must be a multiple of k's " << k[1];
  if (k[3] != q[3])
    return emitError() << "q's head size " << q[3] << " differs from k's "
                       << k[3];
  if (mask) {
    Shape full{q[0], q[1], q[2], k[2]};
    ArrayRef<int64_t> m = *mask;
    bool fits = m.size() <= 4;
    for (size_t i = 0; fits && i < m.size(); ++i)
      fits = m[i] == 1 || m[i] == full[4 - m.size() + i];
    if (!fits)
      return emitError() << "mask " << shapeStr(m) << " does not broadcast to "
                         << shapeStr(full);
  }
  AttentionShapes s;
  s.result = {q[0], q[1], q[2], v[3]};
  s.lse = {q[0], q[1], q[2]};
  return s;
}

} // namespace ppc::pp
