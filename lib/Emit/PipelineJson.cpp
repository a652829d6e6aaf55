//===- PipelineJson.cpp - DIR/pipeline.json -------------------------------===//
//
// The plan pprun reads: stages and their ranks, the model's inputs and
// outputs per stage, every message between stages with its tensors, tied
// parameters, and each rank's action list.
//
//===----------------------------------------------------------------------===//

#include "ppc/Emit/Emit.h"
#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPOps.h"

#include "pprt/Vocabulary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/JSON.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <set>

using namespace mlir;
using namespace ppc;

namespace {
std::string dtypeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << cast<RankedTensorType>(t).getElementType();
  return s;
}

void tensorFields(llvm::json::OStream &j, llvm::StringRef name, Type type) {
  auto t = cast<RankedTensorType>(type);
  j.attribute("name", name);
  j.attributeArray("shape", [&] {
    for (int64_t d : t.getShape())
      j.value(d);
  });
  j.attribute("dtype", dtypeName(t));
  j.attribute("bytes", tensorBytes(t));
}

void tensor(llvm::json::OStream &j, llvm::StringRef name, Type type) {
  j.object([&] { tensorFields(j, name, type); });
}

/// A model input or output: its batch axis where it is not 0 (the
/// importer's pp.batch_axes; -1: the same for every micro-batch).
void modelTensor(llvm::json::OStream &j, ModuleOp module, llvm::StringRef name,
                 Type type) {
  j.object([&] {
    tensorFields(j, name, type);
    if (auto axes = module->getAttrOfType<DictionaryAttr>(kBatchAxesAttr))
      if (auto axis = axes.getAs<IntegerAttr>(name))
        j.attribute("batch_axis", axis.getInt());
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
  // Every function of each stage (forward, and B and W when training).
  std::map<int64_t, SmallVector<func::FuncOp>> functionsOf;
  bool training = false;
  for (auto f : module.getOps<func::FuncOp>())
    if (auto stage = f->getAttrOfType<IntegerAttr>(kStageAttr)) {
      functionsOf[stage.getInt()].push_back(f);
      training |= f->hasAttr(kPhaseAttr);
    }
  j.object([&] {
    j.attribute("format", "ppc-pipeline");
    j.attribute("version", 1);
    j.attribute("model", s.model);
    j.attribute("device", s.device);
    j.attribute("batch", s.batch);
    j.attribute("microbatches", s.microbatches);
    // batch is global; microbatches are per replica (the schedule's).
    j.attribute("microbatch_size", s.microbatchSize());
    j.attribute("ranks", s.ranks);
    // World rank = pipeline rank x data_parallel + replica (docs/training.md).
    j.attribute("data_parallel", s.dataParallel);
    j.attribute("world_ranks", (int64_t)s.ranks * s.dataParallel);
    j.attribute("virtual_stages", s.virtualStages);
    j.attribute("partition", s.method);
    j.attributeArray("inputs", [&] {
      if (auto list = module->getAttrOfType<ArrayAttr>(kModelInputsAttr))
        for (auto entry : list.getAsRange<DictionaryAttr>())
          modelTensor(j, module, entry.getAs<StringAttr>("name").getValue(),
                      entry.getAs<TypeAttr>("type").getValue());
    });
    j.attributeArray("stages", [&] {
      for (auto [index, stageFunc] : llvm::enumerate(s.pipeline.stages)) {
        func::FuncOp func = stageFunc;
        j.object([&] {
          j.attribute("stage", (int64_t)index);
          j.attribute("rank", s.pipeline.topology.stageRank[index]);
          j.attribute("function", func.getSymName());
          j.attribute("program", stageProgramFile(index, ""));
          if (training)
            j.attributeObject("programs", [&] {
              for (const char *phase :
                   {pprt::kPhaseFwd, pprt::kPhaseBwdB, pprt::kPhaseBwdW})
                j.attribute(phase, stageProgramFile(index, phase));
            });
          j.attribute("weights",
                      "stage" + std::to_string(index) + ".safetensors");
          j.attribute("ops", s.stages[index].ops);
          j.attribute("param_bytes", s.stages[index].paramBytes);
          // Model inputs that any of the stage's functions reads.
          j.attributeArray("inputs", [&] {
            llvm::StringSet<> seen;
            for (func::FuncOp f : functionsOf[index])
              for (unsigned i = 0; i < f.getNumArguments(); ++i)
                if (auto name = f.getArgAttrOfType<StringAttr>(i, kNameAttr))
                  if (seen.insert(name.getValue()).second)
                    modelTensor(j, module, name.getValue(),
                                f.getArgument(i).getType());
          });
          // Model outputs (the loss, when training); not what a stage keeps
          // for its backward, nor gradients, nor state updates.
          j.attributeArray("outputs", [&] {
            for (func::FuncOp f : functionsOf[index])
              for (unsigned i = 0; i < f.getNumResults(); ++i) {
                if (f.getResultAttr(i, kStashAttr) ||
                    f.getResultAttr(i, kGradAttr) ||
                    f.getResultAttr(i, kStateAttr))
                  continue;
                auto name = f.getResultAttrOfType<StringAttr>(i, kNameAttr);
                modelTensor(j, module, name ? name.getValue() : "",
                            f.getFunctionType().getResult(i));
              }
          });
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
    if (training)
      j.attributeObject("training", [&] {
        // ZeRO-1: each replica updates 1/data_parallel of the parameters.
        j.attribute("zero", s.zero);
        if (auto opt = module->getAttrOfType<DictionaryAttr>(kOptimizerAttr))
          j.attributeObject("optimizer", [&] {
            for (NamedAttribute a : opt) {
              if (auto f = dyn_cast<FloatAttr>(a.getValue()))
                j.attribute(a.getName().getValue(), f.getValueAsDouble());
              else if (auto i = dyn_cast<IntegerAttr>(a.getValue()))
                j.attribute(a.getName().getValue(), i.getInt());
              else if (auto str = dyn_cast<StringAttr>(a.getValue()))
                j.attribute(a.getName().getValue(), str.getValue());
            }
          });
        // Each trained parameter: the stages that hold it (and update it)
        // and the stage of each use's gradient, in use order.
        std::map<std::string, std::set<int64_t>> holders;
        std::map<std::string, std::map<int64_t, int64_t>> uses;
        for (auto &[stage, funcs] : functionsOf)
          for (func::FuncOp f : funcs) {
            f.walk([&](pp::GetParamOp get) {
              holders[get.getName().str()].insert(stage);
            });
            for (unsigned i = 0; i < f.getNumResults(); ++i)
              if (auto p = f.getResultAttrOfType<StringAttr>(i, kGradAttr)) {
                auto use = f.getResultAttrOfType<IntegerAttr>(i, kUseAttr);
                uses[p.str()][use ? use.getInt() : 0] = stage;
              }
          }
        j.attributeArray("parameters", [&] {
          for (auto param : module.getOps<pp::ParamOp>()) {
            auto it = uses.find(param.getSymName().str());
            if (it == uses.end())
              continue;
            j.object([&] {
              tensorFields(j, param.getSymName(), param.getType());
              j.attributeArray("stages", [&] {
                for (int64_t st : holders[it->first])
                  j.value(st);
              });
              j.attributeArray("uses", [&] {
                for (auto &[use, stage] : it->second)
                  j.value(stage);
              });
            });
          }
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
