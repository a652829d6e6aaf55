//===- VocabularyTest.cpp - ODS's enums spell pprt/Vocabulary.h's names ---===//
//
// PPPipelineOps.cpp checks the values at compile time; ODS's stringify and
// symbolize are not constexpr, so the names are checked here.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Schedule/Schedule.h"

#include "pprt/Vocabulary.h"

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
            "looped-bfs, dualpipe-v");
}

TEST(Vocabulary, PhasesAreTheActionsThatRunThem) {
  EXPECT_STREQ(pprt::kPhaseFwd, "fwd");
  EXPECT_STREQ(pprt::kPhaseBwd, "bwd");
  EXPECT_STREQ(pprt::kPhaseBwdB, "bwd_b");
  EXPECT_STREQ(pprt::kPhaseBwdW, "bwd_w");
}
