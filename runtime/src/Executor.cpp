//===- Executor.cpp - one rank walking its action list --------------------===//
//
// A message is a 16-byte header (kind, from stage, to stage, micro-batch)
// and the packed tensors of one pp.send, in order. The header is checked on
// arrival, so a schedule that the runtime and compiler disagree on fails
// loudly instead of computing garbage.
//
//===----------------------------------------------------------------------===//

#include "pprt/Executor.h"

#include <chrono>
#include <cstring>

namespace pprt {

namespace {
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
    auto program = StageProgram::load(s.program, s.weights);
    if (!program)
      return program.status();
    auto prepared = backend.prepare(**program);
    if (!prepared)
      return prepared.status();
    stages[s.stage] = {std::move(*program), std::move(*prepared)};
  }
  return Status::ok();
}

void Executor::enableProfile(bool on) {
  for (auto &[stage, l] : stages)
    l.prepared->enableProfile(on);
}

std::vector<PreparedStage::OpTime> Executor::profile() const {
  std::vector<PreparedStage::OpTime> all;
  for (auto &[stage, l] : stages) {
    auto p = l.prepared->profile();
    all.insert(all.end(), p.begin(), p.end());
  }
  return all;
}

Status Executor::forward(int stage, int mb, BatchIO &io) {
  Loaded &l = stages.at(stage);
  StageProgram &p = *l.program;
  auto &buffers = p.buffers();
  for (auto &[name, id] : p.inputs()) {
    TensorRef &t = buffers[id];
    const HostTensor &whole = io.inputs.at(name);
    std::memcpy(t.data, whole.bytes.data() + mb * t.bytes, t.bytes);
  }
  for (auto &[peer, ids] : p.recvs()) {
    auto it = inbox.find({stage, peer, mb});
    if (it == inbox.end())
      return internalError("activations from stage " + std::to_string(peer) +
                           " were not received");
    const std::vector<uint8_t> &m = it->second;
    size_t at = 16;
    for (int id : ids) {
      TensorRef &t = buffers[id];
      if (at + t.bytes > m.size())
        return dataLoss("message from stage " + std::to_string(peer) +
                        " is shorter than the program expects");
      std::memcpy(t.data, m.data() + at, t.bytes);
      at += t.bytes;
    }
    inbox.erase(it);
  }
  PPRT_RETURN_IF_ERROR(l.prepared->run());
  for (auto &[name, id] : p.outputs()) {
    TensorRef &t = buffers[id];
    std::memcpy(io.outputs.at(name).bytes.data() + mb * t.bytes, t.data,
                t.bytes);
  }
  for (auto &[peer, ids] : p.sends()) {
    std::vector<uint8_t> m(16);
    for (int id : ids) {
      TensorRef &t = buffers[id];
      m.insert(m.end(), t.data, t.data + t.bytes);
    }
    putHeader(m, 0, stage, peer, mb);
    outbox[{stage, peer, mb}] = std::move(m);
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
  auto rankOf = [&](int stage) { return plan.stages.at(stage).rank; };
  for (const Action &a : plan.actions.at(rank)) {
    if (a.op != ActionOp::Fwd && a.op != ActionOp::SendAct &&
        a.op != ActionOp::RecvAct)
      continue; // forward only until training lands
    double start = trace ? now() : 0;
    Status st;
    if (a.op == ActionOp::Fwd) {
      st = forward(a.stage, a.mb, io);
    } else if (a.op == ActionOp::SendAct) {
      auto it = outbox.find({a.stage, a.peer, a.mb});
      if (it == outbox.end()) {
        st = internalError("nothing to send: the forward has not run");
      } else {
        st = transport.send(rankOf(a.peer), std::move(it->second));
        outbox.erase(it);
      }
    } else {
      auto m = transport.recv(rankOf(a.peer));
      if (!m) {
        st = m.status();
      } else {
        int32_t h[4] = {-1, -1, -1, -1};
        if (m->size() >= 16)
          std::memcpy(h, m->data(), 16);
        if (h[0] != 0 || h[1] != a.peer || h[2] != a.stage || h[3] != a.mb)
          st = dataLoss("expected activations of stage " +
                        std::to_string(a.peer) + " -> " +
                        std::to_string(a.stage) + " micro-batch " +
                        std::to_string(a.mb) + ", got stage " +
                        std::to_string(h[1]) + " -> " + std::to_string(h[2]) +
                        " micro-batch " + std::to_string(h[3]));
        else
          inbox[{a.stage, a.peer, a.mb}] = std::move(*m);
      }
    }
    if (!st.isOk())
      return st.withContext("rank " + std::to_string(rank) + ", " +
                            actionName(a.op) + " of stage " +
                            std::to_string(a.stage) + " micro-batch " +
                            std::to_string(a.mb));
    if (trace)
      trace->push_back({rank, a, start, now()});
  }
  return Status::ok();
}

} // namespace pprt
