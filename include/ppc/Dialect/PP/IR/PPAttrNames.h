//===- PPAttrNames.h - the pp dialect's discardable attributes --*- C++ -*-===//
//
// Every `pp.*` discardable attribute the passes, the importer and the
// emitter put on ops, functions, their arguments and results, or the
// module: named once here, never spelled at a use.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPATTRNAMES_H
#define PPC_DIALECT_PP_IR_PPATTRNAMES_H

#include "llvm/ADT/StringRef.h"

namespace ppc {

//===--- On ops ------------------------------------------------------------===//

/// The cost annotation -pp-annotate-cost puts on each op.
constexpr llvm::StringLiteral kCostAttr = "pp.cost";
/// The stage -pp-partition gives each op; on a stage function, its stage.
constexpr llvm::StringLiteral kStageAttr = "pp.stage";
/// On backward ops: "bwd" (-pp-autodiff), then "bwd_b" or "bwd_w"
/// (-pp-split-stages); with kFwdIndexAttr, the forward op (numbered among
/// the ops without a phase) whose stage they take. On a stage function,
/// the program it is (pprt/Vocabulary.h's phases).
constexpr llvm::StringLiteral kPhaseAttr = "pp.phase";
constexpr llvm::StringLiteral kFwdIndexAttr = "pp.fwd_index";
/// On a forward op that -pp-split-stages cloned into a backward function.
constexpr llvm::StringLiteral kRecomputeAttr = "pp.recompute";
/// -pp-plan-memory: an op's result offsets in the stage's arena.
constexpr llvm::StringLiteral kOffsetsAttr = "pp.offsets";

//===--- On pp.param symbols -----------------------------------------------===//

/// On a pp.param used on several stages: those stages.
constexpr llvm::StringLiteral kTiedAttr = "pp.tied";

//===--- On functions ------------------------------------------------------===//

/// On a stage function: the rank that runs it.
constexpr llvm::StringLiteral kRankAttr = "pp.rank";
/// -pp-plan-memory: a stage function's arena size.
constexpr llvm::StringLiteral kArenaBytesAttr = "pp.arena_bytes";

//===--- On function arguments and results ---------------------------------===//

/// A model input's or output's name in the ONNX model.
constexpr llvm::StringLiteral kNameAttr = "pp.name";
/// -pp-plan-memory: an argument's offset in the stage's arena.
constexpr llvm::StringLiteral kOffsetAttr = "pp.offset";
/// A value a stage's forward keeps for its backward: the slot id.
constexpr llvm::StringLiteral kStashAttr = "pp.stash";
/// A parameter's gradient: the parameter's name, and which of its uses
/// (kUseAttr) this gradient is of.
constexpr llvm::StringLiteral kGradAttr = "pp.grad";
constexpr llvm::StringLiteral kUseAttr = "pp.use";
/// A value the runtime writes over a parameter after each training
/// forward (batch normalisation's running statistics): the parameter.
constexpr llvm::StringLiteral kStateAttr = "pp.state";

//===--- On the module -----------------------------------------------------===//

/// The model inputs and outputs whose batch axis is not 0, by name.
constexpr llvm::StringLiteral kBatchAxesAttr = "pp.batch_axes";
/// -pp-split-stages: every model input, used by a stage or not.
constexpr llvm::StringLiteral kModelInputsAttr = "pp.model_inputs";
/// The device profile the costs were computed for.
constexpr llvm::StringLiteral kDeviceAttr = "pp.device";
/// The partition's options and predicted figures.
constexpr llvm::StringLiteral kPartitionAttr = "pp.partition";
/// The optimizer a training pipeline runs (ppc -train).
constexpr llvm::StringLiteral kOptimizerAttr = "pp.optimizer";

} // namespace ppc

#endif // PPC_DIALECT_PP_IR_PPATTRNAMES_H
