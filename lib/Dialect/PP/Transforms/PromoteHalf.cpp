//===- PromoteHalf.cpp - f16 and bf16 models computed in f32 --------------===//

#include "ppc/Dialect/PP/IR/PPDialect.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPPROMOTEHALFPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {

bool isHalf(Type t) { return t.isF16() || t.isBF16(); }

/// `t` with an f16 or bf16 element type made f32; other types as they are.
Type promoted(Type t) {
  auto tensor = dyn_cast<RankedTensorType>(t);
  if (!tensor || !isHalf(tensor.getElementType()))
    return t;
  return tensor.clone(Float32Type::get(t.getContext()));
}

struct PromoteHalfPass : ppc::pp::impl::PPPromoteHalfPassBase<PromoteHalfPass> {
  void runOnOperation() override;
};

void PromoteHalfPass::runOnOperation() {
  ModuleOp module = getOperation();
  WeightStore &store =
      getContext().getLoadedDialect<PPDialect>()->getWeightStore();
  for (ParamOp param : module.getOps<ParamOp>()) {
    Type element = param.getTensorType().getElementType();
    if (!isHalf(element))
      continue;
    if (!store.setWiden(param.getSymName(), element.isF16()
                                                ? Widen::F16ToF32
                                                : Widen::BF16ToF32)) {
      param.emitError() << "parameter '" << param.getSymName()
                        << "' has no bytes in the weight store";
      return signalPassFailure();
    }
    param.setType(cast<RankedTensorType>(promoted(param.getTensorType())));
  }

  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    Block &entry = func.front();
    OpBuilder b(&getContext());
    // Half inputs are cast on entry; the function keeps its signature.
    b.setInsertionPointToStart(&entry);
    SmallVector<Operation *> boundary;
    for (BlockArgument arg : entry.getArguments()) {
      if (promoted(arg.getType()) == arg.getType())
        continue;
      auto cast = CastOp::create(b, arg.getLoc(), promoted(arg.getType()), arg);
      arg.replaceAllUsesExcept(cast, cast);
      boundary.push_back(cast);
    }
    SmallVector<Operation *> identities;
    func.walk([&](Operation *op) {
      if (llvm::is_contained(boundary, op) || isa<func::ReturnOp>(op))
        return;
      if (auto constant = dyn_cast<ConstantOp>(op)) {
        auto attr = dyn_cast<DenseElementsAttr>(constant.getValue());
        if (!attr || !isHalf(attr.getElementType()))
          return;
        Type f32 = Float32Type::get(&getContext());
        auto wide = attr.mapValues(f32, [](const APFloat &v) {
          APFloat x = v;
          bool lost;
          x.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
          return x.bitcastToAPInt();
        });
        constant.setValueAttr(wide);
        op->getResult(0).setType(promoted(op->getResult(0).getType()));
        return;
      }
      for (OpResult r : op->getResults())
        r.setType(promoted(r.getType()));
      if (auto cast = dyn_cast<CastOp>(op))
        if (cast.getInput().getType() == cast.getType())
          identities.push_back(op);
    });
    for (Operation *op : identities) {
      op->getResult(0).replaceAllUsesWith(op->getOperand(0));
      op->erase();
    }
    // Results go back to the types the function returns.
    func.walk([&](func::ReturnOp ret) {
      b.setInsertionPoint(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Type want = func.getResultTypes()[operand.getOperandNumber()];
        if (operand.get().getType() != want)
          operand.set(CastOp::create(b, ret.getLoc(), want, operand.get()));
      }
    });
  }
}

} // namespace
