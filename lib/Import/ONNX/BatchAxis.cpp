//===- BatchAxis.cpp - where the model keeps its batch --------------------===//

#include "BatchAxis.h"

#include "ppc/Dialect/PP/IR/PPAttrNames.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <map>

using namespace mlir;

namespace ppc::onnximport {

std::string batchFlagsText(const ImportOptions &options) {
  std::string s = "-batch=" + std::to_string(options.userBatch) +
                  " -microbatches=" + std::to_string(options.microbatches);
  if (options.replicas > 1)
    s += " -data-parallel=" + std::to_string(options.replicas);
  return s;
}

namespace {
std::string quotedList(llvm::ArrayRef<std::string> names) {
  std::string s;
  for (const std::string &n : names)
    s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}
} // namespace

FailureOr<BatchAxes> findBatchAxes(const onnx::GraphProto &graph,
                                   const ImportOptions &options,
                                   const llvm::StringSet<> &frozen,
                                   Location loc) {
  llvm::StringSet<> initializers;
  for (const onnx::TensorProto &t : graph.initializer())
    initializers.insert(t.name());
  auto isModelInput = [&](const onnx::ValueInfoProto &vi) {
    return !initializers.contains(vi.name()) && !frozen.contains(vi.name()) &&
           vi.type().has_tensor_type() && vi.type().tensor_type().has_shape();
  };
  // Symbolic dimension names in input order, and those that say "batch".
  std::vector<std::string> names, batchLike;
  for (const onnx::ValueInfoProto &vi : graph.input()) {
    if (!isModelInput(vi))
      continue;
    for (const auto &d : vi.type().tensor_type().shape().dim()) {
      const std::string &n = d.dim_param();
      if (n.empty() || llvm::is_contained(names, n))
        continue;
      names.push_back(n);
      if (llvm::StringRef(n).lower().find("batch") != std::string::npos)
        batchLike.push_back(n);
    }
  }
  BatchAxes axes;
  if (!options.batchDim.empty()) {
    if (!llvm::is_contained(names, options.batchDim)) {
      auto diag = emitError(loc)
                  << "-batch-dim=" << options.batchDim
                  << ": no input of the model has a dimension named '"
                  << options.batchDim << "'";
      if (names.empty())
        diag << " (every input dimension is fixed)";
      else
        diag << " (its symbolic dimensions: " << quotedList(names) << ")";
      return failure();
    }
    axes.dim = options.batchDim;
  } else if (batchLike.size() == 1) {
    axes.dim = batchLike.front();
  } else if (batchLike.size() > 1) {
    emitError(loc) << "the model's inputs have several dimensions named like "
                      "a batch ("
                   << quotedList(batchLike)
                   << "): say which is the batch with -batch-dim=NAME";
    return failure();
  }
  for (const onnx::ValueInfoProto &vi : graph.input()) {
    if (!isModelInput(vi))
      continue;
    const auto &dims = vi.type().tensor_type().shape().dim();
    int64_t axis = -1;
    for (int i = 0; i < dims.size() && axis < 0; ++i)
      if (!axes.dim.empty() && dims[i].dim_param() == axes.dim)
        axis = i;
    if (axis < 0 && dims.size() > 0) {
      // The leading axis, as without a batch name, where it is symbolic
      // and not given by -dim (a second batch-like name exporters write
      // for labels, "N"); or always, when the model names no batch.
      const auto &lead = dims[0];
      bool symbolic = !lead.has_dim_value() &&
                      !(lead.has_dim_param() &&
                        options.dims.count(lead.dim_param()));
      if (axes.dim.empty() || symbolic)
        axis = 0;
    }
    axes.inputs[vi.name()] = axis;
  }
  return axes;
}

LogicalResult recordBatchAxes(ModuleOp module, const onnx::GraphProto &graph,
                              BatchAxes &axes, const ImportOptions &options,
                              Location loc) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main)
    return success();
  // The axis most inputs have the batch on (the first of a tie).
  std::map<int64_t, int> votes;
  for (const auto &e : axes.inputs)
    if (e.getValue() >= 0)
      ++votes[e.getValue()];
  int64_t inputAxis = 0;
  int best = 0;
  for (auto [axis, n] : votes)
    if (n > best)
      inputAxis = axis, best = n;
  for (auto [i, vi] : llvm::enumerate(graph.output())) {
    if (i >= main.getNumResults())
      break;
    auto type = dyn_cast<RankedTensorType>(main.getFunctionType().getResult(i));
    if (!type || type.getRank() == 0) {
      axes.outputs[vi.name()] = 0; // as before: one value per micro-batch
      continue;
    }
    int64_t axis = -1;
    if (!axes.dim.empty() && vi.type().has_tensor_type() &&
        vi.type().tensor_type().has_shape()) {
      const auto &dims = vi.type().tensor_type().shape().dim();
      for (int d = 0; d < dims.size() && axis < 0; ++d)
        if (dims[d].dim_param() == axes.dim && d < type.getRank())
          axis = d;
    }
    if (axis < 0 && axes.dim.empty())
      axis = 0; // the leading axis, as always
    auto hasBatch = [&](int64_t a) {
      return a < type.getRank() && options.batch &&
             type.getDimSize(a) == *options.batch;
    };
    if (axis < 0 && hasBatch(inputAxis))
      axis = inputAxis;
    if (axis < 0 && hasBatch(0))
      axis = 0;
    if (axis < 0) {
      emitError(loc) << "output '" << vi.name()
                     << "': cannot tell which of its axes is the batch ('"
                     << axes.dim
                     << "'): name it in the export's dynamic axes for this "
                        "output, or give the batch dimension with "
                        "-batch-dim=NAME";
      return failure();
    }
    axes.outputs[vi.name()] = axis;
  }
  Builder b(module.getContext());
  SmallVector<NamedAttribute> entries;
  for (auto *table : {&axes.inputs, &axes.outputs})
    for (const auto &e : *table)
      if (e.getValue() != 0)
        entries.push_back(
            b.getNamedAttr(e.getKey(), b.getI64IntegerAttr(e.getValue())));
  if (!entries.empty())
    module->setAttr(kBatchAxesAttr, b.getDictionaryAttr(entries));
  return success();
}

} // namespace ppc::onnximport
