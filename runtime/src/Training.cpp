//===- Training.cpp - the end of a training step, and checkpoints ---------===//
//
// After a step's actions each rank holds, per (parameter, use) it computes,
// the gradient summed over the micro-batches in order. A parameter's
// gradient is the sum of its uses in use order: the ranks that hold a tied
// parameter exchange the uses they computed, so that every holder sums the
// same values in the same order (and, whatever the partition, the order a
// single stage would). Then every rank learns the loss and the global
// gradient norm, and each holder applies the optimizer to its copy.
//
//===----------------------------------------------------------------------===//

#include "pprt/Executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace pprt {

namespace {

/// The sum of squares in double: partial sums over fixed chunks (in
/// parallel), added in chunk order, so the result depends on the values
/// alone, not on the thread count or the partition.
double squaredNorm(const std::vector<float> &g) {
  constexpr int64_t kChunk = 1 << 16;
  int64_t n = g.size(), chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double sq = 0;
    for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i)
      sq += (double)g[i] * g[i];
    partial[c] = sq;
  }
  double sq = 0;
  for (double p : partial)
    sq += p;
  return sq;
}

/// Step-end messages: kind 2 (gradients of tied parameters), 3 (loss and
/// squared norms), after the 16-byte header the activations use.
constexpr int32_t kTiedGradients = 2, kStepSync = 3, kBarrier = 4;

std::vector<uint8_t> message(int32_t kind, int32_t from, int64_t step,
                             const void *payload, size_t bytes) {
  std::vector<uint8_t> m(16 + bytes);
  int32_t h[4] = {kind, from, (int32_t)step, 0};
  std::memcpy(m.data(), h, 16);
  if (bytes)
    std::memcpy(m.data() + 16, payload, bytes);
  return m;
}

Status checkHeader(const std::vector<uint8_t> &m, int32_t kind, int32_t from,
                   int64_t step, size_t bytes) {
  int32_t h[4] = {-1, -1, -1, -1};
  if (m.size() >= 16)
    std::memcpy(h, m.data(), 16);
  if (h[0] != kind || h[1] != from || h[2] != (int32_t)step ||
      m.size() != 16 + bytes)
    return dataLoss("rank " + std::to_string(from) + " sent an unexpected " +
                    "message at the end of the step (kind " +
                    std::to_string(h[0]) + ", " + std::to_string(m.size()) +
                    " bytes; expected kind " + std::to_string(kind) + ", " +
                    std::to_string(16 + bytes) + " bytes)");
  return Status::ok();
}
} // namespace

void Executor::addInto(float *acc, const float *g, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    acc[i] += g[i];
}

Status Executor::exchangeGradients(
    std::map<std::string, std::vector<float>> &totals) {
  auto holds = [&](const Plan::Param &p, int r) {
    for (int s : p.stages)
      if (rankOf(s) == r)
        return true;
    return false;
  };
  // Every use computed here goes to each other rank holding the parameter.
  std::map<int, std::vector<float>> outgoing;
  for (const Plan::Param &p : plan.params)
    for (size_t u = 0; u < p.uses.size(); ++u) {
      if (rankOf(p.uses[u]) != rank)
        continue;
      auto it = gradAcc.find({p.name, (int)u});
      if (it == gradAcc.end())
        return internalError("no gradient was computed for use " +
                             std::to_string(u) + " of '" + p.name + "'");
      for (int r = 0; r < plan.ranks; ++r)
        if (r != rank && holds(p, r))
          outgoing[r].insert(outgoing[r].end(), it->second.begin(),
                             it->second.end());
    }
  for (auto &[to, values] : outgoing)
    PPRT_RETURN_IF_ERROR(transport.send(
        to, message(kTiedGradients, rank, step_, values.data(),
                    values.size() * sizeof(float))));
  // What each other rank sends here, in the order it packs it.
  std::map<std::pair<std::string, int>, std::vector<float>> received;
  for (int from = 0; from < plan.ranks; ++from) {
    if (from == rank)
      continue;
    std::vector<std::pair<const Plan::Param *, int>> expected;
    size_t floats = 0;
    for (const Plan::Param &p : plan.params)
      for (size_t u = 0; u < p.uses.size(); ++u)
        if (rankOf(p.uses[u]) == from && holds(p, rank)) {
          expected.push_back({&p, (int)u});
          floats += *p.desc.numElements();
        }
    if (expected.empty())
      continue;
    auto m = transport.recv(from);
    if (!m)
      return m.status();
    PPRT_RETURN_IF_ERROR(checkHeader(*m, kTiedGradients, from, step_,
                                     floats * sizeof(float)));
    const float *at = reinterpret_cast<const float *>(m->data() + 16);
    for (auto [p, u] : expected) {
      int64_t n = *p->desc.numElements();
      received[{p->name, u}].assign(at, at + n);
      at += n;
    }
  }
  for (const Plan::Param &p : plan.params) {
    if (!holds(p, rank))
      continue;
    std::vector<float> &total = totals[p.name];
    for (size_t u = 0; u < p.uses.size(); ++u) {
      std::pair<std::string, int> key{p.name, (int)u};
      const std::vector<float> &g = rankOf(p.uses[u]) == rank
                                        ? gradAcc.at(key)
                                        : received.at(key);
      if (u == 0)
        total = g;
      else
        addInto(total.data(), g.data(), total.size());
    }
  }
  return Status::ok();
}

Status Executor::syncStep(
    BatchIO &io, const std::map<std::string, std::vector<float>> &totals) {
  // Each parameter's squared norm is computed by the lowest rank holding
  // it, in double, in element order; the global norm sums them in the
  // plan's parameter order, whatever the partition.
  auto owner = [&](const Plan::Param &p) {
    int r = plan.ranks;
    for (int s : p.stages)
      r = std::min(r, rankOf(s));
    return r;
  };
  int lossStage = -1;
  for (const Plan::Stage &s : plan.stages)
    for (const Plan::Io &out : s.outputs)
      if (out.name == "loss")
        lossStage = s.stage;
  std::vector<double> mine = {0, 0};
  if (lossStage >= 0 && rankOf(lossStage) == rank) {
    const HostTensor &loss = io.outputs.at("loss");
    float sum = 0;
    for (size_t i = 0; i < loss.bytes.size() / sizeof(float); ++i)
      sum += reinterpret_cast<const float *>(loss.bytes.data())[i];
    mine = {1, sum};
  }
  for (const Plan::Param &p : plan.params)
    if (owner(p) == rank) {
      mine.push_back(squaredNorm(totals.at(p.name)));
    }
  std::vector<std::vector<double>> all(plan.ranks);
  all[rank] = mine;
  for (int to = 0; to < plan.ranks; ++to)
    if (to != rank)
      PPRT_RETURN_IF_ERROR(transport.send(
          to, message(kStepSync, rank, step_, mine.data(),
                      mine.size() * sizeof(double))));
  for (int from = 0; from < plan.ranks; ++from) {
    if (from == rank)
      continue;
    size_t count = 2;
    for (const Plan::Param &p : plan.params)
      count += owner(p) == from;
    auto m = transport.recv(from);
    if (!m)
      return m.status();
    PPRT_RETURN_IF_ERROR(
        checkHeader(*m, kStepSync, from, step_, count * sizeof(double)));
    const double *d = reinterpret_cast<const double *>(m->data() + 16);
    all[from].assign(d, d + count);
  }
  double loss = std::numeric_limits<double>::quiet_NaN(), sq = 0;
  std::vector<size_t> next(plan.ranks, 2);
  for (int r = 0; r < plan.ranks; ++r)
    if (all[r][0] != 0)
      loss = all[r][1];
  for (const Plan::Param &p : plan.params) {
    int r = owner(p);
    sq += all[r][next[r]++];
  }
  lastLoss_ = loss;
  lastGradNorm_ = std::sqrt(sq);
  std::string where =
      lossStage >= 0 ? " (computed on stage " + std::to_string(lossStage) + ")"
                     : "";
  auto text = [](double v) {
    return std::isnan(v) ? std::string("NaN")
           : std::isinf(v) ? std::string(v > 0 ? "inf" : "-inf")
                           : std::to_string(v);
  };
  if (!std::isfinite(loss))
    return invalidArgument("the loss is " + text(loss) + where +
                           ": stopped before the update; the last checkpoint "
                           "is kept");
  if (!std::isfinite(lastGradNorm_))
    return invalidArgument("the gradient norm is " + text(lastGradNorm_) +
                           " (loss " + text(loss) +
                           "): stopped before the update; the last "
                           "checkpoint is kept");
  return Status::ok();
}

void Executor::applyOptimizer(
    const std::map<std::string, std::vector<float>> &totals,
    float coefficient) {
  const Plan::Optimizer &o = plan.optimizer;
  int64_t t = step_ + 1;
  for (auto &[stage, l] : stages)
    for (const Plan::Param &p : plan.params) {
      const Weights::Entry *e = l.weights->find(p.name);
      auto total = totals.find(p.name);
      if (!e || total == totals.end())
        continue;
      float *w = reinterpret_cast<float *>(e->data);
      const float *g = total->second.data();
      int64_t n = total->second.size();
      if (o.kind == "sgd") {
        // torch.optim.SGD: d = g + wd p; buf = d (first step) or
        // momentum buf + d; p -= lr buf.
        float lr = o.lr, wd = o.weightDecay, mom = o.momentum;
        std::vector<float> *buf = nullptr;
        bool first = false;
        if (mom != 0) {
          auto [it, inserted] = moment1.try_emplace({stage, p.name});
          buf = &it->second;
          first = inserted || buf->empty();
          buf->resize(n);
        }
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) {
          float d = g[i] * coefficient;
          if (wd != 0)
            d += wd * w[i];
          if (buf) {
            float &b = (*buf)[i];
            b = first ? d : mom * b + d;
            d = b;
          }
          w[i] -= lr * d;
        }
      } else {
        // torch.optim.AdamW: p *= 1 - lr wd; m = b1 m + (1-b1) g;
        // v = b2 v + (1-b2) g^2; p -= lr / (1-b1^t) m / (sqrt(v) /
        // sqrt(1-b2^t) + eps).
        std::vector<float> &m = moment1[{stage, p.name}];
        std::vector<float> &v = moment2[{stage, p.name}];
        m.resize(n);
        v.resize(n);
        float decay = float(1 - o.lr * o.weightDecay);
        float b1 = o.beta1, b2 = o.beta2, eps = o.eps;
        float stepSize = float(o.lr / (1 - std::pow(o.beta1, (double)t)));
        float bc2 = float(std::sqrt(1 - std::pow(o.beta2, (double)t)));
        float *mp = m.data(), *vp = v.data();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) {
          float gi = g[i] * coefficient;
          w[i] *= decay;
          mp[i] += (gi - mp[i]) * (1 - b1);
          vp[i] = b2 * vp[i] + (1 - b2) * gi * gi;
          w[i] -= stepSize * (mp[i] / (std::sqrt(vp[i]) / bc2 + eps));
        }
      }
    }
}

void Executor::parametersChanged() {
  for (auto &[stage, l] : stages)
    for (auto &p : l.prepared)
      if (p)
        p->parametersChanged();
}

Status Executor::finishStep(BatchIO &io) {
  std::map<std::string, std::vector<float>> totals;
  PPRT_RETURN_IF_ERROR(exchangeGradients(totals));
  PPRT_RETURN_IF_ERROR(syncStep(io, totals));
  float coefficient = 1;
  // torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6), at most 1.
  if (plan.optimizer.gradClip > 0)
    coefficient = (float)std::min(
        1.0, plan.optimizer.gradClip / (lastGradNorm_ + 1e-6));
  applyOptimizer(totals, coefficient);
  if (keepGradients_)
    lastGradients_ = std::move(totals);
  parametersChanged();
  gradAcc.clear();
  ++step_;
  return Status::ok();
}

Status Executor::barrier() {
  for (int to = 0; to < plan.ranks; ++to)
    if (to != rank)
      PPRT_RETURN_IF_ERROR(
          transport.send(to, message(kBarrier, rank, step_, nullptr, 0)));
  for (int from = 0; from < plan.ranks; ++from) {
    if (from == rank)
      continue;
    auto m = transport.recv(from);
    if (!m)
      return m.status();
    PPRT_RETURN_IF_ERROR(checkHeader(*m, kBarrier, from, step_, 0));
  }
  return Status::ok();
}

Status Executor::saveGradients(const std::string &path) const {
  std::vector<NamedTensor> tensors;
  for (const Plan::Param &p : plan.params) {
    auto it = lastGradients_.find(p.name);
    if (it != lastGradients_.end())
      tensors.push_back({p.name, TensorDesc{DType::F32, p.desc.shape},
                         it->second.data()});
  }
  return writeSafetensors(path, tensors);
}

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

namespace {
const char *kMomentum = ".momentum_buffer", *kExpAvg = ".exp_avg",
           *kExpAvgSq = ".exp_avg_sq";
} // namespace

Status Executor::saveCheckpoint(const std::string &dir) const {
  for (auto &[stage, l] : stages) {
    std::vector<NamedTensor> tensors;
    for (auto &[name, e] : l.weights->entries())
      tensors.push_back({name, e.desc, e.data});
    auto state = [&](const auto &table, const char *suffix) {
      for (auto &[key, values] : table)
        if (key.first == stage && !values.empty())
          tensors.push_back(
              {key.second + suffix,
               TensorDesc{DType::F32, l.weights->find(key.second)->desc.shape},
               values.data()});
    };
    state(moment1, plan.optimizer.kind == "sgd" ? kMomentum : kExpAvg);
    state(moment2, kExpAvgSq);
    PPRT_RETURN_IF_ERROR(writeSafetensors(
        dir + "/stage" + std::to_string(stage) + ".safetensors", tensors));
  }
  return Status::ok();
}

Status Executor::loadCheckpoint(const std::string &dir, int64_t step) {
  auto files = CheckpointTensors::load(dir);
  if (!files)
    return files.status();
  auto lookup = [&](const std::string &name) { return files->find(name); };
  auto restore = [&](const std::string &name, const TensorDesc &desc,
                     uint8_t *into) -> Status {
    const Weights::Entry *e = lookup(name);
    if (!e)
      return notFound("checkpoint " + dir + " has no tensor '" + name +
                      "': it is from another model");
    if (!(e->desc == desc))
      return invalidArgument("checkpoint " + dir + ": '" + name + "' is " +
                             e->desc.toString() + ", the model has " +
                             desc.toString() + ": it is from another model");
    std::memcpy(into, e->data, e->bytes);
    return Status::ok();
  };
  moment1.clear();
  moment2.clear();
  for (auto &[stage, l] : stages) {
    for (auto &[name, e] : l.weights->entries())
      PPRT_RETURN_IF_ERROR(restore(name, e.desc, e.data));
    for (const Plan::Param &p : plan.params) {
      if (!l.weights->find(p.name))
        continue;
      TensorDesc desc{DType::F32, p.desc.shape};
      int64_t n = *desc.numElements();
      auto load = [&](auto &table, const char *suffix) -> Status {
        if (!lookup(p.name + suffix))
          return Status::ok(); // no state yet (SGD without momentum, step 0)
        std::vector<float> &v = table[{stage, p.name}];
        v.resize(n);
        return restore(p.name + suffix, desc,
                       reinterpret_cast<uint8_t *>(v.data()));
      };
      PPRT_RETURN_IF_ERROR(
          load(moment1, plan.optimizer.kind == "sgd" ? kMomentum : kExpAvg));
      if (plan.optimizer.kind == "adamw")
        PPRT_RETURN_IF_ERROR(load(moment2, kExpAvgSq));
    }
  }
  parametersChanged();
  step_ = step;
  return Status::ok();
}

} // namespace pprt
