//===- Plan.cpp - reading pipeline.json -----------------------------------===//

#include "pprt/Plan.h"

#include "Json.h"
#include "Verify.h"
#include "pprt/Paths.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <fstream>
#include <limits>
#include <sstream>

namespace pprt {

namespace {
/// A tensor entry {"dtype", "shape"} of pipeline.json; errors go to `r`.
TensorDesc descOf(JsonReader &r, const nlohmann::json &t,
                  const std::string &where) {
  std::string dtype = r.string(t, "dtype", "", where, /*required=*/true);
  std::vector<int64_t> shape =
      r.integers(t, "shape", 0, INT64_MAX, where, /*required=*/true);
  // pipeline.json spells MLIR element types.
  std::optional<DType> known = parseMlirDType(dtype);
  TensorDesc desc{known ? *known : DType::F32, shape};
  if (!known && r.ok())
    r.fail(where + ": unsupported element type '" + dtype + "'");
  if (r.ok() && !desc.byteSize())
    r.fail(where + ": " + desc.byteSize().status().message());
  return desc;
}

std::vector<Plan::Io> iosOf(JsonReader &r, const nlohmann::json &o,
                            const char *key, const std::string &where) {
  std::vector<Plan::Io> out;
  const auto &list = r.array(o, key, where);
  for (size_t i = 0; i < list.size() && r.ok(); ++i) {
    std::string at = where + " " + key + "[" + std::to_string(i) + "]";
    std::string name = r.string(list[i], "name", "", at, /*required=*/true);
    TensorDesc desc = descOf(r, list[i], at);
    int64_t axis = r.integer(list[i], "batch_axis", 0, -1,
                             std::max<int64_t>(0, (int64_t)desc.shape.size() - 1),
                             at);
    out.push_back({name, desc, (int)axis});
  }
  return out;
}
} // namespace

StatusOr<Plan> Plan::load(const std::string &dir) {
  std::string path = dir + "/pipeline.json";
  std::ifstream in(path);
  if (!in)
    return notFound(path + ": no such file (is " + dir +
                    " a directory written by ppc -stages?)");
  std::stringstream text;
  text << in.rdbuf();
  auto plan = parse(text.str(), dir, path);
  if (!plan)
    return plan.status();
  PPRT_RETURN_IF_ERROR(verifyPlan(*plan, path));
  return plan;
}

StatusOr<Plan> Plan::parse(const std::string &text, const std::string &dir,
                           const std::string &path) {
  nlohmann::json j =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return dataLoss(path + ": not valid JSON");
  JsonReader r(path);
  if (r.string(j, "format", "", "the plan") != "ppc-pipeline")
    return invalidArgument(path + ": not a ppc pipeline plan");
  int64_t version = r.integer(j, "version", 0, INT64_MIN, INT64_MAX, "the plan");
  PPRT_RETURN_IF_ERROR(r.status());
  if (version != 1)
    return invalidArgument(path + ": plan version " + std::to_string(version) +
                           ", this pprun reads 1");
  Plan p;
  p.dir = dir;
  p.ranks = r.integer(j, "ranks", 1, 1, kMaxRanks, "the plan");
  p.replicas = r.integer(j, "data_parallel", 1, 1, kMaxRanks, "the plan");
  int64_t world = r.integer(j, "world_ranks", (int64_t)p.ranks * p.replicas,
                            1, INT64_MAX, "the plan");
  p.microbatches =
      r.integer(j, "microbatches", 1, 1, kMaxMicrobatches, "the plan");
  p.batch = r.integer(j, "batch", 0, 0, INT64_MAX, "the plan");
  p.microbatchSize = r.integer(j, "microbatch_size", 0, 0, INT64_MAX, "the plan");
  const auto &stages = r.array(j, "stages", "the plan", /*required=*/true);
  PPRT_RETURN_IF_ERROR(r.status());
  if ((int64_t)p.ranks * p.replicas > kMaxRanks ||
      world != (int64_t)p.ranks * p.replicas)
    return dataLoss(path + ": " + std::to_string(p.ranks) + " ranks x " +
                    std::to_string(p.replicas) + " replicas are " +
                    std::to_string((int64_t)p.ranks * p.replicas) +
                    " world ranks (the plan says " + std::to_string(world) +
                    ", at most " + std::to_string(kMaxRanks) + " allowed)");
  const auto *sched = r.member(j, "schedule", "the plan", /*required=*/true);
  PPRT_RETURN_IF_ERROR(r.status());
  if (stages.empty() || stages.size() > (size_t)kMaxStages)
    return dataLoss(path + ": the plan has " + std::to_string(stages.size()) +
                    " stages (1 to " + std::to_string(kMaxStages) + " allowed)");
  if ((int64_t)stages.size() * p.microbatches > kMaxScheduleCells)
    return dataLoss(path + ": " + std::to_string(stages.size()) +
                    " stages x " + std::to_string(p.microbatches) +
                    " micro-batches is more than this pprun schedules");
  // A program or weights entry must name a file inside the plan's folder.
  auto file = [&](const std::string &name, const std::string &what,
                  std::string &out) -> Status {
    auto resolved = resolveInside(dir, name, path + ": " + what);
    if (!resolved)
      return resolved.status();
    out = *resolved;
    return Status::ok();
  };
  int numStages = stages.size();
  for (int k = 0; k < numStages; ++k) {
    const auto &s = stages[k];
    std::string where = "stages[" + std::to_string(k) + "]";
    Stage st;
    st.stage = r.integer(s, "stage", 0, 0, numStages - 1, where, true);
    st.rank = r.integer(s, "rank", 0, 0, p.ranks - 1, where, true);
    std::string program = r.string(s, "program", "", where, true);
    std::string weights = r.string(s, "weights", "", where, true);
    std::string programB, programW;
    if (const auto *programs = r.member(s, "programs", where)) {
      programB = r.string(*programs, kPhaseBwdB, "", where + " programs");
      programW = r.string(*programs, kPhaseBwdW, "", where + " programs");
    }
    st.inputs = iosOf(r, s, "inputs", where);
    st.outputs = iosOf(r, s, "outputs", where);
    PPRT_RETURN_IF_ERROR(r.status());
    // The executor finds stage k at index k.
    if (st.stage != k)
      return dataLoss(path + ": " + where + " is stage " +
                      std::to_string(st.stage) +
                      ": stages must be listed in order 0.." +
                      std::to_string(numStages - 1));
    std::string what = "stage " + std::to_string(k);
    PPRT_RETURN_IF_ERROR(file(program, what + " program", st.program));
    PPRT_RETURN_IF_ERROR(file(weights, what + " weights", st.weights));
    if (!programB.empty())
      PPRT_RETURN_IF_ERROR(file(programB, what + " bwd_b program", st.programB));
    if (!programW.empty())
      PPRT_RETURN_IF_ERROR(file(programW, what + " bwd_w program", st.programW));
    p.stages.push_back(st);
  }
  std::vector<bool> used(p.ranks, false);
  for (const Stage &s : p.stages)
    used[s.rank] = true;
  for (int rank = 0; rank < p.ranks; ++rank)
    if (!used[rank])
      return dataLoss(path + ": rank " + std::to_string(rank) + " of " +
                      std::to_string(p.ranks) + " runs no stage");
  p.inputs = iosOf(r, j, "inputs", "the plan");
  if (const auto *t = r.member(j, "training", "the plan")) {
    p.training = true;
    p.zero = r.integer(*t, "zero", 0, 0, 1, "training");
    std::string where = "training optimizer";
    if (const auto *o = r.member(*t, "optimizer", "training")) {
      p.optimizer.kind = r.string(*o, "kind", "sgd", where);
      p.optimizer.lr = r.number(*o, "lr", 0.01, where);
      p.optimizer.momentum = r.number(*o, "momentum", 0.0, where);
      p.optimizer.weightDecay = r.number(*o, "weight_decay", 0.0, where);
      p.optimizer.gradClip = r.number(*o, "grad_clip", 0.0, where);
      p.optimizer.beta1 = r.number(*o, "beta1", 0.9, where);
      p.optimizer.beta2 = r.number(*o, "beta2", 0.999, where);
      p.optimizer.eps = r.number(*o, "eps", 1e-8, where);
      p.optimizer.lossScale = r.number(*o, "loss_scale", 0.0, where);
      p.optimizer.lossScaleGrowth =
          r.number(*o, "loss_scale_growth_factor", 2.0, where);
      p.optimizer.lossScaleBackoff =
          r.number(*o, "loss_scale_backoff_factor", 0.5, where);
      p.optimizer.lossScaleGrowthInterval =
          r.integer(*o, "loss_scale_growth_interval", 2000, 1,
                    std::numeric_limits<int32_t>::max(), where);
    }
    PPRT_RETURN_IF_ERROR(r.status());
    const Plan::Optimizer &opt = p.optimizer;
    if (!(opt.lossScale >= 0 && opt.lossScale <= 3.4e38) ||
        !(opt.lossScaleGrowth >= 1) ||
        !(opt.lossScaleBackoff > 0 && opt.lossScaleBackoff < 1))
      return invalidArgument(path + ": the loss scaling of the optimizer "
                             "needs a scale in [0, 3.4e38] (0: off), a "
                             "growth factor of 1 or more and a backoff "
                             "factor in (0, 1)");
    if (p.optimizer.kind != "sgd" && p.optimizer.kind != "adamw")
      return invalidArgument(path + ": unknown optimizer '" +
                             p.optimizer.kind + "'");
    const auto &params = r.array(*t, "parameters", "training");
    for (size_t i = 0; i < params.size() && r.ok(); ++i) {
      std::string at = "training parameters[" + std::to_string(i) + "]";
      Param q;
      q.name = r.string(params[i], "name", "", at, true);
      q.desc = descOf(r, params[i], at);
      for (int64_t s : r.integers(params[i], "stages", 0, numStages - 1, at))
        q.stages.push_back(s);
      for (int64_t s : r.integers(params[i], "uses", 0, numStages - 1, at))
        q.uses.push_back(s);
      if (r.ok() && q.stages.empty())
        r.fail(at + ": no stage holds '" + q.name + "'");
      p.params.push_back(q);
    }
  }
  PPRT_RETURN_IF_ERROR(r.status());
  p.schedule = r.string(*sched, "kind", "", "schedule");
  const auto &ranks = r.array(*sched, "ranks", "schedule", true);
  PPRT_RETURN_IF_ERROR(r.status());
  if (ranks.size() != (size_t)p.ranks)
    return dataLoss(path + ": the schedule lists " +
                    std::to_string(ranks.size()) + " ranks, the plan " +
                    std::to_string(p.ranks));
  for (size_t rank = 0; rank < ranks.size(); ++rank) {
    auto &list = p.actions.emplace_back();
    std::string where = "schedule ranks[" + std::to_string(rank) + "]";
    if (!ranks[rank].is_array())
      return dataLoss(path + ": " + where + " is not an array");
    for (size_t i = 0; i < ranks[rank].size(); ++i) {
      const auto &a = ranks[rank][i];
      std::string at = where + "[" + std::to_string(i) + "]";
      std::string op = r.string(a, "op", "", at, true);
      Action action{ActionOp::Fwd, 0, 0, -1};
      std::optional<ActionOp> kind = parseActionKind(op);
      if (r.ok() && !kind)
        return dataLoss(path + ": unknown action '" + op + "'");
      if (kind)
        action.op = *kind;
      bool transfer = isTransfer(action.op);
      action.stage = r.integer(a, "stage", 0, 0, numStages - 1, at, true);
      action.mb = r.integer(a, "mb", 0, 0, p.microbatches - 1, at, true);
      action.peer = transfer ? r.integer(a, "peer", 0, 0, numStages - 1, at, true)
                             : r.integer(a, "peer", -1, -1, -1, at);
      PPRT_RETURN_IF_ERROR(r.status());
      list.push_back(action);
    }
  }
  return p;
}

std::vector<Plan::Io> Plan::modelInputs() const {
  if (!inputs.empty())
    return inputs;
  std::vector<Io> out;
  for (const Stage &s : stages)
    for (const Io &io : s.inputs) {
      bool seen = false;
      for (const Io &o : out)
        seen |= o.name == io.name;
      if (!seen)
        out.push_back(io);
    }
  return out;
}

std::vector<Plan::Io> Plan::modelOutputs() const {
  std::vector<Io> out;
  for (const Stage &s : stages)
    for (const Io &io : s.outputs)
      out.push_back(io);
  return out;
}

} // namespace pprt
