//===- FunctionInliner.cpp - model-local ONNX functions inlined -----------===//

#include "FunctionInliner.h"
#include "NodeContext.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include "onnx/defs/schema.h"

#include <google/protobuf/unknown_field_set.h>

#include <map>
#include <tuple>

using namespace mlir;

namespace ppc::onnximport {
namespace {

bool isDefaultDomain(const std::string &domain) {
  return domain.empty() || domain == "ai.onnx";
}

std::string normalDomain(const std::string &domain) {
  return isDefaultDomain(domain) ? "" : domain;
}

// Fields of IR versions 9 and 10, newer than the onnx.proto libonnx 1.12
// was built from: protobuf keeps them as unknown fields. Read through the
// descriptor when the library knows them, else from the unknown fields.
constexpr int kFunctionAttributeProto = 11; // FunctionProto.attribute_proto
constexpr int kFunctionOverload = 13;       // FunctionProto.overload
constexpr int kNodeOverload = 8;            // NodeProto.overload

/// Every value of length-delimited field `number` of `message` (strings, or
/// messages in their wire form).
std::vector<std::string> fieldBytes(const google::protobuf::Message &message,
                                    int number) {
  std::vector<std::string> out;
  const google::protobuf::Reflection *reflection = message.GetReflection();
  if (const google::protobuf::FieldDescriptor *field =
          message.GetDescriptor()->FindFieldByNumber(number)) {
    bool isMessage =
        field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE;
    if (field->is_repeated()) {
      for (int i = 0, e = reflection->FieldSize(message, field); i < e; ++i)
        out.push_back(isMessage ? reflection->GetRepeatedMessage(message, field, i)
                                      .SerializeAsString()
                                : reflection->GetRepeatedString(message, field, i));
    } else if (reflection->HasField(message, field)) {
      out.push_back(isMessage
                        ? reflection->GetMessage(message, field).SerializeAsString()
                        : reflection->GetString(message, field));
    }
    return out;
  }
  const google::protobuf::UnknownFieldSet &unknown =
      reflection->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const google::protobuf::UnknownField &f = unknown.field(i);
    if (f.number() == number &&
        f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      out.push_back(f.length_delimited());
  }
  return out;
}

std::string overloadOf(const google::protobuf::Message &message, int number) {
  std::vector<std::string> values = fieldBytes(message, number);
  return values.empty() ? "" : values.back();
}

/// A function's identity: (domain, name, overload).
using FunctionKey = std::tuple<std::string, std::string, std::string>;

std::string displayName(const FunctionKey &key) {
  auto &[domain, name, overload] = key;
  std::string s = domain.empty() ? name : domain + "." + name;
  if (!overload.empty())
    s += " (overload '" + overload + "')";
  return s;
}

struct Function {
  const onnx::FunctionProto *proto = nullptr;
  /// Default values of its attributes (attribute_proto), by name.
  std::map<std::string, onnx::AttributeProto> defaults;
  /// Set once its opset has been compared with the model's.
  bool opsetChecked = false;
};

class Inliner {
public:
  Inliner(onnx::ModelProto &model, int64_t opset, Location file)
      : model(model), opset(opset), file(file) {}

  LogicalResult run();

private:
  LogicalResult collectFunctions();
  void collectNames();
  std::string fresh(const std::string &base);
  /// The function a node calls, or null.
  Function *calledBy(const onnx::NodeProto &node);
  /// Appends `node` to `out`, expanded if it is a call. `name` is the
  /// node's display name (and the prefix of what its expansion defines).
  LogicalResult emit(const onnx::NodeProto &node, const std::string &name,
                     std::vector<FunctionKey> &stack,
                     std::vector<onnx::NodeProto> &out);
  LogicalResult expand(const onnx::NodeProto &call, const std::string &name,
                       Function &function, const FunctionKey &key,
                       std::vector<FunctionKey> &stack,
                       std::vector<onnx::NodeProto> &out);
  LogicalResult checkOpset(Function &function, const FunctionKey &key,
                           Location loc);
  Location locate(const std::string &nodeName) {
    return NameLoc::get(StringAttr::get(file.getContext(), nodeName), file);
  }

  onnx::ModelProto &model;
  int64_t opset;
  Location file;
  std::map<FunctionKey, Function> functions;
  llvm::StringSet<> taken;
};

LogicalResult Inliner::collectFunctions() {
  for (const onnx::FunctionProto &f : model.functions()) {
    FunctionKey key{normalDomain(f.domain()), f.name(),
                    overloadOf(f, kFunctionOverload)};
    Function function;
    function.proto = &f;
    for (const std::string &bytes : fieldBytes(f, kFunctionAttributeProto)) {
      onnx::AttributeProto a;
      if (!a.ParseFromString(bytes) || a.name().empty())
        return emitError(file) << "function '" << displayName(key)
                               << "': a default attribute does not parse";
      function.defaults[a.name()] = a;
    }
    if (!functions.emplace(key, std::move(function)).second)
      return emitError(file) << "function '" << displayName(key)
                             << "' is defined twice";
  }
  return success();
}

void Inliner::collectNames() {
  const onnx::GraphProto &g = model.graph();
  for (const onnx::ValueInfoProto &vi : g.input())
    taken.insert(vi.name());
  for (const onnx::ValueInfoProto &vi : g.output())
    taken.insert(vi.name());
  for (const onnx::ValueInfoProto &vi : g.value_info())
    taken.insert(vi.name());
  for (const onnx::TensorProto &t : g.initializer())
    taken.insert(t.name());
  for (const onnx::NodeProto &n : g.node()) {
    for (const std::string &s : n.input())
      taken.insert(s);
    for (const std::string &s : n.output())
      taken.insert(s);
  }
}

std::string Inliner::fresh(const std::string &base) {
  if (taken.insert(base).second)
    return base;
  for (unsigned k = 1;; ++k) {
    std::string name = base + "_" + std::to_string(k);
    if (taken.insert(name).second)
      return name;
  }
}

Function *Inliner::calledBy(const onnx::NodeProto &node) {
  auto it = functions.find(FunctionKey{normalDomain(node.domain()),
                                       node.op_type(),
                                       overloadOf(node, kNodeOverload)});
  return it == functions.end() ? nullptr : &it->second;
}

LogicalResult Inliner::checkOpset(Function &function, const FunctionKey &key,
                                  Location loc) {
  if (function.opsetChecked)
    return success();
  function.opsetChecked = true;
  // A function without a default-domain import uses the model's.
  int64_t own = opset;
  for (const onnx::OperatorSetIdProto &id : function.proto->opset_import())
    if (isDefaultDomain(id.domain()))
      own = id.version();
  if (own == opset)
    return success();
  // onnx.proto: the two versions may differ as long as every op the body
  // uses resolves to the same operator schema under both. libonnx knows
  // schemas up to its own highest opset; beyond it nothing can be told.
  const auto &ranges =
      onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto range = ranges.find(onnx::ONNX_DOMAIN);
  int64_t known = range == ranges.end() ? 0 : range->second.second;
  for (const onnx::NodeProto &n : function.proto->node()) {
    if (!isDefaultDomain(n.domain()))
      continue;
    const onnx::OpSchema *theirs =
        onnx::OpSchemaRegistry::Schema(n.op_type(), (int)own, onnx::ONNX_DOMAIN);
    const onnx::OpSchema *ours =
        onnx::OpSchemaRegistry::Schema(n.op_type(), (int)opset, onnx::ONNX_DOMAIN);
    if (std::max(own, opset) <= known && theirs && theirs == ours)
      continue;
    auto diag = emitError(loc)
                << "function '" << displayName(key) << "' imports ONNX opset "
                << own << " but the model imports opset " << opset << ", and "
                << n.op_type();
    if (std::max(own, opset) > known)
      return diag << " cannot be compared beyond opset " << known
                  << ": export the model and its functions with one opset";
    return diag << " differs between them (since opset "
                << (theirs ? theirs->SinceVersion() : 0) << " and "
                << (ours ? ours->SinceVersion() : 0)
                << "): export the model and its functions with one opset";
  }
  return success();
}

LogicalResult Inliner::emit(const onnx::NodeProto &node, const std::string &name,
                            std::vector<FunctionKey> &stack,
                            std::vector<onnx::NodeProto> &out) {
  if (Function *function = calledBy(node)) {
    FunctionKey key{normalDomain(node.domain()), node.op_type(),
                    overloadOf(node, kNodeOverload)};
    return expand(node, name, *function, key, stack, out);
  }
  if (!isDefaultDomain(node.domain()))
    return emitError(locate(name))
           << "op '" << node.op_type() << "' of domain '" << node.domain()
           << "' is neither an ONNX operator nor a function of the model; "
              "ppc imports default-domain ONNX operators and model-local "
              "functions";
  out.push_back(node);
  out.back().set_name(name);
  return success();
}

LogicalResult Inliner::expand(const onnx::NodeProto &call,
                              const std::string &name, Function &function,
                              const FunctionKey &key,
                              std::vector<FunctionKey> &stack,
                              std::vector<onnx::NodeProto> &out) {
  Location loc = locate(name);
  const onnx::FunctionProto &f = *function.proto;
  std::string fname = displayName(key);
  if (llvm::is_contained(stack, key)) {
    auto diag = emitError(loc) << "function '" << fname << "' calls itself";
    if (stack.back() != key) {
      diag << " (through";
      auto first = llvm::find(stack, key);
      for (auto it = std::next(first); it != stack.end(); ++it)
        diag << " '" << displayName(*it) << "'";
      diag << ")";
    }
    return diag << "; ppc refuses recursive functions";
  }
  if (call.input_size() > f.input_size() || call.output_size() > f.output_size())
    return emitError(loc) << "calls function '" << fname << "' with "
                          << call.input_size() << " inputs and "
                          << call.output_size() << " outputs; it takes "
                          << f.input_size() << " and gives " << f.output_size();
  if (failed(checkOpset(function, key, loc)))
    return failure();

  // Names inside the body -> names in the graph.
  llvm::StringMap<std::string> rename;
  for (auto [i, formal] : llvm::enumerate(f.input()))
    rename[formal] = (int)i < call.input_size() ? call.input(i) : "";
  llvm::StringMap<std::string> outputs;
  for (auto [i, formal] : llvm::enumerate(f.output())) {
    if (rename.count(formal))
      continue; // an input passed straight through; bound below
    bool bound = (int)i < call.output_size() && !call.output(i).empty();
    outputs[formal] = bound ? call.output(i) : fresh(name + "/" + formal);
  }
  llvm::StringMap<const onnx::AttributeProto *> given;
  for (const onnx::AttributeProto &a : call.attribute())
    given[a.name()] = &a;

  stack.push_back(key);
  for (auto [j, inner] : llvm::enumerate(f.node())) {
    onnx::NodeProto n = inner;
    std::string innerName =
        inner.name().empty() ? inner.op_type() + "_" + std::to_string(j)
                             : inner.name();
    std::string nodeName = name + "/" + innerName;
    for (std::string &in : *n.mutable_input()) {
      if (in.empty())
        continue;
      auto it = rename.find(in);
      if (it == rename.end()) {
        return emitError(loc)
               << "function '" << fname << "': node '" << innerName
               << "' reads '" << in
               << "', which is neither an input of the function nor an "
                  "output of an earlier node in it";
      }
      in = it->second;
    }
    for (std::string &o : *n.mutable_output()) {
      if (o.empty())
        continue;
      if (rename.count(o)) {
        return emitError(loc) << "function '" << fname << "': node '"
                              << innerName << "' defines '" << o
                              << "', which is already defined in it";
      }
      auto it = outputs.find(o);
      std::string bound =
          it != outputs.end() ? it->second : fresh(name + "/" + o);
      rename[o] = bound;
      o = bound;
    }
    // Attribute references take the call's value, else the function's
    // default, else the attribute is absent.
    google::protobuf::RepeatedPtrField<onnx::AttributeProto> attributes;
    for (const onnx::AttributeProto &a : inner.attribute()) {
      if (a.has_g() || a.graphs_size()) {
        return emitError(loc) << "function '" << fname << "': node '"
                              << innerName << "' (" << inner.op_type()
                              << ") has a subgraph; ppc imports no control "
                                 "flow";
      }
      if (a.ref_attr_name().empty()) {
        *attributes.Add() = a;
        continue;
      }
      const onnx::AttributeProto *value = nullptr;
      if (auto it = given.find(a.ref_attr_name()); it != given.end())
        value = it->second;
      else if (auto d = function.defaults.find(a.ref_attr_name());
               d != function.defaults.end())
        value = &d->second;
      if (!value)
        continue;
      if (a.type() != onnx::AttributeProto::UNDEFINED &&
          value->type() != onnx::AttributeProto::UNDEFINED &&
          value->type() != a.type()) {
        return emitError(loc)
               << "function '" << fname << "': attribute '"
               << a.ref_attr_name() << "' is used as "
               << onnx::AttributeProto::AttributeType_Name(a.type())
               << " by node '" << innerName << "' but given as "
               << onnx::AttributeProto::AttributeType_Name(value->type());
      }
      onnx::AttributeProto *bound = attributes.Add();
      *bound = *value;
      bound->set_name(a.name());
    }
    *n.mutable_attribute() = std::move(attributes);
    if (failed(emit(n, nodeName, stack, out))) {
      return failure();
    }
  }
  stack.pop_back();

  for (auto [i, formal] : llvm::enumerate(f.output())) {
    bool bound = (int)i < call.output_size() && !call.output(i).empty();
    if (auto it = rename.find(formal);
        it != rename.end() && !outputs.count(formal)) {
      // An input returned as it is: the call's output is a copy of it.
      if (!bound)
        continue;
      onnx::NodeProto identity;
      identity.set_op_type("Identity");
      identity.set_name(name + "/" + formal);
      identity.add_input(it->second);
      identity.add_output(call.output(i));
      out.push_back(std::move(identity));
      continue;
    }
    if (!rename.count(formal))
      return emitError(loc) << "function '" << fname
                            << "' never computes its output '" << formal
                            << "'";
  }
  return success();
}

LogicalResult Inliner::run() {
  if (failed(collectFunctions()))
    return failure();
  onnx::GraphProto &graph = *model.mutable_graph();
  bool anyCall = false, anyForeign = false;
  for (const onnx::NodeProto &n : graph.node()) {
    anyCall |= calledBy(n) != nullptr;
    anyForeign |= !isDefaultDomain(n.domain());
  }
  if (anyCall || anyForeign) {
    collectNames();
    std::vector<onnx::NodeProto> nodes;
    std::vector<FunctionKey> stack;
    for (auto [i, node] : llvm::enumerate(graph.node())) {
      std::string name = node.name().empty()
                             ? node.op_type() + "_" + std::to_string(i)
                             : node.name();
      if (!calledBy(node) && isDefaultDomain(node.domain())) {
        nodes.push_back(node); // keeps its own (possibly empty) name
        continue;
      }
      if (failed(emit(node, name, stack, nodes)))
        return failure();
    }
    graph.clear_node();
    for (onnx::NodeProto &n : nodes)
      *graph.add_node() = std::move(n);
  }
  // The graph no longer calls them; libonnx's checker and shape inference
  // see a plain graph.
  functions.clear();
  model.clear_functions();
  return success();
}

} // namespace

LogicalResult inlineFunctions(onnx::ModelProto &model, int64_t opset,
                              Location file) {
  return Inliner(model, opset, file).run();
}

} // namespace ppc::onnximport
