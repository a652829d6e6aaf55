//===- OpImportersRecurrent.cpp - LSTM, GRU and RNN, unrolled -------------===//
//
// A recurrent node becomes the pp ops of its equations, unrolled over the
// static sequence length: one gemm projects every step's input at once, then
// each step adds its recurrence gemm, applies the gates and updates the
// state. W, R, B and P stay the values the graph gives (parameters, as a
// rule), sliced per direction and gate inside the graph, so that training
// reaches the real initializers through the ops' gradient rules.
//
//===----------------------------------------------------------------------===//

#include "NodeContext.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace ppc::onnximport {
namespace {

enum class Cell { RNN, GRU, LSTM };

/// The activations ppc lowers: those with a pp op that has a gradient rule.
enum class Act { Sigmoid, Tanh, Relu };

/// Builds the decomposition's ops at the node's location.
struct Emitter {
  NodeContext &ctx;
  Type element;

  RankedTensorType type(ArrayRef<int64_t> shape) const {
    return RankedTensorType::get(shape, element);
  }
  static ArrayRef<int64_t> shape(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }

  /// Elements [begin, begin + size) of `axis`; x itself when that is all.
  Value slice(Value x, int64_t axis, int64_t begin, int64_t size) {
    ArrayRef<int64_t> in = shape(x);
    if (begin == 0 && size == in[axis])
      return x;
    SmallVector<int64_t> starts(in.size(), 0), ends(in), steps(in.size(), 1),
        out(in);
    starts[axis] = begin;
    ends[axis] = begin + size;
    out[axis] = size;
    return pp::SliceOp::create(
        ctx.b, ctx.loc, type(out), x, ctx.b.getDenseI64ArrayAttr(starts),
        ctx.b.getDenseI64ArrayAttr(ends), ctx.b.getDenseI64ArrayAttr(steps));
  }
  Value reshape(Value x, ArrayRef<int64_t> to) {
    if (shape(x) == to)
      return x;
    return pp::ReshapeOp::create(ctx.b, ctx.loc, type(to), x);
  }
  /// Index `index` of axis `axis`, that axis dropped.
  Value take(Value x, int64_t axis, int64_t index) {
    SmallVector<int64_t> out(shape(x));
    out.erase(out.begin() + axis);
    return reshape(slice(x, axis, index, 1), out);
  }
  // Element-wise ops whose result has the shape of `a` (b broadcasts).
  Value add(Value a, Value b) {
    return pp::AddOp::create(ctx.b, ctx.loc, a.getType(), a, b);
  }
  Value sub(Value a, Value b) {
    return pp::SubOp::create(ctx.b, ctx.loc, a.getType(), a, b);
  }
  Value mul(Value a, Value b) {
    return pp::MulOp::create(ctx.b, ctx.loc, a.getType(), a, b);
  }
  /// a [M, K] times w [N, K] transposed, plus c (null, or broadcast to
  /// [M, N]).
  Value gemm(Value a, Value w, Value c) {
    return pp::GemmOp::create(ctx.b, ctx.loc, type({shape(a)[0], shape(w)[0]}),
                              a, w, c, /*trans_a=*/false, /*trans_b=*/true,
                              APFloat(1.0), APFloat(1.0));
  }
  Value activate(Act act, Value x) {
    switch (act) {
    case Act::Sigmoid:
      return pp::SigmoidOp::create(ctx.b, ctx.loc, x.getType(), x);
    case Act::Tanh:
      return pp::TanhOp::create(ctx.b, ctx.loc, x.getType(), x);
    case Act::Relu:
      return pp::ReluOp::create(ctx.b, ctx.loc, x.getType(), x);
    }
    return x;
  }
  Value concat(ArrayRef<Value> parts, int64_t axis) {
    if (parts.size() == 1)
      return parts[0];
    SmallVector<int64_t> out(shape(parts[0]));
    out[axis] = 0;
    for (Value p : parts)
      out[axis] += shape(p)[axis];
    return pp::ConcatOp::create(ctx.b, ctx.loc, type(out), parts, axis);
  }
  Value splat(ArrayRef<int64_t> s, double value) {
    RankedTensorType t = type(s);
    auto attr = DenseElementsAttr::get(
        t, ArrayRef<Attribute>{ctx.b.getFloatAttr(element, value)});
    return pp::ConstantOp::create(ctx.b, ctx.loc, t, attr);
  }
};

StringRef cellName(Cell cell) {
  return cell == Cell::LSTM ? "LSTM" : cell == Cell::GRU ? "GRU" : "RNN";
}

/// Reads `activations` (per direction: LSTM f, g, h; GRU f, g; RNN f), or
/// the defaults.
FailureOr<SmallVector<Act>> readActivations(NodeContext &ctx, Cell cell,
                                            int64_t dirs) {
  SmallVector<Act> perDirection;
  if (cell == Cell::LSTM)
    perDirection = {Act::Sigmoid, Act::Tanh, Act::Tanh};
  else if (cell == Cell::GRU)
    perDirection = {Act::Sigmoid, Act::Tanh};
  else
    perDirection = {Act::Tanh};
  size_t count = perDirection.size() * dirs;
  SmallVector<Act> acts;
  const onnx::AttributeProto *attr = ctx.attribute("activations");
  if (!attr) {
    for (int64_t d = 0; d < dirs; ++d)
      acts.append(perDirection);
    return acts;
  }
  if ((size_t)attr->strings_size() != count)
    return ctx.emitError() << "attribute 'activations' holds "
                           << attr->strings_size() << " names; "
                           << cellName(cell) << " with " << dirs
                           << " direction(s) takes " << count;
  for (const std::string &name : attr->strings()) {
    // ONNX Runtime reads the names without regard to case; so does ppc.
    std::string lower = llvm::StringRef(name).lower();
    if (lower == "sigmoid")
      acts.push_back(Act::Sigmoid);
    else if (lower == "tanh")
      acts.push_back(Act::Tanh);
    else if (lower == "relu")
      acts.push_back(Act::Relu);
    else
      return ctx.emitError() << "attribute 'activations': '" << name
                             << "' is not supported (ppc lowers Sigmoid, "
                                "Tanh and Relu)";
  }
  return acts;
}

/// An error unless input `i` (when present) has shape `want`.
LogicalResult expectShape(NodeContext &ctx, unsigned i, StringRef name,
                          ArrayRef<int64_t> want) {
  if (!ctx.hasInput(i) || ctx.inputShape(i) == want)
    return success();
  auto diag = ctx.emitError()
              << name << " (input '" << ctx.node.input(i) << "') is "
              << ctx.inputType(i) << "; the node needs [";
  llvm::interleave(
      want, [&](int64_t d) { diag << d; }, [&] { diag << "x"; });
  return diag << "]";
}

LogicalResult importRecurrent(NodeContext &ctx, Cell cell) {
  // Attributes whose forms ppc does not lower.
  if (ctx.attribute("clip"))
    return ctx.emitError() << "attribute 'clip' is not supported";
  for (StringRef name : {"activation_alpha", "activation_beta"})
    if (const onnx::AttributeProto *a = ctx.attribute(name);
        a && a->floats_size() > 0)
      return ctx.emitError() << "attribute '" << name
                             << "' is not supported (it parameterises "
                                "activations ppc does not lower)";
  if (cell == Cell::LSTM && ctx.intAttr("input_forget", 0) != 0)
    return ctx.emitError() << "attribute 'input_forget' = "
                           << ctx.intAttr("input_forget", 0)
                           << " is not supported (only 0, uncoupled gates)";
  std::string direction = ctx.stringAttr("direction", "forward");
  if (direction != "forward" && direction != "reverse" &&
      direction != "bidirectional")
    return ctx.emitError() << "attribute 'direction' is '" << direction
                           << "'; it must be forward, reverse or "
                              "bidirectional";
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  // layout arrived in opset 14 (0: sequence first, 1: batch first).
  const int64_t layout = ctx.opset >= 14 ? ctx.intAttr("layout", 0) : 0;
  if (layout != 0 && layout != 1)
    return ctx.emitError() << "attribute 'layout' is " << layout
                           << "; it must be 0 or 1";
  const bool linearBeforeReset =
      cell == Cell::GRU && ctx.intAttr("linear_before_reset", 0) != 0;
  FailureOr<SmallVector<Act>> acts = readActivations(ctx, cell, dirs);
  if (failed(acts))
    return failure();
  const size_t actsPerDirection = acts->size() / dirs;

  // Shapes.
  ArrayRef<int64_t> x = ctx.inputShape(0), r = ctx.inputShape(2);
  Type element = ctx.elementType(0);
  if (!isa<FloatType>(element))
    return ctx.emitError() << "X must be a float tensor, it is "
                           << ctx.inputType(0);
  if (x.size() != 3)
    return ctx.emitError() << "X (input '" << ctx.node.input(0)
                           << "') must have rank 3, it is " << ctx.inputType(0);
  if (r.size() != 3)
    return ctx.emitError() << "R (input '" << ctx.node.input(2)
                           << "') must have rank 3, it is " << ctx.inputType(2);
  const int64_t seq = x[layout], batch = x[1 - layout], inputSize = x[2];
  const int64_t hidden = r[2];
  if (const onnx::AttributeProto *a = ctx.attribute("hidden_size");
      a && a->i() != hidden)
    return ctx.emitError() << "attribute 'hidden_size' is " << a->i()
                           << " but R (input '" << ctx.node.input(2) << "') is "
                           << ctx.inputType(2);
  const int64_t gates = cell == Cell::LSTM ? 4 : cell == Cell::GRU ? 3 : 1;
  const int64_t gh = gates * hidden;
  SmallVector<int64_t> stateShape =
      layout ? SmallVector<int64_t>{batch, dirs, hidden}
             : SmallVector<int64_t>{dirs, batch, hidden};
  if (failed(expectShape(ctx, 1, "W", {dirs, gh, inputSize})) ||
      failed(expectShape(ctx, 2, "R", {dirs, gh, hidden})) ||
      failed(expectShape(ctx, 3, "B", {dirs, 2 * gh})) ||
      failed(expectShape(ctx, 4, "sequence_lens", {batch})) ||
      failed(expectShape(ctx, 5, "initial_h", stateShape)))
    return failure();
  if (cell == Cell::LSTM &&
      (failed(expectShape(ctx, 6, "initial_c", stateShape)) ||
       failed(expectShape(ctx, 7, "P", {dirs, 3 * hidden}))))
    return failure();
  for (unsigned i = 1; i < ctx.numInputs(); ++i)
    if (i != 4 && ctx.hasInput(i) && ctx.elementType(i) != element)
      return ctx.emitError()
             << "input '" << ctx.node.input(i) << "' is " << ctx.inputType(i)
             << "; X is " << ctx.inputType(0);

  // sequence_lens: only full-length sequences (no padding to mask).
  if (ctx.hasInput(4)) {
    FailureOr<const HostTensor *> lens =
        ctx.requireConstant(4, "sequence_lens");
    if (failed(lens))
      return failure();
    for (int64_t len : (*lens)->toInts())
      if (len != seq)
        return ctx.emitError()
               << "sequence_lens (input '" << ctx.node.input(4)
               << "') holds a length " << len
               << ": ppc supports only sequences of the full length " << seq;
  }

  FailureOr<Value> xv = ctx.input(0), wv = ctx.input(1), rv = ctx.input(2),
                   bv = ctx.optionalInput(3), h0v = ctx.optionalInput(5);
  FailureOr<Value> c0v =
      cell == Cell::LSTM ? ctx.optionalInput(6) : FailureOr<Value>(Value());
  FailureOr<Value> pv =
      cell == Cell::LSTM ? ctx.optionalInput(7) : FailureOr<Value>(Value());
  if (failed(xv) || failed(wv) || failed(rv) || failed(bv) || failed(h0v) ||
      failed(c0v) || failed(pv))
    return failure();

  Emitter e{ctx, element};
  const int64_t stateAxis = layout ? 1 : 0; // num_directions in initial_h
  const int64_t seqAxis = layout;           // in X and the projection
  SmallVector<int64_t> bh{batch, hidden};
  // Every step's input projected at once: [seq * batch, gates * hidden].
  Value x2 = e.reshape(*xv, {seq * batch, inputSize});
  Value zeros, ones;
  if (!*h0v || (cell == Cell::LSTM && !*c0v))
    zeros = e.splat(bh, 0.0);
  if (cell == Cell::GRU)
    ones = e.splat(bh, 1.0);

  // hs[t][d]: the hidden state after step t of direction d.
  SmallVector<SmallVector<Value, 2>> hs(seq, SmallVector<Value, 2>(dirs));
  SmallVector<Value, 2> lastH(dirs), lastC(dirs);
  for (int64_t d = 0; d < dirs; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    ArrayRef<Act> act =
        ArrayRef<Act>(*acts).slice(d * actsPerDirection, actsPerDirection);
    Value w = e.take(*wv, 0, d), rw = e.take(*rv, 0, d);
    Value wb, rb;
    if (*bv) {
      Value b = e.take(*bv, 0, d);
      wb = e.slice(b, 0, 0, gh);
      rb = e.slice(b, 0, gh, gh);
    }
    // The input projection's bias: both biases, except GRU's recurrence
    // bias, which its reset gate multiplies (linear_before_reset) or which
    // follows the reset gate's product (the default).
    Value xBias = wb;
    if (wb && cell != Cell::GRU)
      xBias = e.add(wb, rb);
    Value proj = e.gemm(x2, w, xBias);
    proj = e.reshape(proj, layout ? SmallVector<int64_t>{batch, seq, gh}
                                  : SmallVector<int64_t>{seq, batch, gh});
    Value h = *h0v ? e.take(*h0v, stateAxis, d) : zeros;
    Value c;
    if (cell == Cell::LSTM)
      c = *c0v ? e.take(*c0v, stateAxis, d) : zeros;
    // Per-gate pieces taken once per direction.
    Value pi, po, pf; // LSTM peepholes, P[iof]
    if (*pv) {
      Value p = e.take(*pv, 0, d);
      pi = e.slice(p, 0, 0, hidden);
      po = e.slice(p, 0, hidden, hidden);
      pf = e.slice(p, 0, 2 * hidden, hidden);
    }
    Value rzr, rh, rbzr, rbh; // GRU without linear_before_reset
    if (cell == Cell::GRU && !linearBeforeReset) {
      rzr = e.slice(rw, 0, 0, 2 * hidden);
      rh = e.slice(rw, 0, 2 * hidden, hidden);
      if (rb) {
        rbzr = e.slice(rb, 0, 0, 2 * hidden);
        rbh = e.slice(rb, 0, 2 * hidden, hidden);
      }
    }
    for (int64_t k = 0; k < seq; ++k) {
      int64_t t = reverse ? seq - 1 - k : k;
      Value xt = e.take(proj, seqAxis, t); // [batch, gates * hidden]
      switch (cell) {
      case Cell::RNN:
        // Ht = f(Xt W^T + Ht-1 R^T + Wb + Rb)
        h = e.activate(act[0], e.gemm(h, rw, xt));
        break;
      case Cell::LSTM: {
        Value g = e.gemm(h, rw, xt); // gates i, o, f, c
        Value i = e.slice(g, 1, 0, hidden), o = e.slice(g, 1, hidden, hidden),
              f = e.slice(g, 1, 2 * hidden, hidden),
              cc = e.slice(g, 1, 3 * hidden, hidden);
        if (pi) {
          i = e.add(i, e.mul(c, pi));
          f = e.add(f, e.mul(c, pf));
        }
        i = e.activate(act[0], i);
        f = e.activate(act[0], f);
        cc = e.activate(act[1], cc);
        // Operands are built in separate statements, so that the order of
        // the ops does not depend on the compiler's order of evaluation.
        Value kept = e.mul(f, c);
        c = e.add(kept, e.mul(i, cc));
        if (po)
          o = e.add(o, e.mul(c, po));
        o = e.activate(act[0], o);
        h = e.mul(o, e.activate(act[2], c));
        break;
      }
      case Cell::GRU: {
        // zt and rt from both projections; ht = g(Xt Wh^T + hh + Wbh), hh =
        // rt (.) (Ht-1 Rh^T + Rbh) with linear_before_reset, else
        // (rt (.) Ht-1) Rh^T + Rbh.
        Value hp = linearBeforeReset ? e.gemm(h, rw, rb) : e.gemm(h, rzr, rbzr);
        Value xz = e.slice(xt, 1, 0, hidden),
              xr = e.slice(xt, 1, hidden, hidden),
              xh = e.slice(xt, 1, 2 * hidden, hidden);
        Value hz = e.slice(hp, 1, 0, hidden),
              hr = e.slice(hp, 1, hidden, hidden);
        Value z = e.activate(act[0], e.add(xz, hz));
        Value rg = e.activate(act[0], e.add(xr, hr));
        Value hh;
        if (linearBeforeReset) {
          hh = e.mul(rg, e.slice(hp, 1, 2 * hidden, hidden));
        } else {
          Value reset = e.mul(rg, h);
          hh = e.gemm(reset, rh, rbh);
        }
        Value n = e.activate(act[1], e.add(xh, hh));
        // Ht = (1 - zt) (.) ht + zt (.) Ht-1
        Value update = e.mul(e.sub(ones, z), n);
        h = e.add(update, e.mul(z, h));
        break;
      }
      }
      hs[t][d] = h;
    }
    lastH[d] = h;
    lastC[d] = c;
  }

  auto listed = [&](unsigned i) {
    return i < ctx.numOutputs() && !ctx.node.output(i).empty();
  };
  // A state [batch, hidden] as one slice of the output's direction (and,
  // for Y, sequence) axis.
  SmallVector<int64_t> piece = layout ? SmallVector<int64_t>{batch, 1, hidden}
                                      : SmallVector<int64_t>{1, batch, hidden};
  const int64_t joinAxis = layout ? 1 : 0;
  if (listed(0)) {
    // Y: [seq, dirs, batch, hidden], or [batch, seq, dirs, hidden].
    SmallVector<Value> parts;
    for (int64_t t = 0; t < seq; ++t)
      for (int64_t d = 0; d < dirs; ++d)
        parts.push_back(e.reshape(hs[t][d], piece));
    ctx.setOutput(
        0, e.reshape(e.concat(parts, joinAxis),
                     layout ? SmallVector<int64_t>{batch, seq, dirs, hidden}
                            : SmallVector<int64_t>{seq, dirs, batch, hidden}));
  }
  auto lastState = [&](ArrayRef<Value> states) {
    SmallVector<Value> parts;
    for (Value s : states)
      parts.push_back(e.reshape(s, piece));
    return e.concat(parts, joinAxis);
  };
  if (listed(1))
    ctx.setOutput(1, lastState(lastH));
  if (cell == Cell::LSTM && listed(2))
    ctx.setOutput(2, lastState(lastC));
  return success();
}

LogicalResult importLSTM(NodeContext &ctx) {
  return importRecurrent(ctx, Cell::LSTM);
}
LogicalResult importGRU(NodeContext &ctx) {
  return importRecurrent(ctx, Cell::GRU);
}
LogicalResult importRNN(NodeContext &ctx) {
  return importRecurrent(ctx, Cell::RNN);
}

} // namespace

void registerRecurrentOps(OpRegistry &r) {
  r.add("LSTM", importLSTM);
  r.add("GRU", importGRU);
  r.add("RNN", importRNN);
}

} // namespace ppc::onnximport
