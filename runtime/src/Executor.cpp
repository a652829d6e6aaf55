//===- Executor.cpp - one rank walking its action list --------------------===//
//
// Messages go through the rank's Comm (Comm.h), which checks each header
// on arrival, so that a schedule that the runtime and compiler disagree on
// fails loudly instead of computing garbage; where their tensors travel
// (bytes, or the backend's kept copies between threads) is its business.
//
//===----------------------------------------------------------------------===//

#include "pprt/Executor.h"


#include <chrono>
#include <cstring>
#include <iterator>
#include <mutex>

namespace pprt {


TensorDesc wholeBatch(const Plan::Io &io, int microbatches) {
  TensorDesc d = io.desc;
  if (io.batchAxis >= 0 && io.batchAxis < (int)d.shape.size())
    d.shape[io.batchAxis] *= microbatches;
  return d;
}

TensorDesc wholeBatch(const Plan &plan, const Plan::Io &io) {
  return wholeBatch(io, plan.batchMicrobatches());
}

void copyRows(const std::vector<int64_t> &whole, size_t elementBytes, int axis,
              int64_t start, int64_t count, const uint8_t *from, uint8_t *to,
              bool place) {
  int64_t outer = 1, inner = elementBytes;
  for (int i = 0; i < axis; ++i)
    outer *= whole[i];
  for (size_t i = axis + 1; i < whole.size(); ++i)
    inner *= whole[i];
  int64_t rows = whole[axis];
  for (int64_t o = 0; o < outer; ++o) {
    size_t at = (o * rows + start) * inner, slab = count * inner;
    if (place)
      std::memcpy(to + at, from + o * slab, slab);
    else
      std::memcpy(to + o * slab, from + at, slab);
  }
}

namespace {
std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s + "]";
}
} // namespace

Status checkInputs(const Plan &plan, const BatchIO &io) {
  auto inputs = plan.modelInputs();
  std::string names;
  for (const Plan::Io &in : inputs)
    names += (names.empty() ? "" : ", ") + in.name;
  for (auto &[name, t] : io.inputs) {
    bool known = false;
    for (const Plan::Io &in : inputs)
      known |= in.name == name;
    if (!known)
      return invalidArgument("--input " + name + ": the model has no input '" +
                             name + "' (its inputs: " + names + ")");
  }
  for (const Plan::Io &in : inputs) {
    bool used = false;
    for (const Plan::Stage &s : plan.stages)
      for (const Plan::Io &si : s.inputs)
        used |= si.name == in.name;
    auto it = io.inputs.find(in.name);
    if (!used && it != io.inputs.end())
      continue; // read by no op: any value will do
    if (it == io.inputs.end())
      return invalidArgument("missing input '" + in.name + "': give it with "
                             "--input " + in.name + "=FILE.npy");
    const TensorDesc &got = it->second.desc;
    auto want = wholeBatch(plan, in).shape;
    // numpy has no bfloat16: its bits come as uint16, as torch and ONNX
    // export them.
    bool bf16Bits = got.dtype == DType::U16 && in.desc.dtype == DType::BF16;
    if (got.dtype != in.desc.dtype && !bf16Bits)
      return invalidArgument("input '" + in.name + "' is " + dtypeName(got.dtype) +
                             ", the model takes " + dtypeName(in.desc.dtype));
    if (got.shape != want)
      return invalidArgument(
          "input '" + in.name + "' has shape " + shapeText(got.shape) +
          ", the pipeline takes " + shapeText(want) +
          (in.batchAxis < 0
               ? std::string(" (the same for every micro-batch)")
               : " (" + std::to_string(plan.batchMicrobatches()) +
                     " micro-batches of " + shapeText(in.desc.shape) +
                     (in.batchAxis > 0
                          ? " stacked on axis " + std::to_string(in.batchAxis)
                          : std::string()) +
                     ")"));
  }
  return Status::ok();
}

void allocateOutputs(const Plan &plan, BatchIO &io) {
  for (const Plan::Io &out : plan.modelOutputs()) {
    HostTensor &t = io.outputs[out.name];
    t.desc = wholeBatch(plan, out);
    t.bytes.assign(*t.desc.byteSize(), 0);
  }
}

Executor::Executor(const Plan &plan, int rank, Backend &backend,
                   Transport &transport)
    : plan(plan), rank(rank), pipeRank_(rank / plan.replicas),
      replica_(rank % plan.replicas), backend(backend),
      comm(createComm(transport)) {
  for (int r = 0; r < plan.worldRanks(); ++r)
    world.push_back(r);
  for (int j = 0; j < plan.replicas; ++j)
    replicaGroup.push_back(pipeRank_ * plan.replicas + j);
  for (const Plan::Io &io : plan.modelInputs())
    batchAxes[io.name] = io.batchAxis;
  for (const Plan::Io &io : plan.modelOutputs())
    batchAxes[io.name] = io.batchAxis;
  const std::vector<Action> &actions = plan.actions.at(pipeRank_);
  for (size_t i = 0; i < actions.size(); ++i)
    if (actions[i].op == ActionOp::Bwd || actions[i].op == ActionOp::BwdB ||
        actions[i].op == ActionOp::BwdW)
      lastBackward[actions[i].stage] = i;
  if (plan.training)
    layOutBuckets();
  scaling_ = plan.training && plan.optimizer.lossScale > 0;
  if (scaling_)
    scaler_.scale = float(plan.optimizer.lossScale);
}

Executor::~Executor() = default;

Status Executor::load() {
  for (const Plan::Stage &s : plan.stages) {
    if (s.rank != pipeRank_)
      continue;
    auto weights = Weights::load(s.weights);
    if (!weights)
      return weights.status();
    Loaded &l = stages[s.stage];
    l.weights = std::make_shared<Weights>(std::move(*weights));
    // Training updates the parameters in place: they leave the read-only
    // map, once, for memory the stage's three programs share.
    if (plan.training)
      l.weights->makeWritable();
    const std::string *paths[3] = {&s.program, &s.programB, &s.programW};
    for (int phase = Fwd; phase <= (plan.training ? BwdW : Fwd); ++phase) {
      if (paths[phase]->empty())
        return dataLoss(plan.dir + "/pipeline.json: stage " +
                        std::to_string(s.stage) + " has no backward programs");
      auto program =
          StageProgram::load(*paths[phase], l.weights, backend.hostArena());
      if (!program)
        return program.status();
      auto prepared = backend.prepare(**program);
      if (!prepared)
        return prepared.status().withContext("rank " + std::to_string(rank));
      (*prepared)->setEvaluation(evalMode);
      l.program[phase] = std::move(*program);
      l.prepared[phase] = std::move(*prepared);
    }
  }
  return Status::ok();
}

void Executor::enableProfile(bool on) {
  for (auto &[stage, l] : stages)
    for (auto &p : l.prepared)
      if (p)
        p->enableProfile(on);
}

void Executor::setEvalMode(bool on) {
  evalMode = on;
  for (auto &[stage, l] : stages)
    for (auto &p : l.prepared)
      if (p)
        p->setEvaluation(on);
}

std::vector<PreparedStage::OpTime> Executor::profile() const {
  std::vector<PreparedStage::OpTime> all;
  for (auto &[stage, l] : stages)
    for (size_t phase = 0; phase < std::size(l.prepared); ++phase)
      if (l.prepared[phase])
        for (PreparedStage::OpTime t : l.prepared[phase]->profile()) {
          t.forward = phase == Fwd;
          all.push_back(std::move(t));
        }
  return all;
}

std::vector<Executor::StashPeak> Executor::stashPeaks() const {
  std::vector<StashPeak> out;
  for (auto &[stage, peak] : stashPeak)
    out.push_back(peak);
  return out;
}

Status Executor::runProgram(int stage, Phase phase, int mb, BatchIO &io) {
  Loaded &l = stages.at(stage);
  StageProgram &p = *l.program[phase];
  PreparedStage &run = *l.prepared[phase];
  // Every byte goes in and out through the backend (host memory on the
  // CPU, device memory on CUDA).
  auto &buffers = p.buffers();
  // This replica's micro-batches of the whole batch.
  int64_t row = int64_t(replica_) * plan.microbatches + mb;
  for (auto &[name, id] : p.inputs()) {
    const HostTensor &whole = io.inputs.at(name);
    int axis = batchAxes.count(name) ? batchAxes.at(name) : 0;
    if (axis < 0) {
      // The same tensor for every micro-batch.
      PPRT_RETURN_IF_ERROR(run.write(id, whole.bytes.data()));
    } else if (axis == 0 || whole.desc.shape.empty()) {
      PPRT_RETURN_IF_ERROR(
          run.write(id, whole.bytes.data() + row * buffers[id].bytes));
    } else {
      // Micro-batches stacked on a later axis: gathered into one.
      rows.resize(buffers[id].bytes);
      copyRows(whole.desc.shape, dtypeSize(whole.desc.dtype), axis,
               row * buffers[id].desc.shape[axis], buffers[id].desc.shape[axis],
               whole.bytes.data(), rows.data(), /*place=*/false);
      PPRT_RETURN_IF_ERROR(run.write(id, rows.data()));
    }
  }
  if (!p.stashInputs().empty()) {
    auto kept = stash.find({stage, mb});
    for (auto [slot, id] : p.stashInputs()) {
      std::map<int, std::unique_ptr<Kept>>::iterator it;
      if (kept == stash.end() ||
          (it = kept->second.find(slot)) == kept->second.end())
        return internalError("value " + std::to_string(slot) +
                             " kept for the backward is missing: the "
                             "schedule ran a backward before its forward");
      PPRT_RETURN_IF_ERROR(run.restore(id, *it->second));
      stashBytes[stage] -= it->second->bytes;
      kept->second.erase(it);
    }
    if (kept->second.empty())
      stash.erase(kept);
  }
  int kind = phase == Fwd ? 0 : 1;
  for (auto &[peer, ids] : p.recvs()) {
    auto it = inbox.find({kind, stage, peer, mb});
    if (it == inbox.end())
      return internalError(std::string(kind ? "gradients" : "activations") +
                           " from stage " + std::to_string(peer) +
                           " were not received");
    Status st = comm->unpack(it->second, run, ids);
    inbox.erase(it);
    PPRT_RETURN_IF_ERROR(st);
  }
  PPRT_RETURN_IF_ERROR(run.run());
  for (auto &[name, id] : p.outputs()) {
    auto out = io.outputs.find(name);
    if (out == io.outputs.end() ||
        out->second.bytes.size() < size_t(row + 1) * buffers[id].bytes)
      return internalError("output '" + name + "' was not allocated for " +
                           std::to_string(plan.batchMicrobatches()) +
                           " micro-batches");
    int axis = batchAxes.count(name) ? batchAxes.at(name) : 0;
    if (axis <= 0 || out->second.desc.shape.empty()) {
      PPRT_RETURN_IF_ERROR(
          run.read(id, out->second.bytes.data() + row * buffers[id].bytes));
    } else {
      rows.resize(buffers[id].bytes);
      PPRT_RETURN_IF_ERROR(run.read(id, rows.data()));
      copyRows(out->second.desc.shape, dtypeSize(out->second.desc.dtype), axis,
               row * buffers[id].desc.shape[axis], buffers[id].desc.shape[axis],
               rows.data(), out->second.bytes.data(), /*place=*/true);
    }
  }
  if (plan.training && !evalMode)
    for (auto &[param, id] : p.stateUpdates()) {
      // Kernels cache nothing derived from these (they are read by
      // batch_norm_train only), so no version is bumped; a backend keeping
      // its own copy (CUDA) refreshes that one.
      const Weights::Entry *e = l.weights->find(param);
      if (!e || e->bytes != buffers[id].bytes)
        return internalError("state update of '" + param +
                             "' does not match a parameter of stage " +
                             std::to_string(stage));
      PPRT_RETURN_IF_ERROR(run.updateParameter(id, e->data));
    }
  if (!evalMode && !p.stashOutputs().empty()) {
    auto &kept = stash[{stage, mb}];
    for (auto [slot, id] : p.stashOutputs()) {
      auto value = run.keep(id);
      if (!value)
        return value.status();
      stashBytes[stage] += (*value)->bytes;
      kept[slot] = std::move(*value);
    }
    StashPeak &peak = stashPeak[stage];
    peak.stage = stage;
    peak.bytes = std::max(peak.bytes, stashBytes[stage]);
    int held = 0;
    for (auto &[key, slots] : stash)
      held += key.first == stage;
    peak.microbatches = std::max(peak.microbatches, held);
  }
  for (const StageProgram::Grad &g : p.grads()) {
    const TensorRef &t = buffers[g.buffer];
    if (t.desc.dtype != DType::F32)
      return invalidArgument("gradient of '" + g.param + "' is " +
                             dtypeName(t.desc.dtype) +
                             ": training runs in f32");
    // Summed over the micro-batches where the backend computes.
    bool first = false;
    auto acc = sumOf(gradAcc[{g.param, g.use}], t.numel, &first);
    if (!acc)
      return acc.status();
    PPRT_RETURN_IF_ERROR(backend.accumulate(run, g.buffer, **acc, first));
  }
  for (auto &[peer, ids] : p.sends()) {
    MessageHeader h{kind, stage, peer, mb};
    auto m = comm->pack(h, run, ids);
    if (!m)
      return m.status();
    // A stage of this same rank (interleaved): no transfer, straight in.
    if (rankOf(peer) == rank)
      inbox[{kind, peer, stage, mb}] = std::move(*m);
    else
      outbox[{kind, stage, peer, mb}] = std::move(*m);
  }
  return Status::ok();
}

Status Executor::transfer(const Action &a) {
  bool grad = a.op == ActionOp::SendGrad || a.op == ActionOp::RecvGrad;
  int kind = grad ? 1 : 0;
  if (a.op == ActionOp::SendAct || a.op == ActionOp::SendGrad) {
    auto it = outbox.find({kind, a.stage, a.peer, a.mb});
    if (it == outbox.end())
      return internalError(std::string("nothing to send: the ") +
                           (grad ? "backward" : "forward") + " has not run");
    Status st = comm->send(rankOf(a.peer), std::move(it->second));
    outbox.erase(it);
    return st;
  }
  MessageHeader want{kind, a.peer, a.stage, a.mb};
  auto m = comm->recv(rankOf(a.peer), want, want.toString());
  if (!m)
    return m.status();
  inbox[{kind, a.stage, a.peer, a.mb}] = std::move(*m);
  return Status::ok();
}

Status Executor::gatherOutputs(BatchIO &io) {
  for (const Plan::Stage &s : plan.stages) {
    if (s.rank != pipeRank_)
      continue;
    for (const Plan::Io &out : s.outputs) {
      HostTensor &t = io.outputs.at(out.name);
      // Each replica's micro-batches, on the output's batch axis.
      int axis = std::max(0, out.batchAxis);
      size_t rows = t.bytes.size() / plan.replicas;
      int64_t perReplica =
          t.desc.shape.empty() ? 1 : t.desc.shape[axis] / plan.replicas;
      auto slice = [&](int j, const uint8_t *from, uint8_t *to, bool place) {
        if (t.desc.shape.empty() || axis == 0) {
          if (place)
            std::memcpy(to + rows * j, from, rows);
          else
            std::memcpy(to, from + rows * j, rows);
        } else {
          copyRows(t.desc.shape, dtypeSize(t.desc.dtype), axis, perReplica * j,
                   perReplica, from, to, place);
        }
      };
      std::vector<uint8_t> mine(rows);
      slice(replica_, t.bytes.data(), mine.data(), /*place=*/false);
      auto all = comm->allGatherBytes(replicaGroup, mine);
      if (!all)
        return all.status().withContext("gathering output '" + out.name + "'");
      for (int j = 0; j < plan.replicas; ++j) {
        if ((*all)[j].size() != rows)
          return dataLoss("replica " + std::to_string(j) + " sent " +
                          std::to_string((*all)[j].size()) + " bytes of '" +
                          out.name + "', expected " + std::to_string(rows));
        slice(j, (*all)[j].data(), t.bytes.data(), /*place=*/true);
      }
    }
  }
  return Status::ok();
}

Status Executor::runBatch(BatchIO &io, std::vector<TraceEvent> *trace,
                          double timeOrigin) {
  auto now = [&] {
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
               .count() -
           timeOrigin;
  };
  bool backward = plan.training && !evalMode;
  if (backward && scaling_)
    PPRT_RETURN_IF_ERROR(writeLossScale());
  const std::vector<Action> &actions = plan.actions.at(pipeRank_);
  for (size_t i = 0; i < actions.size(); ++i) {
    const Action &a = actions[i];
    bool forwardAction = a.op == ActionOp::Fwd || a.op == ActionOp::SendAct ||
                         a.op == ActionOp::RecvAct;
    if (!forwardAction && !backward)
      continue;
    double start = trace ? now() : 0;
    Status st;
    switch (a.op) {
    case ActionOp::Fwd:
      st = runProgram(a.stage, Fwd, a.mb, io);
      break;
    case ActionOp::Bwd:
      st = runProgram(a.stage, BwdB, a.mb, io);
      if (st.isOk())
        st = runProgram(a.stage, BwdW, a.mb, io);
      break;
    case ActionOp::BwdB:
      st = runProgram(a.stage, BwdB, a.mb, io);
      break;
    case ActionOp::BwdW:
      st = runProgram(a.stage, BwdW, a.mb, io);
      break;
    default:
      st = transfer(a);
      break;
    }
    // Data parallel: a stage's own gradients are complete once its last
    // backward has run; they are summed over the replicas now, while the
    // stages of other ranks still run.
    if (st.isOk() && backward && plan.replicas > 1 &&
        (a.op == ActionOp::Bwd || a.op == ActionOp::BwdB ||
         a.op == ActionOp::BwdW) &&
        lastBackward.at(a.stage) == i && buckets.count(a.stage))
      st = reduceBucket(a.stage);
    if (!st.isOk())
      return st.withContext("rank " + std::to_string(rank) + ", " +
                            actionName(a.op) + " of stage " +
                            std::to_string(a.stage) + " micro-batch " +
                            std::to_string(a.mb));
    if (trace)
      trace->push_back({rank, a, start, now()});
  }
  if (!backward)
    return Status::ok();
  Status st = finishStep(io);
  if (!st.isOk())
    return st.withContext("rank " + std::to_string(rank) + ", step " +
                          std::to_string(step_ + 1));
  return Status::ok();
}

} // namespace pprt
