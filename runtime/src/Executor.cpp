//===- Executor.cpp - one rank walking its action list --------------------===//
//
// A message is a 16-byte header (kind, from stage, to stage, micro-batch)
// and the packed tensors of one pp.send, in order. The header is checked on
// arrival, so a schedule that the runtime and compiler disagree on fails
// loudly instead of computing garbage. Between the ranks of one process
// (Transport::inProcess) the header travels with a ticket instead, for the
// tensors kept by the sender's backend (on the device, for CUDA: no trip
// through host memory), which the receiver restores into its buffers.
//
//===----------------------------------------------------------------------===//

#include "pprt/Executor.h"

#include <chrono>
#include <cstring>
#include <iterator>
#include <mutex>

namespace pprt {

namespace {
/// The tensors of in-process messages, by ticket, from the sending rank's
/// thread to the receiving one's.
class Parcels {
public:
  uint64_t put(std::vector<std::unique_ptr<Kept>> values) {
    std::lock_guard<std::mutex> lock(mutex);
    held[next] = std::move(values);
    return next++;
  }
  std::vector<std::unique_ptr<Kept>> take(uint64_t ticket) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = held.find(ticket);
    if (it == held.end())
      return {};
    auto values = std::move(it->second);
    held.erase(it);
    return values;
  }

private:
  std::mutex mutex;
  uint64_t next = 1;
  std::map<uint64_t, std::vector<std::unique_ptr<Kept>>> held;
};
Parcels &parcels() {
  static Parcels p;
  return p;
}

/// Writes the header into the first 16 bytes, which the packer left free so
/// that the payload is never moved.
void putHeader(std::vector<uint8_t> &m, int32_t kind, int32_t from, int32_t to,
               int32_t mb) {
  int32_t h[4] = {kind, from, to, mb};
  std::memcpy(m.data(), h, sizeof h);
}
} // namespace

TensorDesc wholeBatch(const TensorDesc &microbatch, int microbatches) {
  TensorDesc d = microbatch;
  if (!d.shape.empty())
    d.shape[0] *= microbatches;
  return d;
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
    auto want = wholeBatch(in.desc, plan.microbatches).shape;
    // numpy has no bfloat16: its bits come as uint16, as torch and ONNX
    // export them.
    bool bf16Bits = got.dtype == DType::U16 && in.desc.dtype == DType::BF16;
    if (got.dtype != in.desc.dtype && !bf16Bits)
      return invalidArgument("input '" + in.name + "' is " + dtypeName(got.dtype) +
                             ", the model takes " + dtypeName(in.desc.dtype));
    if (got.shape != want)
      return invalidArgument(
          "input '" + in.name + "' has shape " + shapeText(got.shape) +
          ", the pipeline takes " + shapeText(want) + " (" +
          std::to_string(plan.microbatches) + " micro-batches of " +
          shapeText(in.desc.shape) + ")");
  }
  return Status::ok();
}

void allocateOutputs(const Plan &plan, BatchIO &io) {
  for (const Plan::Io &out : plan.modelOutputs()) {
    HostTensor &t = io.outputs[out.name];
    t.desc = wholeBatch(out.desc, plan.microbatches);
    t.bytes.assign(*t.desc.byteSize(), 0);
  }
}

Executor::Executor(const Plan &plan, int rank, Backend &backend,
                   Transport &transport)
    : plan(plan), rank(rank), backend(backend), transport(transport) {}

Status Executor::load() {
  for (const Plan::Stage &s : plan.stages) {
    if (s.rank != rank)
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
  for (auto &[name, id] : p.inputs()) {
    const HostTensor &whole = io.inputs.at(name);
    PPRT_RETURN_IF_ERROR(
        run.write(id, whole.bytes.data() + mb * buffers[id].bytes));
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
    const std::vector<uint8_t> &m = it->second;
    if (transport.inProcess()) {
      uint64_t ticket = 0;
      if (m.size() == 16 + sizeof ticket)
        std::memcpy(&ticket, m.data() + 16, sizeof ticket);
      auto values = parcels().take(ticket);
      if (values.size() != ids.size())
        return internalError("message from stage " + std::to_string(peer) +
                             " holds " + std::to_string(values.size()) +
                             " tensors, the program expects " +
                             std::to_string(ids.size()));
      for (size_t k = 0; k < ids.size(); ++k) {
        if (values[k]->bytes != buffers[ids[k]].bytes)
          return dataLoss("message from stage " + std::to_string(peer) +
                          " does not match the tensors the program expects");
        PPRT_RETURN_IF_ERROR(run.restore(ids[k], *values[k]));
      }
      inbox.erase(it);
      continue;
    }
    size_t at = 16;
    for (int id : ids) {
      int64_t bytes = buffers[id].bytes;
      if (at + bytes > m.size())
        return dataLoss("message from stage " + std::to_string(peer) +
                        " is shorter than the program expects");
      PPRT_RETURN_IF_ERROR(run.write(id, m.data() + at));
      at += bytes;
    }
    inbox.erase(it);
  }
  PPRT_RETURN_IF_ERROR(run.run());
  for (auto &[name, id] : p.outputs())
    PPRT_RETURN_IF_ERROR(run.read(
        id, io.outputs.at(name).bytes.data() + mb * buffers[id].bytes));
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
      PPRT_RETURN_IF_ERROR(run.read(id, e->data));
      PPRT_RETURN_IF_ERROR(run.parameterWritten(e->data));
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
    auto [it, first] = gradAcc.try_emplace({g.param, g.use});
    if (first) {
      it->second.resize(t.numel);
      PPRT_RETURN_IF_ERROR(run.read(g.buffer, it->second.data()));
    } else {
      gradScratch.resize(t.numel);
      PPRT_RETURN_IF_ERROR(run.read(g.buffer, gradScratch.data()));
      addInto(it->second.data(), gradScratch.data(), t.numel);
    }
  }
  for (auto &[peer, ids] : p.sends()) {
    std::vector<uint8_t> m;
    if (transport.inProcess()) {
      std::vector<std::unique_ptr<Kept>> values;
      for (int id : ids) {
        auto value = run.keep(id);
        if (!value)
          return value.status();
        values.push_back(std::move(*value));
      }
      uint64_t ticket = parcels().put(std::move(values));
      m.resize(16 + sizeof ticket);
      std::memcpy(m.data() + 16, &ticket, sizeof ticket);
    } else {
      size_t total = 16;
      for (int id : ids)
        total += buffers[id].bytes;
      m.resize(total);
      size_t at = 16;
      for (int id : ids) {
        PPRT_RETURN_IF_ERROR(run.read(id, m.data() + at));
        at += buffers[id].bytes;
      }
    }
    putHeader(m, kind, stage, peer, mb);
    // A stage of this same rank (interleaved): no transfer, straight in.
    if (rankOf(peer) == rank)
      inbox[{kind, peer, stage, mb}] = std::move(m);
    else
      outbox[{kind, stage, peer, mb}] = std::move(m);
  }
  return Status::ok();
}

Status Executor::transfer(const Action &a) {
  bool grad = a.op == ActionOp::SendGrad || a.op == ActionOp::RecvGrad;
  int kind = grad ? 1 : 0;
  const char *what = grad ? "gradients" : "activations";
  if (a.op == ActionOp::SendAct || a.op == ActionOp::SendGrad) {
    auto it = outbox.find({kind, a.stage, a.peer, a.mb});
    if (it == outbox.end())
      return internalError(std::string("nothing to send: the ") +
                           (grad ? "backward" : "forward") + " has not run");
    Status st = transport.send(rankOf(a.peer), std::move(it->second));
    outbox.erase(it);
    return st;
  }
  auto m = transport.recv(rankOf(a.peer));
  if (!m)
    return m.status();
  int32_t h[4] = {-1, -1, -1, -1};
  if (m->size() >= 16)
    std::memcpy(h, m->data(), 16);
  if (h[0] != kind || h[1] != a.peer || h[2] != a.stage || h[3] != a.mb)
    return dataLoss(std::string("expected ") + what + " of stage " +
                    std::to_string(a.peer) + " -> " + std::to_string(a.stage) +
                    " micro-batch " + std::to_string(a.mb) + ", got " +
                    (h[0] == 1 ? "gradients" : "activations") + " of stage " +
                    std::to_string(h[1]) + " -> " + std::to_string(h[2]) +
                    " micro-batch " + std::to_string(h[3]));
  inbox[{kind, a.stage, a.peer, a.mb}] = std::move(*m);
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
  for (const Action &a : plan.actions.at(rank)) {
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
