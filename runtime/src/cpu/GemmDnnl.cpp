//===- GemmDnnl.cpp - bf16/f16 GEMM with fp32 accumulation ----------------===//
//
// The products -pp-precision leaves in low precision: bf16 (or f16)
// factors, an f32 result. On oneDNN's matmul where the runtime is built
// with it (native AVX512_BF16 / AMX kernels where the CPU has them, an
// emulation on plain AVX-512 that oneDNN picks), else the factors widened
// to f32 (exact) and multiplied by the fp32 GEMM.
//
// Results do not depend on the thread count: C is cut into the same grid
// of tiles as the fp32 GEMM (Linalg.cpp), each tile one single-threaded
// call, whose primitive is created for one thread (so that oneDNN never
// splits the reduction over threads).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#ifdef PPRT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif
#include <omp.h>

#include <cstring>
#include <mutex>

namespace pprt {
namespace cpu {

#ifdef PPRT_HAVE_DNNL
namespace {
using dnnl::memory;

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// One tile's primitive, by the tile's geometry.
struct TilePrimitive {
  std::vector<int64_t> key;
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

struct GemmPrimitives {
  std::mutex lock; // tiles of one call build their primitives in parallel
  std::vector<std::shared_ptr<TilePrimitive>> tiles;
};

std::shared_ptr<TilePrimitive> tilePrimitive(GemmPrimitives &cache,
                                             std::vector<int64_t> key,
                                             memory::data_type type) {
  std::lock_guard<std::mutex> guard(cache.lock);
  for (auto &t : cache.tiles)
    if (t->key == key)
      return t;
  auto [ta, tb, m, n, k, lda, ldb, ldc, accumulate, alphaBits] =
      std::array<int64_t, 10>{key[0], key[1], key[2], key[3], key[4],
                              key[5], key[6], key[7], key[8], key[9]};
  memory::desc a({m, k}, type, ta ? memory::dims{1, lda} : memory::dims{lda, 1});
  memory::desc b({k, n}, type, tb ? memory::dims{1, ldb} : memory::dims{ldb, 1});
  memory::desc c({m, n}, memory::data_type::f32, memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  float alpha;
  uint32_t bits = uint32_t(alphaBits);
  std::memcpy(&alpha, &bits, 4);
  if (alpha != 1.0f)
    attr.set_output_scales(0, {alpha});
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  auto t = std::make_shared<TilePrimitive>();
  t->key = std::move(key);
  // Built for one thread: the tile runs on one, and a primitive built for
  // more could split the reduction, which rounds differently.
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  try {
    t->pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr,
                                         engine());
  } catch (...) {
    omp_set_num_threads(threads);
    throw;
  }
  omp_set_num_threads(threads);
  t->prim = dnnl::matmul(t->pd);
  cache.tiles.push_back(t);
  return t;
}
} // namespace
#endif

/// The factors widened to f32 (exact for bf16 and f16), then the fp32
/// GEMM: where oneDNN is not built in, and for f16, which oneDNN 2.x runs
/// only on CPUs with AVX512_FP16.
static Status gemmWidened(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                          float alpha, const uint16_t *a, int64_t lda,
                          const uint16_t *b, int64_t ldb, bool accumulate,
                          float *c, int64_t ldc, DType type) {
  auto widen = [&](const uint16_t *src, int64_t rowsOf, int64_t colsOf,
                   int64_t ld, std::vector<float> &dst) {
    dst.resize(rowsOf * ld);
    for (int64_t i = 0; i < rowsOf; ++i)
      for (int64_t j = 0; j < colsOf; ++j) {
        uint16_t h = src[i * ld + j];
        dst[i * ld + j] = type == DType::BF16 ? bf16ToFloat(h) : halfToFloat(h);
      }
  };
  std::vector<float> wa, wb;
  widen(a, ta ? k : m, ta ? m : k, lda, wa);
  widen(b, tb ? n : k, tb ? k : n, ldb, wb);
  gemmF32(ta, tb, m, n, k, alpha, wa.data(), lda, wb.data(), ldb,
          accumulate ? 1.0f : 0.0f, c, ldc);
  return Status::ok();
}

Status gemmLow(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
               bool accumulate, float *c, int64_t ldc, DType type,
               std::shared_ptr<void> &state) {
#ifdef PPRT_HAVE_DNNL
  if (type == DType::F16)
    return gemmWidened(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate, c,
                       ldc, type);
  // The fp32 GEMM's tiles (Linalg.cpp): about 128 x 128, small products
  // one call.
  auto tile = [](int64_t extent) { return extent < 192 ? extent : int64_t(128); };
  int64_t tm = std::max<int64_t>(1, tile(m)), tn = std::max<int64_t>(1, tile(n));
  int64_t rows = std::max<int64_t>(1, m / tm), cols = std::max<int64_t>(1, n / tn);
  bool one = rows * cols == 1 || m * n * k < (1 << 18);
  if (one)
    rows = cols = 1, tm = m, tn = n;
  std::shared_ptr<GemmPrimitives> held;
  {
    // The entries of a batched matmul share one instruction's state.
    static std::mutex stateLock;
    std::lock_guard<std::mutex> guard(stateLock);
    if (!state)
      state = std::make_shared<GemmPrimitives>();
    held = std::static_pointer_cast<GemmPrimitives>(state);
  }
  GemmPrimitives &cache = *held;
  memory::data_type dt = type == DType::BF16 ? memory::data_type::bf16
                                             : memory::data_type::f16;
  uint32_t alphaBits;
  std::memcpy(&alphaBits, &alpha, 4);
  std::string error;
  std::mutex errorLock;
#pragma omp parallel for schedule(static) if (!one)
  for (int64_t t = 0; t < rows * cols; ++t) {
    int64_t r = t / cols, q = t % cols;
    int64_t i0 = r * tm, j0 = q * tn;
    int64_t mi = r == rows - 1 ? m - i0 : tm, nj = q == cols - 1 ? n - j0 : tn;
    try {
      auto p = tilePrimitive(cache,
                             {ta, tb, mi, nj, k, lda, ldb, ldc, accumulate,
                              int64_t(alphaBits)},
                             dt);
      thread_local std::vector<uint8_t> scratch;
      size_t need = p->pd.scratchpad_desc().get_size();
      if (scratch.size() < need)
        scratch.resize(need);
      const uint16_t *ai = ta ? a + i0 : a + i0 * lda;
      const uint16_t *bj = tb ? b + j0 * ldb : b + j0;
      dnnl::stream stream(engine());
      p->prim.execute(
          stream,
          {{DNNL_ARG_SRC, memory(p->pd.src_desc(), engine(), const_cast<uint16_t *>(ai))},
           {DNNL_ARG_WEIGHTS, memory(p->pd.weights_desc(), engine(), const_cast<uint16_t *>(bj))},
           {DNNL_ARG_DST, memory(p->pd.dst_desc(), engine(), c + i0 * ldc + j0)},
           {DNNL_ARG_SCRATCHPAD,
            memory(p->pd.scratchpad_desc(), engine(), scratch.data())}});
      stream.wait();
    } catch (const dnnl::error &e) {
      std::lock_guard<std::mutex> guard(errorLock);
      error = std::string("oneDNN ") + dtypeName(type) + " matmul: " + e.what();
    }
  }
  if (!error.empty())
    return internalError(error);
  return Status::ok();
#else
  (void)state;
  return gemmWidened(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate, c,
                     ldc, type);
#endif
}

} // namespace cpu
} // namespace pprt
