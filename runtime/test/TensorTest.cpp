#include "pprt/Tensor.h"

#include <gtest/gtest.h>

using namespace pprt;

TEST(Tensor, SizesAndNames) {
  TensorDesc d{DType::BF16, {2, 3, 4}};
  EXPECT_EQ(*d.numElements(), 24);
  EXPECT_EQ(*d.byteSize(), 48);
  EXPECT_EQ(d.toString(), "BF16[2x3x4]");
  EXPECT_EQ(*TensorDesc({DType::F32, {}}).numElements(), 1);
}

TEST(Tensor, RejectsNegativeAndOverflow) {
  StatusOr<int64_t> neg = TensorDesc{DType::F32, {2, -1}}.numElements();
  ASSERT_FALSE(neg.isOk());
  EXPECT_NE(neg.status().message().find("dimension 1"), std::string::npos);
  int64_t big = int64_t(1) << 40;
  EXPECT_FALSE(TensorDesc({DType::F32, {big, big}}).numElements().isOk());
  EXPECT_FALSE(TensorDesc({DType::F64, {int64_t(1) << 61}}).byteSize().isOk());
}

TEST(Tensor, ParsesSafetensorsNames) {
  for (DType d : {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64,
                  DType::I32, DType::I16, DType::I8, DType::U8, DType::Bool}) {
    StatusOr<DType> parsed = parseDType(dtypeName(d));
    ASSERT_TRUE(parsed.isOk());
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_FALSE(parseDType("F8").isOk());
}
