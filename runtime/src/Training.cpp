//===- Training.cpp - the end of a training step, and checkpoints ---------===//
//
// After a step's actions each rank holds, per (parameter, use) it computes,
// the gradient summed over the micro-batches in order. A parameter's
// gradient is the sum of its uses in use order: the ranks that hold a tied
// parameter gather the uses each computed, so that every holder sums the
// same values in the same order (and, whatever the partition, the order a
// single stage would). With replicas (ppc -data-parallel) it is then summed
// over the replica group in member order: a stage's own parameters as soon
// as its last backward has run, the rest after the tied exchange. Every
// rank learns the loss and the global gradient norm, and each holder
// applies the optimizer to its copy (-zero=1: to its shard, whose updated
// values then reach the other replicas).
//
// The norm is a sum of squares over fixed chunks of each parameter, in
// double, summed in chunk and then plan order. Each chunk is computed by
// one rank, whatever the partition or the sharding: the shards' bounds
// fall between chunks. So the norm, and every update, are bitwise the same
// with and without -zero=1.
//
//===----------------------------------------------------------------------===//

#include "pprt/Executor.h"

#include "Sums.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

namespace pprt {

namespace {

constexpr int64_t kChunk = kNormChunk;

int64_t chunksOf(int64_t n) { return (n + kChunk - 1) / kChunk; }

/// A record of the step-end gather: the squared sum of one chunk.
struct ChunkSquares {
  int32_t param, chunk;
  double value;
};
/// Its first record: this rank's share of the loss.
struct LossShare {
  int32_t has, pad;
  double value;
};
static_assert(sizeof(ChunkSquares) == 16 && sizeof(LossShare) == 16, "packed");

template <typename T> void append(std::vector<uint8_t> &m, const T &v) {
  const uint8_t *b = reinterpret_cast<const uint8_t *>(&v);
  m.insert(m.end(), b, b + sizeof v);
}
} // namespace

bool Executor::holds(const Plan::Param &p, int pipelineRank) const {
  for (int s : p.stages)
    if (plan.stages.at(s).rank == pipelineRank)
      return true;
  return false;
}

namespace {
/// A parameter only one stage holds and uses: its gradient is complete on
/// that stage, and summed over the replicas there, in the stage's bucket.
bool stageOwn(const Plan::Param &p) {
  if (p.stages.size() != 1)
    return false;
  for (int s : p.uses)
    if (s != p.stages[0])
      return false;
  return true;
}
} // namespace

void Executor::layOutBuckets() {
  for (const Plan::Param &p : plan.params)
    if (holds(p, pipeRank_))
      buckets[stageOwn(p) ? p.stages[0] : -1].params.push_back(&p);
  int d = plan.replicas;
  bool sharded = plan.zero && d > 1;
  for (auto &[id, b] : buckets) {
    b.offsets = {0};
    std::vector<int64_t> starts; // of every chunk, flat
    for (const Plan::Param *p : b.params) {
      int64_t n = *p->desc.numElements();
      for (int64_t c = 0; c < chunksOf(n); ++c)
        starts.push_back(b.offsets.back() + c * kChunk);
      b.offsets.push_back(b.offsets.back() + n);
    }
    int64_t total = b.offsets.back();
    // Replica j's piece starts at the first chunk at or past j/D of the
    // bucket.
    b.bounds.assign(d + 1, total);
    b.bounds[0] = 0;
    for (int j = 1; j < d; ++j) {
      auto it = std::lower_bound(starts.begin(), starts.end(),
                                 (total * j + d - 1) / d);
      b.bounds[j] = std::max(b.bounds[j - 1],
                             it == starts.end() ? total : *it);
    }
    for (size_t k = 0; k < b.params.size(); ++k) {
      int64_t o = b.offsets[k], n = b.offsets[k + 1] - o;
      Slot slot{id, o, 0, n};
      if (sharded) {
        slot.lo = std::clamp(b.bounds[replica_] - o, (int64_t)0, n);
        slot.hi = std::clamp(b.bounds[replica_ + 1] - o, slot.lo, n);
      }
      slots[b.params[k]->name] = slot;
    }
  }
}

const Executor::Slot *Executor::slotOf(const std::string &param) const {
  auto it = slots.find(param);
  return it == slots.end() ? nullptr : &it->second;
}

StatusOr<StateVector *> Executor::sumOf(Sum &s, int64_t n, bool *first) {
  if (!s.vector || s.vector->size() != n) {
    auto v = backend.stateVector(n);
    if (!v)
      return v.status();
    s.vector = std::move(*v);
    s.step = -1;
  }
  if (first)
    *first = s.step != step_;
  s.step = step_;
  return s.vector.get();
}

StateVector *Executor::totalOf(const std::string &param) {
  auto it = totals.find(param);
  return it == totals.end() || it->second.step != step_
             ? nullptr
             : it->second.vector.get();
}

StatusOr<const StateVector *> Executor::localUse(const Plan::Param &p,
                                                 int use) const {
  auto it = gradAcc.find({p.name, use});
  if (it == gradAcc.end() || it->second.step != step_)
    return internalError("no gradient was computed for use " +
                         std::to_string(use) + " of '" + p.name + "'");
  return it->second.vector.get();
}

Status Executor::sumUses(const Plan::Param &p, const UseGradients *received) {
  auto total = sumOf(totals[p.name], *p.desc.numElements());
  if (!total)
    return total.status();
  for (size_t u = 0; u < p.uses.size(); ++u) {
    const StateVector *g = nullptr;
    if (rankOf(p.uses[u]) == rank) {
      auto local = localUse(p, (int)u);
      if (!local)
        return local.status();
      g = *local;
    } else {
      if (received) {
        auto it = received->find({p.name, (int)u});
        if (it != received->end() && it->second.step == step_)
          g = it->second.vector.get();
      }
      if (!g)
        return internalError("use " + std::to_string(u) + " of '" + p.name +
                             "' was not received from rank " +
                             std::to_string(rankOf(p.uses[u])));
    }
    PPRT_RETURN_IF_ERROR(backend.combine(**total, *g, /*add=*/u != 0));
  }
  return Status::ok();
}

Status Executor::copyTotals(Bucket &b, bool pack) {
  b.flat.resize(b.offsets.back());
  for (size_t k = 0; k < b.params.size(); ++k) {
    StateVector *total = totalOf(b.params[k]->name);
    if (!total)
      return internalError("'" + b.params[k]->name +
                           "' was not summed before its bucket");
    float *at = b.flat.data() + b.offsets[k];
    PPRT_RETURN_IF_ERROR(pack ? backend.toHost(*total, 0, total->size(), at)
                              : backend.fromHost(*total, 0, total->size(), at));
  }
  return Status::ok();
}

Status Executor::reduceBucket(int id) {
  Bucket &b = buckets.at(id);
  if (id >= 0)
    // A stage's own parameters: every use was computed here.
    for (const Plan::Param *p : b.params)
      PPRT_RETURN_IF_ERROR(sumUses(*p, nullptr));
  PPRT_RETURN_IF_ERROR(copyTotals(b, /*pack=*/true));
  Status st = plan.zero ? comm->reduceScatterSum(replicaGroup, b.flat.data(),
                                                 b.bounds)
                        : comm->allReduceSum(replicaGroup, b.flat.data(),
                                             b.flat.size());
  if (!st.isOk())
    return st.withContext("summing the gradients over the replicas");
  return copyTotals(b, /*pack=*/false);
}

Status Executor::exchangeGradients() {
  int d = plan.replicas;
  // Each set of holders of a parameter whose uses are not all its own
  // stage's gathers them: every holder packs the uses it computed, in plan
  // and use order. Sets are taken in one order on every rank.
  std::map<Group, std::vector<const Plan::Param *>> sets;
  for (const Plan::Param &p : plan.params) {
    if (!holds(p, pipeRank_) || (d > 1 && stageOwn(p)))
      continue;
    Group g;
    for (int q = 0; q < plan.ranks; ++q)
      if (holds(p, q))
        g.push_back(q * d + replica_);
    sets[g].push_back(&p);
  }
  UseGradients &received = tiedReceived;
  for (auto &[group, params] : sets) {
    if (group.size() < 2)
      continue;
    std::vector<uint8_t> mine;
    for (const Plan::Param *p : params)
      for (size_t u = 0; u < p->uses.size(); ++u) {
        if (rankOf(p->uses[u]) != rank)
          continue;
        auto g = localUse(*p, (int)u);
        if (!g)
          return g.status();
        size_t at = mine.size();
        mine.resize(at + (*g)->size() * sizeof(float));
        PPRT_RETURN_IF_ERROR(backend.toHost(
            **g, 0, (*g)->size(), reinterpret_cast<float *>(mine.data() + at)));
      }
    auto all = comm->allGatherBytes(group, mine);
    if (!all)
      return all.status().withContext("exchanging tied gradients");
    for (size_t j = 0; j < group.size(); ++j) {
      if (group[j] == rank)
        continue;
      size_t at = 0;
      const std::vector<uint8_t> &m = (*all)[j];
      for (const Plan::Param *p : params)
        for (size_t u = 0; u < p->uses.size(); ++u) {
          if (rankOf(p->uses[u]) != group[j])
            continue;
          size_t bytes = *p->desc.numElements() * sizeof(float);
          if (at + bytes > m.size())
            return dataLoss("rank " + std::to_string(group[j]) +
                            " sent fewer tied gradients than '" + p->name +
                            "' needs");
          int64_t n = bytes / sizeof(float);
          auto g = sumOf(received[{p->name, (int)u}], n);
          if (!g)
            return g.status();
          // The bytes may lie unaligned in the message.
          std::vector<float> values(n);
          std::memcpy(values.data(), m.data() + at, bytes);
          PPRT_RETURN_IF_ERROR(backend.fromHost(**g, 0, n, values.data()));
          at += bytes;
        }
      if (at != m.size())
        return dataLoss("rank " + std::to_string(group[j]) +
                        " sent more tied gradients than expected");
    }
  }
  for (auto &[group, params] : sets)
    for (const Plan::Param *p : params)
      PPRT_RETURN_IF_ERROR(sumUses(*p, &received));
  return Status::ok();
}

Status Executor::syncStep(BatchIO &io, bool scaled) {
  int d = plan.replicas;
  // Each chunk's squared sum is computed by the lowest pipeline rank
  // holding its parameter, on the replica whose shard holds it (replica 0
  // without -zero=1).
  int lossStage = -1;
  for (const Plan::Stage &s : plan.stages)
    for (const Plan::Io &out : s.outputs)
      if (out.name == "loss")
        lossStage = s.stage;
  LossShare loss{0, 0, 0};
  if (lossStage >= 0 && rankOf(lossStage) == rank) {
    // This replica's rows of the loss.
    const HostTensor &t = io.outputs.at("loss");
    size_t n = t.bytes.size() / sizeof(float) / d;
    const float *rows = reinterpret_cast<const float *>(t.bytes.data()) +
                        n * replica_;
    float sum = 0;
    for (size_t i = 0; i < n; ++i)
      sum += rows[i];
    loss = {1, 0, sum};
  }
  std::vector<uint8_t> mine;
  append(mine, loss);
  for (size_t k = 0; k < plan.params.size(); ++k) {
    const Plan::Param &p = plan.params[k];
    int owner = plan.ranks;
    for (int s : p.stages)
      owner = std::min(owner, plan.stages.at(s).rank);
    if (owner != pipeRank_)
      continue;
    const StateVector *g = totalOf(p.name);
    const Slot *slot = slotOf(p.name);
    if (!g || !slot)
      return internalError("'" + p.name + "' was not summed before the norm");
    int64_t n = g->size(), chunks = chunksOf(n);
    std::vector<int64_t> mineChunks;
    for (int64_t c = 0; c < chunks; ++c)
      if (plan.zero && d > 1 ? c * kChunk >= slot->lo && c * kChunk < slot->hi
                             : replica_ == 0)
        mineChunks.push_back(c);
    std::vector<double> partial(mineChunks.size());
    PPRT_RETURN_IF_ERROR(
        backend.chunkSquares(*g, kChunk, mineChunks, partial.data()));
    for (size_t i = 0; i < mineChunks.size(); ++i)
      append(mine, ChunkSquares{(int32_t)k, (int32_t)mineChunks[i], partial[i]});
  }
  auto all = comm->allGatherBytes(world, mine);
  if (!all)
    return all.status().withContext("sharing the loss and gradient norm");
  // Every chunk from exactly one rank; the sums in chunk, then plan order.
  std::vector<std::vector<double>> squares(plan.params.size());
  std::vector<std::vector<bool>> seen(plan.params.size());
  for (size_t k = 0; k < plan.params.size(); ++k) {
    int64_t chunks = chunksOf(*plan.params[k].desc.numElements());
    squares[k].assign(chunks, 0);
    seen[k].assign(chunks, false);
  }
  double total = std::numeric_limits<double>::quiet_NaN();
  bool anyLoss = false;
  for (int r = 0; r < plan.worldRanks(); ++r) {
    const std::vector<uint8_t> &m = (*all)[r];
    if (m.size() < sizeof(LossShare) ||
        (m.size() - sizeof(LossShare)) % sizeof(ChunkSquares))
      return dataLoss("rank " + std::to_string(r) +
                      " sent a malformed step summary");
    LossShare l;
    std::memcpy(&l, m.data(), sizeof l);
    if (l.has) {
      total = anyLoss ? total + l.value : 0 + l.value;
      anyLoss = true;
    }
    for (size_t at = sizeof l; at < m.size(); at += sizeof(ChunkSquares)) {
      ChunkSquares c;
      std::memcpy(&c, m.data() + at, sizeof c);
      if (c.param < 0 || (size_t)c.param >= squares.size() || c.chunk < 0 ||
          (size_t)c.chunk >= squares[c.param].size() || seen[c.param][c.chunk])
        return dataLoss("rank " + std::to_string(r) +
                        " sent a squared sum it does not own");
      squares[c.param][c.chunk] = c.value;
      seen[c.param][c.chunk] = true;
    }
  }
  double sq = 0;
  for (size_t k = 0; k < squares.size(); ++k) {
    double s = 0;
    for (size_t c = 0; c < squares[k].size(); ++c) {
      if (!seen[k][c])
        return internalError("no rank computed the norm of '" +
                             plan.params[k].name + "'");
      s += squares[k][c];
    }
    sq += s;
  }
  lastLoss_ = total;
  lastGradNorm_ = std::sqrt(sq);
  std::string where =
      lossStage >= 0 ? " (computed on stage " + std::to_string(lossStage) + ")"
                     : "";
  auto text = [](double v) {
    return std::isnan(v) ? std::string("NaN")
           : std::isinf(v) ? std::string(v > 0 ? "inf" : "-inf")
                           : std::to_string(v);
  };
  if (!std::isfinite(total))
    return invalidArgument("the loss is " + text(total) + where +
                           ": stopped before the update; the last checkpoint "
                           "is kept");
  // Under loss scaling an inf or NaN gradient skips the step (finishStep);
  // a loss that is not finite is no matter of scale and stops the run.
  if (!std::isfinite(lastGradNorm_) && !scaled)
    return invalidArgument("the gradient norm is " + text(lastGradNorm_) +
                           " (loss " + text(total) +
                           "): stopped before the update; the last "
                           "checkpoint is kept");
  return Status::ok();
}

Status Executor::applyOptimizer(float coefficient) {
  const Plan::Optimizer &o = plan.optimizer;
  // The optimizer's own count: steps skipped by the loss scaler leave it,
  // as they leave torch's optimizer.step uncalled.
  int64_t t = updates_ + 1;
  OptimizerStep step;
  step.adamw = o.kind != "sgd";
  step.lr = o.lr;
  step.weightDecay = o.weightDecay;
  step.momentum = o.momentum;
  step.beta1 = o.beta1;
  step.beta2 = o.beta2;
  step.eps = o.eps;
  step.decay = float(1 - o.lr * o.weightDecay);
  step.stepSize = float(o.lr / (1 - std::pow(o.beta1, (double)t)));
  step.biasCorrection2 = float(std::sqrt(1 - std::pow(o.beta2, (double)t)));
  step.coefficient = coefficient;
  auto moment = [&](auto &table, int stage, const std::string &name,
                    int64_t n, bool *inserted) -> StatusOr<StateVector *> {
    auto &v = table[{stage, name}];
    *inserted = !v;
    if (!v) {
      auto made = backend.stateVector(n);
      if (!made)
        return made.status();
      v = std::move(*made);
    }
    return v.get();
  };
  std::vector<ParamUpdate> updates;
  for (auto &[stage, l] : stages)
    for (const Plan::Param &p : plan.params) {
      const Weights::Entry *e = l.weights->find(p.name);
      StateVector *total = totalOf(p.name);
      const Slot *slot = slotOf(p.name);
      if (!e || !total || !slot)
        continue;
      // This replica's shard [lo, hi) (the whole without -zero=1); the
      // state holds that shard only.
      ParamUpdate u;
      u.param = e->data;
      u.lo = slot->lo;
      u.n = slot->hi - slot->lo;
      u.grad = total;
      u.gradAt = slot->lo;
      bool inserted = false;
      if (step.adamw || o.momentum != 0) {
        auto m = moment(moment1, stage, p.name, u.n, &inserted);
        if (!m)
          return m.status();
        u.m = *m;
        u.first = inserted;
      }
      if (step.adamw) {
        auto v = moment(moment2, stage, p.name, u.n, &inserted);
        if (!v)
          return v.status();
        u.v = *v;
      }
      updates.push_back(u);
    }
  return backend.optimizerStep(step, updates);
}

namespace {
/// The copies of `name` this rank's stages hold.
template <typename Stages>
std::vector<float *> copiesOf(Stages &stages, const std::string &name) {
  std::vector<float *> out;
  for (auto &[stage, l] : stages)
    if (const Weights::Entry *e = l.weights->find(name))
      out.push_back(reinterpret_cast<float *>(e->data));
  return out;
}
} // namespace

Status Executor::gatherParameters() {
  // The collective runs over host memory (the NCCL messenger of the GPU
  // issue will run it on the device).
  PPRT_RETURN_IF_ERROR(backend.parametersToHost());
  for (auto &[id, b] : buckets) {
    b.flat.resize(b.offsets.back());
    for (size_t k = 0; k < b.params.size(); ++k) {
      auto copies = copiesOf(stages, b.params[k]->name);
      if (!copies.empty())
        std::memcpy(b.flat.data() + b.offsets[k], copies[0],
                    (b.offsets[k + 1] - b.offsets[k]) * sizeof(float));
    }
    PPRT_RETURN_IF_ERROR(
        comm->allGather(replicaGroup, b.flat.data(), b.bounds)
            .withContext("gathering the updated parameters"));
    for (size_t k = 0; k < b.params.size(); ++k)
      for (float *w : copiesOf(stages, b.params[k]->name))
        std::memcpy(w, b.flat.data() + b.offsets[k],
                    (b.offsets[k + 1] - b.offsets[k]) * sizeof(float));
  }
  backend.parametersFromHost();
  return Status::ok();
}

Status Executor::shareStateUpdates() {
  // As torch's DistributedDataParallel broadcasts its buffers: replica 0's
  // running statistics (each replica saw its own micro-batches), so that
  // the replicas stay copies of one model.
  PPRT_RETURN_IF_ERROR(backend.parametersToHost());
  for (auto &[stage, l] : stages) {
    if (!l.program[Fwd])
      continue;
    for (auto &[param, id] : l.program[Fwd]->stateUpdates()) {
      const Weights::Entry *e = l.weights->find(param);
      if (!e)
        return internalError("state update of '" + param +
                             "' does not match a parameter of stage " +
                             std::to_string(stage));
      PPRT_RETURN_IF_ERROR(
          comm->broadcast(replicaGroup, replicaGroup[0], e->data, e->bytes)
              .withContext("sharing the running statistics of '" + param +
                           "'"));
      PPRT_RETURN_IF_ERROR(l.prepared[Fwd]->parameterWritten(e->data));
    }
  }
  return Status::ok();
}

void Executor::parametersChanged() {
  for (auto &[stage, l] : stages)
    for (auto &p : l.prepared)
      if (p)
        p->parametersChanged();
}

Status Executor::finishStep(BatchIO &io) {
  PPRT_RETURN_IF_ERROR(exchangeGradients());
  bool sharded = plan.zero && plan.replicas > 1;
  if (plan.replicas > 1 && buckets.count(-1))
    PPRT_RETURN_IF_ERROR(reduceBucket(-1));
  PPRT_RETURN_IF_ERROR(syncStep(io, scaling_));
  // Loss scaling, in torch.amp.GradScaler's order: the gradients (of the
  // scaled loss) are unscaled (scaler.unscale_: x 1/scale) before the norm
  // and clipping see them; an inf or NaN among them skips the update
  // (scaler.step). The norm is the world's, so every rank and replica
  // decides alike.
  float unscale = 1;
  bool skip = false;
  if (scaling_) {
    lastScale_ = scaler_.scale;
    unscale = scaler_.inverse();
    skip = !std::isfinite(lastGradNorm_);
    // Exact for a power-of-two scale: the squares' sum is in double.
    lastGradNorm_ *= unscale;
  }
  lastSkipped_ = skip;
  float coefficient = 1;
  // torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6), at most 1.
  if (plan.optimizer.gradClip > 0 && !skip)
    coefficient = (float)std::min(
        1.0, plan.optimizer.gradClip / (lastGradNorm_ + 1e-6));
  // One product: (g x 1/scale) x clip rounds as g x (1/scale x clip) when
  // the scale is a power of two.
  coefficient *= unscale;
  if (!skip) {
    PPRT_RETURN_IF_ERROR(applyOptimizer(coefficient));
    ++updates_;
    if (sharded)
      PPRT_RETURN_IF_ERROR(gatherParameters());
  }
  if (plan.replicas > 1)
    PPRT_RETURN_IF_ERROR(shareStateUpdates());
  if (keepGradients_) {
    if (sharded)
      // Each replica holds its shard's sums only: gather the rest.
      for (auto &[id, b] : buckets) {
        PPRT_RETURN_IF_ERROR(copyTotals(b, /*pack=*/true));
        PPRT_RETURN_IF_ERROR(
            comm->allGather(replicaGroup, b.flat.data(), b.bounds));
        PPRT_RETURN_IF_ERROR(copyTotals(b, /*pack=*/false));
      }
    lastGradients_.clear();
    for (auto &[name, sum] : totals)
      if (StateVector *total = totalOf(name)) {
        std::vector<float> &g = lastGradients_[name];
        g.resize(total->size());
        PPRT_RETURN_IF_ERROR(backend.toHost(*total, 0, g.size(), g.data()));
        if (unscale != 1)
          for (float &x : g)
            x *= unscale;
      }
  }
  // The optimizer wrote the backend's copies of the parameters (in place on
  // the CPU): whatever kernels derived from them is stale.
  parametersChanged();
  if (scaling_)
    scaler_.update(skip, float(plan.optimizer.lossScaleGrowth),
                   float(plan.optimizer.lossScaleBackoff),
                   plan.optimizer.lossScaleGrowthInterval);
  ++step_;
  return Status::ok();
}

Status Executor::writeLossScale() {
  for (auto &[stage, l] : stages) {
    const Weights::Entry *e = l.weights->find(kLossScaleParam);
    if (!e)
      continue;
    if (e->desc.dtype != DType::F32 || e->bytes != sizeof(float))
      return dataLoss("stage " + std::to_string(stage) + ": parameter '" +
                      kLossScaleParam + "' is " + e->desc.toString() +
                      ", expected one f32");
    std::memcpy(e->data, &scaler_.scale, sizeof(float));
    for (auto &p : l.prepared)
      if (p)
        PPRT_RETURN_IF_ERROR(p->parameterWritten(e->data));
  }
  return Status::ok();
}

Status Executor::barrier() { return comm->barrier(world); }

int64_t Executor::optimizerStateBytes() const {
  const Plan::Optimizer &o = plan.optimizer;
  int tables = o.kind == "adamw" ? 2 : o.momentum != 0 ? 1 : 0;
  int64_t bytes = 0;
  for (auto &[stage, l] : stages)
    for (const Plan::Param &p : plan.params)
      if (const Slot *slot = slotOf(p.name); slot && l.weights->find(p.name))
        bytes += tables * (slot->hi - slot->lo) * (int64_t)sizeof(float);
  return bytes;
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

Status Executor::saveCheckpoint(const std::string &dir) {
  bool sharded = plan.zero && plan.replicas > 1;
  PPRT_RETURN_IF_ERROR(backend.parametersToHost());
  // The optimizer state, whole and in host memory: under -zero=1 each
  // (stage, parameter) gathered from its replicas, in one order on every
  // replica.
  std::map<std::pair<int, std::string>, std::vector<float>> whole1, whole2;
  for (auto &[stage, l] : stages)
    for (const Plan::Param &p : plan.params) {
      const Slot *slot = slotOf(p.name);
      if (!slot || !l.weights->find(p.name))
        continue;
      const Bucket &b = buckets.at(slot->bucket);
      int64_t n = *p.desc.numElements();
      std::vector<int64_t> bounds;
      for (int64_t x : b.bounds)
        bounds.push_back(std::clamp(x - slot->offset, (int64_t)0, n));
      for (auto [table, into] :
           {std::pair{&moment1, &whole1}, std::pair{&moment2, &whole2}}) {
        auto it = table->find({stage, p.name});
        if (it == table->end())
          continue;
        std::vector<float> &full = (*into)[{stage, p.name}];
        full.assign(n, 0);
        const StateVector &shard = *it->second;
        PPRT_RETURN_IF_ERROR(backend.toHost(shard, 0, shard.size(),
                                            full.data() + slot->lo));
        if (sharded)
          PPRT_RETURN_IF_ERROR(
              comm->allGather(replicaGroup, full.data(), bounds)
                  .withContext("gathering the optimizer state"));
      }
    }
  // The replicas hold the same values: the first writes them.
  if (replica_ != 0)
    return Status::ok();
  for (auto &[stage, l] : stages) {
    std::vector<NamedTensor> tensors;
    // The loss scale is the scaler's (checkpoint.json), not the model's.
    for (auto &[name, e] : l.weights->entries())
      if (name != kLossScaleParam)
        tensors.push_back({name, e.desc, e.data});
    auto state = [&](const auto &table, const char *suffix) {
      for (auto &[key, values] : table)
        if (key.first == stage && !values.empty())
          tensors.push_back(
              {key.second + suffix,
               TensorDesc{DType::F32, l.weights->find(key.second)->desc.shape},
               values.data()});
    };
    const char *first = plan.optimizer.kind == "sgd" ? kMomentum : kExpAvg;
    state(whole1, first);
    state(whole2, kExpAvgSq);
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
      if (name != kLossScaleParam)
        PPRT_RETURN_IF_ERROR(restore(name, e.desc, e.data));
    for (const Plan::Param &p : plan.params) {
      if (!l.weights->find(p.name))
        continue;
      TensorDesc desc{DType::F32, p.desc.shape};
      int64_t n = *desc.numElements();
      auto load = [&](auto &table, const char *suffix) -> Status {
        if (!lookup(p.name + suffix))
          return Status::ok(); // no state yet (SGD without momentum, step 0)
        std::vector<float> v(n);
        PPRT_RETURN_IF_ERROR(restore(p.name + suffix, desc,
                                     reinterpret_cast<uint8_t *>(v.data())));
        // -zero=1: this replica's shard only.
        int64_t lo = 0, hi = n;
        if (const Slot *slot = slotOf(p.name))
          lo = slot->lo, hi = slot->hi;
        auto state = backend.stateVector(hi - lo);
        if (!state)
          return state.status();
        PPRT_RETURN_IF_ERROR(
            backend.fromHost(**state, 0, hi - lo, v.data() + lo));
        table[{stage, p.name}] = std::move(*state);
        return Status::ok();
      };
      PPRT_RETURN_IF_ERROR(
          load(moment1, plan.optimizer.kind == "sgd" ? kMomentum : kExpAvg));
      if (plan.optimizer.kind == "adamw")
        PPRT_RETURN_IF_ERROR(load(moment2, kExpAvgSq));
    }
  }
  backend.parametersFromHost();
  parametersChanged();
  // The sums kept from step to step are marked with their step: none of
  // them belongs to the steps that follow.
  for (auto &[key, sum] : totals)
    sum.step = -1;
  for (auto &[key, sum] : tiedReceived)
    sum.step = -1;
  for (auto &[key, sum] : gradAcc)
    sum.step = -1;
  step_ = step;
  updates_ = step;
  return Status::ok();
}

} // namespace pprt
