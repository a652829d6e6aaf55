//===- Program.cpp - loading and checking a stage program -----------------===//

#include "pprt/Program.h"

#include "pprt/stage_generated.h"

#include <cstring>

namespace pprt {

int StageProgram::stage() const { return program_->stage(); }

void StageProgram::parametersChanged() {
  for (int id : paramBuffers_)
    ++buffers_[id].version;
}

StatusOr<std::unique_ptr<StageProgram>>
StageProgram::load(const std::string &ppxPath,
                   std::shared_ptr<Weights> weights, bool hostArena) {
  auto file = MappedFile::open(ppxPath);
  if (!file)
    return file.status();
  const uint8_t *p = (*file)->data();
  size_t size = (*file)->size();
  if (size < kStageProgramHeaderBytes ||
      std::memcmp(p, kStageProgramMagic, 4) != 0)
    return dataLoss(ppxPath + ": not a stage program (" +
                    (size < kStageProgramHeaderBytes
                         ? "truncated: " + std::to_string(size) + " bytes"
                         : std::string("bad magic")) +
                    ")");
  auto read = [&](size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
      v = v << 8 | p[at + i];
    return v;
  };
  uint32_t version = read(4, 4);
  if (version != kStageProgramVersion)
    return invalidArgument(ppxPath + ": stage program format version " +
                           std::to_string(version) + ", this pprun reads " +
                           std::to_string(kStageProgramVersion) +
                           ": recompile with the matching ppc");
  const uint8_t *body = p + kStageProgramHeaderBytes;
  size_t bodySize = size - kStageProgramHeaderBytes;
  if (read(16, 8) != fnv1a(body, bodySize))
    return dataLoss(ppxPath + ": checksum mismatch: the file is truncated or "
                              "corrupt");
  flatbuffers::Verifier verifier(body, bodySize);
  if (!fb::VerifyStageProgramBuffer(verifier))
    return dataLoss(ppxPath + ": malformed stage program");

  std::unique_ptr<StageProgram> s(new StageProgram());
  s->file_ = *file;
  s->program_ = fb::GetStageProgram(body);
  s->weights_ = std::move(weights);
  const fb::StageProgram &prog = *s->program_;
  if (hostArena)
    s->arena_.resize((prog.arena_bytes() + 63) / 64);
  uint8_t *arena = s->arena_.empty() ? nullptr : s->arena_.front().bytes;
  if (!prog.buffers())
    return dataLoss(ppxPath + ": no buffers");
  for (const fb::Buffer *b : *prog.buffers()) {
    TensorRef t;
    t.desc.dtype = static_cast<DType>(b->dtype());
    if (b->shape())
      t.desc.shape.assign(b->shape()->begin(), b->shape()->end());
    auto n = t.desc.numElements();
    if (!n)
      return dataLoss(ppxPath + ": " + n.status().message());
    t.numel = *n;
    t.bytes = *n * dtypeSize(t.desc.dtype);
    switch (b->kind()) {
    case fb::BufferKind::Arena:
      if (b->offset() < 0 || b->offset() + t.bytes > prog.arena_bytes())
        return dataLoss(ppxPath + ": a buffer lies outside the arena");
      t.data = arena ? arena + b->offset() : nullptr;
      break;
    case fb::BufferKind::Param: {
      std::string name = b->name() ? b->name()->str() : "";
      const Weights::Entry *w = s->weights_->find(name);
      if (!w)
        return notFound(ppxPath + ": the stage's weights have no parameter '" +
                        name + "'");
      if (!(w->desc == t.desc))
        return invalidArgument(ppxPath + ": parameter '" + name + "' is " +
                               w->desc.toString() + ", the program needs " +
                               t.desc.toString());
      t.data = w->data;
      t.constant = true;
      s->paramBuffers_.push_back(s->buffers_.size());
      break;
    }
    case fb::BufferKind::Constant:
      if (!b->data() || (int64_t)b->data()->size() != t.bytes)
        return dataLoss(ppxPath + ": a constant has the wrong size");
      t.data = const_cast<uint8_t *>(b->data()->data());
      t.constant = true;
      break;
    }
    s->buffers_.push_back(t);
  }
  int numBuffers = s->buffers_.size();
  auto index = [&](int i) { return i >= 0 && i < numBuffers; };
  auto bindings = [&](const auto *list, auto &out) {
    if (list)
      for (const fb::Binding *b : *list) {
        if (!index(b->buffer()))
          return false;
        out.push_back({b->name()->str(), b->buffer()});
      }
    return true;
  };
  auto messages = [&](const auto *list, auto &out) {
    if (list)
      for (const fb::Message *m : *list) {
        std::vector<int> ids;
        if (m->buffers())
          for (int i : *m->buffers()) {
            if (!index(i))
              return false;
            ids.push_back(i);
          }
        out.push_back({m->peer(), ids});
      }
    return true;
  };
  bool ok = bindings(prog.inputs(), s->inputs_) &&
            bindings(prog.outputs(), s->outputs_) &&
            messages(prog.recvs(), s->recvs_) &&
            messages(prog.sends(), s->sends_);
  if (prog.phase())
    s->phase_ = prog.phase()->str();
  auto slots = [&](const auto *list, auto &out) {
    if (list)
      for (const fb::Slot *slot : *list) {
        if (!index(slot->buffer()))
          return false;
        out.push_back({slot->id(), slot->buffer()});
      }
    return true;
  };
  ok &= slots(prog.stash_inputs(), s->stashIn_) &&
        slots(prog.stash_outputs(), s->stashOut_);
  if (prog.grads())
    for (const fb::Grad *g : *prog.grads()) {
      ok &= index(g->buffer());
      s->grads_.push_back({g->param()->str(), g->use(), g->buffer()});
    }
  if (prog.state_updates())
    for (const fb::Binding *b : *prog.state_updates()) {
      ok &= index(b->buffer());
      s->states_.push_back({b->name()->str(), b->buffer()});
    }
  if (prog.instrs())
    for (const fb::Instr *in : *prog.instrs()) {
      for (const auto *list : {in->operands(), in->results()})
        if (list)
          for (int i : *list)
            ok &= index(i);
    }
  if (!ok)
    return dataLoss(ppxPath + ": a buffer index is out of range");
  return s;
}

} // namespace pprt
