//===- Attrs.h - an instruction's attributes, for every backend -*- C++ -*-===//

#ifndef PPRT_ATTRS_H
#define PPRT_ATTRS_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pprt {
namespace fb {
struct Instr;
}

/// An instruction's attributes by name, with the defaults the op defines.
class Attrs {
public:
  explicit Attrs(const fb::Instr *instr) : instr(instr) {}
  bool has(const char *name) const;
  int64_t i(const char *name, int64_t otherwise = 0) const;
  double f(const char *name, double otherwise = 0) const;
  std::vector<int64_t> ints(const char *name) const;
  std::vector<double> floats(const char *name) const;
  std::string s(const char *name, const std::string &otherwise = "") const;

  /// What a kernel keeps across runs of this one instruction (oneDNN's
  /// primitive and reordered weights); each rank has its own.
  std::shared_ptr<void> &state() const { return state_; }

  /// Whether the stage runs in evaluation (PreparedStage::setEvaluation).
  bool evaluation() const { return evaluation_ && *evaluation_; }
  void setEvaluationFlag(const bool *flag) { evaluation_ = flag; }

private:
  const fb::Instr *instr;
  const bool *evaluation_ = nullptr;
  mutable std::shared_ptr<void> state_;
};

} // namespace pprt

#endif // PPRT_ATTRS_H
