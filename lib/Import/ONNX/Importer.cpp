//===- Importer.cpp - load, check and import an ONNX model ----------------===//
//
// Parse (streaming, so the model's bytes are held once), check the opset,
// run onnx::checker, give symbolic dimensions their values, run ONNX shape
// inference (used to cross-check ppc's own shape rules), then import. Past
// the opsets and IR versions libonnx knows, the checker and shape inference
// see the ops that changed since as opaque (KnownSchemas.h).
//
//===----------------------------------------------------------------------===//

#include "ppc/Import/ONNX/Importer.h"

#include "BatchAxis.h"
#include "ExternalData.h"
#include "FunctionInliner.h"
#include "GraphImporter.h"
#include "KnownSchemas.h"

#include "ppc/Dialect/PP/IR/PPDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <fcntl.h>
#include <unistd.h>

using namespace mlir;

namespace ppc {
namespace {

/// The first line of an exception message from libonnx.
std::string firstLine(const std::string &message) {
  std::string line = message.substr(0, message.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
    line.pop_back();
  return line;
}

LogicalResult parseModel(StringRef path, Location loc, onnx::ModelProto &model) {
  int fd = ::open(path.str().c_str(), O_RDONLY);
  if (fd < 0)
    return emitError(loc) << "cannot open: " << std::strerror(errno);
  bool ok;
  {
    google::protobuf::io::FileInputStream stream(fd);
    google::protobuf::io::CodedInputStream coded(&stream);
    coded.SetTotalBytesLimit(INT_MAX);
    ok = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!ok)
    return emitError(loc) << "not an ONNX model: the file does not parse as "
                             "an ONNX protobuf (is it truncated?)";
  if (!model.has_graph() || model.ir_version() == 0)
    return emitError(loc) << "not an ONNX model: it has no "
                          << (model.has_graph() ? "IR version" : "graph");
  return success();
}

FailureOr<int64_t> checkOpset(const onnx::ModelProto &model, Location loc) {
  int64_t opset = -1;
  for (const onnx::OperatorSetIdProto &id : model.opset_import()) {
    if (!id.domain().empty() && id.domain() != "ai.onnx")
      continue;
    if (opset >= 0)
      return emitError(loc) << "the model imports the default ONNX domain "
                               "twice (opsets "
                            << opset << " and " << id.version()
                            << "); an exporter writes it once";
    opset = id.version();
  }
  if (opset < 0)
    return emitError(loc) << "the model imports no default-domain ONNX opset";
  if (opset < kMinOpset || opset > kMaxOpset)
    return emitError(loc) << "the model uses ONNX opset " << opset
                          << "; ppc supports opsets " << kMinOpset << " to "
                          << kMaxOpset;
  return opset;
}

/// onnx::checker::check_model for a model past libonnx's opsets or IR
/// version: the same checks of the graph and its local functions, with the
/// schemas that still hold at the model's opset (KnownSchemas), and the IR
/// version capped at libonnx's (whose checks newer IR versions only extend).
void checkModel(const onnx::ModelProto &model,
                const onnximport::KnownSchemas &schemas) {
  onnx::checker::CheckerContext ctx;
  ctx.set_ir_version((int)std::min<int64_t>(model.ir_version(),
                                            onnx::IR_VERSION));
  std::unordered_map<std::string, int> imports;
  for (const onnx::OperatorSetIdProto &id : model.opset_import())
    imports[id.domain()] = (int)id.version();
  ctx.set_opset_imports(imports);
  ctx.set_schema_registry(&schemas);
  onnx::checker::LexicalScopeContext lexicalScope;
  onnx::checker::check_graph(model.graph(), ctx, lexicalScope);
  if (ctx.get_ir_version() >= 8)
    onnx::checker::check_model_local_functions(model, ctx, lexicalScope);
}

/// Gives every symbolic dimension of the graph inputs its value (the
/// micro-batch for the batch dimension, -dim NAME=VALUE by name) and checks
/// fixed ones.
LogicalResult resolveInputDims(onnx::GraphProto &graph,
                               const ImportOptions &options, Location loc,
                               const llvm::StringSet<> &frozen,
                               const onnximport::BatchAxes &batch) {
  llvm::StringSet<> initializers;
  for (const onnx::TensorProto &t : graph.initializer())
    initializers.insert(t.name());
  llvm::StringMap<int64_t> named;
  for (const auto &d : options.dims)
    named[d.getKey()] = d.getValue();
  for (onnx::ValueInfoProto &vi : *graph.mutable_input()) {
    if (initializers.contains(vi.name()) || frozen.contains(vi.name()))
      continue;
    if (!vi.type().has_tensor_type())
      return emitError(loc) << "input '" << vi.name()
                            << "' is not a tensor; ppc imports tensor inputs";
    auto *tensor = vi.mutable_type()->mutable_tensor_type();
    if (!tensor->has_shape())
      return emitError(loc) << "input '" << vi.name()
                            << "' has no shape (not even a rank)";
    auto found = batch.inputs.find(vi.name());
    int64_t batchAxis = found == batch.inputs.end() ? -1 : found->getValue();
    for (auto [axis, dim] : llvm::enumerate(*tensor->mutable_shape()->mutable_dim())) {
      std::string where =
          "input '" + vi.name() + "' dimension " + std::to_string(axis);
      bool isBatch = (int64_t)axis == batchAxis;
      if (dim.has_dim_value()) {
        if (dim.dim_value() < 0)
          return emitError(loc) << where << " is " << dim.dim_value()
                                << "; dimensions must not be negative";
        if (isBatch && options.batch && dim.dim_value() != *options.batch) {
          if (dim.dim_value() == 0)
            return emitError(loc)
                   << "input '" << vi.name() << "' has its batch (axis "
                   << axis << ") fixed at 0 by the model, but "
                   << onnximport::batchFlagsText(options)
                   << " asks for micro-batches of " << *options.batch
                   << ": an empty batch has no micro-batches; export the "
                      "model with a dynamic batch axis";
          // Said in the user's flags: what they asked for, and what works.
          int64_t fixed = dim.dim_value(), m = options.microbatches,
                  d = options.replicas, b = options.userBatch;
          auto diag = emitError(loc)
                      << "input '" << vi.name() << "' has its batch (axis "
                      << axis << ") fixed at " << fixed << " by the model, but "
                      << onnximport::batchFlagsText(options)
                      << " asks for micro-batches of " << *options.batch
                      << ": pass -batch=" << fixed * m * d << " (" << m * d
                      << " micro-batches of " << fixed << ")";
          if (b % (fixed * d) == 0 && b / (fixed * d) != m)
            diag << " or -microbatches=" << b / (fixed * d);
          return diag << ", or export the model with a dynamic batch axis";
        }
        continue;
      }
      std::string name = dim.has_dim_param() ? dim.dim_param() : "";
      std::optional<int64_t> value;
      if (!name.empty() && named.count(name))
        value = named.lookup(name);
      else if (isBatch && options.batch)
        value = *options.batch;
      if (!value) {
        auto diag = emitError(loc) << where;
        if (name.empty())
          return diag << " is symbolic and unnamed; give its value with "
                      << (isBatch ? "-batch=N (the whole batch)"
                                  : "-batch=N (leading axis only)");
        if (isBatch)
          return diag << " ('" << name << "', the batch) is symbolic; give "
                      << "the whole batch with -batch=N";
        return diag << " ('" << name << "') is symbolic; give its value with "
                    << "-dim " << name << "=N";
      }
      if (*value <= 0)
        return emitError(loc) << where << " is given the value " << *value
                              << "; dimensions must be positive";
      if (!name.empty())
        named[name] = *value;
      dim.clear_dim_param();
      dim.set_dim_value(*value);
    }
    pp::Shape shape;
    for (const auto &d : tensor->shape().dim())
      shape.push_back(d.dim_value());
    auto errors = [&]() { return emitError(loc) << "input '" << vi.name() << "': "; };
    if (failed(pp::checkedNumElements(shape, errors)))
      return failure();
  }
  return success();
}

LogicalResult loadBindings(const ImportOptions &options, Location loc,
                           std::vector<onnx::TensorProto> &bound,
                           llvm::StringSet<> &names) {
  for (const auto &[name, file] : options.bindings) {
    onnx::TensorProto t;
    int fd = ::open(file.c_str(), O_RDONLY);
    bool ok = fd >= 0;
    if (ok) {
      google::protobuf::io::FileInputStream stream(fd);
      ok = t.ParseFromZeroCopyStream(&stream);
      ::close(fd);
    }
    if (!ok)
      return emitError(loc) << "-bind " << name << "=" << file
                            << ": not a readable ONNX TensorProto file";
    t.set_name(name);
    bound.push_back(std::move(t));
    names.insert(name);
  }
  return success();
}

} // namespace

OwningOpRef<ModuleOp> importONNXModel(StringRef path, MLIRContext &context,
                                      const ImportOptions &options) {
  context.loadDialect<pp::PPDialect, func::FuncDialect>();
  Location loc = FileLineColLoc::get(&context, path, 0, 0);
  onnx::ModelProto model;
  if (failed(parseModel(path, loc, model)))
    return nullptr;
  auto stepDone = [&](StringRef step) {
    if (options.stepDone)
      options.stepDone(step);
  };
  stepDone("parse");
  FailureOr<int64_t> opset = checkOpset(model, loc);
  if (failed(opset))
    return nullptr;
  // Model-local functions (torch dynamo, onnxscript) become plain nodes.
  if (failed(onnximport::inlineFunctions(model, *opset, loc)))
    return nullptr;
  // Name an unsupported op or an undefined input before libonnx's checker
  // does, with the node at fault.
  llvm::StringSet<> defined;
  for (const onnx::TensorProto &t : model.graph().initializer())
    defined.insert(t.name());
  for (const onnx::ValueInfoProto &vi : model.graph().input())
    defined.insert(vi.name());
  for (auto [i, node] : llvm::enumerate(model.graph().node())) {
    Location nodeLoc = onnximport::nodeLocation(node, i, loc);
    bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
    if (!defaultDomain || !onnximport::opRegistry().lookup(node.op_type())) {
      emitError(nodeLoc) << "op '"
                         << (defaultDomain ? "" : node.domain() + ".")
                         << node.op_type() << "' (opset " << *opset
                         << ") is not supported";
      return nullptr;
    }
    // torch's dynamo exporter (2.x, at opset 17) writes Split's opset-18
    // num_outputs into opset-17 models; onnx's own checker and ONNX
    // Runtime refuse them as libonnx does. Say whose fault it is.
    if (node.op_type() == "Split" && *opset < 18)
      for (const onnx::AttributeProto &a : node.attribute())
        if (a.name() == "num_outputs") {
          emitError(nodeLoc)
              << "Split: attribute num_outputs exists from opset 18, but the "
                 "model imports opset "
              << *opset << " (an exporter's fault: "
              << (model.producer_name().empty() ? std::string("the exporter")
                                                : model.producer_name() + " " +
                                                      model.producer_version())
              << " wrote an opset-18 Split; onnx.checker and ONNX Runtime "
                 "refuse the file too); export at opset 18 or later";
          return nullptr;
        }
    for (const std::string &in : node.input())
      if (!in.empty() && !defined.contains(in)) {
        emitError(nodeLoc) << node.op_type() << ": input '" << in
                           << "' is not an initializer, a graph input or the "
                              "output of an earlier node";
        return nullptr;
      }
    for (const std::string &out : node.output())
      defined.insert(out);
  }
  // libonnx 1.12's checker looks external data up against the working
  // directory; ppc resolves it against the model's folder (confined to it)
  // and shows the checker the resolved paths for the time it checks.
  llvm::SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  // Checked once here; the graph importer maps what this resolved.
  llvm::StringMap<onnximport::ExternalData> external;
  auto resolveExternal = [&](const onnx::TensorProto &t) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL)
      return success();
    FailureOr<onnximport::ExternalData> data =
        onnximport::resolveExternalData(t, dir, loc);
    if (failed(data))
      return failure();
    external[t.name()] = *data;
    return success();
  };
  std::vector<std::pair<onnx::TensorProto *, std::string>> externalLocations;
  for (onnx::TensorProto &t : *model.mutable_graph()->mutable_initializer()) {
    if (failed(resolveExternal(t)))
      return nullptr;
    if (t.data_location() != onnx::TensorProto::EXTERNAL)
      continue;
    for (onnx::StringStringEntryProto &e : *t.mutable_external_data())
      if (e.key() == "location") {
        externalLocations.emplace_back(&t, e.value());
        e.set_value(external[t.name()].path);
      }
  }
  // libonnx judges a model of an opset or IR version it does not know by
  // what it knows; there it checks with the schemas that still hold.
  bool pastLibonnx = *opset > onnximport::KnownSchemas::libonnxOpset() ||
                     model.ir_version() > onnx::IR_VERSION;
  onnximport::KnownSchemas schemas;
  try {
    if (pastLibonnx)
      checkModel(model, schemas);
    else
      onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    emitError(loc) << "invalid ONNX model: " << firstLine(e.what());
    return nullptr;
  }
  for (auto &[tensor, location] : externalLocations)
    for (onnx::StringStringEntryProto &e : *tensor->mutable_external_data())
      if (e.key() == "location")
        e.set_value(location);
  stepDone("check");

  std::vector<onnx::TensorProto> bound;
  llvm::StringSet<> boundNames;
  if (failed(loadBindings(options, loc, bound, boundNames)))
    return nullptr;
  for (const onnx::TensorProto &t : bound)
    if (failed(resolveExternal(t)))
      return nullptr;
  onnx::GraphProto &graph = *model.mutable_graph();
  for (const auto &name : boundNames) {
    bool found = llvm::any_of(graph.input(), [&](const onnx::ValueInfoProto &vi) {
      return vi.name() == name.getKey();
    });
    if (!found) {
      emitError(loc) << "-bind names '" << name.getKey()
                     << "', which is not an input of the model";
      return nullptr;
    }
  }
  FailureOr<onnximport::BatchAxes> batchAxes =
      onnximport::findBatchAxes(graph, options, boundNames, loc);
  if (failed(batchAxes))
    return nullptr;
  // The outputs' declared dimensions, before shape inference rewrites them.
  onnx::GraphProto declaredOutputs;
  *declaredOutputs.mutable_output() = graph.output();
  if (failed(resolveInputDims(graph, options, loc, boundNames, *batchAxes)))
    return nullptr;

  // Shape inference sees frozen inputs as initializers.
  for (const onnx::TensorProto &t : bound)
    *graph.add_initializer() = t;
  try {
    // No data propagation: libonnx 1.12's propagator for Add/Sub/Mul/Div
    // indexes past a zero-length operand (shapes (0,) and (1,)) and
    // crashes; it is fixed upstream only after 1.12. The propagated values
    // served only the cross-check below; ppc folds shape computations with
    // its own rules.
    onnx::ShapeInferenceOptions inferOptions(/*check_type=*/false,
                                             /*strict_mode=*/0,
                                             /*data_prop=*/false);
    onnx::shape_inference::InferShapes(
        model,
        pastLibonnx ? static_cast<const onnx::ISchemaRegistry *>(&schemas)
                    : onnx::OpSchemaRegistry::Instance(),
        inferOptions);
  } catch (const std::exception &e) {
    emitError(loc) << "ONNX shape inference failed: " << firstLine(e.what());
    return nullptr;
  }
  for (const onnx::TensorProto &t : bound) {
    (void)t;
    graph.mutable_initializer()->RemoveLast();
  }
  stepDone("shape inference");

  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  WeightStore &store = context.getLoadedDialect<pp::PPDialect>()->getWeightStore();
  onnximport::GraphImporter importer(*module, store, path, external, *opset,
                                     model.producer_name());
  if (failed(importer.import(graph, bound)))
    return nullptr;
  if (failed(onnximport::recordBatchAxes(*module, declaredOutputs, *batchAxes,
                                         options, loc)))
    return nullptr;
  if (failed(verify(*module)))
    return nullptr;
  stepDone("import");
  return module;
}

} // namespace ppc
