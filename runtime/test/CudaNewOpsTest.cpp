//===- CudaNewOpsTest.cpp - the new ops' CUDA kernels against the CPU's ---===//
//
// Each kernel of the indexing and transformer families (and the new
// element-wise ones) runs on the same inputs on the CPU backend (the
// reference, itself checked against onnx.reference and finite differences
// in NewOpsTest.cpp) and on the GPU; the outputs must agree within 1e-5 of
// their largest element (exactly for integers and data movement), and the
// faults the device records must read as the CPU's errors. Skipped where no
// GPU is present.
//
//===----------------------------------------------------------------------===//

#include "NewOpsKernels.h"

#include "../src/cuda/CudaOps.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace pprt;
using namespace pprt::newops_test;

namespace {

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

bool haveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::vector<float> randoms(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(g);
  return v;
}

/// Runs `kernel` on the CPU and on the GPU and compares every output.
/// `device` says how the GPU run ended (a fault the kernel recorded is
/// reported as the backend reports it).
class Both {
public:
  Both() {
    cudaStreamCreate(&stream);
    cudaHostAlloc(reinterpret_cast<void **>(&error), sizeof(cuda::DeviceError),
                  cudaHostAllocMapped);
    cudaHostGetDevicePointer(reinterpret_cast<void **>(&errorOnDevice), error,
                             0);
  }
  ~Both() {
    cudaStreamDestroy(stream);
    cudaFreeHost(error);
  }

  /// The CPU's and the GPU's statuses; on success both outputs are in
  /// cpuOut / gpuOut.
  std::pair<Status, Status> run(const char *kernel, std::vector<Buf> in,
                                std::vector<Buf> out, const AttrList &attrs) {
    cpuOut = out;
    gpuOut = out;
    cpu::Tensors ci, co;
    for (Buf &b : in)
      ci.push_back(&b.ref);
    for (Buf &b : cpuOut)
      co.push_back(&b.ref);
    Status cpuStatus = cpuKernels().at(kernel)(ci, co, attrs.get());

    std::vector<TensorRef> din(in.size()), dout(out.size());
    std::vector<void *> allocations;
    auto upload = [&](const Buf &b, TensorRef &d) {
      d = b.ref;
      void *p = nullptr;
      cudaMalloc(&p, std::max<int64_t>(8, b.ref.bytes));
      cudaMemcpy(p, b.ref.data, b.ref.bytes, cudaMemcpyHostToDevice);
      d.data = static_cast<uint8_t *>(p);
      allocations.push_back(p);
    };
    cuda::Tensors gi, go;
    for (size_t i = 0; i < in.size(); ++i) {
      upload(in[i], din[i]);
      gi.push_back(&din[i]);
    }
    for (size_t i = 0; i < out.size(); ++i) {
      upload(out[i], dout[i]);
      go.push_back(&dout[i]);
    }
    *error = cuda::DeviceError();
    cuda::Ctx c;
    c.stream = stream;
    c.error = errorOnDevice;
    Attrs a = attrs.get();
    Status gpuStatus = cuda::registry().at(kernel)(gi, go, a, c);
    if (gpuStatus.isOk())
      gpuStatus = cuda::cudaStatus(cudaStreamSynchronize(stream), kernel);
    if (gpuStatus.isOk() && error->code != 0)
      gpuStatus = invalidArgument("device fault " + std::to_string(error->code) +
                                  ": value " + std::to_string(error->value) +
                                  ", limit " + std::to_string(error->limit));
    for (size_t i = 0; i < out.size(); ++i)
      cudaMemcpy(gpuOut[i].ref.data, dout[i].data, out[i].ref.bytes,
                 cudaMemcpyDeviceToHost);
    for (void *p : allocations)
      cudaFree(p);
    return {cpuStatus, gpuStatus};
  }

  /// Runs and expects both to succeed with agreeing outputs.
  void agree(const char *kernel, std::vector<Buf> in, std::vector<Buf> out,
             const AttrList &attrs, double tolerance = 1e-5) {
    auto [c, g] = run(kernel, std::move(in), std::move(out), attrs);
    ASSERT_TRUE(c.isOk()) << kernel << " on the CPU: " << c.message();
    ASSERT_TRUE(g.isOk()) << kernel << " on the GPU: " << g.message();
    for (size_t i = 0; i < cpuOut.size(); ++i) {
      const TensorRef &want = cpuOut[i].ref, &got = gpuOut[i].ref;
      if (want.desc.dtype != DType::F32) {
        EXPECT_EQ(0, std::memcmp(want.data, got.data, want.bytes))
            << kernel << " output " << i;
        continue;
      }
      double scale = 1e-30, worst = 0;
      for (int64_t e = 0; e < want.numel; ++e)
        scale = std::max(scale, (double)std::fabs(want.as<float>()[e]));
      for (int64_t e = 0; e < want.numel; ++e) {
        float w = want.as<float>()[e], v = got.as<float>()[e];
        if (std::isinf(w) && w == v)
          continue;
        worst = std::max(worst, std::fabs((double)v - w) / scale);
      }
      EXPECT_LE(worst, tolerance) << kernel << " output " << i;
    }
  }

  std::vector<Buf> cpuOut, gpuOut;

private:
  cudaStream_t stream = nullptr;
  cuda::DeviceError *error = nullptr, *errorOnDevice = nullptr;
};

#define NEED_GPU()                                                             \
  if (!haveGpu())                                                              \
  GTEST_SKIP() << "no CUDA device"

TEST(CudaNewOps, AttentionAndItsGradient) {
  NEED_GPU();
  Both b;
  std::vector<uint8_t> mask(3 * 130, 1);
  for (int j = 0; j < 130; ++j)
    mask[j] = 0; // query 0 sees no key
  mask[130 + 7] = 0;
  // 130 keys: two chunks of the kernels' 128.
  Buf q = f32(randoms(48, 1), {1, 4, 3, 4}),
      k = f32(randoms(2 * 130 * 4, 2), {1, 2, 130, 4}),
      v = f32(randoms(2 * 130 * 3, 3), {1, 2, 130, 3}),
      m = boolean(mask, {3, 130});
  AttrList a({{"scale", 0.4}, {"is_causal", int64_t(1)}});
  b.agree("attention", {q, k, v, m}, {zeros({1, 4, 3, 3}), zeros({1, 4, 3})},
          a);
  Buf y = b.cpuOut[0], lse = b.cpuOut[1];
  Buf dy = f32(randoms(36, 4), {1, 4, 3, 3});
  b.agree("attention_grad", {q, k, v, y, lse, dy, m},
          {zeros({1, 4, 3, 4}), zeros({1, 2, 130, 4}), zeros({1, 2, 130, 3})},
          a);

  Buf fm = f32(randoms(2 * 3 * 130, 5), {2, 1, 3, 130});
  Buf q2 = f32(randoms(2 * 2 * 3 * 4, 6), {2, 2, 3, 4}),
      k2 = f32(randoms(2 * 2 * 130 * 4, 7), {2, 2, 130, 4});
  AttrList a2({{"scale", 0.5}});
  b.agree("attention", {q2, k2, k2, fm}, {zeros({2, 2, 3, 4}), zeros({2, 2, 3})},
          a2);
  Buf y2 = b.cpuOut[0], lse2 = b.cpuOut[1];
  Buf dy2 = f32(randoms(48, 8), {2, 2, 3, 4});
  b.agree("attention_grad", {q2, k2, k2, y2, lse2, dy2, fm},
          {zeros({2, 2, 3, 4}), zeros({2, 2, 130, 4}), zeros({2, 2, 130, 4})},
          a2);
}

TEST(CudaNewOps, RmsNormAndRotary) {
  NEED_GPU();
  Both b;
  Buf x = f32(randoms(2 * 3 * 300, 9), {2, 3, 300}),
      s = f32(randoms(300, 10), {300});
  AttrList a({{"axis", int64_t(2)}, {"epsilon", 1e-5}});
  b.agree("rms_norm", {x, s}, {zeros({2, 3, 300}), zeros({2, 3, 1})}, a);
  Buf inv = b.cpuOut[1], dy = f32(randoms(1800, 11), {2, 3, 300});
  b.agree("rms_norm_grad", {x, s, inv, dy}, {zeros({2, 3, 300})}, a);

  Buf r4 = f32(randoms(36, 12), {1, 2, 3, 6}), c = f32(randoms(10, 13), {5, 2}),
      sn = f32(randoms(10, 14), {5, 2}), pos = i64({4, 0, 2}, {1, 3});
  AttrList partial({{"rotary_dim", int64_t(4)}});
  b.agree("rotary_embedding", {r4, c, sn, pos}, {zeros({1, 2, 3, 6})}, partial);
  Buf r3 = f32(randoms(48, 15), {2, 3, 8}), c3 = f32(randoms(12, 16), {2, 3, 2}),
      s3 = f32(randoms(12, 17), {2, 3, 2}), g3 = f32(randoms(48, 18), {2, 3, 8});
  AttrList inter({{"num_heads", int64_t(2)}, {"interleaved", int64_t(1)}});
  b.agree("rotary_embedding", {r3, c3, s3}, {zeros({2, 3, 8})}, inter);
  b.agree("rotary_embedding_cache_grad", {r3, g3},
          {zeros({2, 3, 2}), zeros({2, 3, 2})}, inter);
  auto [cs, gs] = b.run("rotary_embedding", {r4, c, sn, i64({4, 5, 0}, {1, 3})},
                        {zeros({1, 2, 3, 6})}, partial);
  EXPECT_FALSE(cs.isOk());
  EXPECT_FALSE(gs.isOk()) << "a position outside the cache";
}

TEST(CudaNewOps, IndexingKernels) {
  NEED_GPU();
  Both b;
  Buf data = f32(randoms(24, 19), {2, 3, 4});
  Buf idx = i64({0, 2, -1, 0, 1, 1, 2, 0, 0, 1}, {2, 5, 1});
  AttrList batch({{"batch_dims", int64_t(1)}});
  b.agree("gather_nd", {data, idx}, {zeros({2, 5, 4})}, batch);
  Buf upd = f32(randoms(40, 20), {2, 5, 4});
  for (const char *r : {"none", "add", "mul", "max", "min"}) {
    AttrList a({{"batch_dims", int64_t(1)}, {"reduction", std::string(r)}});
    if (std::string(r) == "none") // repeated tuples are undefined without one
      b.agree("scatter_nd", {data, i64({2, 0, 1, 1, 2, 0}, {2, 3, 1}),
                             f32(randoms(24, 23), {2, 3, 4})},
              {zeros({2, 3, 4})}, a);
    else
      b.agree("scatter_nd", {data, idx, upd}, {zeros({2, 3, 4})}, a);
  }
  auto [cs, gs] = b.run("gather_nd", {data, i64({3, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                                                {2, 5, 1})},
                        {zeros({2, 5, 4})}, batch);
  EXPECT_FALSE(cs.isOk());
  EXPECT_FALSE(gs.isOk()) << "an index out of range";

  for (int64_t axis : {0, 1, 2}) {
    AttrList a({{"axis", axis}, {"exclusive", int64_t(axis == 1)},
                {"reverse", int64_t(axis != 0)}});
    b.agree("cumsum", {data}, {zeros({2, 3, 4})}, a);
  }
  AttrList none({});
  b.agree("range", {f32({0.5f}, {}), f32({7.0f}, {}), f32({1.5f}, {})},
          {zeros({5})}, none);
  auto [cr, gr] = b.run("range", {f32({0.5f}, {}), f32({9.0f}, {}),
                                  f32({1.5f}, {})},
                        {zeros({5})}, none);
  EXPECT_FALSE(cr.isOk());
  EXPECT_FALSE(gr.isOk()) << "another length than compiled";
}

// gather_elements copies; its gradient adds a place's terms in index order
// on both backends: the same bits (tolerance 0).
TEST(CudaNewOps, GatherElementsAndItsGradient) {
  NEED_GPU();
  Both b;
  Buf data = f32(randoms(24, 31), {2, 3, 4});
  Buf idx = i64({0, 2, -1, 0, 1, 1, 2, 0, 0, 1, 2, 2, -3, 1, 0, 0}, {2, 2, 4});
  for (int64_t axis : {1}) {
    AttrList a({{"axis", axis}});
    b.agree("gather_elements", {data, idx}, {zeros({2, 2, 4})}, a, 0.0);
    b.agree("gather_elements_grad", {idx, f32(randoms(16, 32), {2, 2, 4})},
            {zeros({2, 3, 4})}, a, 0.0);
  }
  Buf idx2 = i64({1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1}, {1, 3, 4});
  AttrList a0({{"axis", int64_t(0)}});
  b.agree("gather_elements", {data, idx2}, {zeros({1, 3, 4})}, a0, 0.0);
  b.agree("gather_elements_grad", {idx2, f32(randoms(12, 33), {1, 3, 4})},
          {zeros({2, 3, 4})}, a0, 0.0);
  auto [c, g] = b.run("gather_elements", {data, i64({0, 3}, {1, 1, 2})},
                      {zeros({1, 1, 2})}, AttrList({{"axis", int64_t(1)}}));
  EXPECT_FALSE(c.isOk());
  EXPECT_FALSE(g.isOk()) << "an index out of range";
}

TEST(CudaNewOps, ElementwiseKernels) {
  NEED_GPU();
  Both b;
  Buf x = f32(randoms(64, 21), {64});
  AttrList hs({{"alpha", 0.3}, {"beta", 0.45}});
  b.agree("hard_sigmoid", {x}, {zeros({64})}, hs);
  b.agree("hard_swish", {x}, {zeros({64})}, hs);
  Buf g = f32(randoms(64, 22), {64});
  b.agree("hard_sigmoid_grad", {x, g}, {zeros({64})}, hs);
  b.agree("hard_swish_grad", {x, g}, {zeros({64})}, hs);
  Buf ia = i64({-7, 7, -7, 7, 9}, {5}), ib = i64({3, -3, 0, 3, -1}, {5});
  for (int64_t fmod : {0, 1}) {
    AttrList a({{"fmod", fmod}});
    b.agree("mod", {ia, ib}, {Buf::make(DType::I64, {5})}, a);
    b.agree("mod", {x, f32({0.7f}, {1})}, {zeros({64})}, a);
  }
}

} // namespace
