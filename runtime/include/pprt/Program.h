//===- Program.h - a loaded stage program -----------------------*- C++ -*-===//
//
// stage<k>.ppx is checked (magic, schema version, checksum, FlatBuffer
// verifier) before anything in it is trusted; its parameters come from
// stage<k>.safetensors by name.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_PROGRAM_H
#define PPRT_PROGRAM_H

#include "pprt/Files.h"
#include "pprt/Format.h"

#include <memory>
#include <string>
#include <vector>

namespace pprt {
namespace fb {
struct StageProgram;
struct Instr;
} // namespace fb

/// A tensor the kernels read or write: shape, type and where its bytes are.
struct TensorRef {
  TensorDesc desc;
  uint8_t *data = nullptr;
  int64_t numel = 0;
  int64_t bytes = 0;
  /// A parameter or a constant: its contents change only when whoever
  /// writes it in place (an optimizer step) bumps `version`, so kernels may
  /// cache data derived from it (oneDNN's reordered weights).
  bool constant = false;
  uint64_t version = 0;
  template <typename T> T *as() const { return reinterpret_cast<T *>(data); }
};

/// One stage: its instructions, and every buffer resolved to memory (arena
/// slots in an arena this object owns, parameters in the mapped weights,
/// constants in the program).
class StageProgram {
public:
  /// `weights`: the stage's parameters, shared by its programs (forward,
  /// B, W) so that an optimizer step updates what all of them read.
  /// Without `hostArena` the arena is not allocated here: arena buffers
  /// have no host memory (data is null) and the backend places them.
  static StatusOr<std::unique_ptr<StageProgram>>
  load(const std::string &ppxPath, std::shared_ptr<Weights> weights,
       bool hostArena = true);

  const fb::StageProgram &program() const { return *program_; }
  int stage() const;
  std::vector<TensorRef> &buffers() { return buffers_; }
  /// Model inputs and outputs of this stage: (name, buffer index).
  const std::vector<std::pair<std::string, int>> &inputs() const {
    return inputs_;
  }
  const std::vector<std::pair<std::string, int>> &outputs() const {
    return outputs_;
  }
  /// Messages: (peer stage, buffer indices).
  const std::vector<std::pair<int, std::vector<int>>> &recvs() const {
    return recvs_;
  }
  const std::vector<std::pair<int, std::vector<int>>> &sends() const {
    return sends_;
  }
  /// Training: "fwd", "bwd_b" or "bwd_w" (empty for inference); the values
  /// this program takes from, and keeps for, the stage's other programs
  /// (slot id, buffer); and the parameter gradients it computes.
  const std::string &phase() const { return phase_; }
  const std::vector<std::pair<int, int>> &stashInputs() const {
    return stashIn_;
  }
  const std::vector<std::pair<int, int>> &stashOutputs() const {
    return stashOut_;
  }
  struct Grad {
    std::string param;
    int use, buffer;
  };
  const std::vector<Grad> &grads() const { return grads_; }
  /// Training: (parameter, buffer) pairs written over the parameter after
  /// each training forward (batch normalisation's running statistics).
  const std::vector<std::pair<std::string, int>> &stateUpdates() const {
    return states_;
  }
  /// Tells kernels that cache data derived from parameters (oneDNN's
  /// reordered weights) that the parameters have changed.
  void parametersChanged();

private:
  std::shared_ptr<MappedFile> file_;
  std::shared_ptr<Weights> weights_;
  std::string phase_;
  std::vector<std::pair<int, int>> stashIn_, stashOut_;
  std::vector<Grad> grads_;
  std::vector<std::pair<std::string, int>> states_;
  std::vector<int> paramBuffers_;
  const fb::StageProgram *program_ = nullptr;
  std::vector<TensorRef> buffers_;
  std::vector<std::pair<std::string, int>> inputs_, outputs_;
  std::vector<std::pair<int, std::vector<int>>> recvs_, sends_;
  struct alignas(64) Line {
    uint8_t bytes[64];
  };
  std::vector<Line> arena_;
};

} // namespace pprt

#endif // PPRT_PROGRAM_H
