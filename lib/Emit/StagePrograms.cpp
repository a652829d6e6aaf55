//===- StagePrograms.cpp - DIR/stage<k>.ppx and DIR/stage<k>.safetensors --===//
//
// Lowers each planned stage function to the runtime's instruction list
// (runtime/schema/stage.fbs, through flatc's generated header) and writes
// that stage's parameters as safetensors under their ONNX initializer names,
// so that checkpoints never depend on the partition.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Emit/Emit.h"

#include "pprt/DTypeSchema.h"
#include "pprt/Format.h"
#include "pprt/Vocabulary.h"
#include "pprt/stage_generated.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;
using namespace ppc;

namespace {
std::optional<pprt::fb::DType> dtypeOf(Type type) {
  Type e = cast<RankedTensorType>(type).getElementType();
  if (e.isF32()) return pprt::fb::DType::F32;
  if (e.isF64()) return pprt::fb::DType::F64;
  if (e.isF16()) return pprt::fb::DType::F16;
  if (e.isBF16()) return pprt::fb::DType::BF16;
  if (e.isInteger(1)) return pprt::fb::DType::Bool;
  if (e.isInteger(8)) return e.isUnsignedInteger() ? pprt::fb::DType::U8
                                                    : pprt::fb::DType::I8;
  if (e.isInteger(16)) return e.isUnsignedInteger() ? pprt::fb::DType::U16
                                                     : pprt::fb::DType::I16;
  if (e.isInteger(32)) return e.isUnsignedInteger() ? pprt::fb::DType::U32
                                                     : pprt::fb::DType::I32;
  if (e.isInteger(64)) return e.isUnsignedInteger() ? pprt::fb::DType::U64
                                                     : pprt::fb::DType::I64;
  return std::nullopt;
}

/// Element bytes of a dense constant, little-endian, one byte per bool.
std::vector<uint8_t> constantBytes(DenseElementsAttr attr) {
  std::vector<uint8_t> bytes;
  Type e = attr.getElementType();
  unsigned width = e.isInteger(1) ? 8 : e.getIntOrFloatBitWidth();
  auto append = [&](const APInt &v) {
    for (unsigned i = 0; i < width / 8; ++i)
      bytes.push_back(v.extractBitsAsZExtValue(8, i * 8));
  };
  if (isa<FloatType>(e)) {
    for (APFloat v : attr.getValues<APFloat>())
      append(v.bitcastToAPInt());
  } else {
    for (APInt v : attr.getValues<APInt>())
      append(e.isInteger(1) ? v.zext(8) : v);
  }
  return bytes;
}

std::string nodeName(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "";
}

class ProgramWriter {
public:
  ProgramWriter(func::FuncOp func, const WeightStore &store)
      : func(func), store(store) {}
  /// The FlatBuffer bytes, or an error naming the op that cannot be lowered.
  llvm::Expected<std::string> write();
  const std::vector<std::string> &params() const { return paramNames; }

private:
  int buffer(Value v);
  flatbuffers::Offset<pprt::fb::Attr> attr(NamedAttribute a, bool &ok);

  func::FuncOp func;
  const WeightStore &store;
  flatbuffers::FlatBufferBuilder fbb{1 << 16};
  std::vector<flatbuffers::Offset<pprt::fb::Buffer>> buffers;
  DenseMap<Value, int> ids;
  llvm::StringMap<int> paramIds;
  std::vector<std::string> paramNames;
};

int ProgramWriter::buffer(Value v) {
  auto it = ids.find(v);
  if (it != ids.end())
    return it->second;
  auto type = cast<RankedTensorType>(v.getType());
  auto shape = fbb.CreateVector(type.getShape().vec());
  auto dtype = *dtypeOf(type);
  flatbuffers::Offset<pprt::fb::Buffer> b;
  Operation *def = v.getDefiningOp();
  if (auto get = dyn_cast_or_null<pp::GetParamOp>(def)) {
    auto [pid, inserted] = paramIds.try_emplace(get.getName(), buffers.size());
    if (!inserted)
      return ids[v] = pid->second;
    paramNames.push_back(get.getName().str());
    b = pprt::fb::CreateBuffer(fbb, pprt::fb::BufferKind::Param, dtype, shape, 0,
                               fbb.CreateString(get.getName().str()));
  } else if (auto c = dyn_cast_or_null<pp::ConstantOp>(def)) {
    auto data = constantBytes(cast<DenseElementsAttr>(c.getValue()));
    b = pprt::fb::CreateBuffer(fbb, pprt::fb::BufferKind::Constant, dtype, shape,
                               0, 0, fbb.CreateVector(data));
  } else {
    int64_t offset = -1;
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (auto o = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(),
                                                      kOffsetAttr))
        offset = o.getInt();
    } else if (auto offsets =
                   def->getAttrOfType<DenseI64ArrayAttr>(kOffsetsAttr)) {
      offset = offsets[cast<OpResult>(v).getResultNumber()];
    }
    b = pprt::fb::CreateBuffer(fbb, pprt::fb::BufferKind::Arena, dtype, shape,
                               offset);
  }
  buffers.push_back(b);
  return ids[v] = buffers.size() - 1;
}

flatbuffers::Offset<pprt::fb::Attr> ProgramWriter::attr(NamedAttribute a,
                                                        bool &ok) {
  auto name = fbb.CreateString(a.getName().str());
  Attribute v = a.getValue();
  auto ints = [&](ArrayRef<int64_t> list) {
    return pprt::fb::CreateAttr(fbb, name, pprt::fb::AttrKind::Ints, 0, 0,
                                fbb.CreateVector(list.vec()));
  };
  auto text = [&](StringRef s) {
    return pprt::fb::CreateAttr(fbb, name, pprt::fb::AttrKind::String, 0, 0, 0,
                                0, fbb.CreateString(s.str()));
  };
  if (auto i = dyn_cast<IntegerAttr>(v))
    return pprt::fb::CreateAttr(fbb, name, pprt::fb::AttrKind::Int, i.getInt());
  if (isa<UnitAttr>(v))
    return pprt::fb::CreateAttr(fbb, name, pprt::fb::AttrKind::Int, 1);
  if (auto f = dyn_cast<FloatAttr>(v))
    return pprt::fb::CreateAttr(fbb, name, pprt::fb::AttrKind::Float, 0,
                                f.getValueAsDouble());
  if (auto list = dyn_cast<DenseI64ArrayAttr>(v))
    return ints(list.asArrayRef());
  if (auto list = dyn_cast<DenseF64ArrayAttr>(v))
    return pprt::fb::CreateAttr(fbb, name, pprt::fb::AttrKind::Floats, 0, 0, 0,
                                fbb.CreateVector(list.asArrayRef().vec()));
  if (auto list = dyn_cast<ArrayAttr>(v)) {
    SmallVector<int64_t> values;
    for (Attribute e : list)
      if (auto i = dyn_cast<IntegerAttr>(e))
        values.push_back(i.getInt());
    if (values.size() == list.size())
      return ints(values);
  }
  if (auto s = dyn_cast<StringAttr>(v))
    return text(s.getValue());
  if (auto e = dyn_cast<pp::PadModeAttr>(v))
    return text(pp::stringifyPadMode(e.getValue()));
  if (auto e = dyn_cast<pp::ResizeModeAttr>(v))
    return text(pp::stringifyResizeMode(e.getValue()));
  if (auto e = dyn_cast<pp::CoordinateTransformAttr>(v))
    return text(pp::stringifyCoordinateTransform(e.getValue()));
  if (auto e = dyn_cast<pp::NearestModeAttr>(v))
    return text(pp::stringifyNearestMode(e.getValue()));
  ok = false;
  return 0;
}

llvm::Expected<std::string> ProgramWriter::write() {
  std::vector<flatbuffers::Offset<pprt::fb::Instr>> instrs;
  std::vector<flatbuffers::Offset<pprt::fb::Binding>> inputs, outputs, states;
  std::vector<flatbuffers::Offset<pprt::fb::Message>> recvs, sends;
  std::vector<flatbuffers::Offset<pprt::fb::Slot>> stashIn, stashOut;
  std::vector<flatbuffers::Offset<pprt::fb::Grad>> grads;
  auto fail = [&](Operation *op, const Twine &why) {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(), "%s",
        ("node '" + nodeName(op) + "' (" + op->getName().getStringRef() +
         "): " + why).str().c_str());
  };
  for (BlockArgument arg : func.getArguments()) {
    if (!dtypeOf(arg.getType()))
      return fail(func, "unsupported element type");
    if (auto slot = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(),
                                                       kStashAttr)) {
      stashIn.push_back(
          pprt::fb::CreateSlot(fbb, slot.getInt(), buffer(arg)));
      continue;
    }
    auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr);
    inputs.push_back(pprt::fb::CreateBinding(
        fbb, fbb.CreateString(name ? name.str() : ""), buffer(arg)));
  }
  for (Operation &op : func.getBody().front()) {
    for (Value v : op.getOperands())
      if (!dtypeOf(v.getType()))
        return fail(&op, "unsupported element type");
    if (isa<pp::GetParamOp, pp::ConstantOp>(op))
      continue;
    if (auto recv = dyn_cast<pp::RecvOp>(op)) {
      std::vector<int> ids;
      for (Value v : recv.getValues())
        ids.push_back(buffer(v));
      recvs.push_back(pprt::fb::CreateMessage(fbb, recv.getFrom(),
                                              fbb.CreateVector(ids)));
      continue;
    }
    if (auto send = dyn_cast<pp::SendOp>(op)) {
      std::vector<int> ids;
      for (Value v : send.getValues())
        ids.push_back(buffer(v));
      sends.push_back(pprt::fb::CreateMessage(fbb, send.getTo(),
                                              fbb.CreateVector(ids)));
      continue;
    }
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        if (auto slot = func.getResultAttrOfType<IntegerAttr>(i, kStashAttr)) {
          stashOut.push_back(
              pprt::fb::CreateSlot(fbb, slot.getInt(), buffer(v)));
          continue;
        }
        if (auto param = func.getResultAttrOfType<StringAttr>(i, kGradAttr)) {
          auto use = func.getResultAttrOfType<IntegerAttr>(i, kUseAttr);
          grads.push_back(pprt::fb::CreateGrad(
              fbb, fbb.CreateString(param.str()), use ? use.getInt() : 0,
              buffer(v)));
          continue;
        }
        if (auto param = func.getResultAttrOfType<StringAttr>(i, kStateAttr)) {
          states.push_back(pprt::fb::CreateBinding(
              fbb, fbb.CreateString(param.str()), buffer(v)));
          continue;
        }
        auto name = func.getResultAttrOfType<StringAttr>(i, kNameAttr);
        outputs.push_back(pprt::fb::CreateBinding(
            fbb, fbb.CreateString(name ? name.str() : ""), buffer(v)));
      }
      continue;
    }
    std::vector<int> operands, results;
    for (Value v : op.getOperands())
      operands.push_back(buffer(v));
    for (Value v : op.getResults()) {
      if (!dtypeOf(v.getType()))
        return fail(&op, "unsupported element type");
      results.push_back(buffer(v));
    }
    std::vector<flatbuffers::Offset<pprt::fb::Attr>> attrs;
    for (NamedAttribute a : op.getAttrs()) {
      if (a.getName().getValue().starts_with("pp."))
        continue;
      bool ok = true;
      auto lowered = attr(a, ok);
      if (!ok)
        return fail(&op, "attribute '" + a.getName().getValue() +
                             "' has no runtime form");
      attrs.push_back(lowered);
    }
    StringRef kernel = op.getName().getStringRef();
    kernel.consume_front("pp.");
    instrs.push_back(pprt::fb::CreateInstr(
        fbb, fbb.CreateString(kernel.str()), fbb.CreateVector(operands),
        fbb.CreateVector(results), fbb.CreateVector(attrs),
        fbb.CreateString(nodeName(&op))));
  }
  auto stage = func->getAttrOfType<IntegerAttr>(kStageAttr);
  auto rank = func->getAttrOfType<IntegerAttr>(kRankAttr);
  auto arena = func->getAttrOfType<IntegerAttr>(kArenaBytesAttr);
  auto phase = func->getAttrOfType<StringAttr>(kPhaseAttr);
  if (!arena)
    return fail(func, "has no memory plan: run -pp-plan-memory first");
  auto root = pprt::fb::CreateStageProgram(
      fbb, stage ? stage.getInt() : 0, rank ? rank.getInt() : 0,
      arena.getInt(), fbb.CreateVector(buffers), fbb.CreateVector(instrs),
      fbb.CreateVector(inputs), fbb.CreateVector(outputs),
      fbb.CreateVector(recvs), fbb.CreateVector(sends),
      fbb.CreateString(phase ? phase.str() : ""), fbb.CreateVector(stashIn),
      fbb.CreateVector(stashOut), fbb.CreateVector(grads),
      fbb.CreateVector(states));
  pprt::fb::FinishStageProgramBuffer(fbb, root);
  return std::string(reinterpret_cast<const char *>(fbb.GetBufferPointer()),
                     fbb.GetSize());
}

const char *safetensorsDType(Type type) {
  return pprt::dtypeInfo(pprt::fromSchema(*dtypeOf(type))).name;
}

/// safetensors: u64 header length, a JSON header (name -> dtype, shape,
/// data_offsets), padded with spaces to 8 bytes, then the tensors' bytes.
/// Returns the header; `entries` gets the tensors to stream after it.
llvm::Expected<std::string>
safetensorsHeader(ModuleOp module, llvm::ArrayRef<std::string> names,
                  const WeightStore &store,
                  std::vector<const WeightStore::Entry *> &entries) {
  std::string header;
  llvm::raw_string_ostream hs(header);
  {
    llvm::json::OStream j(hs);
    j.object([&] {
      j.attributeObject("__metadata__", [&] { j.attribute("format", "pt"); });
      uint64_t offset = 0;
      for (const std::string &name : names) {
        auto param = module.lookupSymbol<pp::ParamOp>(name);
        const WeightStore::Entry *entry = store.lookup(name);
        entries.push_back(entry);
        if (!param || !entry)
          continue;
        j.attributeObject(name, [&] {
          j.attribute("dtype", safetensorsDType(param.getType()));
          j.attributeArray("shape", [&] {
            for (int64_t d : param.getTensorType().getShape())
              j.value(d);
          });
          j.attributeArray("data_offsets", [&] {
            j.value(offset);
            j.value(offset + entry->size());
          });
        });
        offset += entry->size();
      }
    });
  }
  for (auto [name, entry] : llvm::zip(names, entries))
    if (!entry)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "parameter '%s' has no bytes",
                                     name.c_str());
  while (header.size() % 8)
    header.push_back(' ');
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out.push_back(char((n >> (8 * i)) & 0xff));
  return out + header;
}
/// Streams weights a chunk at a time. Storage that reads from a file is
/// asked to fetch the next chunk while this one is written, and to drop
/// each chunk once written, so that weights far larger than memory pass
/// through a small resident set at the disk's pace.
void writeWeights(llvm::raw_ostream &os,
                  llvm::ArrayRef<const WeightStore::Entry *> entries) {
  constexpr size_t kChunk = size_t(16) << 20;
  struct Chunk {
    const WeightStore::Entry *entry;
    size_t begin, size;
  };
  std::vector<Chunk> chunks;
  for (const WeightStore::Entry *entry : entries)
    for (size_t at = 0; at < entry->bytes.size(); at += kChunk)
      chunks.push_back({entry, at, std::min(kChunk, entry->bytes.size() - at)});
  std::vector<uint8_t> wide; // a widened chunk (f16/bf16 promoted to f32)
  for (auto [i, c] : llvm::enumerate(chunks)) {
    if (i + 1 < chunks.size() && chunks[i + 1].entry->owner) {
      const Chunk &next = chunks[i + 1];
      next.entry->owner->prefetch(next.entry->bytes.slice(next.begin, next.size));
    }
    ArrayRef<uint8_t> bytes = c.entry->bytes;
    // raw_ostream has written the chunk, or copied it into its buffer, when
    // write returns.
    if (c.entry->widen == Widen::None) {
      os.write(reinterpret_cast<const char *>(bytes.data() + c.begin), c.size);
    } else {
      wide.resize(2 * c.size);
      widenHalf(c.entry->widen, bytes.slice(c.begin, c.size), wide);
      os.write(reinterpret_cast<const char *>(wide.data()), wide.size());
    }
    // From the previous chunk's start: the page the two share goes too.
    size_t from = c.begin >= kChunk ? c.begin - kChunk : 0;
    if (c.entry->owner)
      c.entry->owner->release(bytes.slice(from, c.begin + c.size - from));
  }
}
} // namespace

std::string ppc::stageProgramFile(int64_t stage, llvm::StringRef phase) {
  std::string base = "stage" + std::to_string(stage);
  return phase.empty() || phase == pprt::kPhaseFwd ? base + ".ppx"
                                         : base + "." + phase.str() + ".ppx";
}

llvm::Error ppc::writeStagePrograms(ModuleOp module, const WeightStore &store,
                                    llvm::StringRef dir) {
  // A stage's functions (its forward, and when training its B and W) share
  // one weights file: the union of the parameters they read.
  std::map<int64_t, std::vector<std::string>> paramsOf;
  for (auto func : module.getOps<func::FuncOp>()) {
    auto stage = func->getAttrOfType<IntegerAttr>(kStageAttr);
    if (!stage)
      continue;
    ProgramWriter writer(func, store);
    auto program = writer.write();
    if (!program)
      return program.takeError();
    auto phase = func->getAttrOfType<StringAttr>(kPhaseAttr);
    std::vector<std::string> &params = paramsOf[stage.getInt()];
    for (const std::string &name : writer.params())
      if (!llvm::is_contained(params, name))
        params.push_back(name);
    if (llvm::Error e = writeAtomically(
            dir, stageProgramFile(stage.getInt(), phase ? phase.getValue() : ""),
            pprt::stageProgramHeader(program->data(), program->size()) +
                *program))
      return e;
  }
  for (auto &[stage, params] : paramsOf) {
    std::vector<const WeightStore::Entry *> entries;
    auto header = safetensorsHeader(module, params, store, entries);
    if (!header)
      return header.takeError();
    if (llvm::Error e = writeAtomically(
            dir, "stage" + std::to_string(stage) + ".safetensors",
            [&](llvm::raw_ostream &os) {
              os << *header;
              writeWeights(os, entries);
            }))
      return e;
  }
  return llvm::Error::success();
}
