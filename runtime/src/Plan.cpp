//===- Plan.cpp - reading pipeline.json -----------------------------------===//

#include "pprt/Plan.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace pprt {

const char *actionName(ActionOp op) {
  static const char *names[] = {"fwd",      "bwd",      "bwd_b",     "bwd_w",
                                "send_act", "recv_act", "send_grad", "recv_grad"};
  return names[static_cast<int>(op)];
}

static StatusOr<TensorDesc> descOf(const nlohmann::json &t) {
  std::string dtype = t.value("dtype", "");
  // pipeline.json spells MLIR element types.
  static const std::pair<const char *, DType> types[] = {
      {"f32", DType::F32}, {"f64", DType::F64}, {"f16", DType::F16},
      {"bf16", DType::BF16}, {"i64", DType::I64}, {"i32", DType::I32},
      {"i16", DType::I16}, {"i8", DType::I8}, {"ui8", DType::U8},
      {"i1", DType::Bool}, {"ui16", DType::U16}, {"ui32", DType::U32},
      {"ui64", DType::U64}};
  for (auto &[name, d] : types)
    if (dtype == name)
      return TensorDesc{d, t.at("shape").get<std::vector<int64_t>>()};
  return invalidArgument("unsupported element type '" + dtype + "'");
}

StatusOr<Plan> Plan::load(const std::string &dir) {
  std::string path = dir + "/pipeline.json";
  std::ifstream in(path);
  if (!in)
    return notFound(path + ": no such file (is " + dir +
                    " a directory written by ppc -stages?)");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j =
      nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return dataLoss(path + ": not valid JSON");
  if (j.value("format", "") != "ppc-pipeline")
    return invalidArgument(path + ": not a ppc pipeline plan");
  if (j.value("version", 0) != 1)
    return invalidArgument(path + ": plan version " +
                           std::to_string(j.value("version", 0)) +
                           ", this pprun reads 1");
  Plan p;
  p.dir = dir;
  p.ranks = j.value("ranks", 1);
  p.microbatches = j.value("microbatches", 1);
  p.batch = j.value("batch", 0);
  p.microbatchSize = j.value("microbatch_size", 0);
  if (!j.contains("stages") || !j["stages"].is_array() ||
      !j.contains("schedule"))
    return dataLoss(path + ": missing stages or schedule");
  for (const auto &s : j["stages"]) {
    Stage st;
    st.stage = s.value("stage", 0);
    st.rank = s.value("rank", 0);
    st.program = dir + "/" + s.value("program", "");
    st.weights = dir + "/" + s.value("weights", "");
    if (s.contains("programs")) {
      const auto &programs = s["programs"];
      st.programB = dir + "/" + programs.value("bwd_b", "");
      st.programW = dir + "/" + programs.value("bwd_w", "");
    }
    for (auto [key, list] : {std::make_pair("inputs", &st.inputs),
                             std::make_pair("outputs", &st.outputs)}) {
      for (const auto &t : s.value(key, nlohmann::json::array())) {
        auto desc = descOf(t);
        if (!desc)
          return desc.status().withContext(path);
        list->push_back({t.value("name", ""), *desc});
      }
    }
    p.stages.push_back(st);
  }
  for (const auto &t : j.value("inputs", nlohmann::json::array())) {
    auto desc = descOf(t);
    if (!desc)
      return desc.status().withContext(path);
    p.inputs.push_back({t.value("name", ""), *desc});
  }
  if (j.contains("training")) {
    const auto &t = j["training"];
    p.training = true;
    const auto &o = t.value("optimizer", nlohmann::json::object());
    p.optimizer.kind = o.value("kind", "sgd");
    p.optimizer.lr = o.value("lr", 0.01);
    p.optimizer.momentum = o.value("momentum", 0.0);
    p.optimizer.weightDecay = o.value("weight_decay", 0.0);
    p.optimizer.gradClip = o.value("grad_clip", 0.0);
    p.optimizer.beta1 = o.value("beta1", 0.9);
    p.optimizer.beta2 = o.value("beta2", 0.999);
    p.optimizer.eps = o.value("eps", 1e-8);
    if (p.optimizer.kind != "sgd" && p.optimizer.kind != "adamw")
      return invalidArgument(path + ": unknown optimizer '" +
                             p.optimizer.kind + "'");
    for (const auto &q : t.value("parameters", nlohmann::json::array())) {
      auto desc = descOf(q);
      if (!desc)
        return desc.status().withContext(path);
      p.params.push_back({q.value("name", ""), *desc,
                          q.value("stages", std::vector<int>{}),
                          q.value("uses", std::vector<int>{})});
    }
  }
  const auto &sched = j["schedule"];
  p.schedule = sched.value("kind", "");
  static const std::pair<const char *, ActionOp> ops[] = {
      {"fwd", ActionOp::Fwd},           {"bwd", ActionOp::Bwd},
      {"bwd_b", ActionOp::BwdB},        {"bwd_w", ActionOp::BwdW},
      {"send_act", ActionOp::SendAct},  {"recv_act", ActionOp::RecvAct},
      {"send_grad", ActionOp::SendGrad}, {"recv_grad", ActionOp::RecvGrad}};
  for (const auto &rank : sched.value("ranks", nlohmann::json::array())) {
    auto &list = p.actions.emplace_back();
    for (const auto &a : rank) {
      std::string op = a.value("op", "");
      bool known = false;
      for (auto &[name, o] : ops)
        if (op == name) {
          list.push_back({o, a.value("stage", 0), a.value("mb", 0),
                          a.value("peer", -1)});
          known = true;
        }
      if (!known)
        return dataLoss(path + ": unknown action '" + op + "'");
    }
  }
  if ((int)p.actions.size() != p.ranks)
    return dataLoss(path + ": the schedule lists " +
                    std::to_string(p.actions.size()) + " ranks, the plan " +
                    std::to_string(p.ranks));
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
