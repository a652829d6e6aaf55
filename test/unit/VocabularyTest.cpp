//===- VocabularyTest.cpp - ODS's enums spell pprt/Vocabulary.h's names ---===//
//
// PPPipelineOps.cpp checks the values at compile time; ODS's stringify and
// symbolize are not constexpr, so the names are checked here, and the
// element types' MLIR spellings against MLIR's printer.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Schedule/Schedule.h"

#include "pprt/Vocabulary.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace ppc;

TEST(Vocabulary, ActionKindNamesAreODSs) {
  ASSERT_EQ((int)pp::getMaxEnumValForActionKind() + 1, pprt::kNumActionKinds);
  for (const pprt::ActionKindInfo &k : pprt::kActionKinds) {
    auto ods = static_cast<pp::ActionKind>(k.value);
    EXPECT_EQ(pp::stringifyActionKind(ods).str(), k.name);
    EXPECT_EQ(pp::symbolizeActionKind(k.name), ods) << k.name;
    EXPECT_EQ(sched::opName(k.value).str(), k.name);
  }
  EXPECT_FALSE(pprt::parseActionKind("forward"));
}

TEST(Vocabulary, ScheduleKindNamesAreODSs) {
  ASSERT_EQ((int)pp::getMaxEnumValForScheduleKind() + 1,
            pprt::kNumScheduleKinds);
  for (const pprt::ScheduleKindInfo &k : pprt::kScheduleKinds) {
    auto ods = static_cast<pp::ScheduleKind>(k.value);
    EXPECT_EQ(pp::stringifyScheduleKind(ods).str(), k.irName);
    EXPECT_EQ(pp::symbolizeScheduleKind(k.irName), ods) << k.irName;
    EXPECT_EQ(sched::parseKind(k.name), k.value) << k.name;
    EXPECT_EQ(sched::kindName(k.value).str(), k.name);
  }
  EXPECT_FALSE(sched::parseKind("one_f_one_b"));
  EXPECT_EQ(sched::kindNames(),
            "inference, gpipe, 1f1b, interleaved, zb-h1, zb-h2, zb-v, v-half, "
            "looped-bfs, dualpipe-v, interleaved-zb");
}

TEST(Vocabulary, PhasesAreTheActionsThatRunThem) {
  EXPECT_STREQ(pprt::kPhaseFwd, "fwd");
  EXPECT_STREQ(pprt::kPhaseBwd, "bwd");
  EXPECT_STREQ(pprt::kPhaseBwdB, "bwd_b");
  EXPECT_STREQ(pprt::kPhaseBwdW, "bwd_w");
}

TEST(Vocabulary, ElementTypesSpellMLIRsTypes) {
  // pipeline.json's dtype is the MLIR element type as printed
  // (PipelineJson.cpp); the runtime parses it with kDTypes' mlirName.
  mlir::MLIRContext ctx;
  for (const pprt::DTypeInfo &d : pprt::kDTypes) {
    mlir::Type type = mlir::parseType(d.mlirName, &ctx);
    ASSERT_TRUE(type) << d.mlirName;
    std::string printed;
    llvm::raw_string_ostream os(printed);
    os << type;
    EXPECT_EQ(printed, d.mlirName);
    unsigned bits = type.getIntOrFloatBitWidth();
    EXPECT_EQ(bits == 1 ? 1u : bits / 8, d.size) << d.mlirName;
    EXPECT_EQ(pprt::parseMlirDType(d.mlirName), d.value) << d.mlirName;
  }
  EXPECT_FALSE(pprt::parseMlirDType("F32"));
}
