//===- Vocabulary.h - the words compiler and runtime share -----*- C++ -*-===//
//
// The one definition of what ppc writes and pprun reads by name: the action
// kinds of a schedule (pipeline.json "op"), the schedule kinds (-schedule=,
// pipeline.json "kind"), the phases of a training stage's programs, and the
// element types (pipeline.json "dtype", safetensors, stage.fbs's DType).
// Plain C++17 with no dependencies, so that both sides include it: the
// compiler's sched::Op and sched::Kind are these enums, and its ODS enums
// (PPPipelineOps.td) are checked against them at compile time
// (PPPipelineOps.cpp) and by name in ppc-unit-tests (VocabularyTest.cpp);
// the element types are checked against stage.fbs in DTypeSchema.h.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_VOCABULARY_H
#define PPRT_VOCABULARY_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pprt {

namespace detail {
/// The entry of `table` (an array of rows with a `value` and the name
/// `field` selects) whose name is `name`.
template <typename Row, size_t N, typename Field>
constexpr auto find(const Row (&table)[N], std::string_view name, Field field)
    -> std::optional<decltype(table[0].value)> {
  for (const Row &row : table)
    if (name == row.*field)
      return row.value;
  return std::nullopt;
}
/// Whether each row's value is its index: the tables are indexed by value.
template <typename Row, size_t N> constexpr bool indexedByValue(const Row (&table)[N]) {
  for (size_t i = 0; i < N; ++i)
    if (static_cast<size_t>(table[i].value) != i)
      return false;
  return true;
}
} // namespace detail

//===--- Action kinds: one step of a rank's schedule ----------------------===//

enum class ActionKind : int32_t {
  Fwd = 0,
  Bwd = 1,
  BwdB = 2,
  BwdW = 3,
  SendAct = 4,
  RecvAct = 5,
  SendGrad = 6,
  RecvGrad = 7,
};

struct ActionKindInfo {
  ActionKind value;
  /// pipeline.json's "op", pp.action's keyword, the trace's event name.
  const char *name;
};
inline constexpr ActionKindInfo kActionKinds[] = {
    {ActionKind::Fwd, "fwd"},           {ActionKind::Bwd, "bwd"},
    {ActionKind::BwdB, "bwd_b"},        {ActionKind::BwdW, "bwd_w"},
    {ActionKind::SendAct, "send_act"},  {ActionKind::RecvAct, "recv_act"},
    {ActionKind::SendGrad, "send_grad"}, {ActionKind::RecvGrad, "recv_grad"},
};
inline constexpr int kNumActionKinds =
    static_cast<int>(sizeof(kActionKinds) / sizeof(kActionKinds[0]));
static_assert(detail::indexedByValue(kActionKinds),
              "kActionKinds lists the action kinds in value order");

constexpr const char *actionKindName(ActionKind kind) {
  return kActionKinds[static_cast<int>(kind)].name;
}
constexpr std::optional<ActionKind> parseActionKind(std::string_view name) {
  return detail::find(kActionKinds, name, &ActionKindInfo::name);
}
/// Send or receive (the actions with a peer stage).
constexpr bool isTransfer(ActionKind kind) {
  return kind == ActionKind::SendAct || kind == ActionKind::RecvAct ||
         kind == ActionKind::SendGrad || kind == ActionKind::RecvGrad;
}

//===--- Phases: the programs of a training stage -------------------------===//
//
// A stage's functions (pp.phase on them and on backward ops) and its
// programs (stage<k>.<phase>.ppx, pipeline.json "programs", stage.fbs's
// `phase`) are named after the action that runs them. "bwd" is the whole
// backward before -pp-split-stages divides it into B and W.

inline constexpr const char *kPhaseFwd = actionKindName(ActionKind::Fwd);
inline constexpr const char *kPhaseBwd = actionKindName(ActionKind::Bwd);
inline constexpr const char *kPhaseBwdB = actionKindName(ActionKind::BwdB);
inline constexpr const char *kPhaseBwdW = actionKindName(ActionKind::BwdW);

//===--- Schedule kinds ---------------------------------------------------===//

enum class ScheduleKind : int32_t {
  Inference = 0,
  GPipe = 1,
  OneFOneB = 2,
  Interleaved = 3,
  ZBH1 = 4,
  ZBH2 = 5,
  ZBV = 6,
  VHalf = 7,
  LoopedBFS = 8,
  DualPipeV = 9,
  InterleavedZB = 10,
};

struct ScheduleKindInfo {
  ScheduleKind value;
  /// -schedule='s spelling, pipeline.json's "kind"; in the order docs list them.
  const char *name;
  /// pp.schedule's keyword in the IR (PPPipelineOps.td).
  const char *irName;
};
inline constexpr ScheduleKindInfo kScheduleKinds[] = {
    {ScheduleKind::Inference, "inference", "inference"},
    {ScheduleKind::GPipe, "gpipe", "gpipe"},
    {ScheduleKind::OneFOneB, "1f1b", "one_f_one_b"},
    {ScheduleKind::Interleaved, "interleaved", "interleaved"},
    {ScheduleKind::ZBH1, "zb-h1", "zb_h1"},
    {ScheduleKind::ZBH2, "zb-h2", "zb_h2"},
    {ScheduleKind::ZBV, "zb-v", "zb_v"},
    {ScheduleKind::VHalf, "v-half", "v_half"},
    {ScheduleKind::LoopedBFS, "looped-bfs", "looped_bfs"},
    {ScheduleKind::DualPipeV, "dualpipe-v", "dualpipe_v"},
    {ScheduleKind::InterleavedZB, "interleaved-zb", "interleaved_zb"},
};
inline constexpr int kNumScheduleKinds =
    static_cast<int>(sizeof(kScheduleKinds) / sizeof(kScheduleKinds[0]));
static_assert(detail::indexedByValue(kScheduleKinds),
              "kScheduleKinds lists the schedule kinds in value order");

constexpr const char *scheduleKindName(ScheduleKind kind) {
  return kScheduleKinds[static_cast<int>(kind)].name;
}
constexpr std::optional<ScheduleKind> parseScheduleKind(std::string_view name) {
  return detail::find(kScheduleKinds, name, &ScheduleKindInfo::name);
}

//===--- Element types ----------------------------------------------------===//

/// The values are those of stage.fbs's DType (checked in DTypeSchema.h).
enum class DType {
  F32 = 0,
  F64 = 1,
  F16 = 2,
  BF16 = 3,
  I64 = 4,
  I32 = 5,
  I16 = 6,
  I8 = 7,
  U8 = 8,
  Bool = 9,
  U16 = 10,
  U32 = 11,
  U64 = 12,
};

struct DTypeInfo {
  DType value;
  /// safetensors' spelling ("F32", "BOOL"), also pprun's messages'.
  const char *name;
  /// MLIR's spelling of the element type, as pipeline.json writes it.
  const char *mlirName;
  /// Bytes per element (one byte per bool).
  size_t size;
};
inline constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", "f32", 4},    {DType::F64, "F64", "f64", 8},
    {DType::F16, "F16", "f16", 2},    {DType::BF16, "BF16", "bf16", 2},
    {DType::I64, "I64", "i64", 8},    {DType::I32, "I32", "i32", 4},
    {DType::I16, "I16", "i16", 2},    {DType::I8, "I8", "i8", 1},
    {DType::U8, "U8", "ui8", 1},      {DType::Bool, "BOOL", "i1", 1},
    {DType::U16, "U16", "ui16", 2},   {DType::U32, "U32", "ui32", 4},
    {DType::U64, "U64", "ui64", 8},
};
inline constexpr int kNumDTypes =
    static_cast<int>(sizeof(kDTypes) / sizeof(kDTypes[0]));
static_assert(detail::indexedByValue(kDTypes),
              "kDTypes lists the element types in value order");

constexpr const DTypeInfo &dtypeInfo(DType dtype) {
  return kDTypes[static_cast<int>(dtype)];
}
/// Parses pipeline.json's (MLIR's) spelling.
constexpr std::optional<DType> parseMlirDType(std::string_view name) {
  return detail::find(kDTypes, name, &DTypeInfo::mlirName);
}

} // namespace pprt

#endif // PPRT_VOCABULARY_H
