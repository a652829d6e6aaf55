//===- TestPipeline.h - a small valid pipeline, written without ppc -*- C++ -*-===//
//
// The runtime builds and is tested without the compiler, so its tests and
// the fuzzers' seed corpora make their artifacts here: a two-stage
// pipeline (x -> relu -> [stage 0 | stage 1] -> add b -> y), two
// micro-batches, inference schedule; and a two-stage training pipeline
// (writeTrainingPipeline). Each piece can be taken apart and
// broken by a test.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_TEST_TESTPIPELINE_H
#define PPRT_TEST_TESTPIPELINE_H

#include "pprt/Files.h"
#include "pprt/Format.h"

#include "pprt/stage_generated.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace pprt {
namespace test {

/// A stage program as plain data, so that tests can edit it before it is
/// built.
struct ProgramSpec {
  struct Buf {
    fb::BufferKind kind = fb::BufferKind::Arena;
    fb::DType dtype = fb::DType::F32;
    std::vector<int64_t> shape;
    int64_t offset = 0;
    std::string name;
    std::vector<uint8_t> data;
  };
  struct Attr {
    std::string name;
    std::vector<int64_t> ints;
    bool isInts = false;
    int64_t i = 0;
    bool isFloat = false;
    double f = 0;
  };
  struct Instr {
    std::string kernel;
    std::vector<int> operands, results;
    std::vector<Attr> attrs;
  };
  int stage = 0, rank = 0;
  int64_t arenaBytes = 0;
  std::vector<Buf> buffers;
  std::vector<Instr> instrs;
  std::vector<std::pair<std::string, int>> inputs, outputs;
  std::vector<std::pair<int, std::vector<int>>> recvs, sends;
  // Training: the program's phase (fwd, bwd_b, bwd_w), the values kept
  // for a later program of the stage (slot, buffer), and the parameter
  // gradients it computes (param, use, buffer).
  std::string phase;
  std::vector<std::pair<int, int>> stashInputs, stashOutputs;
  struct Grad {
    std::string param;
    int use, buffer;
  };
  std::vector<Grad> grads;
};

/// The .ppx bytes of `spec`: header (with a correct checksum) and body.
inline std::string buildProgram(const ProgramSpec &spec) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Buffer>> bufs;
  for (const auto &x : spec.buffers) {
    auto shape = b.CreateVector(x.shape);
    auto name = x.name.empty() ? 0 : b.CreateString(x.name);
    auto data = x.data.empty() && x.kind != fb::BufferKind::Constant
                    ? 0
                    : b.CreateVector(x.data);
    bufs.push_back(fb::CreateBuffer(b, x.kind, x.dtype, shape, x.offset, name,
                                    data));
  }
  std::vector<flatbuffers::Offset<fb::Instr>> instrs;
  for (const auto &in : spec.instrs) {
    std::vector<flatbuffers::Offset<fb::Attr>> attrs;
    for (const auto &a : in.attrs) {
      auto name = b.CreateString(a.name);
      auto ints = a.isInts ? b.CreateVector(a.ints) : 0;
      attrs.push_back(fb::CreateAttr(b, name,
                                     a.isInts    ? fb::AttrKind::Ints
                                     : a.isFloat ? fb::AttrKind::Float
                                                 : fb::AttrKind::Int,
                                     a.i, a.f, ints));
    }
    instrs.push_back(fb::CreateInstr(
        b, b.CreateString(in.kernel), b.CreateVector(in.operands),
        b.CreateVector(in.results), b.CreateVector(attrs),
        b.CreateString(in.kernel + "_node")));
  }
  auto bindings = [&](const std::vector<std::pair<std::string, int>> &list) {
    std::vector<flatbuffers::Offset<fb::Binding>> out;
    for (auto &[name, id] : list)
      out.push_back(fb::CreateBinding(b, b.CreateString(name), id));
    return b.CreateVector(out);
  };
  auto messages = [&](const std::vector<std::pair<int, std::vector<int>>> &l) {
    std::vector<flatbuffers::Offset<fb::Message>> out;
    for (auto &[peer, ids] : l)
      out.push_back(fb::CreateMessage(b, peer, b.CreateVector(ids)));
    return b.CreateVector(out);
  };
  auto inputs = bindings(spec.inputs), outputs = bindings(spec.outputs);
  auto recvs = messages(spec.recvs), sends = messages(spec.sends);
  // Left out when empty, so that an inference program's bytes are what
  // they were before training fields existed.
  auto slots = [&](const std::vector<std::pair<int, int>> &list)
      -> flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Slot>>> {
    if (list.empty())
      return 0;
    std::vector<flatbuffers::Offset<fb::Slot>> out;
    for (auto [id, buffer] : list)
      out.push_back(fb::CreateSlot(b, id, buffer));
    return b.CreateVector(out);
  };
  auto phase = spec.phase.empty() ? 0 : b.CreateString(spec.phase);
  auto stashIn = slots(spec.stashInputs), stashOut = slots(spec.stashOutputs);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Grad>>>
      grads = 0;
  if (!spec.grads.empty()) {
    std::vector<flatbuffers::Offset<fb::Grad>> out;
    for (const auto &g : spec.grads)
      out.push_back(fb::CreateGrad(b, b.CreateString(g.param), g.use, g.buffer));
    grads = b.CreateVector(out);
  }
  auto root = fb::CreateStageProgram(b, spec.stage, spec.rank, spec.arenaBytes,
                                     b.CreateVector(bufs),
                                     b.CreateVector(instrs), inputs, outputs,
                                     recvs, sends, phase, stashIn, stashOut,
                                     grads);
  fb::FinishStageProgramBuffer(b, root);
  std::string body(reinterpret_cast<const char *>(b.GetBufferPointer()),
                   b.GetSize());
  return stageProgramHeader(body.data(), body.size()) + body;
}

/// Recomputes the checksum of .ppx bytes (what an editor of the file does).
inline void reseal(std::string &ppx) {
  if (ppx.size() < kStageProgramHeaderBytes)
    return;
  std::string header =
      stageProgramHeader(ppx.data() + kStageProgramHeaderBytes,
                         ppx.size() - kStageProgramHeaderBytes);
  ppx.replace(0, kStageProgramHeaderBytes, header);
}

/// Stage 0: x[2x4] -> relu -> sent to stage 1.
inline ProgramSpec stage0Spec() {
  ProgramSpec p;
  p.stage = 0;
  p.rank = 0;
  p.arenaBytes = 64;
  p.buffers = {{fb::BufferKind::Arena, fb::DType::F32, {2, 4}, 0, "", {}},
               {fb::BufferKind::Arena, fb::DType::F32, {2, 4}, 32, "", {}}};
  p.instrs = {{"relu", {0}, {1}, {}}};
  p.inputs = {{"x", 0}};
  p.sends = {{1, {1}}};
  return p;
}

/// Stage 1: received h[2x4] + parameter b[4] -> y[2x4].
inline ProgramSpec stage1Spec() {
  ProgramSpec p;
  p.stage = 1;
  p.rank = 1;
  p.arenaBytes = 64;
  p.buffers = {{fb::BufferKind::Arena, fb::DType::F32, {2, 4}, 0, "", {}},
               {fb::BufferKind::Param, fb::DType::F32, {4}, 0, "b", {}},
               {fb::BufferKind::Arena, fb::DType::F32, {2, 4}, 32, "", {}}};
  p.instrs = {{"add", {0, 1}, {2}, {}}};
  p.outputs = {{"y", 2}};
  p.recvs = {{0, {0}}};
  return p;
}

/// The safetensors bytes of `tensors` (name, dtype name, shape, floats).
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};
inline std::string buildSafetensors(const std::vector<WeightSpec> &tensors) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  h["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  std::string data;
  for (const auto &t : tensors) {
    uint64_t bytes = t.values.size() * 4;
    h[t.name] = {{"dtype", "F32"},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + bytes}}};
    data.append(reinterpret_cast<const char *>(t.values.data()), bytes);
    offset += bytes;
  }
  std::string text = h.dump();
  while (text.size() % 8)
    text.push_back(' ');
  std::string out;
  for (int i = 0; i < 8; ++i)
    out.push_back(char((uint64_t(text.size()) >> (8 * i)) & 0xff));
  return out + text + data;
}

inline nlohmann::json tensorJson(const std::string &name,
                                 std::vector<int64_t> shape) {
  return {{"name", name}, {"shape", shape}, {"dtype", "f32"}};
}

/// pipeline.json of the two stages.
inline nlohmann::json planJson() {
  using J = nlohmann::json;
  J plan = {{"format", "ppc-pipeline"}, {"version", 1}, {"batch", 4},
            {"microbatches", 2},        {"microbatch_size", 2},
            {"ranks", 2}};
  plan["inputs"] = J::array({tensorJson("x", {2, 4})});
  plan["stages"] = J::array(
      {{{"stage", 0}, {"rank", 0}, {"program", "stage0.ppx"},
        {"weights", "stage0.safetensors"},
        {"inputs", J::array({tensorJson("x", {2, 4})})},
        {"outputs", J::array()}},
       {{"stage", 1}, {"rank", 1}, {"program", "stage1.ppx"},
        {"weights", "stage1.safetensors"}, {"inputs", J::array()},
        {"outputs", J::array({tensorJson("y", {2, 4})})}}});
  J rank0 = J::array(), rank1 = J::array();
  for (int mb = 0; mb < 2; ++mb) {
    rank0.push_back({{"op", "fwd"}, {"stage", 0}, {"mb", mb}});
    rank0.push_back(
        {{"op", "send_act"}, {"stage", 0}, {"mb", mb}, {"peer", 1}});
    rank1.push_back(
        {{"op", "recv_act"}, {"stage", 1}, {"mb", mb}, {"peer", 0}});
    rank1.push_back({{"op", "fwd"}, {"stage", 1}, {"mb", mb}});
  }
  plan["schedule"] = {{"kind", "inference"},
                      {"microbatches", 2},
                      {"ranks", J::array({rank0, rank1})}};
  return plan;
}

inline bool writeFile(const std::string &path, const std::string &bytes) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return false;
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

/// Writes the whole pipeline into `dir` (created if need be).
inline bool writePipeline(const std::string &dir) {
  ::mkdir(dir.c_str(), 0755);
  return writeFile(dir + "/pipeline.json", planJson().dump(2)) &&
         writeFile(dir + "/stage0.ppx", buildProgram(stage0Spec())) &&
         writeFile(dir + "/stage1.ppx", buildProgram(stage1Spec())) &&
         writeFile(dir + "/stage0.safetensors", buildSafetensors({})) &&
         writeFile(dir + "/stage1.safetensors",
                   buildSafetensors({{"b", {4}, {1, 2, 3, 4}}}));
}

/// A two-stage training pipeline (ppc -train's artifacts, written by hand):
/// stage 0 h = x * w0, stage 1 y = h + b and loss = mse(y, t) / 16 (the
/// mean over the batch of 4 samples of 4 features), two micro-batches of 2,
/// GPipe. Each stage keeps what its backward needs: stage 0 x, stage 1 y;
/// the B programs keep the gradient for the W programs, which sum it into
/// the parameter's. `optimizer`: the plan's training optimizer.
inline bool writeTrainingPipeline(const std::string &dir,
                                  const nlohmann::json &optimizer) {
  using B = ProgramSpec::Buf;
  const auto A = fb::BufferKind::Arena, P = fb::BufferKind::Param;
  const auto F = fb::DType::F32;
  auto spec = [](int stage, const char *phase, int64_t arena,
                 std::vector<B> buffers) {
    ProgramSpec p;
    p.stage = p.rank = stage;
    p.phase = phase;
    p.arenaBytes = arena;
    p.buffers = std::move(buffers);
    return p;
  };
  ProgramSpec::Attr scale{"scale", {}, false, 0, true, 1.0 / 16};
  ProgramSpec::Attr rows{"axes", {0}, true, 0};
  // Stage 0.
  ProgramSpec f0 = spec(0, "fwd", 64,
                        {{A, F, {2, 4}, 0, "", {}},
                         {P, F, {4}, 0, "w0", {}},
                         {A, F, {2, 4}, 32, "", {}}});
  f0.instrs = {{"mul", {0, 1}, {2}, {}}};
  f0.inputs = {{"x", 0}};
  f0.sends = {{1, {2}}};
  f0.stashOutputs = {{0, 0}};
  ProgramSpec b0 = spec(0, "bwd_b", 96,
                        {{A, F, {2, 4}, 0, "", {}},
                         {A, F, {2, 4}, 32, "", {}},
                         {A, F, {2, 4}, 64, "", {}}});
  b0.recvs = {{1, {0}}};
  b0.stashInputs = {{0, 1}};
  b0.instrs = {{"mul", {0, 1}, {2}, {}}};
  b0.stashOutputs = {{1, 2}};
  ProgramSpec w0 = spec(0, "bwd_w", 48,
                        {{A, F, {2, 4}, 0, "", {}}, {A, F, {4}, 32, "", {}}});
  w0.stashInputs = {{1, 0}};
  w0.instrs = {{"reduce_sum", {0}, {1}, {rows}}};
  w0.grads = {{"w0", 0, 1}};
  // Stage 1.
  ProgramSpec f1 = spec(1, "fwd", 112,
                        {{A, F, {2, 4}, 0, "", {}},
                         {P, F, {4}, 0, "b", {}},
                         {A, F, {2, 4}, 32, "", {}},
                         {A, F, {2, 4}, 64, "", {}},
                         {A, F, {1}, 96, "", {}}});
  f1.recvs = {{0, {0}}};
  f1.inputs = {{"t", 3}};
  f1.instrs = {{"add", {0, 1}, {2}, {}}, {"mse_loss", {2, 3}, {4}, {scale}}};
  f1.outputs = {{"loss", 4}};
  f1.stashOutputs = {{0, 2}};
  ProgramSpec b1 = spec(1, "bwd_b", 96,
                        {{A, F, {2, 4}, 0, "", {}},
                         {A, F, {2, 4}, 32, "", {}},
                         {A, F, {2, 4}, 64, "", {}}});
  b1.inputs = {{"t", 1}};
  b1.stashInputs = {{0, 0}};
  b1.instrs = {{"mse_loss_grad", {0, 1}, {2}, {scale}}};
  b1.sends = {{0, {2}}};
  b1.stashOutputs = {{1, 2}};
  ProgramSpec w1 = spec(1, "bwd_w", 48,
                        {{A, F, {2, 4}, 0, "", {}}, {A, F, {4}, 32, "", {}}});
  w1.stashInputs = {{1, 0}};
  w1.instrs = {{"reduce_sum", {0}, {1}, {rows}}};
  w1.grads = {{"b", 0, 1}};

  using J = nlohmann::json;
  J plan = {{"format", "ppc-pipeline"}, {"version", 1}, {"batch", 4},
            {"microbatches", 2},        {"microbatch_size", 2},
            {"ranks", 2}};
  plan["inputs"] = J::array({tensorJson("x", {2, 4}), tensorJson("t", {2, 4})});
  auto stage = [](int k, J inputs, J outputs) {
    std::string n = "stage" + std::to_string(k);
    return J{{"stage", k},
             {"rank", k},
             {"program", n + ".ppx"},
             {"programs", {{"bwd_b", n + ".bwd_b.ppx"},
                           {"bwd_w", n + ".bwd_w.ppx"}}},
             {"weights", n + ".safetensors"},
             {"inputs", inputs},
             {"outputs", outputs}};
  };
  plan["stages"] = J::array(
      {stage(0, J::array({tensorJson("x", {2, 4})}), J::array()),
       stage(1, J::array({tensorJson("t", {2, 4})}),
             J::array({tensorJson("loss", {1})}))});
  auto param = [](const char *name, int k) {
    return J{{"name", name}, {"dtype", "f32"}, {"shape", {4}},
             {"stages", {k}}, {"uses", {k}}};
  };
  plan["training"] = {{"optimizer", optimizer},
                      {"parameters", J::array({param("w0", 0), param("b", 1)})}};
  auto act = [](const char *op, int stage, int mb, int peer = -1) {
    J a = {{"op", op}, {"stage", stage}, {"mb", mb}};
    if (peer >= 0)
      a["peer"] = peer;
    return a;
  };
  J rank0 = J::array(), rank1 = J::array();
  for (int mb = 0; mb < 2; ++mb) {
    rank0.push_back(act("fwd", 0, mb));
    rank0.push_back(act("send_act", 0, mb, 1));
    rank1.push_back(act("recv_act", 1, mb, 0));
    rank1.push_back(act("fwd", 1, mb));
  }
  for (int mb = 0; mb < 2; ++mb) {
    rank1.push_back(act("bwd", 1, mb));
    rank1.push_back(act("send_grad", 1, mb, 0));
    rank0.push_back(act("recv_grad", 0, mb, 1));
    rank0.push_back(act("bwd", 0, mb));
  }
  plan["schedule"] = {{"kind", "gpipe"},
                      {"microbatches", 2},
                      {"ranks", J::array({rank0, rank1})}};
  ::mkdir(dir.c_str(), 0755);
  return writeFile(dir + "/pipeline.json", plan.dump(2)) &&
         writeFile(dir + "/stage0.ppx", buildProgram(f0)) &&
         writeFile(dir + "/stage0.bwd_b.ppx", buildProgram(b0)) &&
         writeFile(dir + "/stage0.bwd_w.ppx", buildProgram(w0)) &&
         writeFile(dir + "/stage1.ppx", buildProgram(f1)) &&
         writeFile(dir + "/stage1.bwd_b.ppx", buildProgram(b1)) &&
         writeFile(dir + "/stage1.bwd_w.ppx", buildProgram(w1)) &&
         writeFile(dir + "/stage0.safetensors",
                   buildSafetensors({{"w0", {4}, {0.5f, 1, 1.5f, 2}}})) &&
         writeFile(dir + "/stage1.safetensors",
                   buildSafetensors({{"b", {4}, {0.1f, 0.2f, 0.3f, 0.4f}}}));
}

} // namespace test
} // namespace pprt

#endif // PPRT_TEST_TESTPIPELINE_H
