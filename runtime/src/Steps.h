//===- Steps.h - a stage program's instructions, resolved -------*- C++ -*-===//
//
// What every backend does when it prepares a program: look each
// instruction's kernel up in its registry, point its operands and results
// at the backend's view of the buffers, and name an instruction in errors
// and profiles the same way.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_STEPS_H
#define PPRT_STEPS_H

#include "Attrs.h"
#include "pprt/Backend.h"

#include "pprt/stage_generated.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace pprt {

/// The instruction's ONNX node, or `otherwise` when it has none.
inline std::string nodeName(const fb::Instr *instr,
                            const std::string &otherwise = "") {
  return instr->node() ? instr->node()->str() : otherwise;
}

/// "stage K: node 'N' (kernel)": the context of an instruction's errors.
inline std::string instrContext(int stage, const fb::Instr *instr) {
  return "stage " + std::to_string(stage) + ": node '" + nodeName(instr, "?") +
         "' (" + instr->kernel()->str() + ")";
}

/// One instruction, resolved against a backend's kernels.
template <typename Kernel> struct Step {
  const Kernel *kernel;
  std::vector<TensorRef *> in, out;
  Attrs attrs;
  const fb::Instr *instr;
};

/// Resolves every instruction of `program`: its kernel from `registry`, its
/// tensors in `buffers` (the backend's view of the program's buffers), its
/// attributes reading `evaluation`. An instruction whose kernel the
/// registry lacks fails as "stage K: node 'N': kernel 'k' <lacking>".
template <typename Kernel>
StatusOr<std::vector<Step<Kernel>>>
resolveSteps(StageProgram &program,
             const std::map<std::string, Kernel> &registry,
             std::vector<TensorRef> &buffers, const bool *evaluation,
             const std::string &lacking) {
  std::vector<Step<Kernel>> steps;
  if (!program.program().instrs())
    return steps;
  for (const fb::Instr *instr : *program.program().instrs()) {
    auto it = registry.find(instr->kernel()->str());
    if (it == registry.end())
      return invalidArgument("stage " + std::to_string(program.stage()) +
                             ": node '" + nodeName(instr, "?") +
                             "': kernel '" + instr->kernel()->str() + "' " +
                             lacking);
    Step<Kernel> step{&it->second, {}, {}, Attrs(instr), instr};
    step.attrs.setEvaluationFlag(evaluation);
    if (instr->operands())
      for (int i : *instr->operands())
        step.in.push_back(&buffers[i]);
    if (instr->results())
      for (int i : *instr->results())
        step.out.push_back(&buffers[i]);
    // An instruction whose results are all empty (a zero-size dimension)
    // has nothing to write: it does not run, whatever its kernel.
    if (!step.out.empty() &&
        std::all_of(step.out.begin(), step.out.end(),
                    [](const TensorRef *t) { return t->numel == 0; }))
      continue;
    steps.push_back(std::move(step));
  }
  return steps;
}

/// Empty per-instruction times, named, for PreparedStage::profile.
template <typename Kernel>
std::vector<PreparedStage::OpTime>
namedTimes(const std::vector<Step<Kernel>> &steps) {
  std::vector<PreparedStage::OpTime> times(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    times[i].node = nodeName(steps[i].instr);
    times[i].kernel = steps[i].instr->kernel()->str();
  }
  return times;
}

} // namespace pprt

#endif // PPRT_STEPS_H
