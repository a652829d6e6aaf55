//===- CpuBackend.cpp - the reference backend -----------------------------===//

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
    return r;
  }();
  return r;
}

class CpuStage : public PreparedStage {
public:
  using PreparedStage::PreparedStage;
  struct Step {
    const Kernel *kernel;
    Tensors in, out;
    Attrs attrs;
    const fb::Instr *instr;
  };
  int stage = 0, threads = 0;
  std::vector<Step> steps;
  std::vector<OpTime> times;

  Status run() override {
    // OpenMP's team size is per calling thread, that is per rank.
    if (threads > 0)
      omp_set_num_threads(threads);
    if (profiling && times.size() != steps.size()) {
      times.resize(steps.size());
      for (size_t i = 0; i < steps.size(); ++i) {
        times[i].node = steps[i].instr->node() ? steps[i].instr->node()->str() : "";
        times[i].kernel = steps[i].instr->kernel()->str();
      }
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      Step &s = steps[i];
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
        return st.withContext(
            "stage " + std::to_string(stage) + ": node '" +
            (s.instr->node() ? s.instr->node()->str() : std::string("?")) +
            "' (" + s.instr->kernel()->str() + ")");
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
    auto &buffers = program.buffers();
    if (program.program().instrs())
      for (const fb::Instr *instr : *program.program().instrs()) {
        auto it = registry().find(instr->kernel()->str());
        if (it == registry().end())
          return invalidArgument(
              "stage " + std::to_string(program.stage()) + ": node '" +
              (instr->node() ? instr->node()->str() : std::string("?")) +
              "': kernel '" + instr->kernel()->str() +
              "' is not implemented on the CPU backend");
        CpuStage::Step step{&it->second, {}, {}, Attrs(instr), instr};
        step.attrs.setEvaluationFlag(stage->evaluationFlag());
        if (instr->operands())
          for (int i : *instr->operands())
            step.in.push_back(&buffers[i]);
        if (instr->results())
          for (int i : *instr->results())
            step.out.push_back(&buffers[i]);
        stage->steps.push_back(std::move(step));
      }
    return std::unique_ptr<PreparedStage>(std::move(stage));
  }
};
} // namespace
} // namespace cpu

std::unique_ptr<Backend> createCpuBackend(int threads) {
  return std::make_unique<cpu::CpuBackend>(threads);
}

} // namespace pprt
