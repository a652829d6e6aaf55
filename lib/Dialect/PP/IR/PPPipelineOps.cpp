//===- PPPipelineOps.cpp - verifiers of send, recv and schedule -----------===//
//
// Structural checks only; whether a schedule runs (every recv matched, no
// deadlock, forward before backward) is -pp-verify-schedule's job.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"

#include "pprt/Vocabulary.h"

using namespace mlir;
using namespace ppc::pp;

// ODS needs its own enums; they are pprt/Vocabulary.h's, value for value
// (the names are compared in ppc-unit-tests, VocabularyTest.cpp).
namespace {
constexpr bool same(ActionKind a, pprt::ActionKind b) {
  return static_cast<int>(a) == static_cast<int>(b);
}
constexpr bool same(ScheduleKind a, pprt::ScheduleKind b) {
  return static_cast<int>(a) == static_cast<int>(b);
}
} // namespace
static_assert(getMaxEnumValForActionKind() + 1 == pprt::kNumActionKinds,
              "pp::ActionKind and pprt::ActionKind differ in count");
static_assert(same(ActionKind::Fwd, pprt::ActionKind::Fwd) &&
                  same(ActionKind::Bwd, pprt::ActionKind::Bwd) &&
                  same(ActionKind::BwdB, pprt::ActionKind::BwdB) &&
                  same(ActionKind::BwdW, pprt::ActionKind::BwdW) &&
                  same(ActionKind::SendAct, pprt::ActionKind::SendAct) &&
                  same(ActionKind::RecvAct, pprt::ActionKind::RecvAct) &&
                  same(ActionKind::SendGrad, pprt::ActionKind::SendGrad) &&
                  same(ActionKind::RecvGrad, pprt::ActionKind::RecvGrad),
              "pp::ActionKind and pprt::ActionKind differ in values");
static_assert(getMaxEnumValForScheduleKind() + 1 == pprt::kNumScheduleKinds,
              "pp::ScheduleKind and pprt::ScheduleKind differ in count");
static_assert(
    same(ScheduleKind::Inference, pprt::ScheduleKind::Inference) &&
        same(ScheduleKind::GPipe, pprt::ScheduleKind::GPipe) &&
        same(ScheduleKind::OneFOneB, pprt::ScheduleKind::OneFOneB) &&
        same(ScheduleKind::Interleaved, pprt::ScheduleKind::Interleaved) &&
        same(ScheduleKind::ZBH1, pprt::ScheduleKind::ZBH1) &&
        same(ScheduleKind::ZBH2, pprt::ScheduleKind::ZBH2) &&
        same(ScheduleKind::ZBV, pprt::ScheduleKind::ZBV) &&
        same(ScheduleKind::VHalf, pprt::ScheduleKind::VHalf) &&
        same(ScheduleKind::LoopedBFS, pprt::ScheduleKind::LoopedBFS) &&
        same(ScheduleKind::DualPipeV, pprt::ScheduleKind::DualPipeV),
    "pp::ScheduleKind and pprt::ScheduleKind differ in values");

LogicalResult SendOp::verify() {
  if (getValues().empty())
    return emitOpError("sends no tensors");
  if (getTo() < 0)
    return emitOpError("destination stage ") << getTo() << " is negative";
  return success();
}

LogicalResult RecvOp::verify() {
  if (getValues().empty())
    return emitOpError("receives no tensors");
  if (getFrom() < 0)
    return emitOpError("source stage ") << getFrom() << " is negative";
  return success();
}

LogicalResult ScheduleOp::verify() {
  if (getMicrobatches() < 1)
    return emitOpError("needs at least one micro-batch, has ")
           << getMicrobatches();
  ArrayRef<int64_t> ranks = getStageRanks();
  if (ranks.empty())
    return emitOpError("has no stages");
  int64_t numRanks = 0;
  for (auto [stage, rank] : llvm::enumerate(ranks)) {
    if (rank < 0)
      return emitOpError("stage ") << stage << " has negative rank " << rank;
    numRanks = std::max(numRanks, rank + 1);
  }
  int64_t expected = 0;
  for (Operation &op : getBody().front()) {
    auto rank = dyn_cast<RankOp>(op);
    if (!rank)
      return op.emitOpError("is not a pp.rank; a schedule holds only ranks");
    if (rank.getRank() != expected)
      return rank.emitOpError("expected rank ")
             << expected << ", ranks must be listed in order";
    ++expected;
  }
  if (expected != numRanks)
    return emitOpError("stage_ranks names ")
           << numRanks << " ranks but the body lists " << expected;
  return success();
}

static bool isTransfer(ActionKind kind) {
  return pprt::isTransfer(static_cast<pprt::ActionKind>(kind));
}

LogicalResult ActionOp::verify() {
  auto rank = cast<RankOp>((*this)->getParentOp());
  auto schedule = cast<ScheduleOp>(rank->getParentOp());
  ArrayRef<int64_t> ranks = schedule.getStageRanks();
  int64_t stage = getStage();
  if (stage < 0 || stage >= (int64_t)ranks.size())
    return emitOpError("stage ") << stage << " out of range [0, "
                                 << ranks.size() << ")";
  if (ranks[stage] != rank.getRank())
    return emitOpError("stage ")
           << stage << " runs on rank " << ranks[stage] << ", not rank "
           << rank.getRank();
  if (getMicrobatch() < 0 || getMicrobatch() >= schedule.getMicrobatches())
    return emitOpError("micro-batch ")
           << getMicrobatch() << " out of range [0, "
           << schedule.getMicrobatches() << ")";
  bool transfer = isTransfer(getKind());
  if (transfer != getPeer().has_value())
    return emitOpError(transfer ? "a transfer needs a peer stage"
                                : "only transfers have a peer stage");
  if (transfer && (*getPeer() < 0 || *getPeer() >= (int64_t)ranks.size() ||
                   *getPeer() == stage))
    return emitOpError("peer stage ") << *getPeer() << " is not another stage";
  return success();
}
