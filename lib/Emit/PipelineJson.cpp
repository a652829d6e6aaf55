//===- PipelineJson.cpp - DIR/pipeline.json -------------------------------===//
//
// The plan pprun reads: stages and their ranks, the model's inputs and
// outputs per stage, every message between stages with its tensors, tied
// parameters, and each rank's action list.
//
//===----------------------------------------------------------------------===//

#include "ppc/Emit/Emit.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace ppc;

namespace {
std::string dtypeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << cast<RankedTensorType>(t).getElementType();
  return s;
}

void tensor(llvm::json::OStream &j, llvm::StringRef name, Type type) {
  auto t = cast<RankedTensorType>(type);
  j.object([&] {
    j.attribute("name", name);
    j.attributeArray("shape", [&] {
      for (int64_t d : t.getShape())
        j.value(d);
    });
    j.attribute("dtype", dtypeName(t));
    j.attribute("bytes", tensorBytes(t));
  });
}

/// A stable name for a tensor that crosses: its ONNX node and result index.
std::string valueName(Value v) {
  Operation *def = v.getDefiningOp();
  std::string node = def->getName().getStringRef().str();
  if (auto name = dyn_cast<NameLoc>(def->getLoc()))
    node = name.getName().str();
  return node + ":" + std::to_string(cast<OpResult>(v).getResultNumber());
}
} // namespace

std::string ppc::pipelineJson(const PipelineSummary &s, ModuleOp module) {
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::json::OStream j(os, 2);
  j.object([&] {
    j.attribute("format", "ppc-pipeline");
    j.attribute("version", 1);
    j.attribute("model", s.model);
    j.attribute("device", s.device);
    j.attribute("batch", s.batch);
    j.attribute("microbatches", s.microbatches);
    j.attribute("microbatch_size", s.batch / std::max<int64_t>(s.microbatches, 1));
    j.attribute("ranks", s.ranks);
    j.attribute("virtual_stages", s.virtualStages);
    j.attribute("partition", s.method);
    j.attributeArray("inputs", [&] {
      if (auto list = module->getAttrOfType<ArrayAttr>("pp.model_inputs"))
        for (auto entry : list.getAsRange<DictionaryAttr>())
          tensor(j, entry.getAs<StringAttr>("name").getValue(),
                 entry.getAs<TypeAttr>("type").getValue());
    });
    j.attributeArray("stages", [&] {
      for (auto [index, stageFunc] : llvm::enumerate(s.pipeline.stages)) {
        func::FuncOp func = stageFunc;
        j.object([&] {
          j.attribute("stage", (int64_t)index);
          j.attribute("rank", s.pipeline.topology.stageRank[index]);
          j.attribute("function", func.getSymName());
          j.attribute("program", "stage" + std::to_string(index) + ".ppx");
          j.attribute("weights",
                      "stage" + std::to_string(index) + ".safetensors");
          j.attribute("ops", s.stages[index].ops);
          j.attribute("param_bytes", s.stages[index].paramBytes);
          auto named = [&](llvm::StringRef key, TypeRange types, auto nameOf) {
            j.attributeArray(key, [&] {
              for (auto [i, t] : llvm::enumerate(types)) {
                auto name = dyn_cast_or_null<StringAttr>(nameOf(i));
                tensor(j, name ? name.getValue() : "", t);
              }
            });
          };
          named("inputs", func.getArgumentTypes(),
                [&](unsigned i) { return func.getArgAttr(i, "pp.name"); });
          named("outputs", func.getResultTypes(),
                [&](unsigned i) { return func.getResultAttr(i, "pp.name"); });
        });
      }
    });
    j.attributeArray("messages", [&] {
      for (auto [index, stageFunc] : llvm::enumerate(s.pipeline.stages))
        func::FuncOp(stageFunc).walk([&](pp::SendOp send) {
          j.object([&] {
            j.attribute("from", (int64_t)index);
            j.attribute("to", send.getTo());
            j.attribute("skip", send.getTo() != (int64_t)index + 1);
            int64_t bytes = 0;
            for (Value v : send.getValues())
              bytes += tensorBytes(v.getType());
            j.attribute("bytes", bytes);
            j.attributeArray("tensors", [&] {
              for (Value v : send.getValues())
                tensor(j, valueName(v), v.getType());
            });
          });
        });
    });
    j.attributeArray("tied_parameters", [&] {
      for (auto param : module.getOps<pp::ParamOp>())
        if (auto tied = param->getAttrOfType<DenseI64ArrayAttr>(kTiedAttr))
          j.object([&] {
            j.attribute("name", param.getSymName());
            j.attributeArray("stages", [&] {
              for (int64_t st : tied.asArrayRef())
                j.value(st);
            });
          });
    });
    j.attributeObject("schedule", [&] {
      j.attribute("kind", s.schedule);
      j.attribute("microbatches", s.plan.microbatches);
      j.attributeArray("ranks", [&] {
        for (auto &list : s.plan.ranks)
          j.array([&] {
            for (const sched::Action &a : list)
              j.object([&] {
                j.attribute("op", sched::opName(a.op));
                j.attribute("stage", a.stage);
                j.attribute("mb", a.mb);
                if (a.peer >= 0)
                  j.attribute("peer", a.peer);
              });
          });
      });
    });
  });
  os << "\n";
  return out;
}
