#include "pprt/Status.h"

#include <gtest/gtest.h>

using namespace pprt;

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.toString(), "OK");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = dataLoss("stage1.ppx is truncated");
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::DataLoss);
  EXPECT_EQ(s.toString(), "DATA_LOSS: stage1.ppx is truncated");
}

TEST(Status, ContextIsPrepended) {
  Status s = notFound("input 'x'").withContext("rank 2, stage 2");
  EXPECT_EQ(s.message(), "rank 2, stage 2: input 'x'");
  EXPECT_TRUE(Status::ok().withContext("ignored").isOk());
}

static Status failsThenReturns(bool fail, int &reached) {
  PPRT_RETURN_IF_ERROR(fail ? invalidArgument("bad") : Status::ok());
  ++reached;
  return Status::ok();
}

TEST(Status, ReturnIfError) {
  int reached = 0;
  EXPECT_FALSE(failsThenReturns(true, reached).isOk());
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(failsThenReturns(false, reached).isOk());
  EXPECT_EQ(reached, 1);
}

TEST(StatusOr, ValueOrError) {
  StatusOr<int> v = 42;
  ASSERT_TRUE(v.isOk());
  EXPECT_EQ(*v, 42);
  StatusOr<int> e = invalidArgument("no");
  EXPECT_FALSE(e.isOk());
  EXPECT_EQ(e.status().message(), "no");
}
