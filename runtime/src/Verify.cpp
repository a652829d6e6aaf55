//===- Verify.cpp - checking programs and plans before they run -----------===//
//
// The kernels index their operands and results and read their attributes
// without checking (checks there would cost every run), so each
// instruction is checked once here against what its kernel reads: operand
// and result counts, element types, attribute lengths and the shapes that
// decide how far it reads and writes.
//
//===----------------------------------------------------------------------===//

#include "Verify.h"

#include "Attrs.h"
#include "OpGeometry.h"
#include "pprt/Files.h"
#include "pprt/Format.h"
#include "pprt/Vocabulary.h"

#include "pprt/DTypeSchema.h"
#include "pprt/stage_generated.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <tuple>

namespace pprt {

namespace {

using Shape = std::vector<int64_t>;

std::string shapeText(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "x" : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t product(const Shape &s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t n = 1;
  for (size_t i = from; i < s.size() && i < to; ++i)
    n *= s[i]; // buffers were checked: no overflow
  return n;
}

bool broadcastsTo(const Shape &in, const Shape &out) {
  if (in.size() > out.size())
    return false;
  size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != out[offset + i] && in[i] != 1)
      return false;
  return true;
}

/// One instruction's view of its buffers, for the kernel checks.
class InstrCheck {
public:
  InstrCheck(const fb::Instr &instr, const std::vector<TensorDesc> &descs)
      : instr(instr), attrs(&instr) {
    if (instr.operands())
      for (int i : *instr.operands())
        in.push_back(&descs[i]);
    if (instr.results())
      for (int i : *instr.results())
        out.push_back(&descs[i]);
  }

  Status check();

private:
  Status fail(const std::string &why) {
    return invalidArgument(why);
  }
  Status counts(size_t minIn, size_t maxIn, size_t minOut, size_t maxOut) {
    if (in.size() < minIn || in.size() > maxIn || out.size() < minOut ||
        out.size() > maxOut) {
      auto range = [](size_t lo, size_t hi) {
        return lo == hi ? std::to_string(lo)
                        : std::to_string(lo) + " to " + std::to_string(hi);
      };
      return fail("has " + std::to_string(in.size()) + " operands and " +
                  std::to_string(out.size()) + " results, the kernel takes " +
                  range(minIn, maxIn) + " and " + range(minOut, maxOut));
    }
    return Status::ok();
  }
  Status sameType(const TensorDesc &a, const TensorDesc &b) {
    if (a.dtype != b.dtype)
      return fail("mixes " + std::string(dtypeName(a.dtype)) + " and " +
                  dtypeName(b.dtype));
    return Status::ok();
  }
  /// A product's types: its two factors share one; the result has it, or
  /// F32 when they are BF16 or F16 (fp32 accumulation, -pp-precision);
  /// addends (gemm's C, conv's bias) have the result's.
  Status productTypes(const TensorDesc &a, const TensorDesc &b,
                      const TensorDesc &result, size_t firstAddend) {
    PPRT_RETURN_IF_ERROR(sameType(a, b));
    bool half = a.dtype == DType::BF16 || a.dtype == DType::F16;
    if (!(half && result.dtype == DType::F32))
      PPRT_RETURN_IF_ERROR(sameType(a, result));
    for (size_t i = firstAddend; i < in.size(); ++i)
      PPRT_RETURN_IF_ERROR(sameType(*in[i], result));
    return Status::ok();
  }
  Status sameShape(const TensorDesc &a, const TensorDesc &b) {
    if (a.shape != b.shape)
      return fail("needs equal shapes, has " + shapeText(a.shape) + " and " +
                  shapeText(b.shape));
    return Status::ok();
  }
  Status numel(const TensorDesc &t, int64_t n, const char *what) {
    if (product(t.shape) != n)
      return fail(std::string(what) + " " + shapeText(t.shape) + " should have " +
                  std::to_string(n) + " elements");
    return Status::ok();
  }
  /// A kernel that needs its operands non-empty; an instruction whose
  /// results are all empty is skipped instead (resolveSteps).
  Status nonEmpty() {
    if (!out.empty() && std::all_of(out.begin(), out.end(),
                                    [](const TensorDesc *t) {
                                      return product(t->shape) == 0;
                                    }))
      return Status::ok();
    for (auto *list : {&in, &out})
      for (const TensorDesc *t : *list)
        if (product(t->shape) == 0)
          return fail("has an empty tensor " + shapeText(t->shape));
    return Status::ok();
  }
  Status rankAtLeast(const TensorDesc &t, size_t r) {
    if (t.shape.size() < r)
      return fail("needs a tensor of rank " + std::to_string(r) +
                  " or more, has " + shapeText(t.shape));
    return Status::ok();
  }
  /// An axis attribute (negative counts from the end), normalised.
  Status axis(const char *name, int64_t otherwise, size_t rank, int64_t &out,
              bool allowEnd = false) {
    int64_t a = attrs.i(name, otherwise);
    int64_t r = rank;
    if (a < -r || a > (allowEnd ? r : r - 1))
      return fail("attribute '" + std::string(name) + "' = " +
                  std::to_string(a) + " is outside rank " + std::to_string(r));
    out = a < 0 ? a + r : a;
    return Status::ok();
  }
  Status ints(const char *name, size_t size, std::vector<int64_t> &out,
              bool optional = false) {
    out = attrs.ints(name);
    if (optional && out.empty())
      return Status::ok();
    if (out.size() != size)
      return fail("attribute '" + std::string(name) + "' has " +
                  std::to_string(out.size()) + " values, needs " +
                  std::to_string(size));
    return Status::ok();
  }
  Status unary();
  Status binary(bool compare, bool mixedRhs);
  Status matmul();
  Status gemm();
  Status window(const TensorDesc &x, const TensorDesc &y, const Shape &kernel,
                bool conv);
  Status conv(const TensorDesc &x, const TensorDesc &w, const TensorDesc &y);
  Status normalise();
  Status shapeOp(const std::string &k);
  Status gatherShape(const TensorDesc &data, const TensorDesc &indices,
                     const TensorDesc &result);
  Status sliceShape(const TensorDesc &big, const TensorDesc &small);
  Status indexingOrTransformer(const std::string &k);
  Status allF32() {
    for (auto *list : {&in, &out})
      for (const TensorDesc *t : *list)
        if (t->dtype != DType::F32)
          return fail("runs in F32, has " + std::string(dtypeName(t->dtype)));
    return Status::ok();
  }

  const fb::Instr &instr;
  Attrs attrs;
  std::vector<const TensorDesc *> in, out;
};

const std::set<std::string> kUnary = {
    "relu",  "sigmoid", "tanh", "erf",   "sqrt", "exp",  "log",
    "reciprocal", "floor", "ceil", "round", "sin", "cos", "softplus",
    "gelu",  "neg",     "abs",  "sign",  "not",  "leaky_relu", "clip",
    "hard_sigmoid", "hard_swish"};
const std::set<std::string> kArith = {"add", "sub", "mul", "div",
                                      "max", "min", "pow", "mod"};
const std::set<std::string> kCompare = {"equal", "less", "less_equal",
                                        "greater", "greater_equal"};
const std::set<std::string> kLogic = {"and", "or", "xor"};
const std::set<std::string> kActivationGrad = {
    "relu_grad", "tanh_grad", "sigmoid_grad", "gelu_grad", "hard_swish_grad",
    "hard_sigmoid_grad"};
/// Checked by InstrCheck::indexingOrTransformer.
const std::set<std::string> kIndexingTransformer = {
    "gather_nd", "scatter_nd", "cumsum",         "range",
    "gather_elements", "gather_elements_grad",
    "rms_norm",  "rms_norm_grad", "rotary_embedding", "attention",
    "attention_grad", "rotary_embedding_cache_grad"};
const std::set<std::string> kReduce = {"reduce_sum", "reduce_mean",
                                       "reduce_max", "reduce_min",
                                       "reduce_prod"};

Status InstrCheck::unary() {
  PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
  PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
  return sameShape(*in[0], *out[0]);
}

Status InstrCheck::binary(bool compare, bool mixedRhs) {
  PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
  if (compare) {
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *in[1]));
    if (out[0]->dtype != DType::Bool)
      return fail("a comparison's result must be BOOL");
  } else {
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    if (!mixedRhs)
      PPRT_RETURN_IF_ERROR(sameType(*in[1], *out[0]));
  }
  for (const TensorDesc *t : in)
    if (!broadcastsTo(t->shape, out[0]->shape))
      return fail("operand " + shapeText(t->shape) +
                  " does not broadcast to the result " +
                  shapeText(out[0]->shape));
  return Status::ok();
}

Status InstrCheck::matmul() {
  PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
  PPRT_RETURN_IF_ERROR(productTypes(*in[0], *in[1], *out[0], 2));
  Shape a = in[0]->shape, b = in[1]->shape;
  if (a.empty() || b.empty())
    return fail("matmul of a scalar");
  bool vecA = a.size() == 1, vecB = b.size() == 1;
  if (vecA)
    a.insert(a.begin(), 1);
  if (vecB)
    b.push_back(1);
  int64_t m = a[a.size() - 2], k = a.back(), k2 = b[b.size() - 2],
          n = b.back();
  if (k != k2)
    return fail("matmul of " + shapeText(in[0]->shape) + " and " +
                shapeText(in[1]->shape) + ": inner dimensions differ");
  Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2), batch;
  size_t rank = std::max(ba.size(), bb.size());
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i + ba.size() >= rank ? ba[i + ba.size() - rank] : 1;
    int64_t y = i + bb.size() >= rank ? bb[i + bb.size() - rank] : 1;
    if (x != y && x != 1 && y != 1)
      return fail("matmul batch dimensions of " + shapeText(in[0]->shape) +
                  " and " + shapeText(in[1]->shape) + " do not broadcast");
    batch.push_back(x == 1 ? y : x);
  }
  Shape want = batch;
  if (!vecA)
    want.push_back(m);
  if (!vecB)
    want.push_back(n);
  if (out[0]->shape != want)
    return fail("matmul result " + shapeText(out[0]->shape) + ", expected " +
                shapeText(want));
  return Status::ok();
}

Status InstrCheck::gemm() {
  PPRT_RETURN_IF_ERROR(counts(2, 3, 1, 1));
  PPRT_RETURN_IF_ERROR(productTypes(*in[0], *in[1], *out[0], 2));
  const Shape &a = in[0]->shape, &b = in[1]->shape, &y = out[0]->shape;
  if (a.size() != 2 || b.size() != 2 || y.size() != 2)
    return fail("gemm needs 2-D operands and result");
  bool ta = attrs.i("trans_a"), tb = attrs.i("trans_b");
  int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb || y[0] != m || y[1] != n)
    return fail("gemm of " + shapeText(a) + " and " + shapeText(b) +
                " cannot give " + shapeText(y));
  if (in.size() > 2 && !broadcastsTo(in[2]->shape, y))
    return fail("gemm's C " + shapeText(in[2]->shape) +
                " does not broadcast to " + shapeText(y));
  return Status::ok();
}

/// A convolution or pooling window over x's trailing axes.
Status InstrCheck::window(const TensorDesc &x, const TensorDesc &y,
                          const Shape &kernel, bool conv) {
  PPRT_RETURN_IF_ERROR(rankAtLeast(x, 3));
  size_t spatial = x.shape.size() - 2;
  if (spatial > 8)
    return fail("a window over more than 8 axes");
  if (y.shape.size() != x.shape.size())
    return fail("window input " + shapeText(x.shape) + " and output " +
                shapeText(y.shape) + " differ in rank");
  if (y.shape[0] != x.shape[0])
    return fail("window input and output differ in batch");
  if (kernel.size() != spatial)
    return fail("the window has " + std::to_string(kernel.size()) +
                " axes, the input " + std::to_string(spatial));
  std::vector<int64_t> strides, pads, dilations;
  PPRT_RETURN_IF_ERROR(ints("strides", spatial, strides, true));
  PPRT_RETURN_IF_ERROR(ints("pads", 2 * spatial, pads, true));
  PPRT_RETURN_IF_ERROR(ints("dilations", spatial, dilations, true));
  for (size_t d = 0; d < spatial; ++d) {
    int64_t s = strides.empty() ? 1 : strides[d];
    int64_t dl = dilations.empty() ? 1 : dilations[d];
    int64_t pb = pads.empty() ? 0 : pads[d], pe = pads.empty() ? 0 : pads[d + spatial];
    if (kernel[d] < 1 || s < 1 || dl < 1 || pb < 0 || pe < 0 ||
        kernel[d] > (int64_t(1) << 32) || s > (int64_t(1) << 32) ||
        dl > (int64_t(1) << 32) || pb > (int64_t(1) << 32) ||
        pe > (int64_t(1) << 32))
      return fail("window attributes out of range on axis " +
                  std::to_string(d));
    if (conv) {
      int64_t span = dl * (kernel[d] - 1) + 1;
      int64_t padded = x.shape[d + 2] + pb + pe;
      int64_t want = padded < span ? 0 : (padded - span) / s + 1;
      if (y.shape[d + 2] != want)
        return fail("convolution output " + shapeText(y.shape) +
                    " does not follow from input " + shapeText(x.shape));
    }
  }
  return Status::ok();
}

Status InstrCheck::conv(const TensorDesc &x, const TensorDesc &w,
                        const TensorDesc &y) {
  PPRT_RETURN_IF_ERROR(window(x, y, Shape(w.shape.size() >= 2
                                              ? w.shape.begin() + 2
                                              : w.shape.end(),
                                          w.shape.end()),
                              true));
  int64_t group = attrs.i("group", 1);
  int64_t cin = x.shape[1], cout = y.shape[1];
  if (group < 1 || cin % group || cout % group || w.shape.size() != x.shape.size() ||
      w.shape[0] != cout || w.shape[1] != cin / group)
    return fail("convolution filter " + shapeText(w.shape) + " does not fit "
                "input " + shapeText(x.shape) + " and output " +
                shapeText(y.shape) + " in " + std::to_string(group) +
                " groups");
  return Status::ok();
}

/// layer_norm, batch_norm and their gradients.
Status InstrCheck::normalise() {
  std::string k = instr.kernel()->str();
  if (k == "layer_norm") {
    PPRT_RETURN_IF_ERROR(counts(2, 3, 1, 3));
  } else if (k == "layer_norm_grad") {
    PPRT_RETURN_IF_ERROR(counts(5, 5, 1, 1));
  } else if (k == "layer_norm_param_grad") {
    PPRT_RETURN_IF_ERROR(counts(4, 4, 2, 2));
  } else if (k == "batch_norm") {
    PPRT_RETURN_IF_ERROR(counts(5, 5, 1, 1));
  } else if (k == "batch_norm_train") {
    PPRT_RETURN_IF_ERROR(counts(5, 5, 5, 5));
  } else if (k == "batch_norm_grad") {
    PPRT_RETURN_IF_ERROR(counts(5, 5, 1, 1));
  } else { // batch_norm_param_grad
    PPRT_RETURN_IF_ERROR(counts(4, 4, 2, 2));
  }
  PPRT_RETURN_IF_ERROR(nonEmpty());
  for (auto *list : {&in, &out})
    for (const TensorDesc *t : *list)
      if (t->dtype != DType::F32)
        return fail("runs in F32, has " + std::string(dtypeName(t->dtype)));
  const TensorDesc &x = *in[0];
  // The tensors of one value each per row (layer) or channel (batch).
  int64_t rows, per;
  if (k.rfind("layer_norm", 0) == 0) {
    int64_t ax;
    PPRT_RETURN_IF_ERROR(axis("axis", -1, x.shape.size(), ax));
    rows = product(x.shape, 0, ax);
    per = product(x.shape, ax);
  } else {
    PPRT_RETURN_IF_ERROR(rankAtLeast(x, 2));
    rows = x.shape[1]; // per channel
    per = rows;
  }
  auto full = [&](const TensorDesc *t) { return sameShape(*t, x); };
  auto each = [&](const TensorDesc *t, int64_t n) { return numel(*t, n, "a statistic"); };
  if (k == "layer_norm") {
    PPRT_RETURN_IF_ERROR(full(out[0]));
    for (size_t i = 1; i < in.size(); ++i)
      PPRT_RETURN_IF_ERROR(each(in[i], per));
    for (size_t i = 1; i < out.size(); ++i)
      PPRT_RETURN_IF_ERROR(each(out[i], rows));
  } else if (k == "layer_norm_grad") { // x, scale, mean, inv, grad
    PPRT_RETURN_IF_ERROR(full(in[4]));
    PPRT_RETURN_IF_ERROR(full(out[0]));
    PPRT_RETURN_IF_ERROR(each(in[1], per));
    PPRT_RETURN_IF_ERROR(each(in[2], rows));
    PPRT_RETURN_IF_ERROR(each(in[3], rows));
  } else if (k == "layer_norm_param_grad") { // x, mean, inv, grad
    PPRT_RETURN_IF_ERROR(full(in[3]));
    PPRT_RETURN_IF_ERROR(each(in[1], rows));
    PPRT_RETURN_IF_ERROR(each(in[2], rows));
    PPRT_RETURN_IF_ERROR(each(out[0], per));
    PPRT_RETURN_IF_ERROR(each(out[1], per));
  } else if (k == "batch_norm" || k == "batch_norm_train") {
    PPRT_RETURN_IF_ERROR(full(out[0]));
    for (size_t i = 1; i < in.size(); ++i)
      PPRT_RETURN_IF_ERROR(each(in[i], rows));
    for (size_t i = 1; i < out.size(); ++i)
      PPRT_RETURN_IF_ERROR(each(out[i], rows));
  } else if (k == "batch_norm_grad") { // x, scale, mean, inv, grad
    PPRT_RETURN_IF_ERROR(full(in[4]));
    PPRT_RETURN_IF_ERROR(full(out[0]));
    for (int i = 1; i <= 3; ++i)
      PPRT_RETURN_IF_ERROR(each(in[i], rows));
  } else { // batch_norm_param_grad: x, mean, inv, grad
    PPRT_RETURN_IF_ERROR(full(in[3]));
    for (int i = 1; i <= 2; ++i)
      PPRT_RETURN_IF_ERROR(each(in[i], rows));
    PPRT_RETURN_IF_ERROR(each(out[0], rows));
    PPRT_RETURN_IF_ERROR(each(out[1], rows));
  }
  return Status::ok();
}

Status InstrCheck::gatherShape(const TensorDesc &data, const TensorDesc &indices,
                               const TensorDesc &result) {
  if (indices.dtype != DType::I32 && indices.dtype != DType::I64)
    return fail("indices must be I32 or I64");
  int64_t ax;
  PPRT_RETURN_IF_ERROR(axis("axis", 0, data.shape.size(), ax));
  Shape want(data.shape.begin(), data.shape.begin() + ax);
  want.insert(want.end(), indices.shape.begin(), indices.shape.end());
  want.insert(want.end(), data.shape.begin() + ax + 1, data.shape.end());
  if (result.shape != want)
    return fail("gather of " + shapeText(data.shape) + " by " +
                shapeText(indices.shape) + " gives " + shapeText(want) +
                ", not " + shapeText(result.shape));
  if (data.shape[ax] == 0 && product(indices.shape) > 0)
    return fail("gather from an empty axis");
  return Status::ok();
}

/// slice reads `small` out of `big` (slice_grad writes it back): every
/// position start + i * step, i < small's extent, must lie inside big.
Status InstrCheck::sliceShape(const TensorDesc &big, const TensorDesc &small) {
  size_t rank = big.shape.size();
  if (small.shape.size() != rank)
    return fail("slice of " + shapeText(big.shape) + " as " +
                shapeText(small.shape) + " changes the rank");
  std::vector<int64_t> starts, steps;
  PPRT_RETURN_IF_ERROR(ints("starts", rank, starts));
  PPRT_RETURN_IF_ERROR(ints("steps", rank, steps));
  for (size_t d = 0; d < rank; ++d) {
    if (small.shape[d] == 0)
      continue;
    __int128 first = starts[d],
             last = first + (__int128)(small.shape[d] - 1) * steps[d];
    if (first < 0 || first >= big.shape[d] || last < 0 ||
        last >= big.shape[d])
      return fail("slice of " + shapeText(big.shape) + " as " +
                  shapeText(small.shape) + " leaves axis " +
                  std::to_string(d));
  }
  return Status::ok();
}

Status InstrCheck::shapeOp(const std::string &k) {
  if (k == "reshape") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    return numel(*out[0], product(in[0]->shape), "the reshape");
  }
  if (k == "broadcast") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    if (!broadcastsTo(in[0]->shape, out[0]->shape))
      return fail(shapeText(in[0]->shape) + " does not broadcast to " +
                  shapeText(out[0]->shape));
    return Status::ok();
  }
  if (k == "transpose") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    size_t rank = in[0]->shape.size();
    std::vector<int64_t> perm;
    PPRT_RETURN_IF_ERROR(ints("perm", rank, perm));
    std::vector<bool> seen(rank, false);
    Shape want;
    for (int64_t p : perm) {
      if (p < 0 || p >= (int64_t)rank || seen[p])
        return fail("'perm' is not a permutation of " + std::to_string(rank) +
                    " axes");
      seen[p] = true;
      want.push_back(in[0]->shape[p]);
    }
    if (out[0]->shape != want)
      return fail("transpose result " + shapeText(out[0]->shape) +
                  ", expected " + shapeText(want));
    return Status::ok();
  }
  if (k == "slice") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    return sliceShape(*in[0], *out[0]);
  }
  if (k == "slice_grad") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    return sliceShape(*out[0], *in[0]);
  }
  if (k == "concat") {
    PPRT_RETURN_IF_ERROR(counts(1, SIZE_MAX, 1, 1));
    const Shape &y = out[0]->shape;
    int64_t ax;
    PPRT_RETURN_IF_ERROR(axis("axis", 0, y.size(), ax));
    int64_t total = 0;
    for (const TensorDesc *t : in) {
      PPRT_RETURN_IF_ERROR(sameType(*t, *out[0]));
      if (t->shape.size() != y.size())
        return fail("concat operand " + shapeText(t->shape) + " and result " +
                    shapeText(y) + " differ in rank");
      for (size_t d = 0; d < y.size(); ++d)
        if ((int64_t)d != ax && t->shape[d] != y[d])
          return fail("concat operand " + shapeText(t->shape) +
                      " does not fit the result " + shapeText(y));
      total += t->shape[ax];
    }
    if (total != y[ax])
      return fail("concat operands do not add up to the result " +
                  shapeText(y));
    return Status::ok();
  }
  if (k == "gather") {
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    return gatherShape(*in[0], *in[1], *out[0]);
  }
  if (k == "gather_grad") { // indices, grad -> data-shaped result
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[1], *out[0]));
    return gatherShape(*out[0], *in[0], *in[1]);
  }
  if (k == "pad") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    size_t rank = in[0]->shape.size();
    std::vector<int64_t> pads;
    PPRT_RETURN_IF_ERROR(ints("pads", 2 * rank, pads));
    if (out[0]->shape.size() != rank)
      return fail("pad changes the rank");
    for (size_t d = 0; d < rank; ++d) {
      __int128 want = (__int128)in[0]->shape[d] + pads[d] + pads[d + rank];
      if (pads[d] < 0 || pads[d + rank] < 0 || want != out[0]->shape[d])
        return fail("pad of " + shapeText(in[0]->shape) + " cannot give " +
                    shapeText(out[0]->shape));
      if (in[0]->shape[d] == 0 && want > 0 &&
          attrs.s("mode", "constant") != "constant")
        return fail("pad of an empty axis by reflection or edge");
    }
    return Status::ok();
  }
  if (k == "trilu") {
    PPRT_RETURN_IF_ERROR(unary());
    return rankAtLeast(*in[0], 2);
  }
  if (k == "resize") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    if (in[0]->shape.size() != out[0]->shape.size())
      return fail("resize changes the rank");
    if (attrs.floats("scales").size() != in[0]->shape.size())
      return fail("attribute 'scales' does not have one value per axis");
    return Status::ok();
  }
  return fail("unknown kernel");
}

Status InstrCheck::check() {
  std::string k = instr.kernel()->str();
  if (kUnary.count(k))
    return unary();
  if (k == "cast") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    return sameShape(*in[0], *out[0]);
  }
  if (kArith.count(k))
    return binary(false, k == "pow");
  if (kCompare.count(k))
    return binary(true, false);
  if (kLogic.count(k))
    return binary(false, false);
  if (k == "where") {
    PPRT_RETURN_IF_ERROR(counts(3, 3, 1, 1));
    if (in[0]->dtype != DType::Bool)
      return fail("where's condition must be BOOL");
    PPRT_RETURN_IF_ERROR(sameType(*in[1], *out[0]));
    PPRT_RETURN_IF_ERROR(sameType(*in[2], *out[0]));
    for (const TensorDesc *t : in)
      if (!broadcastsTo(t->shape, out[0]->shape))
        return fail("operand " + shapeText(t->shape) +
                    " does not broadcast to the result " +
                    shapeText(out[0]->shape));
    return Status::ok();
  }
  if (k == "matmul")
    return matmul();
  if (k == "gemm")
    return gemm();
  if (k == "conv") {
    PPRT_RETURN_IF_ERROR(counts(2, 3, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    PPRT_RETURN_IF_ERROR(productTypes(*in[0], *in[1], *out[0], 2));
    PPRT_RETURN_IF_ERROR(conv(*in[0], *in[1], *out[0]));
    if (in.size() > 2)
      PPRT_RETURN_IF_ERROR(numel(*in[2], out[0]->shape[1], "the bias"));
    return Status::ok();
  }
  if (k == "conv_input_grad") { // grad, filter -> input-shaped result
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    PPRT_RETURN_IF_ERROR(productTypes(*in[0], *in[1], *out[0], 2));
    return conv(*out[0], *in[1], *in[0]);
  }
  if (k == "conv_filter_grad") { // input, grad -> filter-shaped result
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    PPRT_RETURN_IF_ERROR(productTypes(*in[0], *in[1], *out[0], 2));
    return conv(*in[0], *out[0], *in[1]);
  }
  if (k == "max_pool" || k == "avg_pool") {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    PPRT_RETURN_IF_ERROR(rankAtLeast(*in[0], 3));
    if (out[0]->shape.size() > 1 && out[0]->shape[1] != in[0]->shape[1])
      return fail("pooling changes the channels");
    return window(*in[0], *out[0], attrs.ints("kernel_shape"), false);
  }
  if (k == "max_pool_grad") { // input, grad -> input-shaped result
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    PPRT_RETURN_IF_ERROR(sameShape(*in[0], *out[0]));
    PPRT_RETURN_IF_ERROR(rankAtLeast(*in[0], 3));
    if (in[1]->shape.size() > 1 && in[1]->shape[1] != in[0]->shape[1])
      return fail("pooling changes the channels");
    return window(*in[0], *in[1], attrs.ints("kernel_shape"), false);
  }
  if (k == "avg_pool_grad") { // grad -> input-shaped result
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    PPRT_RETURN_IF_ERROR(rankAtLeast(*out[0], 3));
    if (in[0]->shape.size() > 1 && in[0]->shape[1] != out[0]->shape[1])
      return fail("pooling changes the channels");
    return window(*out[0], *in[0], attrs.ints("kernel_shape"), false);
  }
  if (k.rfind("layer_norm", 0) == 0 || k.rfind("batch_norm", 0) == 0)
    return normalise();
  if (k == "softmax" || k == "log_softmax") {
    PPRT_RETURN_IF_ERROR(unary());
    PPRT_RETURN_IF_ERROR(nonEmpty());
    int64_t ax;
    return axis("axis", -1, in[0]->shape.size(), ax);
  }
  if (k == "softmax_grad" || kActivationGrad.count(k)) {
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    for (const TensorDesc *t : in) {
      PPRT_RETURN_IF_ERROR(sameType(*t, *out[0]));
      PPRT_RETURN_IF_ERROR(sameShape(*t, *out[0]));
    }
    if (k != "softmax_grad")
      return Status::ok();
    PPRT_RETURN_IF_ERROR(nonEmpty());
    int64_t ax;
    return axis("axis", -1, in[0]->shape.size(), ax);
  }
  if (kReduce.count(k)) {
    PPRT_RETURN_IF_ERROR(counts(1, 1, 1, 1));
    PPRT_RETURN_IF_ERROR(sameType(*in[0], *out[0]));
    const Shape &x = in[0]->shape;
    std::vector<bool> reduced(x.size(), false);
    std::vector<int64_t> axes = attrs.ints("axes");
    if (axes.empty())
      reduced.assign(x.size(), true);
    for (int64_t a : axes) {
      if (a < -(int64_t)x.size() || a >= (int64_t)x.size())
        return fail("reduction axis " + std::to_string(a) +
                    " is outside rank " + std::to_string(x.size()));
      reduced[a < 0 ? a + x.size() : a] = true;
    }
    int64_t kept = 1;
    for (size_t d = 0; d < x.size(); ++d)
      kept *= reduced[d] ? 1 : x[d];
    return numel(*out[0], kept, "the reduction's result");
  }
  if (k == "cross_entropy" || k == "cross_entropy_grad" || k == "mse_loss" ||
      k == "mse_loss_grad") {
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    PPRT_RETURN_IF_ERROR(nonEmpty());
    const TensorDesc &x = *in[0], &y = *out[0];
    if (x.dtype != DType::F32 || y.dtype != DType::F32)
      return fail("a loss runs in F32");
    if (k == "cross_entropy_grad" || k == "mse_loss_grad")
      return sameShape(x, y);
    return numel(y, 1, "the loss");
  }
  if (kIndexingTransformer.count(k))
    return indexingOrTransformer(k);
  return shapeOp(k);
}

/// gather_nd, scatter_nd, cumsum, range, rms_norm, rotary_embedding,
/// attention and their backward kernels.
Status InstrCheck::indexingOrTransformer(const std::string &k) {
  if (k == "gather_nd" || k == "scatter_nd") {
    bool gather = k == "gather_nd";
    PPRT_RETURN_IF_ERROR(gather ? counts(2, 2, 1, 1) : counts(3, 3, 1, 1));
    const TensorDesc &data = *in[0], &indices = *in[1];
    const TensorDesc &slices = gather ? *out[0] : *in[2];
    PPRT_RETURN_IF_ERROR(sameType(data, *out[0]));
    PPRT_RETURN_IF_ERROR(sameType(slices, data));
    auto g = tupleGeometry(data, indices, attrs.i("batch_dims"), k.c_str());
    if (!g)
      return fail(g.status().message());
    int64_t batchDims = attrs.i("batch_dims");
    for (int64_t d = 0; d < batchDims; ++d)
      if (indices.shape[d] != data.shape[d])
        return fail("batch axis " + std::to_string(d) + " of indices " +
                    shapeText(indices.shape) + " and data " +
                    shapeText(data.shape) + " differ");
    Shape want(indices.shape.begin(), indices.shape.end() - 1);
    want.insert(want.end(), data.shape.begin() + batchDims + g->m,
                data.shape.end());
    if (slices.shape != want)
      return fail(k + " of " + shapeText(data.shape) + " by " +
                  shapeText(indices.shape) + " needs slices " +
                  shapeText(want) + ", has " + shapeText(slices.shape));
    if (!gather) {
      PPRT_RETURN_IF_ERROR(sameShape(data, *out[0]));
      std::string r = attrs.s("reduction", "none");
      if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
        return fail("reduction '" + r + "'");
    }
    return Status::ok();
  }
  if (k == "gather_elements" || k == "gather_elements_grad") {
    // gather_elements: data, indices -> indices-shaped; its gradient:
    // indices, grad (indices-shaped) -> data-shaped.
    bool gather = k == "gather_elements";
    PPRT_RETURN_IF_ERROR(counts(2, 2, 1, 1));
    const TensorDesc &data = gather ? *in[0] : *out[0];
    const TensorDesc &indices = gather ? *in[1] : *in[0];
    const TensorDesc &elements = gather ? *out[0] : *in[1];
    PPRT_RETURN_IF_ERROR(sameType(data, elements));
    auto g = elementsGeometry(data, indices, attrs.i("axis"), k.c_str());
    if (!g)
      return fail(g.status().message());
    if (elements.shape != indices.shape)
      return fail(k + ": " + shapeText(elements.shape) +
                  " must have the shape of indices " +
                  shapeText(indices.shape));
    if (!gather && data.dtype != DType::F32 && data.dtype != DType::F64)
      return fail(k + " of element type " + dtypeName(data.dtype));
    return Status::ok();
  }
  if (k == "cumsum") {
    PPRT_RETURN_IF_ERROR(unary());
    int64_t ax;
    PPRT_RETURN_IF_ERROR(axis("axis", 0, in[0]->shape.size(), ax));
    if (attrs.i("axis") < 0)
      return fail("attribute 'axis' must not be negative");
    return Status::ok();
  }
  if (k == "range") {
    PPRT_RETURN_IF_ERROR(counts(3, 3, 1, 1));
    for (const TensorDesc *t : in) {
      PPRT_RETURN_IF_ERROR(sameType(*t, *out[0]));
      PPRT_RETURN_IF_ERROR(numel(*t, 1, "start, limit and delta"));
    }
    if (out[0]->shape.size() != 1)
      return fail("range's result must be 1-D");
    return Status::ok();
  }
  if (k == "rms_norm" || k == "rms_norm_grad") {
    bool grad = k == "rms_norm_grad";
    PPRT_RETURN_IF_ERROR(grad ? counts(4, 4, 1, 1) : counts(2, 2, 1, 2));
    PPRT_RETURN_IF_ERROR(allF32());
    const TensorDesc &x = *in[0];
    int64_t ax;
    PPRT_RETURN_IF_ERROR(axis("axis", -1, x.shape.size(), ax));
    int64_t rows = product(x.shape, 0, ax), per = product(x.shape, ax);
    PPRT_RETURN_IF_ERROR(numel(*in[1], per, "the scale"));
    PPRT_RETURN_IF_ERROR(sameShape(*out[0], x));
    if (grad) {
      PPRT_RETURN_IF_ERROR(numel(*in[2], rows, "inv_rms"));
      return sameShape(*in[3], x);
    }
    return out.size() > 1 ? numel(*out[1], rows, "inv_rms") : Status::ok();
  }
  if (k == "rotary_embedding") {
    PPRT_RETURN_IF_ERROR(counts(3, 4, 1, 1));
    for (const TensorDesc *t : {in[0], in[1], in[2], out[0]})
      if (t->dtype != DType::F32)
        return fail("runs in F32, has " + std::string(dtypeName(t->dtype)));
    PPRT_RETURN_IF_ERROR(sameShape(*in[1], *in[2]));
    PPRT_RETURN_IF_ERROR(sameShape(*in[0], *out[0]));
    auto g = rotaryGeometry(*in[0], *in[1], in.size() > 3 ? in[3] : nullptr,
                            attrs);
    return g ? Status::ok() : fail(g.status().message());
  }
  if (k == "rotary_embedding_cache_grad") { // x, grad -> dcos, dsin per token
    PPRT_RETURN_IF_ERROR(counts(2, 2, 2, 2));
    PPRT_RETURN_IF_ERROR(allF32());
    PPRT_RETURN_IF_ERROR(sameShape(*in[0], *in[1]));
    PPRT_RETURN_IF_ERROR(sameShape(*out[0], *out[1]));
    auto g = rotaryGeometry(*in[0], *out[0], nullptr, attrs);
    return g ? Status::ok() : fail(g.status().message());
  }
  // attention: q, k, v[, mask] -> result[, lse]; attention_grad: q, k, v,
  // out, lse, grad[, mask] -> dq, dk, dv.
  bool grad = k == "attention_grad";
  PPRT_RETURN_IF_ERROR(grad ? counts(6, 7, 3, 3) : counts(3, 4, 1, 2));
  size_t maskAt = grad ? 6 : 3;
  auto g = attentionGeometry(*in[0], *in[1], *in[2],
                             in.size() > maskAt ? in[maskAt] : nullptr, attrs,
                             k.c_str());
  if (!g)
    return fail(g.status().message());
  for (auto *list : {&in, &out})
    for (size_t i = 0; i < list->size(); ++i)
      if ((list != &in || i != maskAt) && (*list)[i]->dtype != DType::F32)
        return fail("runs in F32, has " +
                    std::string(dtypeName((*list)[i]->dtype)));
  Shape result = {g->batch, g->qHeads, g->qSeq, g->vHeadSize};
  int64_t rows = g->batch * g->qHeads * g->qSeq;
  if (!grad) {
    if (out[0]->shape != result)
      return fail("attention result " + shapeText(out[0]->shape) +
                  ", expected " + shapeText(result));
    return out.size() > 1 ? numel(*out[1], rows, "the log-sum-exp")
                          : Status::ok();
  }
  if (in[3]->shape != result || in[5]->shape != result)
    return fail("attention_grad's output and gradient must be " +
                shapeText(result));
  PPRT_RETURN_IF_ERROR(numel(*in[4], rows, "the log-sum-exp"));
  for (int i = 0; i < 3; ++i)
    PPRT_RETURN_IF_ERROR(sameShape(*out[i], *in[i]));
  return Status::ok();
}

/// The FlatBuffer verifier checks the alignment of a vector's length, not
/// of 8-byte elements; reading those misaligned is undefined.
template <typename T> bool aligned(const flatbuffers::Vector<T> *v) {
  return !v || v->size() == 0 ||
         reinterpret_cast<uintptr_t>(v->data()) % alignof(T) == 0;
}

} // namespace

Status verifyProgram(const fb::StageProgram &prog, const std::string &path) {
  auto bad = [&](const std::string &why) { return dataLoss(path + ": " + why); };
  int64_t arena = prog.arena_bytes();
  if (arena < 0 || arena > kMaxArenaBytes)
    return bad("arena of " + std::to_string(arena) + " bytes (at most " +
               std::to_string(kMaxArenaBytes) + " allowed)");
  if (!prog.buffers())
    return bad("no buffers");
  std::vector<TensorDesc> descs;
  for (size_t i = 0; i < prog.buffers()->size(); ++i) {
    const fb::Buffer *b = prog.buffers()->Get(i);
    std::string which = "buffer " + std::to_string(i);
    if (!aligned(b->shape()))
      return bad(which + ": its shape is not 8-byte aligned");
    if (b->dtype() < fb::DType::MIN || b->dtype() > fb::DType::MAX)
      return bad(which + " has an unknown element type " +
                 std::to_string((int)b->dtype()));
    TensorDesc d{fromSchema(b->dtype()), {}};
    if (b->shape())
      d.shape.assign(b->shape()->begin(), b->shape()->end());
    auto bytes = d.byteSize();
    if (!bytes)
      return bad(which + ": " + bytes.status().message());
    switch (b->kind()) {
    case fb::BufferKind::Arena:
      // offset + bytes <= arena, without overflow.
      if (b->offset() < 0 || b->offset() > arena || *bytes > arena - b->offset())
        return bad(which + " (" + d.toString() + " at " +
                   std::to_string(b->offset()) +
                   ") lies outside the arena of " + std::to_string(arena) +
                   " bytes");
      if (b->offset() % dtypeSize(d.dtype))
        return bad(which + " (" + d.toString() + " at " +
                   std::to_string(b->offset()) + ") is misaligned");
      break;
    case fb::BufferKind::Param:
      if (!b->name() || b->name()->size() == 0)
        return bad(which + " is a parameter without a name");
      break;
    case fb::BufferKind::Constant:
      if (!b->data() || (int64_t)b->data()->size() != *bytes)
        return bad(which + ": a constant has the wrong size");
      break;
    default:
      return bad(which + " has an unknown kind");
    }
    descs.push_back(d);
  }
  int numBuffers = descs.size();
  auto index = [&](int i) { return i >= 0 && i < numBuffers; };
  auto bindings = [&](const auto *list, const char *what) -> Status {
    if (list)
      for (const fb::Binding *b : *list)
        if (!index(b->buffer()))
          return bad(std::string(what) + " '" + b->name()->str() +
                     "' names buffer " + std::to_string(b->buffer()) +
                     " of " + std::to_string(numBuffers));
    return Status::ok();
  };
  PPRT_RETURN_IF_ERROR(bindings(prog.inputs(), "input"));
  PPRT_RETURN_IF_ERROR(bindings(prog.outputs(), "output"));
  PPRT_RETURN_IF_ERROR(bindings(prog.state_updates(), "state update"));
  for (const auto *list : {prog.recvs(), prog.sends()})
    if (list)
      for (const fb::Message *m : *list) {
        if (m->buffers())
          for (int i : *m->buffers())
            if (!index(i))
              return bad("a message names buffer " + std::to_string(i) +
                         " of " + std::to_string(numBuffers));
      }
  for (const auto *list : {prog.stash_inputs(), prog.stash_outputs()})
    if (list)
      for (const fb::Slot *s : *list)
        if (!index(s->buffer()))
          return bad("a kept value names buffer " +
                     std::to_string(s->buffer()) + " of " +
                     std::to_string(numBuffers));
  if (prog.grads())
    for (const fb::Grad *g : *prog.grads())
      if (!index(g->buffer()) || g->use() < 0)
        return bad("the gradient of '" + g->param()->str() +
                   "' names buffer " + std::to_string(g->buffer()) + " of " +
                   std::to_string(numBuffers));
  if (prog.instrs())
    for (size_t n = 0; n < prog.instrs()->size(); ++n) {
      const fb::Instr *in = prog.instrs()->Get(n);
      for (const auto *list : {in->operands(), in->results()})
        if (list)
          for (int i : *list)
            if (!index(i))
              return bad("instruction " + std::to_string(n) + " (" +
                         in->kernel()->str() + ") names buffer " +
                         std::to_string(i) + " of " +
                         std::to_string(numBuffers));
      if (in->attrs())
        for (const fb::Attr *a : *in->attrs())
          if (!aligned(a->ints()) || !aligned(a->floats()))
            return bad("instruction " + std::to_string(n) + " (" +
                       in->kernel()->str() + "): attribute '" +
                       a->name()->str() + "' is not 8-byte aligned");
      Status st = InstrCheck(*in, descs).check();
      if (!st.isOk())
        return bad("instruction " + std::to_string(n) + " (" +
                   in->kernel()->str() +
                   (in->node() ? ", node '" + in->node()->str() + "'" : "") +
                   ") " + st.message());
    }
  return Status::ok();
}

StatusOr<const fb::StageProgram *>
checkStageProgram(const uint8_t *p, size_t size, const std::string &path) {
  if (size < kStageProgramHeaderBytes ||
      std::memcmp(p, kStageProgramMagic, 4) != 0)
    return dataLoss(path + ": not a stage program (" +
                    (size < kStageProgramHeaderBytes
                         ? "truncated: " + std::to_string(size) + " bytes"
                         : std::string("bad magic")) +
                    ")");
  auto read = [&](size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
      v = v << 8 | p[at + i];
    return v;
  };
  uint32_t version = read(4, 4);
  if (version != kStageProgramVersion)
    return invalidArgument(path + ": stage program format version " +
                           std::to_string(version) + ", this pprun reads " +
                           std::to_string(kStageProgramVersion) +
                           ": recompile with the matching ppc");
  const uint8_t *body = p + kStageProgramHeaderBytes;
  size_t bodySize = size - kStageProgramHeaderBytes;
  if (read(16, 8) != fnv1a(body, bodySize))
    return dataLoss(path + ": checksum mismatch: the file is truncated or "
                           "corrupt");
  // FlatBuffers need their root aligned; a mapped file is, a buffer in
  // memory (a fuzzer's) may not be.
  if (reinterpret_cast<uintptr_t>(body) % 8)
    return dataLoss(path + ": stage program is not 8-byte aligned");
  flatbuffers::Verifier verifier(body, bodySize);
  if (!fb::VerifyStageProgramBuffer(verifier))
    return dataLoss(path + ": malformed stage program");
  const fb::StageProgram *prog = fb::GetStageProgram(body);
  PPRT_RETURN_IF_ERROR(verifyProgram(*prog, path));
  return prog;
}

namespace {
/// A stage's programs as the plan verifier sees them: mapped and checked,
/// with their buffers' descriptions.
struct Checked {
  std::shared_ptr<MappedFile> file;
  const fb::StageProgram *prog = nullptr;
  std::string path;
  TensorDesc desc(int buffer) const {
    const fb::Buffer *b = prog->buffers()->Get(buffer);
    TensorDesc d{fromSchema(b->dtype()), {}};
    if (b->shape())
      d.shape.assign(b->shape()->begin(), b->shape()->end());
    return d;
  }
};

StatusOr<Checked> openChecked(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  auto prog = checkStageProgram((*file)->data(), (*file)->size(), path);
  if (!prog)
    return prog.status();
  return Checked{*file, *prog, path};
}

/// The peers of a program's messages and their tensors.
std::map<int, std::vector<TensorDesc>> messagesOf(const Checked &c,
                                                  bool sends) {
  std::map<int, std::vector<TensorDesc>> out;
  const auto *list = sends ? c.prog->sends() : c.prog->recvs();
  if (list)
    for (const fb::Message *m : *list) {
      auto &descs = out[m->peer()];
      if (m->buffers())
        for (int i : *m->buffers())
          descs.push_back(c.desc(i));
    }
  return out;
}
} // namespace

Status verifyPlan(const Plan &plan, const std::string &path) {
  int numStages = plan.stages.size();
  auto has = [](const std::vector<int> &list, int x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  std::vector<std::vector<Checked>> programs(numStages);
  for (const Plan::Stage &s : plan.stages) {
    std::string where = path + ": stage " + std::to_string(s.stage);
    const std::string *paths[3] = {&s.program, &s.programB, &s.programW};
    const char *phases[3] = {kPhaseFwd, kPhaseBwdB, kPhaseBwdW};
    for (int phase = 0; phase < (plan.training ? 3 : 1); ++phase) {
      if (paths[phase]->empty())
        return dataLoss(where + " has no " + phases[phase] + " program");
      auto c = openChecked(*paths[phase]);
      if (!c)
        return c.status();
      const fb::StageProgram &p = *c->prog;
      std::string phase_ = p.phase() ? p.phase()->str() : "";
      if (p.stage() != s.stage || p.rank() != s.rank)
        return dataLoss(where + ": " + *paths[phase] + " is stage " +
                        std::to_string(p.stage()) + " on rank " +
                        std::to_string(p.rank()) + ", the plan says stage " +
                        std::to_string(s.stage) + " on rank " +
                        std::to_string(s.rank));
      if (plan.training ? phase_ != phases[phase]
                        : !(phase_.empty() || phase_ == kPhaseFwd))
        return dataLoss(where + ": " + *paths[phase] + " is a '" + phase_ +
                        "' program, the plan needs " + phases[phase]);
      programs[s.stage].push_back(std::move(*c));
    }
    // The plan's inputs and outputs are the program's: the executor sizes
    // the batch's tensors from the plan and copies the program's bytes.
    for (int phase = 0; phase < (int)programs[s.stage].size(); ++phase) {
      const Checked &c = programs[s.stage][phase];
      for (bool outputs : {false, true}) {
        const auto *list = outputs ? c.prog->outputs() : c.prog->inputs();
        const auto &planned = outputs ? s.outputs : s.inputs;
        const char *what = outputs ? "output" : "input";
        if (!list)
          continue;
        for (const fb::Binding *b : *list) {
          const Plan::Io *io = nullptr;
          for (const Plan::Io &x : planned)
            if (x.name == b->name()->str())
              io = &x;
          TensorDesc d = c.desc(b->buffer());
          if (!io)
            return dataLoss(where + ": " + c.path + " has " + what + " '" +
                            b->name()->str() + "', which the plan does not "
                            "list");
          if (!(io->desc == d))
            return dataLoss(where + ": " + what + " '" + io->name + "' is " +
                            io->desc.toString() + " in the plan, " +
                            d.toString() + " in " + c.path);
        }
      }
    }
    for (bool outputs : {false, true}) {
      const auto &planned = outputs ? s.outputs : s.inputs;
      for (const Plan::Io &io : planned) {
        bool found = false;
        for (const Checked &c : programs[s.stage]) {
          const auto *list = outputs ? c.prog->outputs() : c.prog->inputs();
          if (list)
            for (const fb::Binding *b : *list)
              found |= b->name()->str() == io.name;
        }
        if (!found)
          return dataLoss(where + ": the plan lists " +
                          (outputs ? "output '" : "input '") + io.name +
                          "', which no program of the stage has");
      }
    }
    // Every input a stage reads is a model input of the plan's list.
    if (!plan.inputs.empty())
      for (const Plan::Io &io : s.inputs) {
        bool found = false;
        for (const Plan::Io &m : plan.inputs)
          found |= m.name == io.name && m.desc == io.desc;
        if (!found)
          return dataLoss(where + ": input '" + io.name + "' (" +
                          io.desc.toString() +
                          ") is not among the plan's inputs");
      }
    for (const Plan::Io &io : s.outputs)
      for (const Plan::Stage &t : plan.stages)
        for (const Plan::Io &o : t.outputs)
          if (&o != &io && o.name == io.name)
            return dataLoss(where + ": output '" + io.name +
                            "' is listed twice");
  }
  // The stage graph from the forward programs; each message must be
  // received by its peer with the same tensors, and gradients travel the
  // same edges back.
  std::vector<std::vector<int>> consumers(numStages);
  for (int s = 0; s < numStages; ++s) {
    std::string where = path + ": stage " + std::to_string(s);
    for (int phase = 0; phase < (int)programs[s].size(); ++phase) {
      const Checked &c = programs[s][phase];
      bool backward = phase > 0;
      for (bool sends : {true, false})
        for (auto &[peer, descs] : messagesOf(c, sends)) {
          if (peer < 0 || peer >= numStages || peer == s)
            return dataLoss(where + ": " + c.path + " exchanges messages "
                            "with stage " + std::to_string(peer) + " of " +
                            std::to_string(numStages));
          if (!sends)
            continue;
          // The peer's program of the same phase (B for gradients) receives.
          const Checked &other = programs[peer][backward ? 1 : 0];
          auto theirs = messagesOf(other, false);
          auto it = theirs.find(s);
          if (it == theirs.end())
            return dataLoss(where + ": " + c.path + " sends to stage " +
                            std::to_string(peer) + ", which receives "
                            "nothing from it");
          if (it->second != descs)
            return dataLoss(where + ": the message to stage " +
                            std::to_string(peer) + " does not match what " +
                            other.path + " receives");
          if (!backward)
            consumers[s].push_back(peer);
        }
    }
    for (int phase = 0; phase < (int)programs[s].size(); ++phase)
      for (auto &[peer, descs] : messagesOf(programs[s][phase], false)) {
        int sender = phase > 0 ? 1 : 0;
        if (phase == 2)
          return dataLoss(where + ": " + programs[s][phase].path +
                          " receives messages (a W program cannot)");
        auto theirs = messagesOf(programs[peer][sender], true);
        if (!theirs.count(s))
          return dataLoss(where + ": " + programs[s][phase].path +
                          " receives from stage " + std::to_string(peer) +
                          ", which sends nothing to it");
      }
    if (programs[s].size() > 2 && !messagesOf(programs[s][2], true).empty())
      return dataLoss(where + ": " + programs[s][2].path +
                      " sends messages (a W program cannot)");
  }
  // Values kept between a stage's programs have the same size both ends.
  for (int s = 0; s < numStages; ++s) {
    std::map<int, TensorDesc> kept;
    for (const Checked &c : programs[s]) {
      if (c.prog->stash_inputs())
        for (const fb::Slot *slot : *c.prog->stash_inputs()) {
          auto it = kept.find(slot->id());
          if (it == kept.end())
            return dataLoss(c.path + ": takes kept value " +
                            std::to_string(slot->id()) +
                            ", which no earlier program of the stage keeps");
          if (!(it->second == c.desc(slot->buffer())))
            return dataLoss(c.path + ": kept value " +
                            std::to_string(slot->id()) + " is " +
                            it->second.toString() + " where kept, " +
                            c.desc(slot->buffer()).toString() + " here");
        }
      if (c.prog->stash_outputs())
        for (const fb::Slot *slot : *c.prog->stash_outputs())
          kept[slot->id()] = c.desc(slot->buffer());
    }
  }
  // Training: the optimizer writes each parameter in place as the plan
  // describes it (F32, its shape), wherever a stage's weights hold it.
  if (plan.training)
    for (const Plan::Stage &s : plan.stages) {
      auto w = Weights::load(s.weights);
      if (!w)
        return w.status();
      for (const Plan::Param &p : plan.params) {
        const Weights::Entry *e = w->find(p.name);
        bool holder = has(p.stages, s.stage);
        if (holder && !e)
          return dataLoss(s.weights + ": has no parameter '" + p.name +
                          "', which the plan trains on stage " +
                          std::to_string(s.stage));
        if (e && (p.desc.dtype != DType::F32 || !(e->desc == p.desc)))
          return dataLoss(s.weights + ": parameter '" + p.name + "' is " +
                          e->desc.toString() + ", the plan trains " +
                          p.desc.toString() + " (training runs in F32)");
      }
    }
  // Training: each parameter's gradients, one per use, where the plan
  // says, and nothing else.
  if (plan.training) {
    for (int s = 0; s < numStages; ++s)
      for (const Checked &c : programs[s])
        if (c.prog->grads())
          for (const fb::Grad *g : *c.prog->grads()) {
            const Plan::Param *param = nullptr;
            for (const Plan::Param &p : plan.params)
              if (p.name == g->param()->str())
                param = &p;
            if (!param || g->use() >= (int)param->uses.size() ||
                param->uses[g->use()] != s)
              return dataLoss(c.path + ": computes a gradient of '" +
                              g->param()->str() + "' use " +
                              std::to_string(g->use()) +
                              " that the plan does not place on stage " +
                              std::to_string(s));
            TensorDesc d = c.desc(g->buffer());
            if (d.dtype != DType::F32 ||
                *d.numElements() != *param->desc.numElements())
              return dataLoss(c.path + ": the gradient of '" +
                              param->name + "' is " + d.toString() +
                              ", the parameter " + param->desc.toString());
          }
    for (const Plan::Param &p : plan.params)
      for (size_t u = 0; u < p.uses.size(); ++u) {
        bool found = false;
        for (const Checked &c : programs[p.uses[u]])
          if (c.prog->grads())
            for (const fb::Grad *g : *c.prog->grads())
              found |= g->param()->str() == p.name && g->use() == (int)u;
        if (!found)
          return dataLoss(path + ": no program of stage " +
                          std::to_string(p.uses[u]) + " computes the "
                          "gradient of '" + p.name + "' use " +
                          std::to_string(u));
      }
  }
  return verifySchedule(plan, consumers, path);
}

Status verifySchedule(const Plan &plan,
                      const std::vector<std::vector<int>> &consumers,
                      const std::string &path) {
  int numStages = plan.stages.size(), m = plan.microbatches;
  int numRanks = plan.actions.size();
  std::vector<std::vector<int>> producers(numStages);
  for (int s = 0; s < numStages; ++s)
    for (int c : consumers[s])
      if (c >= 0 && c < numStages)
        producers[c].push_back(s);
  auto has = [](const std::vector<int> &list, int x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  auto rankOf = [&](int stage) { return plan.stages[stage].rank; };
  // The executor skips backward actions of a plan compiled without -train.
  bool training = plan.training;
  auto runs = [&](const Action &a) {
    return training || a.op == ActionOp::Fwd || a.op == ActionOp::SendAct ||
           a.op == ActionOp::RecvAct;
  };
  std::vector<std::vector<char>> fwd(numStages, std::vector<char>(m, 0)),
      bwdB = fwd, bwdW = fwd;
  std::set<std::tuple<int, int, int>> actIn, gradIn;
  // One channel per (sender rank, receiver rank), as the transports have.
  struct Msg {
    bool grad;
    int from, to, mb;
  };
  std::map<std::pair<int, int>, std::deque<Msg>> channels;
  std::vector<size_t> pc(numRanks, 0);
  auto describe = [&](int rank, const Action &a) {
    std::string s = "rank " + std::to_string(rank) + " step " +
                    std::to_string(pc[rank]) + " (" + actionName(a.op) +
                    " stage " + std::to_string(a.stage) + " micro-batch " +
                    std::to_string(a.mb);
    if (a.peer >= 0)
      s += " peer " + std::to_string(a.peer);
    return s + ")";
  };
  auto fail = [&](int rank, const Action &a, const std::string &why) {
    return dataLoss(path + ": schedule: " + describe(rank, a) + ": " + why);
  };
  while (true) {
    bool progressed = false, finished = true;
    for (int rank = 0; rank < numRanks; ++rank) {
      const auto &list = plan.actions[rank];
      while (pc[rank] < list.size()) {
        const Action &a = list[pc[rank]];
        int s = a.stage, mb = a.mb;
        if (!runs(a)) {
          ++pc[rank];
          continue;
        }
        if (rankOf(s) != rank)
          return fail(rank, a, "stage " + std::to_string(s) + " runs on rank " +
                                   std::to_string(rankOf(s)));
        std::string smb = "stage " + std::to_string(s) + " micro-batch " +
                          std::to_string(mb);
        bool blocked = false;
        switch (a.op) {
        case ActionOp::Fwd:
          if (fwd[s][mb])
            return fail(rank, a, "runs forward of " + smb + " a second time");
          for (int p : producers[s])
            if (!(rankOf(p) == rank ? fwd[p][mb] : actIn.count({s, p, mb})))
              return fail(rank, a, "needs the activations of stage " +
                                       std::to_string(p) +
                                       ", which have not arrived");
          fwd[s][mb] = 1;
          break;
        case ActionOp::Bwd:
        case ActionOp::BwdB:
          if (!fwd[s][mb])
            return fail(rank, a, "backward of " + smb + " before its forward");
          if (bwdB[s][mb])
            return fail(rank, a, "runs backward of " + smb + " a second time");
          for (int c : consumers[s])
            if (!(rankOf(c) == rank ? bwdB[c][mb] : gradIn.count({s, c, mb})))
              return fail(rank, a, "needs the gradients of stage " +
                                       std::to_string(c) +
                                       ", which have not arrived");
          bwdB[s][mb] = 1;
          if (a.op == ActionOp::Bwd)
            bwdW[s][mb] = 1;
          break;
        case ActionOp::BwdW:
          if (!bwdB[s][mb])
            return fail(rank, a, "weight gradient of " + smb +
                                     " before its bwd_b");
          if (bwdW[s][mb])
            return fail(rank, a, "runs the weight gradient of " + smb +
                                     " a second time");
          bwdW[s][mb] = 1;
          break;
        case ActionOp::SendAct:
        case ActionOp::SendGrad: {
          bool grad = a.op == ActionOp::SendGrad;
          if (!has(grad ? producers[s] : consumers[s], a.peer))
            return fail(rank, a, "stage " + std::to_string(s) +
                                     " sends nothing to stage " +
                                     std::to_string(a.peer));
          if (rankOf(a.peer) == rank)
            return fail(rank, a, "a message to a stage of the same rank");
          if (!(grad ? bwdB[s][mb] : fwd[s][mb]))
            return fail(rank, a, "sends before it has run");
          channels[{rank, rankOf(a.peer)}].push_back({grad, s, a.peer, mb});
          break;
        }
        case ActionOp::RecvAct:
        case ActionOp::RecvGrad: {
          bool grad = a.op == ActionOp::RecvGrad;
          if (!has(grad ? consumers[s] : producers[s], a.peer))
            return fail(rank, a, "stage " + std::to_string(s) +
                                     " receives nothing from stage " +
                                     std::to_string(a.peer));
          if (rankOf(a.peer) == rank)
            return fail(rank, a, "a message from a stage of the same rank");
          auto &queue = channels[{rankOf(a.peer), rank}];
          if (queue.empty()) {
            blocked = true;
            break;
          }
          Msg msg = queue.front();
          if (msg.grad != grad || msg.from != a.peer || msg.to != s ||
              msg.mb != mb)
            return fail(rank, a, std::string("the next message on that "
                                             "channel is ") +
                                     (msg.grad ? "gradients" : "activations") +
                                     " of stage " + std::to_string(msg.from) +
                                     " -> " + std::to_string(msg.to) +
                                     " micro-batch " + std::to_string(msg.mb));
          queue.pop_front();
          (grad ? gradIn : actIn).insert({s, a.peer, mb});
          break;
        }
        }
        if (blocked)
          break;
        ++pc[rank];
        progressed = true;
      }
      finished &= pc[rank] >= list.size();
    }
    if (finished)
      break;
    if (!progressed) {
      for (int rank = 0; rank < numRanks; ++rank)
        if (pc[rank] < plan.actions[rank].size())
          return fail(rank, plan.actions[rank][pc[rank]],
                      "waits forever (deadlock)");
    }
  }
  for (int s = 0; s < numStages; ++s)
    for (int mb = 0; mb < m; ++mb) {
      const char *missing = !fwd[s][mb]                ? "forward"
                            : training && !bwdB[s][mb] ? "backward"
                            : training && !bwdW[s][mb] ? "weight gradient"
                                                       : nullptr;
      if (missing)
        return dataLoss(path + ": schedule: micro-batch " + std::to_string(mb) +
                        " never runs " + missing + " on stage " +
                        std::to_string(s) + " (rank " +
                        std::to_string(rankOf(s)) + ")");
    }
  for (auto &[key, queue] : channels)
    if (!queue.empty())
      return dataLoss(path + ": schedule: rank " + std::to_string(key.first) +
                      " sends " +
                      (queue.front().grad ? "gradients" : "activations") +
                      " of stage " + std::to_string(queue.front().from) +
                      " micro-batch " + std::to_string(queue.front().mb) +
                      " that rank " + std::to_string(key.second) +
                      " never receives");
  return Status::ok();
}

} // namespace pprt
