//===- Backend.h - where a stage program's instructions run -----*- C++ -*-===//
//
// One instruction set, one implementation per backend (cpu, cuda). A
// backend prepares a loaded program once (kernels looked up, operands
// resolved) and then runs it for every micro-batch; the executor moves
// data in and out only through the prepared stage.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_BACKEND_H
#define PPRT_BACKEND_H

#include "pprt/Program.h"

#include <memory>
#include <string>
#include <vector>

namespace pprt {

/// A value one program keeps for a later one of the same stage (what the
/// forward keeps for the backward), wherever the backend keeps it.
class Kept {
public:
  virtual ~Kept();
  int64_t bytes = 0;
};

class PreparedStage {
public:
  explicit PreparedStage(StageProgram &program) : program(program) {}
  virtual ~PreparedStage();
  /// Buffer `id`'s size in bytes.
  int64_t bufferBytes(int id) const { return program.buffers().at(id).bytes; }
  /// Runs every instruction once; the error names the stage, the ONNX node
  /// and the kernel.
  virtual Status run() = 0;

  /// Per-instruction timing, for `pprun --profile` (a cost table for
  /// `ppc -cost-table`).
  struct OpTime {
    std::string node, kernel;
    double seconds = 0;
    int64_t runs = 0;
    /// A forward program's instruction (a backward one carries the name
    /// of the node it differentiates).
    bool forward = true;
  };
  void enableProfile(bool on) { profiling = on; }
  /// Evaluation: kernels with a training and an evaluation form
  /// (batch_norm_train) take the evaluation one (the running statistics).
  void setEvaluation(bool on) { evaluation = on; }
  virtual std::vector<OpTime> profile() const = 0;

  /// Moves buffer `buffer`'s bytes (all of them) between the host and
  /// wherever this backend keeps the buffer: the executor's only way in and
  /// out (inputs, messages, stashes, gradients, outputs). The CPU backend
  /// keeps them in the program's host arena, so these are memcpys; the CUDA
  /// backend keeps them in device memory.
  virtual Status write(int buffer, const void *src);
  virtual Status read(int buffer, void *dst);
  /// Keeps a copy of buffer `buffer` for a later program of the stage, and
  /// writes one back. The default keeps it in host memory (read, write); a
  /// GPU backend keeps it on the device.
  virtual StatusOr<std::unique_ptr<Kept>> keep(int buffer);
  virtual Status restore(int buffer, const Kept &kept);
  /// The stage's parameters were written on the host (an optimizer step, a
  /// checkpoint loaded): whatever this backend derived from them, or keeps
  /// a copy of, is stale.
  virtual void parametersChanged();
  /// One parameter's host bytes (at `host`) were written outside an
  /// optimizer step: a state update (batch normalisation's running
  /// statistics) after a training forward. A backend keeping its own copy
  /// refreshes it before the next micro-batch reads it.
  virtual Status parameterWritten(const void *host) {
    (void)host;
    return Status::ok();
  }

protected:
  StageProgram &program;
  bool profiling = false;
  bool evaluation = false;
};

class Backend {
public:
  virtual ~Backend();
  virtual const char *name() const = 0;
  /// Whether the programs it prepares keep their arena in host memory
  /// (StageProgram::load's `hostArena`); a GPU backend keeps it on the
  /// device only.
  virtual bool hostArena() const { return true; }
  virtual StatusOr<std::unique_ptr<PreparedStage>>
  prepare(StageProgram &program) = 0;
  /// Host memory that programs will read and write many times (a batch's
  /// inputs and outputs, reused over iterations): a GPU backend page-locks
  /// it, so that its copies run at the bus's speed rather than through a
  /// staging buffer; where it cannot, the memory stays as it is (slower
  /// copies, the same bytes). The caller unpins it before freeing it.
  virtual void pinHost(void *data, size_t bytes) {
    (void)data;
    (void)bytes;
  }
  virtual void unpinHost(void *data) { (void)data; }
  /// Bytes copied between host and device memory so far, both ways (0 for
  /// a backend that computes in host memory): what a training step should
  /// keep to its batch's inputs and its loss. `pprun --profile` prints it
  /// per step.
  virtual int64_t hostDeviceBytes() const { return 0; }
};

/// The reference backend: BLAS for GEMM and convolution, plain loops
/// elsewhere; bitwise deterministic run to run and whatever the thread
/// count. `threads`: the OpenMP team each rank runs its kernels on.
std::unique_ptr<Backend> createCpuBackend(int threads);

/// The CUDA backend (built when the CUDA toolkit is found: PPRT_HAVE_CUDA):
/// cuBLASLt products and own kernels on GPU `device` modulo the GPUs present
/// (more local ranks than GPUs share them round-robin), one stream per
/// prepared stage. fp32 products stay fp32 unless `tf32`. One backend
/// serves one rank. Fails with one clear line when there is no usable GPU.
struct CudaOptions {
  int device = 0;
  bool tf32 = false;
};
StatusOr<std::unique_ptr<Backend>> createCudaBackend(const CudaOptions &o);

} // namespace pprt

#endif // PPRT_BACKEND_H
