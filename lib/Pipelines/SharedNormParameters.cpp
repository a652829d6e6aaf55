//===- SharedNormParameters.cpp - one parameter, many norms ---------------===//
//
// torch.onnx.export in eval mode (its default) merges initializers of equal
// value (torch/csrc/jit/passes/onnx/deduplicate_initializers.cpp, skipped
// only when the model is in training mode). Freshly made norm weights are
// all ones and their biases all zeros, so every LayerNorm or RMSNorm of a
// new model reads one initializer (the others become Identity nodes of it),
// and training would tie them. Neither do_constant_folding=False nor
// keep_initializers_as_inputs=True avoids it; training=TrainingMode.TRAINING
// does.
//
//===----------------------------------------------------------------------===//

#include "ppc/Pipelines/Pipelines.h"

#include "ppc/Dialect/PP/IR/PPOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace ppc;

namespace {

/// The parameter `v` reads, through casts and reshapes.
pp::GetParamOp parameterOf(Value v) {
  for (int i = 0; i < 4; ++i) {
    Operation *def = v.getDefiningOp();
    if (auto get = dyn_cast_or_null<pp::GetParamOp>(def))
      return get;
    if (!isa_and_nonnull<pp::CastOp, pp::ReshapeOp, pp::BroadcastOp>(def))
      return {};
    v = def->getOperand(0);
  }
  return {};
}

/// Whether `v` is computed from a mean over an axis through the arithmetic
/// of a normalisation (x / sqrt(mean(x^2) + eps), (x - mean) / sqrt(var)).
bool fromMean(Value v, int depth) {
  Operation *def = v.getDefiningOp();
  if (!def || depth == 0)
    return false;
  if (isa<pp::ReduceMeanOp>(def))
    return true;
  if (!isa<pp::SqrtOp, pp::ReciprocalOp, pp::AddOp, pp::SubOp, pp::DivOp,
           pp::MulOp, pp::PowOp, pp::CastOp>(def))
    return false;
  return llvm::any_of(def->getOperands(),
                      [&](Value o) { return fromMean(o, depth - 1); });
}

/// Whether `v` is a normalised tensor before its scale: a product or
/// quotient of parameter-free values, one of them from a mean.
bool isNormalized(Value v) {
  Operation *def = v.getDefiningOp();
  if (isa_and_nonnull<pp::CastOp>(def)) // HF's .to(input_dtype)
    def = def->getOperand(0).getDefiningOp();
  if (!isa_and_nonnull<pp::DivOp, pp::MulOp>(def))
    return false;
  if (llvm::any_of(def->getOperands(),
                   [](Value o) { return bool(parameterOf(o)); }))
    return false;
  return llvm::any_of(def->getOperands(),
                      [](Value o) { return fromMean(o, 6); });
}

std::string nodeName(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return op->getName().getStringRef().str();
}

} // namespace

void ppc::warnSharedNormParameters(ModuleOp module, Location loc) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main)
    return;
  // Parameter -> the normalisation ops whose scale or bias it is.
  llvm::MapVector<StringRef, llvm::SetVector<Operation *>> norms;
  auto note = [&](Value v, Operation *norm) {
    if (v)
      if (pp::GetParamOp get = parameterOf(v))
        norms[get.getName()].insert(norm);
  };
  main.walk([&](Operation *op) {
    if (auto ln = dyn_cast<pp::LayerNormOp>(op)) {
      note(ln.getScale(), op);
      note(ln.getBias(), op);
    } else if (isa<pp::BatchNormOp, pp::BatchNormTrainOp>(op)) {
      note(op->getOperand(1), op);
      note(op->getOperand(2), op);
    } else if (auto mul = dyn_cast<pp::MulOp>(op)) {
      // RMSNorm (and LayerNorm before opset 17): normalised * weight
      // [+ bias].
      Value x = mul.getLhs(), w = mul.getRhs();
      if (!parameterOf(w))
        std::swap(x, w);
      if (!parameterOf(w) || !isNormalized(x))
        return;
      note(w, op);
      for (Operation *user : mul->getUsers())
        if (auto add = dyn_cast<pp::AddOp>(user))
          note(add.getLhs() == mul.getResult() ? add.getRhs() : add.getLhs(),
               op);
    }
  });
  for (auto &[name, ops] : norms) {
    if (ops.size() < 2)
      continue;
    auto diag = emitWarning(loc)
                << "parameter '" << name << "' is the scale or bias of "
                << ops.size() << " normalization nodes ('"
                << nodeName(ops[0]) << "', '" << nodeName(ops[1]) << "'"
                << (ops.size() > 2 ? ", ..." : "")
                << "), which would train as one: torch.onnx.export in eval "
                   "mode merges initializers of equal value, such as fresh "
                   "norm weights; if they are separate parameters, export "
                   "with training=torch.onnx.TrainingMode.TRAINING "
                   "(do_constant_folding=False and "
                   "keep_initializers_as_inputs=True do not prevent the "
                   "merge)";
  }
}
