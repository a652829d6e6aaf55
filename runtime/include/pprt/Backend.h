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

/// A float vector of the training state (a gradient sum over micro-batches
/// or uses, an optimizer moment), kept where the backend computes: host
/// memory on the CPU, device memory on CUDA. The executor sums, norms and
/// updates through the backend's operations on these, so that a CUDA step
/// moves no parameter or gradient bytes to the host.
class StateVector {
public:
  explicit StateVector(int64_t n) : n(n) {}
  virtual ~StateVector();
  int64_t size() const { return n; }
  /// The elements in host memory, where the backend keeps them there (the
  /// CPU: collectives then read and write them in place); null otherwise.
  virtual float *host() { return nullptr; }
  const float *host() const { return const_cast<StateVector *>(this)->host(); }

private:
  int64_t n;
};

/// One parameter's update: elements [lo, lo + n) of the parameter whose
/// host copy is at `param` (the backend updates its own copy), from
/// gradient elements [gradAt, gradAt + n) of `grad`.
struct ParamUpdate {
  void *param = nullptr;
  int64_t lo = 0, n = 0;
  const StateVector *grad = nullptr;
  int64_t gradAt = 0;
  /// SGD's momentum or Adam's first moment, Adam's second (n elements
  /// each); null where the optimizer keeps none.
  StateVector *m = nullptr, *v = nullptr;
  /// SGD: the momentum buffer takes the first step's direction as it is.
  bool first = false;
};
/// The step's hyper-parameters, as torch.optim defines them.
struct OptimizerStep {
  bool adamw = false;
  float lr = 0, weightDecay = 0, momentum = 0;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  /// AdamW: 1 - lr wd, lr / (1 - beta1^t) and sqrt(1 - beta2^t) (each
  /// computed in double, then rounded).
  float decay = 1, stepSize = 0, biasCorrection2 = 1;
  /// Gradient clipping's scale (1: none).
  float coefficient = 1;
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
  /// A state update: buffer `buffer` (batch normalisation's new running
  /// statistics) becomes the value of the parameter whose host copy is at
  /// `host`, in the backend's copy (the host one, on the CPU; the device
  /// one on CUDA, where the host copy is then stale until
  /// Backend::parametersToHost).
  virtual Status updateParameter(int buffer, void *host);

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

  // The training state (StateVector). The defaults are the host's: plain
  // loops on the calling rank's OpenMP team, element by element, so the
  // results are bitwise the same whatever the thread count.
  /// A vector of n zeros.
  virtual StatusOr<std::unique_ptr<StateVector>> stateVector(int64_t n);
  /// into = buffer `buffer` of `stage` (`first`), else into += it.
  virtual Status accumulate(PreparedStage &stage, int buffer,
                            StateVector &into, bool first);
  /// into = from, or into += from (`add`), element by element.
  virtual Status combine(StateVector &into, const StateVector &from, bool add);
  /// Elements [at, at + n) of `v` to and from host memory (collectives
  /// over host staging, checkpoints).
  virtual Status toHost(const StateVector &v, int64_t at, int64_t n,
                        float *dst);
  virtual Status fromHost(StateVector &v, int64_t at, int64_t n,
                          const float *src);
  /// For each chunk c of `chunks`: the sum of squares, in double, of
  /// elements [c * chunk, min(size, (c + 1) * chunk)) of `g`, into out[i]
  /// (the global norm's parts).
  virtual Status chunkSquares(const StateVector &g, int64_t chunk,
                              const std::vector<int64_t> &chunks, double *out);
  /// Applies one optimizer step to every parameter in `updates`, on the
  /// backend's copies (one multi-tensor launch on CUDA).
  virtual Status optimizerStep(const OptimizerStep &o,
                               const std::vector<ParamUpdate> &updates);
  /// Copies every parameter the backend updated itself (optimizerStep,
  /// updateParameter) to its host copy: before the host reads parameters
  /// (checkpoints, collectives over host memory). The backend's copies stay
  /// the ones its programs read.
  virtual Status parametersToHost() { return Status::ok(); }
  /// The host copies of the parameters were written (a checkpoint loaded,
  /// a gather over host memory): the backend's own copies take them at
  /// their programs' next run (after StageProgram::parametersChanged).
  virtual void parametersFromHost() {}
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
