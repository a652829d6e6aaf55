//===- TestPipeline.h - a small valid pipeline, written without ppc -*- C++ -*-===//
//
// The runtime builds and is tested without the compiler, so its tests and
// the fuzzers' seed corpora make their artifacts here: a two-stage
// pipeline (x -> relu -> [stage 0 | stage 1] -> add b -> y), two
// micro-batches, inference schedule. Each piece can be taken apart and
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
                                     a.isInts ? fb::AttrKind::Ints
                                              : fb::AttrKind::Int,
                                     a.i, 0, ints));
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
  auto root = fb::CreateStageProgram(b, spec.stage, spec.rank, spec.arenaBytes,
                                     b.CreateVector(bufs),
                                     b.CreateVector(instrs), inputs, outputs,
                                     recvs, sends);
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

} // namespace test
} // namespace pprt

#endif // PPRT_TEST_TESTPIPELINE_H
