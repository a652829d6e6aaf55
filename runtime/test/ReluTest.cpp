//===- ReluTest.cpp - the CPU ReLU kernel on IEEE special values ----------===//
//
// ReLU keeps NaN, as torch.relu and numpy.maximum(x, 0) do (max(x, 0)
// written as x > 0 ? x : 0 would turn it into 0).
//
//===----------------------------------------------------------------------===//

#include "../src/cpu/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace pprt;

TEST(Relu, PropagatesNaN) {
  cpu::Registry r;
  cpu::registerElementwise(r);
  ASSERT_TRUE(r.count("relu"));
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {nan, -nan, -1.5f, 0.f, 2.5f, inf, -inf}, y(x.size());
  TensorRef in, out;
  in.desc = out.desc = {DType::F32, {(int64_t)x.size()}};
  in.numel = out.numel = x.size();
  in.bytes = out.bytes = x.size() * 4;
  in.data = reinterpret_cast<uint8_t *>(x.data());
  out.data = reinterpret_cast<uint8_t *>(y.data());
  cpu::Tensors ins = {&in}, outs = {&out};
  Status st = r["relu"](ins, outs, Attrs(nullptr));
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(y[2], 0.f);
  EXPECT_EQ(y[3], 0.f);
  EXPECT_EQ(y[4], 2.5f);
  EXPECT_EQ(y[5], inf);
  EXPECT_EQ(y[6], 0.f);
}
