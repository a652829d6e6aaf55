//===- Program.cpp - loading and checking a stage program -----------------===//

#include "pprt/Program.h"

#include "Verify.h"

#include "pprt/DTypeSchema.h"
#include "pprt/stage_generated.h"

#include <cstring>
#include <new>
#include <unistd.h>

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
  // Nothing in the file is trusted until checked: the checksum catches
  // accidents, verifyProgram edits.
  auto checked =
      checkStageProgram((*file)->data(), (*file)->size(), ppxPath);
  if (!checked)
    return checked.status();
  const uint8_t *body = (*file)->data() + kStageProgramHeaderBytes;

  std::unique_ptr<StageProgram> s(new StageProgram());
  s->file_ = *file;
  s->program_ = fb::GetStageProgram(body);
  s->weights_ = std::move(weights);
  const fb::StageProgram &prog = *s->program_;
  if (hostArena) {
    // Zeroing an arena larger than the machine would end in the OOM killer,
    // not an error.
    int64_t memory = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    if (memory > 0 && prog.arena_bytes() > memory)
      return invalidArgument(ppxPath + ": needs an arena of " +
                             std::to_string(prog.arena_bytes()) +
                             " bytes, more than this machine's memory (" +
                             std::to_string(memory) + ")");
    try {
      s->arena_.resize((prog.arena_bytes() + 63) / 64);
    } catch (const std::bad_alloc &) {
      return invalidArgument(ppxPath + ": cannot allocate its arena of " +
                             std::to_string(prog.arena_bytes()) + " bytes");
    }
  }
  uint8_t *arena = s->arena_.empty() ? nullptr : s->arena_.front().bytes;
  if (!prog.buffers())
    return dataLoss(ppxPath + ": no buffers");
  for (const fb::Buffer *b : *prog.buffers()) {
    TensorRef t;
    t.desc.dtype = fromSchema(b->dtype());
    if (b->shape())
      t.desc.shape.assign(b->shape()->begin(), b->shape()->end());
    auto n = t.desc.numElements();
    if (!n)
      return dataLoss(ppxPath + ": " + n.status().message());
    t.numel = *n;
    t.bytes = *n * dtypeSize(t.desc.dtype);
    switch (b->kind()) {
    case fb::BufferKind::Arena:
      // verifyProgram: inside the arena.
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
