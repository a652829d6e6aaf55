//===- OpGraph.cpp - the op DAG a partition cuts --------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Partition/Partition.h"
#include "ppc/Partition/PipelineIR.h"

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringMap.h"

#include <functional>

using namespace mlir;
using namespace ppc;

static std::string nodeName(Operation *op, size_t index) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return (op->getName().getStringRef() + "#" + llvm::Twine(index)).str();
}

std::optional<OpGraph> OpGraph::build(func::FuncOp func) {
  OpGraph graph;
  auto module = func->getParentOfType<ModuleOp>();
  auto device = module->getAttrOfType<DictionaryAttr>(kDeviceAttr);
  graph.linkBandwidth = attrNumber(device, "link_bandwidth", 1);
  graph.linkLatency = attrNumber(device, "link_latency");
  graph.memoryBytes = attrNumber(device, "memory_bytes");
  graph.memoryBandwidth = attrNumber(device, "memory_bandwidth");
  graph.cores = (int)attrNumber(device, "cores");
  llvm::StringMap<int> paramIndex;
  DenseMap<Operation *, int> nodeOf;
  FreeOps isFree;
  auto costOf = [](Operation *op) {
    return attrNumber(op->getAttrOfType<DictionaryAttr>(kCostAttr), "time");
  };
  for (Operation &op : func.getBody().front()) {
    // Backward ops (-pp-autodiff) follow their forward op's stage.
    if (isFree(&op) || isa<func::ReturnOp>(op) || op.hasAttr(kPhaseAttr))
      continue;
    auto cost = op.getAttrOfType<DictionaryAttr>(kCostAttr);
    if (!cost) {
      op.emitError("has no cost: run -pp-annotate-cost before partitioning");
      return std::nullopt;
    }
    OpNode node;
    node.op = &op;
    node.name = nodeName(&op, graph.nodes.size());
    node.time = attrNumber(cost, "time");
    node.flops = attrNumber(cost, "flops");
    node.activationBytes = attrNumber(cost, "activation_bytes");
    // Free operands: the parameters they read count for this op, and so
    // does the time to recompute them here.
    llvm::SmallPtrSet<Operation *, 8> seen;
    std::function<void(Operation *)> addFree = [&](Operation *def) {
      if (!seen.insert(def).second)
        return;
      if (auto get = dyn_cast<pp::GetParamOp>(def)) {
        auto [it, inserted] =
            paramIndex.try_emplace(get.getName(), graph.paramBytes.size());
        if (inserted) {
          graph.paramBytes.push_back(tensorBytes(get.getType()));
          graph.paramOps.push_back(
              SymbolTable::lookupNearestSymbolFrom(func, get.getNameAttr()));
        }
        node.params.push_back(it->second);
        return;
      }
      node.time += costOf(def);
      for (Value operand : def->getOperands())
        addFree(operand.getDefiningOp());
    };
    for (Value operand : op.getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (isFree(def)) {
        addFree(def);
        continue;
      }
      auto producer = nodeOf.find(def);
      if (producer != nodeOf.end() &&
          !llvm::is_contained(node.producers, producer->second))
        node.producers.push_back(producer->second);
    }
    nodeOf[&op] = graph.nodes.size();
    graph.nodes.push_back(std::move(node));
  }
  // One edge per result that another node uses.
  for (auto [index, node] : llvm::enumerate(graph.nodes)) {
    for (Value result : node.op->getResults()) {
      Edge edge{(int)index, {}, tensorBytes(result.getType()), result};
      for (Operation *user : result.getUsers()) {
        auto it = nodeOf.find(user);
        if (it != nodeOf.end() && !llvm::is_contained(edge.users, it->second))
          edge.users.push_back(it->second);
      }
      if (!edge.users.empty())
        graph.edges.push_back(std::move(edge));
    }
  }
  return graph;
}
