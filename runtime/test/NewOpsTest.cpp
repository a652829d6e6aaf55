//===- NewOpsTest.cpp - attention, rms_norm, rotary and friends on the CPU ===//
//
// The forward kernels against ONNX's reference implementation
// (NewOpsReference.inc, from make_newops_reference.py), the backward
// kernels against central finite differences of the forward ones, and the
// errors the kernels report for bad indices and lengths.
//
//===----------------------------------------------------------------------===//

#include "NewOpsKernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace pprt;
using namespace pprt::newops_test;

namespace {
#include "NewOpsReference.inc"

const cpu::Registry &cpuKernels() {
  static const cpu::Registry r = [] {
    cpu::Registry r;
    cpu::registerElementwise(r);
    cpu::registerBackward(r);
    cpu::registerIndexing(r);
    cpu::registerAttention(r);
    return r;
  }();
  return r;
}

Status run(const char *kernel, std::vector<Buf *> in, std::vector<Buf *> out,
           const Attrs &a) {
  auto it = cpuKernels().find(kernel);
  if (it == cpuKernels().end())
    return invalidArgument(std::string("no kernel ") + kernel);
  cpu::Tensors i, o;
  for (Buf *b : in)
    i.push_back(&b->ref);
  for (Buf *b : out)
    o.push_back(&b->ref);
  return it->second(i, o, a);
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                double tolerance, const char *what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-30, worst = 0;
  for (float w : want)
    scale = std::max(scale, (double)std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs((double)got[i] - want[i]) / scale);
  EXPECT_LE(worst, tolerance) << what;
}

std::vector<float> randoms(size_t n, unsigned seed, float lo = -1,
                           float hi = 1) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(g);
  return v;
}

/// The derivative of sum(w * f()) with respect to every element of `x`, by
/// central differences (f reads x's buffer).
std::vector<float> numericGrad(Buf &x, const std::vector<float> &w,
                               const std::function<std::vector<float>()> &f,
                               float h = 1e-2f) {
  std::vector<float> g(x.ref.numel);
  float *p = x.ref.as<float>();
  auto loss = [&] {
    std::vector<float> y = f();
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i)
      s += (double)w[i] * y[i];
    return s;
  };
  for (int64_t i = 0; i < x.ref.numel; ++i) {
    float keep = p[i];
    p[i] = keep + h;
    double up = loss();
    p[i] = keep - h;
    double down = loss();
    p[i] = keep;
    g[i] = float((up - down) / (2 * h));
  }
  return g;
}

//===----------------------------------------------------------------------===//
// Forward kernels against onnx.reference
//===----------------------------------------------------------------------===//

TEST(NewOps, AttentionGqaCausalBoolMaskMatchesReference) {
  Buf q = f32(kAttnGqaQ, {1, 4, 3, 4}), k = f32(kAttnGqaK, {1, 2, 5, 4}),
      v = f32(kAttnGqaV, {1, 2, 5, 3}), m = boolean(kAttnGqaMask, {3, 5});
  Buf y = zeros({1, 4, 3, 3}), lse = zeros({1, 4, 3});
  AttrList a({{"scale", 0.4}, {"is_causal", int64_t(1)}});
  Status st = run("attention", {&q, &k, &v, &m}, {&y, &lse}, a.get());
  ASSERT_TRUE(st.isOk()) << st.message();
  expectNear(y.floats(), kAttnGqaY, 1e-5, "attention");
  // Query 0 sees no key: a zero row and a log-sum-exp of -inf.
  for (int h = 0; h < 4; ++h)
    EXPECT_TRUE(std::isinf(lse.floats()[h * 3]) && lse.floats()[h * 3] < 0);
}

TEST(NewOps, AttentionFloatMaskMatchesReference) {
  Buf q = f32(kAttnMaskQ, {2, 2, 3, 4}), k = f32(kAttnMaskK, {2, 2, 4, 4}),
      v = f32(kAttnMaskV, {2, 2, 4, 4}), m = f32(kAttnMaskMask, {2, 1, 3, 4});
  Buf y = zeros({2, 2, 3, 4}), lse = zeros({2, 2, 3});
  AttrList a({{"scale", 0.5}}); // ONNX's default: 1 / sqrt(head size 4)
  Status st = run("attention", {&q, &k, &v, &m}, {&y, &lse}, a.get());
  ASSERT_TRUE(st.isOk()) << st.message();
  expectNear(y.floats(), kAttnMaskY, 1e-5, "attention with a float mask");
}

TEST(NewOps, RmsNormMatchesReference) {
  Buf x = f32(kRmsX, {2, 3, 4}), s = f32(kRmsScale, {3, 4});
  Buf y = zeros({2, 3, 4}), inv = zeros({2, 1, 1});
  AttrList a({{"axis", int64_t(1)}, {"epsilon", 1e-5}});
  Status st = run("rms_norm", {&x, &s}, {&y, &inv}, a.get());
  ASSERT_TRUE(st.isOk()) << st.message();
  expectNear(y.floats(), kRmsY, 1e-6, "rms_norm");
}

TEST(NewOps, RotaryMatchesReference) {
  Buf x = f32(kRope4X, {1, 2, 3, 6}), c = f32(kRope4Cos, {5, 2}),
      s = f32(kRope4Sin, {5, 2}), p = i64(kRope4Pos, {1, 3});
  Buf y = zeros({1, 2, 3, 6});
  AttrList a({{"rotary_dim", int64_t(4)}});
  Status st = run("rotary_embedding", {&x, &c, &s, &p}, {&y}, a.get());
  ASSERT_TRUE(st.isOk()) << st.message();
  expectNear(y.floats(), kRope4Y, 1e-6, "rotary, 4-D, positions, partial");

  Buf x3 = f32(kRope3X, {2, 3, 8}), c3 = f32(kRope3Cos, {2, 3, 2}),
      s3 = f32(kRope3Sin, {2, 3, 2}), y3 = zeros({2, 3, 8});
  AttrList a3({{"num_heads", int64_t(2)}, {"interleaved", int64_t(1)}});
  st = run("rotary_embedding", {&x3, &c3, &s3}, {&y3}, a3.get());
  ASSERT_TRUE(st.isOk()) << st.message();
  expectNear(y3.floats(), kRope3Y, 1e-6, "rotary, 3-D, interleaved");
}

//===----------------------------------------------------------------------===//
// Backward kernels against finite differences
//===----------------------------------------------------------------------===//

void attentionGradCase(bool boolMask) {
  // GQA: 4 query heads over 2 kv heads, 3 queries, 5 keys; causal with a
  // bool mask (query 0 fully masked), or a float mask.
  Buf q = f32(randoms(48, 1), {1, 4, 3, 4}), k = f32(randoms(40, 2), {1, 2, 5, 4}),
      v = f32(randoms(30, 3), {1, 2, 5, 3});
  Buf m = boolMask ? boolean(kAttnGqaMask, {3, 5})
                   : f32(randoms(15, 4), {3, 5});
  AttrList a(boolMask ? AttrList({{"scale", 0.4}, {"is_causal", int64_t(1)}})
                      : AttrList({{"scale", 0.7}}));
  Buf y = zeros({1, 4, 3, 3}), lse = zeros({1, 4, 3});
  auto forward = [&] {
    EXPECT_TRUE(run("attention", {&q, &k, &v, &m}, {&y, &lse}, a.get()).isOk());
    return y.floats();
  };
  forward();
  std::vector<float> w = randoms(36, 5);
  Buf dy = f32(w, {1, 4, 3, 3}), dq = zeros({1, 4, 3, 4}),
      dk = zeros({1, 2, 5, 4}), dv = zeros({1, 2, 5, 3});
  Status st = run("attention_grad", {&q, &k, &v, &y, &lse, &dy, &m},
                  {&dq, &dk, &dv}, a.get());
  ASSERT_TRUE(st.isOk()) << st.message();
  std::vector<float> gq = dq.floats(), gk = dk.floats(), gv = dv.floats();
  expectNear(gq, numericGrad(q, w, forward), 2e-3, "dq");
  expectNear(gk, numericGrad(k, w, forward), 2e-3, "dk");
  expectNear(gv, numericGrad(v, w, forward), 2e-3, "dv");
}

TEST(NewOps, AttentionGradMatchesFiniteDifferencesBoolMask) {
  attentionGradCase(true);
}
TEST(NewOps, AttentionGradMatchesFiniteDifferencesFloatMask) {
  attentionGradCase(false);
}

TEST(NewOps, RmsNormGradMatchesFiniteDifferences) {
  Buf x = f32(randoms(24, 6), {2, 3, 4}), s = f32(randoms(12, 7), {3, 4});
  Buf y = zeros({2, 3, 4}), inv = zeros({2, 1, 1});
  AttrList a({{"axis", int64_t(1)}, {"epsilon", 1e-5}});
  auto forward = [&] {
    EXPECT_TRUE(run("rms_norm", {&x, &s}, {&y, &inv}, a.get()).isOk());
    return y.floats();
  };
  forward();
  std::vector<float> w = randoms(24, 8);
  Buf dy = f32(w, {2, 3, 4}), dx = zeros({2, 3, 4});
  ASSERT_TRUE(run("rms_norm_grad", {&x, &s, &inv, &dy}, {&dx}, a.get()).isOk());
  std::vector<float> gx = dx.floats();
  expectNear(gx, numericGrad(x, w, forward), 2e-3, "rms_norm dx");
  // The scale's gradient: layer_norm_param_grad with a zero mean (and the
  // unperturbed input's 1/rms).
  forward();
  Buf zero = zeros({2, 1, 1}), ds = zeros({3, 4}), db = zeros({3, 4});
  ASSERT_TRUE(run("layer_norm_param_grad", {&x, &zero, &inv, &dy}, {&ds, &db},
                  a.get())
                  .isOk());
  std::vector<float> gs = ds.floats();
  expectNear(gs, numericGrad(s, w, forward), 2e-3, "rms_norm dscale");
}

TEST(NewOps, RotaryGradsMatchFiniteDifferences) {
  // 3-D, interleaved, caches per token: the input's gradient is the
  // rotation with the sines negated, the caches' rotary_embedding_cache_grad.
  Buf x = f32(randoms(48, 9), {2, 3, 8}), c = f32(randoms(12, 10), {2, 3, 2}),
      s = f32(randoms(12, 11), {2, 3, 2}), y = zeros({2, 3, 8});
  AttrList a({{"num_heads", int64_t(2)}, {"interleaved", int64_t(1)}});
  auto forward = [&] {
    EXPECT_TRUE(run("rotary_embedding", {&x, &c, &s}, {&y}, a.get()).isOk());
    return y.floats();
  };
  std::vector<float> w = randoms(48, 12);
  Buf dy = f32(w, {2, 3, 8}), dx = zeros({2, 3, 8});
  std::vector<float> negSin = s.floats();
  for (float &v : negSin)
    v = -v;
  Buf ns = f32(negSin, {2, 3, 2});
  ASSERT_TRUE(run("rotary_embedding", {&dy, &c, &ns}, {&dx}, a.get()).isOk());
  std::vector<float> gx = dx.floats();
  expectNear(gx, numericGrad(x, w, forward), 2e-3, "rotary dx");
  Buf dc = zeros({2, 3, 2}), dsn = zeros({2, 3, 2});
  ASSERT_TRUE(run("rotary_embedding_cache_grad", {&x, &dy}, {&dc, &dsn},
                  a.get())
                  .isOk());
  std::vector<float> gc = dc.floats(), gs = dsn.floats();
  expectNear(gc, numericGrad(c, w, forward), 2e-3, "rotary dcos");
  expectNear(gs, numericGrad(s, w, forward), 2e-3, "rotary dsin");
}

TEST(NewOps, HardActivationGradsMatchFiniteDifferences) {
  // Away from the kinks (-3, 3 for hard_swish; alpha x + beta at 0 and 1).
  std::vector<float> xs = {-4.1f, -2.5f, -1.1f, -0.2f, 0.3f, 1.7f, 2.6f, 3.8f};
  for (const char *op : {"hard_sigmoid", "hard_swish"}) {
    Buf x = f32(xs, {8}), y = zeros({8});
    AttrList a({{"alpha", 0.3}, {"beta", 0.45}});
    auto forward = [&] {
      EXPECT_TRUE(run(op, {&x}, {&y}, a.get()).isOk());
      return y.floats();
    };
    std::vector<float> w = randoms(8, 13);
    Buf dy = f32(w, {8}), dx = zeros({8});
    ASSERT_TRUE(run((std::string(op) + "_grad").c_str(), {&x, &dy}, {&dx},
                    a.get())
                    .isOk());
    std::vector<float> gx = dx.floats();
    expectNear(gx, numericGrad(x, w, forward, 1e-3f), 1e-3, op);
  }
}

TEST(NewOps, CumSumGradIsTheReverseScan) {
  Buf x = f32(randoms(12, 14), {3, 4}), y = zeros({3, 4});
  AttrList fwd({{"axis", int64_t(1)}, {"exclusive", int64_t(1)}});
  auto forward = [&] {
    EXPECT_TRUE(run("cumsum", {&x}, {&y}, fwd.get()).isOk());
    return y.floats();
  };
  std::vector<float> w = randoms(12, 15);
  Buf dy = f32(w, {3, 4}), dx = zeros({3, 4});
  AttrList back({{"axis", int64_t(1)}, {"exclusive", int64_t(1)},
                 {"reverse", int64_t(1)}});
  ASSERT_TRUE(run("cumsum", {&dy}, {&dx}, back.get()).isOk());
  std::vector<float> gx = dx.floats();
  expectNear(gx, numericGrad(x, w, forward), 1e-3, "cumsum");
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST(NewOps, GatherNDRefusesAnIndexOutOfRange) {
  Buf x = f32(randoms(6, 16), {2, 3}), idx = i64({1, 0, 1, 3}, {2, 2}),
      y = zeros({2});
  AttrList a({});
  Status st = run("gather_nd", {&x, &idx}, {&y}, a.get());
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("index 3 of tuple 1 is out of range for an "
                              "axis of size 3"),
            std::string::npos)
      << st.message();
}

TEST(NewOps, RangeRefusesAnotherLength) {
  Buf start = f32({0.0f}, {}), limit = f32({4.0f}, {}), delta = f32({1.0f}, {});
  Buf y = zeros({5});
  AttrList a({});
  Status st = run("range", {&start, &limit, &delta}, {&y}, a.get());
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("the 5 elements it was compiled for"),
            std::string::npos)
      << st.message();
  limit = f32({5.0f}, {});
  ASSERT_TRUE(run("range", {&start, &limit, &delta}, {&y}, a.get()).isOk());
  EXPECT_EQ(y.floats(), std::vector<float>({0, 1, 2, 3, 4}));
}

TEST(NewOps, RotaryRefusesAPositionOutsideTheCache) {
  Buf x = f32(kRope4X, {1, 2, 3, 6}), c = f32(kRope4Cos, {5, 2}),
      s = f32(kRope4Sin, {5, 2}), p = i64({4, 5, 0}, {1, 3}),
      y = zeros({1, 2, 3, 6});
  AttrList a({{"rotary_dim", int64_t(4)}});
  Status st = run("rotary_embedding", {&x, &c, &s, &p}, {&y}, a.get());
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("position 5 of token 1 is outside the 5 cached"),
            std::string::npos)
      << st.message();
}

TEST(NewOps, ScatterNDCombinesRepeatedTuplesInOrder) {
  Buf x = f32({1, 2, 3, 4}, {4}), idx = i64({1, 1, 3}, {3, 1}),
      u = f32({10, 20, 30}, {3}), y = zeros({4});
  AttrList add({{"reduction", std::string("add")}});
  ASSERT_TRUE(run("scatter_nd", {&x, &idx, &u}, {&y}, add.get()).isOk());
  EXPECT_EQ(y.floats(), std::vector<float>({1, 32, 3, 34}));
  AttrList mul({{"reduction", std::string("mul")}});
  ASSERT_TRUE(run("scatter_nd", {&x, &idx, &u}, {&y}, mul.get()).isOk());
  EXPECT_EQ(y.floats(), std::vector<float>({1, 400, 3, 120}));
}

TEST(NewOps, ModFollowsTheDivisorsSignUnlessFmod) {
  Buf a = i64({-7, 7, -7, 7}, {4}), b = i64({3, -3, 0, 3}, {4}),
      y = Buf::make(DType::I64, {4});
  AttrList mod({});
  ASSERT_TRUE(run("mod", {&a, &b}, {&y}, mod.get()).isOk());
  EXPECT_EQ(y.ints(), std::vector<int64_t>({2, -2, 0, 1}));
  AttrList fmod({{"fmod", int64_t(1)}});
  ASSERT_TRUE(run("mod", {&a, &b}, {&y}, fmod.get()).isOk());
  EXPECT_EQ(y.ints(), std::vector<int64_t>({-1, 1, 0, 1}));
}

} // namespace

//===----------------------------------------------------------------------===//
// gather_elements (torch.gather) and its gradient
//===----------------------------------------------------------------------===//

// torch.gather(torch.tensor([[1., 2, 3], [4, 5, 6]]), 1,
//              torch.tensor([[2, -1, 0, 0], [1, 1, 0, 2]])) (negative
// indices as ONNX: from the end of the axis).
TEST(NewOps, GatherElementsTakesOneElementPerIndex) {
  Buf x = f32({1, 2, 3, 4, 5, 6}, {2, 3}),
      idx = i64({2, -1, 0, 0, 1, 1, 0, 2}, {2, 4}), y = zeros({2, 4});
  AttrList a({{"axis", int64_t(1)}});
  ASSERT_TRUE(run("gather_elements", {&x, &idx}, {&y}, a.get()).isOk());
  EXPECT_EQ(y.floats(), std::vector<float>({3, 3, 1, 1, 5, 5, 4, 6}));
  // Axis 0 with indices smaller than data on axis 1.
  Buf idx0 = i64({1, 0}, {1, 2}), y0 = zeros({1, 2});
  AttrList a0({{"axis", int64_t(0)}});
  ASSERT_TRUE(run("gather_elements", {&x, &idx0}, {&y0}, a0.get()).isOk());
  EXPECT_EQ(y0.floats(), std::vector<float>({4, 2}));
}

TEST(NewOps, GatherElementsGradMatchesFiniteDifferences) {
  Buf x = f32(randoms(12, 21), {3, 4}),
      idx = i64({0, 2, 2, 1, 2, 2, 0, -1, 1, 1, 1, 0}, {3, 4}),
      y = zeros({3, 4});
  AttrList a({{"axis", int64_t(0)}});
  auto forward = [&] {
    EXPECT_TRUE(run("gather_elements", {&x, &idx}, {&y}, a.get()).isOk());
    return y.floats();
  };
  std::vector<float> w = randoms(12, 22);
  Buf dy = f32(w, {3, 4}), dx = zeros({3, 4});
  ASSERT_TRUE(run("gather_elements_grad", {&idx, &dy}, {&dx}, a.get()).isOk());
  expectNear(dx.floats(), numericGrad(x, w, forward), 1e-3,
             "gather_elements");
}

TEST(NewOps, GatherElementsRefusesAnIndexOutOfRange) {
  Buf x = f32(randoms(6, 23), {2, 3}), idx = i64({0, 3}, {1, 2}),
      y = zeros({1, 2});
  AttrList a({{"axis", int64_t(1)}});
  Status st = run("gather_elements", {&x, &idx}, {&y}, a.get());
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("index 3 at 1 is out of range for an axis of "
                              "size 3"),
            std::string::npos)
      << st.message();
  Buf dx = zeros({2, 3});
  st = run("gather_elements_grad", {&idx, &y}, {&dx}, a.get());
  EXPECT_FALSE(st.isOk());
}
