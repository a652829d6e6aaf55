//===- Plan.h - pipeline.json: stages, ranks, schedule ----------*- C++ -*-===//

#ifndef PPRT_PLAN_H
#define PPRT_PLAN_H

#include "pprt/Status.h"
#include "pprt/Tensor.h"

#include <string>
#include <vector>

namespace pprt {

enum class ActionOp { Fwd, Bwd, BwdB, BwdW, SendAct, RecvAct, SendGrad, RecvGrad };

struct Action {
  ActionOp op;
  int stage, mb, peer;
};

struct Plan {
  struct Io {
    std::string name;
    TensorDesc desc; // of one micro-batch
  };
  struct Stage {
    int stage, rank;
    std::string program, weights; // paths
    std::vector<Io> inputs, outputs;
  };
  std::string dir, schedule;
  int ranks = 1, microbatches = 1;
  int64_t batch = 0, microbatchSize = 0;
  std::vector<Stage> stages;
  std::vector<Io> inputs; // every model input, used by a stage or not
  std::vector<std::vector<Action>> actions; // per rank

  static StatusOr<Plan> load(const std::string &dir);
  /// The model's inputs and outputs over all stages (a name may feed
  /// several stages).
  std::vector<Io> modelInputs() const;
  std::vector<Io> modelOutputs() const;
};

const char *actionName(ActionOp op);

} // namespace pprt

#endif // PPRT_PLAN_H
