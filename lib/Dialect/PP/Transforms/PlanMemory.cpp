//===- PlanMemory.cpp - -pp-plan-memory -----------------------------------===//

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Partition/PipelineIR.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace ppc::pp {
#define GEN_PASS_DEF_PPPLANMEMORYPASS
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"
} // namespace ppc::pp

using namespace mlir;
using namespace ppc;
using namespace ppc::pp;

namespace {
struct Interval {
  Value value;
  int64_t bytes, begin, end; // live over [begin, end] in op positions
  int64_t offset = -1;
};

/// Largest first, lowest offset that fits beside every placed tensor whose
/// lifetime overlaps. Returns the arena size.
int64_t assignOffsets(std::vector<Interval> &tensors, int64_t alignment) {
  std::vector<Interval *> order;
  for (Interval &t : tensors)
    order.push_back(&t);
  llvm::stable_sort(order, [](Interval *a, Interval *b) {
    return a->bytes > b->bytes;
  });
  std::vector<Interval *> placed;
  int64_t arena = 0;
  for (Interval *t : order) {
    std::vector<std::pair<int64_t, int64_t>> taken; // [offset, end)
    for (Interval *p : placed)
      if (p->begin <= t->end && t->begin <= p->end)
        taken.push_back({p->offset, p->offset + p->bytes});
    llvm::sort(taken);
    int64_t offset = 0;
    for (auto [start, stop] : taken) {
      if (offset + t->bytes <= start)
        break;
      offset = std::max(offset, (stop + alignment - 1) / alignment * alignment);
    }
    t->offset = offset;
    arena = std::max(arena, offset + t->bytes);
    placed.push_back(t);
  }
  return (arena + alignment - 1) / alignment * alignment;
}

struct PlanMemory : ppc::pp::impl::PPPlanMemoryPassBase<PlanMemory> {
  using Base::Base;

  void runOnOperation() override {
    if (alignment < 1 || (alignment & (alignment - 1))) {
      getOperation().emitError("-pp-plan-memory alignment must be a power of 2");
      return signalPassFailure();
    }
    for (auto func : getOperation().getOps<func::FuncOp>())
      plan(func);
  }

  void plan(func::FuncOp func) {
    if (func.isExternal())
      return;
    Block &body = func.getBody().front();
    DenseMap<Operation *, int64_t> position;
    int64_t end = 0;
    for (Operation &op : body)
      position[&op] = end++;
    std::vector<Interval> tensors;
    auto add = [&](Value v, int64_t begin) {
      int64_t last = begin;
      for (Operation *user : v.getUsers()) {
        // Sent and returned tensors stay until the stage is done.
        int64_t at = isa<SendOp, func::ReturnOp>(user) ? end : position[user];
        last = std::max(last, at);
      }
      tensors.push_back({v, std::max<int64_t>(tensorBytes(v.getType()), 1),
                         begin, last});
    };
    // Inputs are written before the first instruction runs.
    for (BlockArgument arg : func.getArguments())
      add(arg, -1);
    for (Operation &op : body) {
      if (isa<GetParamOp, ConstantOp>(op))
        continue;
      for (Value result : op.getResults())
        add(result, position[&op]);
    }
    int64_t arena = assignOffsets(tensors, alignment);

    Builder b(func.getContext());
    DenseMap<Value, int64_t> offsetOf;
    for (const Interval &t : tensors)
      offsetOf[t.value] = t.offset;
    for (BlockArgument arg : func.getArguments())
      func.setArgAttr(arg.getArgNumber(), kOffsetAttr,
                      b.getI64IntegerAttr(offsetOf[arg]));
    for (Operation &op : body) {
      if (op.getNumResults() == 0 || isa<GetParamOp, ConstantOp>(op))
        continue;
      SmallVector<int64_t> offsets;
      for (Value result : op.getResults())
        offsets.push_back(offsetOf[result]);
      op.setAttr(kOffsetsAttr, b.getDenseI64ArrayAttr(offsets));
    }
    func->setAttr(kArenaBytesAttr, b.getI64IntegerAttr(arena));
  }
};
} // namespace
