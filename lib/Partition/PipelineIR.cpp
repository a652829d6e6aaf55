//===- PipelineIR.cpp - stage functions and pp.schedule <-> sched:: -------===//

#include "ppc/Partition/PipelineIR.h"
#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Partition/Partition.h"

#include "pprt/Vocabulary.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;
using namespace ppc;

int64_t ppc::tensorBytes(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return 0;
  int64_t bits = std::max<int64_t>(tensor.getElementTypeBitWidth(), 8);
  return tensor.getNumElements() * bits / 8;
}

double ppc::attrNumber(DictionaryAttr dict, StringRef key, double otherwise) {
  Attribute a = dict ? dict.get(key) : Attribute();
  if (auto f = dyn_cast_or_null<FloatAttr>(a))
    return f.getValueAsDouble();
  if (auto i = dyn_cast_or_null<IntegerAttr>(a))
    return i.getInt();
  return otherwise;
}

bool FreeOps::operator()(Operation *op) {
  if (!op || !isa<func::FuncOp>(op->getParentOp()))
    return false;
  if (isa<pp::GetParamOp, pp::ConstantOp>(op))
    return true;
  auto it = memo.find(op);
  if (it != memo.end())
    return it->second;
  bool free = isa<pp::CostOpInterface>(op) && isMemoryEffectFree(op) &&
              op->getNumOperands() > 0 && op->getNumRegions() == 0;
  memo[op] = false; // no cycles in SSA, but keep the recursion finite
  for (Value operand : op->getOperands())
    free = free && (*this)(operand.getDefiningOp());
  return memo[op] = free;
}

void FreeOps::cloneInto(Value v, OpBuilder &builder, IRMapping &map) {
  if (map.contains(v) || !(*this)(v))
    return;
  Operation *op = v.getDefiningOp();
  for (Value operand : op->getOperands())
    cloneInto(operand, builder, map);
  builder.clone(*op, map);
}

std::optional<StagePipeline> ppc::readStages(ModuleOp module) {
  StagePipeline p;
  // The forward functions make the topology; a training pipeline's
  // backward functions (pp.phase bwd_b / bwd_w) give the backward costs.
  std::map<int64_t, func::FuncOp> byStage;
  std::map<std::pair<int64_t, std::string>, func::FuncOp> backward;
  for (auto func : module.getOps<func::FuncOp>())
    if (auto stage = func->getAttrOfType<IntegerAttr>(kStageAttr)) {
      auto phase = func->getAttrOfType<StringAttr>(kPhaseAttr);
      if (!phase || phase.getValue() == pprt::kPhaseFwd)
        byStage[stage.getInt()] = func;
      else
        backward[{stage.getInt(), phase.str()}] = func;
    }
  if (byStage.empty()) {
    module.emitError("has no stage functions: run -pp-split-stages first");
    return std::nullopt;
  }
  int n = byStage.size();
  if (byStage.rbegin()->first != n - 1) {
    module.emitError("stage functions are not numbered 0..") << n - 1;
    return std::nullopt;
  }
  auto device = module->getAttrOfType<DictionaryAttr>(kDeviceAttr);
  double bandwidth = attrNumber(device, "link_bandwidth", 1);
  double latency = attrNumber(device, "link_latency");
  p.costs.cores = (int)attrNumber(device, "cores");
  p.topology.consumers.resize(n);
  for (auto &[stage, func] : byStage) {
    p.stages.push_back(func);
    auto rank = func->getAttrOfType<IntegerAttr>(kRankAttr);
    p.topology.stageRank.push_back(rank ? rank.getInt() : stage);
    double time = 0;
    int64_t act = 0;
    func.walk([&](Operation *op) {
      auto cost = op->getAttrOfType<DictionaryAttr>(kCostAttr);
      time += attrNumber(cost, "time");
      act += attrNumber(cost, "activation_bytes");
      if (auto send = dyn_cast<pp::SendOp>(op)) {
        int64_t bytes = 0;
        for (Value v : send.getValues())
          bytes += tensorBytes(v.getType());
        p.messages[{(int)stage, (int)send.getTo()}] += bytes;
        p.topology.consumers[stage].push_back(send.getTo());
      }
    });
    p.costs.fwd.push_back(time);
    // Without backward functions (inference, or before -pp-autodiff ran)
    // the backward is taken as twice the forward, split evenly into B and W.
    auto costOf = [&](const char *phase) {
      auto it = backward.find({stage, phase});
      if (it == backward.end())
        return time;
      double t = 0;
      it->second.walk([&](Operation *op) {
        t += attrNumber(op->getAttrOfType<DictionaryAttr>(kCostAttr), "time");
      });
      return t;
    };
    p.costs.bwdB.push_back(costOf(pprt::kPhaseBwdB));
    p.costs.bwdW.push_back(costOf(pprt::kPhaseBwdW));
    // A training stage keeps, per micro-batch in flight, exactly what its
    // forward returns for its backward (pp.stash), in the types it has
    // (-pp-precision keeps bf16 copies); without a backward, the forward's
    // results are the estimate.
    if (backward.count({stage, pprt::kPhaseBwdB}) ||
        backward.count({stage, pprt::kPhaseBwdW})) {
      act = 0;
      for (unsigned i = 0; i < func.getNumResults(); ++i)
        if (func.getResultAttr(i, kStashAttr))
          act += tensorBytes(func.getResultTypes()[i]);
    }
    p.costs.stashBytes.push_back(act);
  }
  for (auto &[key, bytes] : p.messages)
    if (key.second >= n || key.second == key.first) {
      p.stages[key.first].emitError("sends to stage ")
          << key.second << ", which does not exist";
      return std::nullopt;
    }
  auto messages = p.messages;
  p.costs.transfer = [messages, bandwidth, latency](int from, int to) {
    auto it = messages.find({from, to});
    return it == messages.end() ? 0.0 : latency + it->second / bandwidth;
  };
  return p;
}

sched::Schedule ppc::readSchedule(pp::ScheduleOp op) {
  sched::Schedule s;
  s.kind = static_cast<sched::Kind>(op.getKind());
  s.microbatches = op.getMicrobatches();
  for (auto rank : op.getBody().front().getOps<pp::RankOp>()) {
    auto &list = s.ranks.emplace_back();
    for (auto action : rank.getBody().front().getOps<pp::ActionOp>())
      list.push_back({static_cast<sched::Op>(action.getKind()),
                      (int)action.getStage(), (int)action.getMicrobatch(),
                      action.getPeer() ? (int)*action.getPeer() : -1});
  }
  return s;
}

pp::ScheduleOp ppc::writeSchedule(OpBuilder &builder, Location loc,
                                  const sched::Schedule &s,
                                  llvm::ArrayRef<int> stageRanks) {
  SmallVector<int64_t> ranks(stageRanks.begin(), stageRanks.end());
  auto op = pp::ScheduleOp::create(builder, loc,
                                   static_cast<pp::ScheduleKind>(s.kind),
                                   s.microbatches, ranks);
  OpBuilder::InsertionGuard guard(builder);
  builder.createBlock(&op.getBody());
  for (auto [r, list] : llvm::enumerate(s.ranks)) {
    builder.setInsertionPointToEnd(&op.getBody().front());
    auto rank = pp::RankOp::create(builder, loc, r);
    builder.createBlock(&rank.getBody());
    for (const sched::Action &a : list) {
      IntegerAttr peer;
      if (a.peer >= 0)
        peer = builder.getI64IntegerAttr(a.peer);
      pp::ActionOp::create(builder, loc, static_cast<pp::ActionKind>(a.op),
                           a.stage, a.mb, peer);
    }
  }
  return op;
}
