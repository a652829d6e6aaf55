//===- CpuBackend.cpp - the reference backend -----------------------------===//

#include "../Steps.h"
#include "Kernels.h"
#include "pprt/Backend.h"

#include "pprt/stage_generated.h"

#ifdef PPRT_HAVE_BLAS
#include <cblas.h>
#endif
#include <chrono>
#include <omp.h>
#include <cstring>

namespace pprt {

namespace cpu {

namespace {
const Registry &registry() {
  static const Registry r = [] {
    Registry r;
    registerElementwise(r);
    registerLinalg(r);
    registerNn(r);
    registerShape(r);
    registerBackward(r);
    registerIndexing(r);
    registerAttention(r);
    return r;
  }();
  return r;
}

class CpuStage : public PreparedStage {
public:
  using PreparedStage::PreparedStage;
  int stage = 0, threads = 0;
  std::vector<Step<Kernel>> steps;
  std::vector<OpTime> times;

  Status run() override {
    // OpenMP's team size is per calling thread, that is per rank.
    if (threads > 0)
      omp_set_num_threads(threads);
    if (profiling && times.size() != steps.size())
      times = namedTimes(steps);
    for (size_t i = 0; i < steps.size(); ++i) {
      Step<Kernel> &s = steps[i];
      auto start = profiling ? std::chrono::steady_clock::now()
                             : std::chrono::steady_clock::time_point();
      Status st = (*s.kernel)(s.in, s.out, s.attrs);
      if (profiling) {
        times[i].seconds += std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - start)
                                .count();
        ++times[i].runs;
      }
      if (!st.isOk())
        return st.withContext(instrContext(stage, s.instr));
    }
    return Status::ok();
  }

  std::vector<OpTime> profile() const override { return times; }
  const bool *evaluationFlag() const { return &evaluation; }
};

class CpuBackend : public Backend {
public:
  explicit CpuBackend(int threads) : threads(threads) {
    // BLAS runs single-threaded calls; the kernels spread them over the
    // rank's OpenMP threads (Linalg.cpp).
#ifdef PPRT_HAVE_BLAS
    openblas_set_num_threads(1);
#endif
  }
  int threads;
  const char *name() const override { return "cpu"; }

  StatusOr<std::unique_ptr<PreparedStage>>
  prepare(StageProgram &program) override {
    auto stage = std::make_unique<CpuStage>(program);
    stage->stage = program.stage();
    stage->threads = threads;
    auto steps = resolveSteps(program, registry(), program.buffers(),
                              stage->evaluationFlag(),
                              "is not implemented on the CPU backend");
    if (!steps)
      return steps.status();
    stage->steps = std::move(*steps);
    return std::unique_ptr<PreparedStage>(std::move(stage));
  }
};
} // namespace
} // namespace cpu

std::unique_ptr<Backend> createCpuBackend(int threads) {
  return std::make_unique<cpu::CpuBackend>(threads);
}

} // namespace pprt
