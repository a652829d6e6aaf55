//===- GraphImporter.cpp - one ONNX graph into func @main -----------------===//

#include "GraphImporter.h"
#include "ExternalData.h"

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Import/ONNX/Importer.h"

#include "onnx/defs/schema.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using onnx::TensorProto;

namespace ppc::onnximport {

/// Folded constants up to this many elements stay inline as pp.constant;
/// larger non-splat ones become `pp.param constant` symbols.
constexpr int64_t kMaxInlineElements = 64;

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

Type elementTypeFor(MLIRContext *ctx, int32_t t) {
  Builder b(ctx);
  switch (t) {
  case TensorProto::FLOAT:
    return b.getF32Type();
  case TensorProto::DOUBLE:
    return b.getF64Type();
  case TensorProto::FLOAT16:
    return b.getF16Type();
  case TensorProto::BFLOAT16:
    return b.getBF16Type();
  case TensorProto::BOOL:
    return b.getI1Type();
  case TensorProto::INT8:
    return b.getI8Type();
  case TensorProto::INT16:
    return b.getI16Type();
  case TensorProto::INT32:
    return b.getI32Type();
  case TensorProto::INT64:
    return b.getI64Type();
  case TensorProto::UINT8:
    return b.getIntegerType(8, false);
  case TensorProto::UINT16:
    return b.getIntegerType(16, false);
  case TensorProto::UINT32:
    return b.getIntegerType(32, false);
  case TensorProto::UINT64:
    return b.getIntegerType(64, false);
  default:
    return nullptr;
  }
}

int32_t onnxTypeFor(Type type) {
  if (type.isF32())
    return TensorProto::FLOAT;
  if (type.isF64())
    return TensorProto::DOUBLE;
  if (type.isF16())
    return TensorProto::FLOAT16;
  if (type.isBF16())
    return TensorProto::BFLOAT16;
  auto i = cast<IntegerType>(type);
  bool u = i.isUnsigned();
  switch (i.getWidth()) {
  case 1:
    return TensorProto::BOOL;
  case 8:
    return u ? TensorProto::UINT8 : TensorProto::INT8;
  case 16:
    return u ? TensorProto::UINT16 : TensorProto::INT16;
  case 32:
    return u ? TensorProto::UINT32 : TensorProto::INT32;
  default:
    return u ? TensorProto::UINT64 : TensorProto::INT64;
  }
}

static std::string typeName(int32_t t) { return onnxTypeName(t); }

//===----------------------------------------------------------------------===//
// NodeContext
//===----------------------------------------------------------------------===//

StringRef NodeContext::producer() const { return graph.producer(); }

NodeContext::NodeContext(GraphImporter &graph, const onnx::NodeProto &node,
                         int64_t opset, Location loc, OpBuilder &builder)
    : node(node), opset(opset), loc(loc), b(builder), graph(graph),
      errorFn([this]() { return emitError(); }) {}

InFlightDiagnostic NodeContext::emitError() {
  return mlir::emitError(loc) << node.op_type() << ": ";
}

bool NodeContext::hasInput(unsigned i) const {
  return i < (unsigned)node.input_size() && !node.input(i).empty();
}

FailureOr<Value> NodeContext::input(unsigned i) {
  if (!hasInput(i))
    return emitError() << "input " << i << " is missing";
  Slot *slot = graph.lookup(node.input(i));
  return graph.materialize(node.input(i), *slot, loc);
}

RankedTensorType NodeContext::inputType(unsigned i) {
  return graph.lookup(node.input(i))->type;
}

const HostTensor *NodeContext::constant(unsigned i) {
  if (!hasInput(i))
    return nullptr;
  return graph.hostValue(*graph.lookup(node.input(i)), loc);
}

FailureOr<const HostTensor *> NodeContext::requireConstant(unsigned i,
                                                           StringRef what) {
  if (const HostTensor *c = constant(i))
    return c;
  if (!hasInput(i))
    return emitError() << "needs its input " << i << " (" << what << ")";
  return emitError() << what << " (input '" << node.input(i)
                     << "') must be known at compile time: ppc compiles "
                        "static shapes (freeze a graph input with "
                        "-bind NAME=FILE.pb)";
}

FailureOr<const HostTensor *> NodeContext::requireScalar(unsigned i,
                                                         StringRef what) {
  FailureOr<const HostTensor *> c = requireConstant(i, what);
  if (succeeded(c) && (*c)->numElements() != 1)
    return emitError() << what << " must hold one value";
  return c;
}

bool NodeContext::foldable(unsigned i) {
  if (!hasInput(i))
    return false;
  Slot *slot = graph.lookup(node.input(i));
  // Large constants (a causal mask) are left to run time: folding them
  // would cost compile time and duplicate their bytes per use.
  return slot->foldable && slot->type &&
         slot->type.getNumElements() <= kMaxFoldElements &&
         graph.hostValue(*slot, loc);
}

bool NodeContext::allFoldable() {
  for (unsigned i = 0; i < numInputs(); ++i)
    if (hasInput(i) && !foldable(i))
      return false;
  return true;
}

const onnx::AttributeProto *NodeContext::attribute(StringRef name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t NodeContext::intAttr(StringRef name, int64_t dflt) const {
  const onnx::AttributeProto *a = attribute(name);
  return a ? a->i() : dflt;
}

double NodeContext::floatAttr(StringRef name, double dflt) const {
  const onnx::AttributeProto *a = attribute(name);
  return a ? a->f() : dflt;
}

std::string NodeContext::stringAttr(StringRef name, StringRef dflt) const {
  const onnx::AttributeProto *a = attribute(name);
  return a ? a->s() : dflt.str();
}

std::optional<SmallVector<int64_t>> NodeContext::intsAttr(StringRef name) const {
  const onnx::AttributeProto *a = attribute(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

std::optional<SmallVector<double>> NodeContext::floatsAttr(StringRef name) const {
  const onnx::AttributeProto *a = attribute(name);
  if (!a)
    return std::nullopt;
  return SmallVector<double>(a->floats().begin(), a->floats().end());
}

bool NodeContext::outputUsed(unsigned i) const {
  if (i >= (unsigned)node.output_size() || node.output(i).empty())
    return false;
  Slot *slot = graph.lookup(node.output(i));
  return !slot || slot->uses > 0;
}

void NodeContext::setOutput(unsigned i, Value value) {
  if (i >= (unsigned)node.output_size() || node.output(i).empty())
    return;
  Slot slot;
  slot.type = cast<RankedTensorType>(value.getType());
  slot.value = value;
  graph.define(node.output(i), std::move(slot));
}

void NodeContext::setConstant(unsigned i, HostTensor value) {
  if (i >= (unsigned)node.output_size() || node.output(i).empty())
    return;
  Slot slot;
  slot.type = RankedTensorType::get(
      value.shape(), elementTypeFor(getContext(), value.onnxType()));
  slot.constant = std::move(value);
  slot.foldable = true;
  graph.define(node.output(i), std::move(slot));
}

const std::vector<std::string> *NodeContext::sequence(unsigned i) {
  if (!hasInput(i))
    return nullptr;
  Slot *slot = graph.lookup(node.input(i));
  return slot->sequence ? &*slot->sequence : nullptr;
}

Type NodeContext::sequenceElementType(unsigned i) {
  return graph.lookup(node.input(i))->sequenceElement;
}

void NodeContext::setSequence(unsigned i, std::vector<std::string> elements,
                              Type elementType) {
  if (i >= (unsigned)node.output_size() || node.output(i).empty())
    return;
  Slot slot;
  slot.sequence = std::move(elements);
  slot.sequenceElement = elementType;
  graph.define(node.output(i), std::move(slot));
}

/// "<output>#<k>" cannot clash with an ONNX name the exporters write ('#'
/// is not in their names), and says where the element came from.
static std::string elementName(const onnx::NodeProto &node, unsigned i,
                               unsigned k) {
  return node.output(i) + "#" + std::to_string(k);
}

std::string NodeContext::defineElement(unsigned i, unsigned k, Value value) {
  std::string name = elementName(node, i, k);
  Slot slot;
  slot.type = cast<RankedTensorType>(value.getType());
  slot.value = value;
  slot.uses = 1;
  graph.define(name, std::move(slot));
  return name;
}

std::string NodeContext::defineElementConstant(unsigned i, unsigned k,
                                               HostTensor value) {
  std::string name = elementName(node, i, k);
  Slot slot;
  slot.type = RankedTensorType::get(
      value.shape(), elementTypeFor(getContext(), value.onnxType()));
  slot.constant = std::move(value);
  slot.foldable = true;
  slot.uses = 1;
  graph.define(name, std::move(slot));
  return name;
}

RankedTensorType NodeContext::typeOf(StringRef name) {
  return graph.lookup(name)->type;
}

FailureOr<Value> NodeContext::valueOf(StringRef name) {
  return graph.materialize(name, *graph.lookup(name), loc);
}

const HostTensor *NodeContext::constantOf(StringRef name) {
  Slot *slot = graph.lookup(name);
  if (!slot->foldable || slot->type.getNumElements() > kMaxFoldElements)
    return nullptr;
  return graph.hostValue(*slot, loc);
}

LogicalResult NodeContext::forwardOutput(unsigned i, StringRef name) {
  if (const HostTensor *c = constantOf(name)) {
    setConstant(i, *c);
    return success();
  }
  FailureOr<Value> v = valueOf(name);
  if (failed(v))
    return failure();
  setOutput(i, *v);
  return success();
}

FailureOr<RankedTensorType> NodeContext::tensorType(ArrayRef<int64_t> shape,
                                                    Type elementType) {
  if (failed(pp::checkedNumElements(shape, errors())))
    return failure();
  return RankedTensorType::get(shape, elementType);
}

FailureOr<int64_t> NodeContext::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return emitError() << "axis " << axis << " is out of range for rank "
                       << rank;
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

GraphImporter::GraphImporter(ModuleOp module, WeightStore &store,
                             StringRef file,
                             const llvm::StringMap<ExternalData> &external,
                             int64_t opset,
                             StringRef producer)
    : module(module), store(store), file(file.str()), external(external),
      opset(opset), producerName(producer.str()),
      fileLocation(FileLineColLoc::get(module.getContext(), file, 0, 0)),
      paramBuilder(module.getContext()), bodyBuilder(module.getContext()) {}

Slot *GraphImporter::lookup(StringRef name) {
  auto it = slots.find(name);
  return it == slots.end() ? nullptr : &it->second;
}

void GraphImporter::define(StringRef name, Slot slot) {
  unsigned uses = 0;
  if (Slot *old = lookup(name))
    uses = old->uses;
  slot.uses = uses;
  slots[name] = std::move(slot);
}

Location nodeLocation(const onnx::NodeProto &node, unsigned index,
                      Location file) {
  std::string name = node.name();
  if (name.empty())
    name = node.op_type() + "_" + std::to_string(index);
  return NameLoc::get(StringAttr::get(file.getContext(), name), file);
}

LogicalResult GraphImporter::loadExternal(TensorProto &tensor, Slot &slot) {
  auto it = external.find(tensor.name());
  if (it == external.end())
    return emitError(fileLocation)
           << "initializer '" << tensor.name()
           << "': external data that was not checked at load";
  const ExternalData &data = it->second;
  // A slice of a whole file is mapped like the file (no copy).
  auto buffer =
      llvm::MemoryBuffer::getFileSlice(data.path, data.length, data.offset);
  if (!buffer)
    return emitError(fileLocation)
           << "initializer '" << tensor.name() << "': cannot read external data '"
           << data.path << "': " << buffer.getError().message();
  auto owner = std::make_shared<FileWeightBuffer>(std::move(*buffer));
  slot.externalBytes = owner->data();
  slot.externalOwner = std::move(owner);
  return success();
}

LogicalResult GraphImporter::addInitializer(TensorProto &tensor, bool foldable) {
  MLIRContext *ctx = module.getContext();
  Type element = elementTypeFor(ctx, tensor.data_type());
  if (!element)
    return emitError(fileLocation)
           << "initializer '" << tensor.name() << "' has element type "
           << typeName(tensor.data_type()) << ", which ppc does not support";
  pp::Shape shape(tensor.dims().begin(), tensor.dims().end());
  auto errors = [&]() {
    return emitError(fileLocation) << "initializer '" << tensor.name() << "': ";
  };
  if (failed(pp::checkedNumElements(shape, errors)))
    return failure();
  Slot slot;
  slot.type = RankedTensorType::get(shape, element);
  slot.initializer = &tensor;
  slot.foldable = foldable || !isa<FloatType>(element);
  if (tensor.data_location() == TensorProto::EXTERNAL &&
      failed(loadExternal(tensor, slot)))
    return failure();
  if (lookup(tensor.name()) && lookup(tensor.name())->initializer)
    return emitError(fileLocation)
           << "initializer '" << tensor.name() << "' is defined twice";
  define(tensor.name(), std::move(slot));
  return success();
}

const HostTensor *GraphImporter::hostValue(Slot &slot, Location loc) {
  if (slot.constant)
    return &*slot.constant;
  if (!slot.initializer || slot.type.getNumElements() > kMaxFoldElements)
    return nullptr;
  HostTensor value;
  std::string error =
      HostTensor::fromProto(*slot.initializer, slot.externalBytes, value);
  if (!error.empty()) {
    emitError(loc) << error;
    return nullptr;
  }
  slot.constant = std::move(value);
  return &*slot.constant;
}

FailureOr<Value> GraphImporter::materialize(StringRef name, Slot &slot,
                                            Location loc) {
  if (slot.value)
    return slot.value;
  bool fromInitializer = slot.initializer != nullptr;
  bool inlineConstant =
      !fromInitializer && slot.constant &&
      (slot.constant->numElements() <= kMaxInlineElements ||
       slot.constant->isSplat());
  if (inlineConstant) {
    DenseElementsAttr attr = slot.constant->toAttr(slot.type);
    slot.value = pp::ConstantOp::create(bodyBuilder, loc, slot.type, attr);
    return slot.value;
  }
  // A parameter: an initializer by its ONNX name, or a large folded constant.
  if (store.contains(name))
    return emitError(loc) << "two tensors are named '" << name << "'";
  if (fromInitializer) {
    TensorProto &t = *slot.initializer;
    if (!slot.externalOwner) {
      if (t.has_raw_data()) {
        // Take the bytes over from the protobuf without copying them.
        std::string bytes;
        bytes.swap(*t.mutable_raw_data());
        auto owner = std::make_shared<StringWeightBuffer>(std::move(bytes));
        slot.externalBytes = ArrayRef<uint8_t>(
            reinterpret_cast<const uint8_t *>(owner->data().data()),
            owner->data().size());
        slot.externalOwner = owner;
      } else {
        // Typed fields (float_data, int32_data, ...): converted to bytes,
        // then dropped from the protobuf unless small enough to fold.
        std::string bytes;
        std::string error = HostTensor::protoBytes(t, bytes);
        if (!error.empty())
          return emitError(loc) << error;
        if (slot.type.getNumElements() > kMaxFoldElements) {
          t.clear_float_data();
          t.clear_double_data();
          t.clear_int32_data();
          t.clear_int64_data();
          t.clear_uint64_data();
        }
        auto owner = std::make_shared<StringWeightBuffer>(std::move(bytes));
        slot.externalBytes = ArrayRef<uint8_t>(
            reinterpret_cast<const uint8_t *>(owner->data().data()),
            owner->data().size());
        slot.externalOwner = owner;
      }
    }
    int64_t bits = slot.type.getElementTypeBitWidth();
    int64_t expected = slot.type.getNumElements() * ((bits + 7) / 8);
    if ((int64_t)slot.externalBytes.size() != expected)
      return emitError(loc) << "initializer '" << name << "' holds "
                            << slot.externalBytes.size()
                            << " bytes; its shape needs " << expected;
    store.add(name, slot.externalBytes, slot.externalOwner);
  } else {
    store.addOwned(name, slot.constant->toBytes());
  }
  bool constant = slot.foldable || !fromInitializer;
  pp::ParamOp::create(paramBuilder, loc, name, slot.type, constant);
  slot.value = pp::GetParamOp::create(bodyBuilder, loc, slot.type,
                                      FlatSymbolRefAttr::get(
                                          module.getContext(), name));
  return slot.value;
}

static std::string shapeString(RankedTensorType t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// The static type ONNX shape inference (or the model) gives a value, if any.
static RankedTensorType staticTypeOf(MLIRContext *ctx,
                                     const onnx::TypeProto &type) {
  if (!type.has_tensor_type() || !type.tensor_type().has_shape())
    return nullptr;
  Type element = elementTypeFor(ctx, type.tensor_type().elem_type());
  if (!element)
    return nullptr;
  pp::Shape shape;
  for (const auto &d : type.tensor_type().shape().dim()) {
    if (!d.has_dim_value())
      return nullptr;
    shape.push_back(d.dim_value());
  }
  return RankedTensorType::get(shape, element);
}

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node,
                                        unsigned index) {
  Location loc = nodeLocation(node, index, fileLocation);
  // importONNXModel's pre-scan has checked that every op has a handler and
  // every input is defined by an earlier node, an initializer or an input.
  OpHandler handler = opRegistry().lookup(node.op_type());
  // Sequences exist only between the sequence ops, which resolve them here.
  bool sequenceOp = StringRef(node.op_type()).contains("Sequence");
  for (const std::string &in : node.input()) {
    Slot *slot = in.empty() ? nullptr : lookup(in);
    if (slot && slot->sequence && !sequenceOp)
      return emitError(loc) << node.op_type() << ": input '" << in
                            << "' is a sequence; " << node.op_type()
                            << " takes tensors";
  }
  // The checker counts inputs but lets an empty name stand for a required
  // one; the handlers read every required input.
  if (const onnx::OpSchema *schema = onnx::OpSchemaRegistry::Schema(
          node.op_type(), (int)opset, node.domain())) {
    const auto &formals = schema->inputs();
    for (size_t i = 0; i < formals.size(); ++i)
      if (formals[i].GetOption() == onnx::OpSchema::Single &&
          (i >= (size_t)node.input_size() || node.input(i).empty()))
        return emitError(loc) << node.op_type() << ": its input " << i
                              << " ('" << formals[i].GetName()
                              << "') is required and missing";
  }
  NodeContext ctx(*this, node, opset, loc, bodyBuilder);
  if (failed(handler(ctx)))
    return failure();
  for (const std::string &out : node.output()) {
    if (out.empty())
      continue;
    Slot *slot = lookup(out);
    if (slot && slot->sequence)
      continue;
    if (!slot || !slot->type) {
      if (slot && slot->uses > 0)
        return emitError(loc) << node.op_type() << ": output '" << out
                              << "' is not supported";
      continue;
    }
    // Cross-check against ONNX's own shape inference where it is static.
    auto it = inferred.find(out);
    if (it == inferred.end())
      continue;
    RankedTensorType theirs = staticTypeOf(module.getContext(), *it->second);
    if (theirs && theirs != slot->type)
      return emitError(loc) << node.op_type() << ": output '" << out
                            << "' has type " << shapeString(slot->type)
                            << " but ONNX shape inference gives "
                            << shapeString(theirs);
  }
  return success();
}

LogicalResult GraphImporter::import(onnx::GraphProto &graph,
                                    std::vector<TensorProto> &bound) {
  MLIRContext *ctx = module.getContext();
  for (TensorProto &t : *graph.mutable_initializer())
    if (failed(addInitializer(t, /*foldable=*/false)))
      return failure();
  for (TensorProto &t : bound) {
    if (failed(addInitializer(t, /*foldable=*/true)))
      return failure();
  }
  for (const onnx::ValueInfoProto &vi : graph.value_info())
    inferred[vi.name()] = &vi.type();

  // Graph inputs that are not initializers become arguments of @main.
  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  for (const onnx::ValueInfoProto &vi : graph.input()) {
    if (lookup(vi.name()))
      continue;
    const onnx::TypeProto &type = vi.type();
    if (!type.has_tensor_type())
      return emitError(fileLocation)
             << "input '" << vi.name() << "' is not a tensor";
    Type element = elementTypeFor(ctx, type.tensor_type().elem_type());
    if (!element)
      return emitError(fileLocation)
             << "input '" << vi.name() << "' has element type "
             << typeName(type.tensor_type().elem_type())
             << ", which ppc does not support";
    RankedTensorType t = staticTypeOf(ctx, type);
    if (!t)
      return emitError(fileLocation)
             << "input '" << vi.name() << "' has no static shape";
    argTypes.push_back(t);
    argNames.push_back(vi.name());
  }

  paramBuilder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(paramBuilder, fileLocation, "main",
                                   FunctionType::get(ctx, argTypes, {}));
  paramBuilder.setInsertionPoint(func);
  Block *entry = func.addEntryBlock();
  bodyBuilder.setInsertionPointToEnd(entry);
  for (auto [i, name] : llvm::enumerate(argNames)) {
    func.setArgAttr(i, kNameAttr, StringAttr::get(ctx, name));
    Slot slot;
    slot.type = cast<RankedTensorType>(argTypes[i]);
    slot.value = entry->getArgument(i);
    define(name, std::move(slot));
  }

  // Use counts, so that importers can tell whether an output is read.
  llvm::StringMap<unsigned> uses;
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &in : node.input())
      ++uses[in];
  for (const onnx::ValueInfoProto &vi : graph.output())
    ++uses[vi.name()];
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &out : node.output())
      if (!out.empty()) {
        Slot placeholder;
        placeholder.uses = uses.lookup(out);
        if (!lookup(out))
          slots[out] = std::move(placeholder);
      }
  for (auto &entry : slots)
    entry.second.uses = uses.lookup(entry.first());

  for (auto [i, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, i)))
      return failure();

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const onnx::ValueInfoProto &vi : graph.output()) {
    Slot *slot = lookup(vi.name());
    if (slot && slot->sequence)
      return emitError(fileLocation)
             << "output '" << vi.name()
             << "' is a sequence: ppc's outputs are tensors";
    if (!slot || !slot->type)
      return emitError(fileLocation)
             << "output '" << vi.name() << "' is not produced by the graph";
    RankedTensorType declared = staticTypeOf(ctx, vi.type());
    if (declared && declared != slot->type)
      return emitError(fileLocation)
             << "output '" << vi.name() << "' is declared "
             << shapeString(declared) << " but computes to "
             << shapeString(slot->type);
    FailureOr<Value> v = materialize(vi.name(), *slot, fileLocation);
    if (failed(v))
      return failure();
    results.push_back(*v);
    resultTypes.push_back(v->getType());
  }
  func::ReturnOp::create(bodyBuilder, fileLocation, results);
  func.setFunctionType(FunctionType::get(ctx, argTypes, resultTypes));
  for (auto [i, vi] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, kNameAttr, StringAttr::get(ctx, vi.name()));
  return success();
}

} // namespace ppc::onnximport
