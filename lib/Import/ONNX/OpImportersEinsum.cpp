//===- OpImportersEinsum.cpp - Einsum as transposes, products and sums ----===//
//
// Einsum lowers to pp ops that already have gradient rules: the operands
// are contracted left to right, each pair as one (batched) matmul between
// transposes and reshapes, or a broadcast multiply when nothing is summed;
// subscripts no later operand or the output needs are summed first, and a
// final transpose orders the output. Ellipses and size-1 broadcasting are
// handled; a subscript repeated within one operand (a diagonal) is refused
// with the equation named.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <map>
#include <set>

using namespace mlir;

namespace ppc::onnximport {
namespace {

/// Subscripts as numbers: letters 0-51, ellipsis axes from kEllipsis on
/// (right-aligned, so that they broadcast numpy-style).
constexpr int kEllipsis = 100;

char letter(int label) { return label < 26 ? 'a' + label : 'A' + label - 26; }

/// An operand (or partial result) with one subscript per axis.
struct Term {
  Value value;
  SmallVector<int> labels;
  RankedTensorType type() const { return cast<RankedTensorType>(value.getType()); }
  int64_t size(int label) const {
    return type().getDimSize(llvm::find(labels, label) - labels.begin());
  }
  bool has(int label) const { return llvm::is_contained(labels, label); }
};

class EinsumLowering {
public:
  EinsumLowering(NodeContext &ctx, StringRef equation)
      : ctx(ctx), equation(equation) {}
  LogicalResult lower();

private:
  InFlightDiagnostic error() {
    return ctx.emitError() << "equation '" << equation << "': ";
  }
  FailureOr<SmallVector<int>> parseTerm(StringRef term, int64_t rank,
                                        int ellipsisRank, bool isOutput);
  Value reshape(Value v, ArrayRef<int64_t> shape);
  Value transpose(Value v, ArrayRef<int64_t> perm);
  /// Sums the axes of `t` whose labels are in `drop`.
  Term sumOut(Term t, const std::set<int> &drop);
  /// Broadcasts t's size-1 axes to `sizes` where the label is in `grow`.
  Term broadcastTo(Term t, const std::map<int, int64_t> &sizes,
                   const std::set<int> &grow);
  Term permute(Term t, ArrayRef<int> order);
  Term contract(Term a, Term b, const std::set<int> &keep);

  NodeContext &ctx;
  StringRef equation;
};

FailureOr<SmallVector<int>> EinsumLowering::parseTerm(StringRef term,
                                                      int64_t rank,
                                                      int ellipsisRank,
                                                      bool isOutput) {
  SmallVector<int> labels;
  int named = 0;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size();) {
    char c = term[i];
    if (term.substr(i).starts_with("...")) {
      if (ellipsis)
        return error() << "an operand has two ellipses";
      ellipsis = true;
      labels.push_back(-1); // placeholder, expanded below
      i += 3;
      continue;
    }
    if (!llvm::isAlpha(c))
      return error() << "'" << c << "' is not a subscript letter";
    labels.push_back(llvm::isLower(c) ? c - 'a' : 26 + c - 'A');
    ++named;
    ++i;
  }
  int64_t fill = isOutput ? ellipsisRank : rank - named;
  if (!isOutput && (fill < 0 || (!ellipsis && fill != 0)))
    return error() << "term '" << term << "' names " << named
                   << " axes of an operand of rank " << rank;
  SmallVector<int> out;
  for (int l : labels) {
    if (l != -1) {
      if (llvm::is_contained(out, l))
        return error() << "subscript '"
                       << letter(l)
                       << "' repeats within '" << term
                       << "' (a diagonal or trace), which is not supported";
      out.push_back(l);
      continue;
    }
    for (int64_t k = 0; k < fill; ++k)
      out.push_back(kEllipsis + int(ellipsisRank - fill + k));
  }
  return out;
}

Value EinsumLowering::reshape(Value v, ArrayRef<int64_t> shape) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getShape() == shape)
    return v;
  return pp::ReshapeOp::create(ctx.b, ctx.loc,
                               RankedTensorType::get(shape, t.getElementType()),
                               v);
}

Value EinsumLowering::transpose(Value v, ArrayRef<int64_t> perm) {
  bool identity = true;
  for (auto [i, p] : llvm::enumerate(perm))
    identity = identity && int64_t(i) == p;
  if (identity)
    return v;
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(t.getDimSize(p));
  return pp::TransposeOp::create(
      ctx.b, ctx.loc, RankedTensorType::get(shape, t.getElementType()), v,
      ctx.b.getDenseI64ArrayAttr(perm));
}

Term EinsumLowering::sumOut(Term t, const std::set<int> &drop) {
  SmallVector<int64_t> axes, shape;
  SmallVector<int> kept;
  for (auto [i, l] : llvm::enumerate(t.labels)) {
    if (drop.count(l)) {
      axes.push_back(i);
    } else {
      kept.push_back(l);
      shape.push_back(t.type().getDimSize(i));
    }
  }
  if (axes.empty())
    return t;
  auto type = RankedTensorType::get(shape, t.type().getElementType());
  Value sum = pp::ReduceSumOp::create(ctx.b, ctx.loc, type, t.value,
                                      ctx.b.getDenseI64ArrayAttr(axes), false);
  return {sum, kept};
}

Term EinsumLowering::broadcastTo(Term t, const std::map<int, int64_t> &sizes,
                                 const std::set<int> &grow) {
  SmallVector<int64_t> shape(t.type().getShape());
  bool changed = false;
  for (auto [i, l] : llvm::enumerate(t.labels))
    if (grow.count(l) && shape[i] == 1 && sizes.at(l) != 1) {
      shape[i] = sizes.at(l);
      changed = true;
    }
  if (!changed)
    return t;
  auto type = RankedTensorType::get(shape, t.type().getElementType());
  return {pp::BroadcastOp::create(ctx.b, ctx.loc, type, t.value), t.labels};
}

Term EinsumLowering::permute(Term t, ArrayRef<int> order) {
  SmallVector<int64_t> perm;
  for (int l : order)
    perm.push_back(llvm::find(t.labels, l) - t.labels.begin());
  return {transpose(t.value, perm), SmallVector<int>(order)};
}

Term EinsumLowering::contract(Term a, Term b, const std::set<int> &keep) {
  // Subscripts of one side only that nothing later needs: summed now.
  std::set<int> dropA, dropB;
  for (int l : a.labels)
    if (!b.has(l) && !keep.count(l))
      dropA.insert(l);
  for (int l : b.labels)
    if (!a.has(l) && !keep.count(l))
      dropB.insert(l);
  a = sumOut(a, dropA);
  b = sumOut(b, dropB);
  // Shared subscripts of size 1 on one side: a kept one broadcasts, a
  // summed one is summed on the other side first.
  std::map<int, int64_t> sizes;
  std::set<int> grow, sumA, sumB;
  for (int l : a.labels) {
    if (!b.has(l))
      continue;
    int64_t sa = a.size(l), sb = b.size(l);
    sizes[l] = std::max(sa, sb);
    if (sa == sb)
      continue;
    if (keep.count(l))
      grow.insert(l);
    else
      (sa == 1 ? sumB : sumA).insert(l);
  }
  // Summing keeps the axis as size 1 by reshaping back.
  auto sumKeep = [&](Term t, const std::set<int> &which) {
    if (which.empty())
      return t;
    SmallVector<int64_t> shape(t.type().getShape());
    for (auto [i, l] : llvm::enumerate(t.labels))
      if (which.count(l))
        shape[i] = 1;
    Term s = sumOut(t, which);
    return Term{reshape(s.value, shape), t.labels};
  };
  a = broadcastTo(sumKeep(a, sumA), sizes, grow);
  b = broadcastTo(sumKeep(b, sumB), sizes, grow);

  SmallVector<int> batch, aFree, summed, bFree;
  for (int l : a.labels) {
    if (!b.has(l))
      aFree.push_back(l);
    else if (keep.count(l))
      batch.push_back(l);
    else
      summed.push_back(l);
  }
  for (int l : b.labels)
    if (!a.has(l))
      bFree.push_back(l);
  auto sizesOf = [](const Term &t, ArrayRef<int> labels) {
    SmallVector<int64_t> s;
    for (int l : labels)
      s.push_back(t.size(l));
    return s;
  };
  auto prod = [](ArrayRef<int64_t> s) {
    int64_t n = 1;
    for (int64_t d : s)
      n *= d;
    return n;
  };
  SmallVector<int64_t> batchSizes = sizesOf(a, batch),
                       aSizes = sizesOf(a, aFree), bSizes = sizesOf(b, bFree);
  SmallVector<int> resultLabels(batch);
  resultLabels.append(aFree);
  resultLabels.append(bFree);
  SmallVector<int64_t> resultShape(batchSizes);
  resultShape.append(aSizes);
  resultShape.append(bSizes);
  Type element = a.type().getElementType();

  if (summed.empty()) {
    // Nothing summed: a broadcast product, batch x aFree x bFree.
    SmallVector<int> orderA(batch), orderB(batch);
    orderA.append(aFree);
    orderB.append(bFree);
    Term pa = permute(a, orderA), pb = permute(b, orderB);
    SmallVector<int64_t> shapeA(batchSizes), shapeB(batchSizes);
    shapeA.append(aSizes);
    shapeA.append(bSizes.size(), 1);
    shapeB.append(aSizes.size(), 1);
    shapeB.append(bSizes);
    Value x = reshape(pa.value, shapeA), y = reshape(pb.value, shapeB);
    Value product = pp::MulOp::create(
        ctx.b, ctx.loc, RankedTensorType::get(resultShape, element), x, y);
    return {product, resultLabels};
  }

  SmallVector<int> orderA(batch), orderB(batch);
  orderA.append(aFree);
  orderA.append(summed);
  orderB.append(summed);
  orderB.append(bFree);
  Term pa = permute(a, orderA), pb = permute(b, orderB);
  int64_t bt = prod(batchSizes), m = prod(aSizes), n = prod(bSizes),
          k = prod(sizesOf(a, summed));
  SmallVector<int64_t> shapeA, shapeB, shapeC;
  if (!batch.empty()) {
    shapeA.push_back(bt);
    shapeB.push_back(bt);
    shapeC.push_back(bt);
  }
  shapeA.append({m, k});
  shapeB.append({k, n});
  shapeC.append({m, n});
  Value x = reshape(pa.value, shapeA), y = reshape(pb.value, shapeB);
  Value product = pp::MatMulOp::create(
      ctx.b, ctx.loc, RankedTensorType::get(shapeC, element), x, y);
  return {reshape(product, resultShape), resultLabels};
}

LogicalResult EinsumLowering::lower() {
  std::string eq;
  for (char c : equation)
    if (c != ' ')
      eq.push_back(c);
  StringRef lhs = eq, rhs;
  bool explicitOutput = StringRef(eq).contains("->");
  if (explicitOutput)
    std::tie(lhs, rhs) = StringRef(eq).split("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != ctx.numInputs())
    return error() << "names " << terms.size() << " operands; the node has "
                   << ctx.numInputs();
  // The ellipsis covers the axes the letters do not name.
  int ellipsisRank = 0;
  for (auto [i, term] : llvm::enumerate(terms)) {
    int named = 0;
    for (char c : term)
      named += llvm::isAlpha(c);
    if (term.contains("..."))
      ellipsisRank = std::max<int>(ellipsisRank, ctx.inputType(i).getRank() - named);
  }
  SmallVector<Term> operands;
  std::map<int, int> count;
  for (auto [i, term] : llvm::enumerate(terms)) {
    FailureOr<SmallVector<int>> labels =
        parseTerm(term, ctx.inputType(i).getRank(), ellipsisRank, false);
    if (failed(labels))
      return failure();
    FailureOr<Value> v = ctx.input(i);
    if (failed(v))
      return failure();
    if (cast<RankedTensorType>(v->getType()).getElementType() !=
        ctx.elementType(0))
      return error() << "the operands' element types differ";
    for (int l : *labels)
      ++count[l];
    operands.push_back({*v, *labels});
  }
  // Every subscript's size: equal, or 1 (which broadcasts).
  std::map<int, int64_t> sizes;
  for (const Term &t : operands)
    for (int l : t.labels) {
      int64_t s = t.size(l);
      auto [it, fresh] = sizes.emplace(l, s);
      if (!fresh && it->second != s && s != 1 && it->second != 1) {
        if (l >= kEllipsis)
          return error() << "the ellipsis axes have sizes " << it->second
                         << " and " << s;
        return error() << "subscript '" << letter(l) << "' has sizes "
                       << it->second << " and " << s;
      }
      it->second = std::max(it->second, s);
    }
  SmallVector<int> output;
  if (explicitOutput) {
    FailureOr<SmallVector<int>> labels = parseTerm(rhs, 0, ellipsisRank, true);
    if (failed(labels))
      return failure();
    output = *labels;
    for (int l : output)
      if (!count.count(l))
        return error() << "the output names a subscript no operand has";
  } else {
    // numpy's implicit output: the ellipsis, then the subscripts that
    // appear once, in alphabetical order.
    for (int e = 0; e < ellipsisRank; ++e)
      output.push_back(kEllipsis + e);
    for (auto [l, c] : count)
      if (c == 1 && l < kEllipsis)
        output.push_back(l);
  }

  std::set<int> outSet(output.begin(), output.end());
  Term acc = operands[0];
  for (size_t i = 1; i < operands.size(); ++i) {
    std::set<int> keep = outSet;
    for (size_t j = i + 1; j < operands.size(); ++j)
      keep.insert(operands[j].labels.begin(), operands[j].labels.end());
    acc = contract(acc, operands[i], keep);
  }
  std::set<int> drop;
  for (int l : acc.labels)
    if (!outSet.count(l))
      drop.insert(l);
  acc = sumOut(acc, drop);
  // An output subscript of size 1 here that another operand had larger
  // (only possible with one operand left holding it): broadcast.
  acc = broadcastTo(acc, sizes, outSet);
  acc = permute(acc, output);
  ctx.setOutput(0, acc.value);
  return success();
}

LogicalResult importEinsum(NodeContext &ctx) {
  std::string equation = ctx.stringAttr("equation", "");
  if (equation.empty())
    return ctx.emitError() << "Einsum needs an equation";
  return EinsumLowering(ctx, equation).lower();
}

} // namespace

void registerEinsumOps(OpRegistry &r) { r.add("Einsum", importEinsum); }

} // namespace ppc::onnximport
