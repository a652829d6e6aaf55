//===- Backend.h - where a stage program's instructions run -----*- C++ -*-===//
//
// One instruction set, one implementation per backend (cpu now, cuda
// later). A backend prepares a loaded program once (kernels looked up,
// operands resolved) and then runs it for every micro-batch.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_BACKEND_H
#define PPRT_BACKEND_H

#include "pprt/Program.h"

#include <memory>
#include <string>
#include <vector>

namespace pprt {

class PreparedStage {
public:
  virtual ~PreparedStage();
  /// Runs every instruction once; the error names the stage, the ONNX node
  /// and the kernel.
  virtual Status run() = 0;

  /// Per-instruction timing, for `pprun --profile` (a cost table for
  /// `ppc -cost-table`).
  struct OpTime {
    std::string node, kernel;
    double seconds = 0;
    int64_t runs = 0;
  };
  void enableProfile(bool on) { profiling = on; }
  /// Evaluation: kernels with a training and an evaluation form
  /// (batch_norm_train) take the evaluation one (the running statistics).
  void setEvaluation(bool on) { evaluation = on; }
  virtual std::vector<OpTime> profile() const = 0;

protected:
  bool profiling = false;
  bool evaluation = false;
};

class Backend {
public:
  virtual ~Backend();
  virtual const char *name() const = 0;
  virtual StatusOr<std::unique_ptr<PreparedStage>>
  prepare(StageProgram &program) = 0;
};

/// The reference backend: BLAS for GEMM and convolution, plain loops
/// elsewhere; bitwise deterministic run to run and whatever the thread
/// count. `threads`: the OpenMP team each rank runs its kernels on.
std::unique_ptr<Backend> createCpuBackend(int threads);

} // namespace pprt

#endif // PPRT_BACKEND_H
