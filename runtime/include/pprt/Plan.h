//===- Plan.h - pipeline.json: stages, ranks, schedule ----------*- C++ -*-===//

#ifndef PPRT_PLAN_H
#define PPRT_PLAN_H

#include "pprt/Status.h"
#include "pprt/Tensor.h"
#include "pprt/Vocabulary.h"

#include <string>
#include <vector>

namespace pprt {

/// The action kinds are Vocabulary.h's, shared with the compiler.
using ActionOp = ActionKind;

struct Action {
  ActionOp op;
  int stage, mb, peer;
};

struct Plan {
  struct Io {
    std::string name;
    TensorDesc desc; // of one micro-batch
    /// The axis micro-batches are stacked on in the whole batch (the
    /// model's batch axis: 1 for sequence-first models); -1: none, the
    /// same tensor for every micro-batch.
    int batchAxis = 0;
  };
  struct Stage {
    int stage, rank;
    std::string program, weights; // paths
    /// Training: the B and W programs (stage<k>.bwd_b.ppx, .bwd_w.ppx).
    std::string programB, programW;
    std::vector<Io> inputs, outputs;
  };
  /// What `ppc -train` compiled in: the optimizer every stage runs after
  /// its backward, and each trained parameter's holders and uses.
  struct Optimizer {
    std::string kind = "sgd"; // sgd | adamw
    double lr = 0.01, momentum = 0, weightDecay = 0, gradClip = 0;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    /// Dynamic loss scaling (ppc -loss-scale, fp16 training): the initial
    /// scale (0: off) and torch.amp.GradScaler's growth and backoff
    /// factors and growth interval.
    double lossScale = 0, lossScaleGrowth = 2, lossScaleBackoff = 0.5;
    int64_t lossScaleGrowthInterval = 2000;
  };
  struct Param {
    std::string name;
    TensorDesc desc;
    std::vector<int> stages; // that hold it and apply its update
    std::vector<int> uses;   // the stage computing each use's gradient
  };
  bool training = false;
  /// -zero=1: each stage's optimizer state is sharded over its replicas.
  int zero = 0;
  Optimizer optimizer;
  std::vector<Param> params;
  std::string dir, schedule;
  /// `ranks` pipeline ranks (the schedule's), replicated `replicas` times
  /// (ppc -data-parallel): world rank = pipeline rank x replicas + replica,
  /// so the replicas of a pipeline rank are neighbours. `microbatches` per
  /// replica; `batch` is the global batch (replicas x microbatches x
  /// microbatchSize).
  int ranks = 1, replicas = 1, microbatches = 1;
  int64_t batch = 0, microbatchSize = 0;
  int worldRanks() const { return ranks * replicas; }
  /// Micro-batches in a whole batch, over every replica.
  int batchMicrobatches() const { return microbatches * replicas; }
  std::vector<Stage> stages;
  std::vector<Io> inputs; // every model input, used by a stage or not
  std::vector<std::vector<Action>> actions; // per rank

  /// Reads DIR/pipeline.json (parse) and checks it against the stage
  /// programs it names (verifyPlan, Verify.h) before anything runs.
  static StatusOr<Plan> load(const std::string &dir);
  /// The plan in `text` (the contents of `path`, in folder `dir`), checked
  /// on its own: types, index ranges, caps, and the path rule for every
  /// program and weights entry (Paths.h). Never throws.
  static StatusOr<Plan> parse(const std::string &text, const std::string &dir,
                              const std::string &path);
  /// The model's inputs and outputs over all stages (a name may feed
  /// several stages).
  std::vector<Io> modelInputs() const;
  std::vector<Io> modelOutputs() const;
};

inline const char *actionName(ActionOp op) { return actionKindName(op); }

/// Caps on what a plan may ask for, so that a hostile pipeline.json cannot
/// make pprun allocate ranks^2 queues or stages x micro-batches tables.
constexpr int kMaxRanks = 1024;
constexpr int kMaxStages = 4096;
constexpr int kMaxMicrobatches = 1 << 16;
constexpr int64_t kMaxScheduleCells = 1 << 22; // stages x micro-batches

} // namespace pprt

#endif // PPRT_PLAN_H
