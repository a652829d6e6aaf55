//===- ppc-export.cpp - a trained checkpoint back into the ONNX model -----===//
//
// ppc-export DIR --checkpoint D -o trained.onnx [--model MODEL.onnx]
//
// Writes the model DIR was compiled from (pipeline.json's "model", or
// --model) with every initializer that the checkpoint holds replaced by its
// trained value. Checkpoints name tensors by ONNX initializer, whatever the
// partition, so any checkpoint of the model serves. BatchNormalization
// nodes exported in training mode are set to inference mode (the running
// statistics). Errors are one line and exit 1.
//
//===----------------------------------------------------------------------===//

#include "pprt/Checkpoint.h"
#include "pprt/Files.h"

#include <onnx/onnx_pb.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {
[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "ppc-export: error: %s\n", message.c_str());
  std::exit(1);
}

/// ONNX TensorProto element type of a runtime dtype.
int onnxType(pprt::DType d) {
  using T = onnx::TensorProto;
  switch (d) {
  case pprt::DType::F32: return T::FLOAT;
  case pprt::DType::F64: return T::DOUBLE;
  case pprt::DType::F16: return T::FLOAT16;
  case pprt::DType::BF16: return T::BFLOAT16;
  case pprt::DType::I64: return T::INT64;
  case pprt::DType::I32: return T::INT32;
  case pprt::DType::I16: return T::INT16;
  case pprt::DType::I8: return T::INT8;
  case pprt::DType::U8: return T::UINT8;
  case pprt::DType::Bool: return T::BOOL;
  case pprt::DType::U16: return T::UINT16;
  case pprt::DType::U32: return T::UINT32;
  case pprt::DType::U64: return T::UINT64;
  }
  return T::UNDEFINED;
}
} // namespace

int main(int argc, char **argv) {
  std::string dir, checkpoint, output, modelPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::printf("usage: ppc-export DIR --checkpoint D -o trained.onnx "
                  "[--model MODEL.onnx]\n");
      return 0;
    } else if (a == "--checkpoint") {
      checkpoint = value();
    } else if (a == "-o") {
      output = value();
    } else if (a == "--model") {
      modelPath = value();
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option " + a);
    } else if (dir.empty()) {
      dir = a;
    } else {
      die("unexpected argument " + a);
    }
  }
  if (dir.empty() || checkpoint.empty() || output.empty())
    die("usage: ppc-export DIR --checkpoint D -o trained.onnx");
  if (modelPath.empty()) {
    std::ifstream in(dir + "/pipeline.json");
    std::stringstream text;
    text << in.rdbuf();
    auto j = nlohmann::json::parse(text.str(), nullptr, false);
    if (!in || j.is_discarded())
      die(dir + "/pipeline.json: missing or not valid JSON");
    modelPath = j.value("model", "");
  }
  auto ck = pprt::findCheckpoint(checkpoint, "--checkpoint ");
  if (!ck)
    die(ck.status().message());
  auto files = pprt::CheckpointTensors::load(ck->dir);
  if (!files)
    die(files.status().message());

  onnx::ModelProto model;
  {
    std::ifstream in(modelPath, std::ios::binary);
    if (!in)
      die(modelPath + ": cannot open the model (give it with --model)");
    if (!model.ParseFromIstream(&in))
      die(modelPath + ": not an ONNX model");
  }
  int replaced = 0, kept = 0;
  for (onnx::TensorProto &t : *model.mutable_graph()->mutable_initializer()) {
    const pprt::Weights::Entry *e = files->find(t.name());
    if (!e) {
      ++kept;
      continue;
    }
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    if (dims != e->desc.shape || t.data_type() != onnxType(e->desc.dtype))
      die("initializer '" + t.name() + "' of " + modelPath +
          " does not match the checkpoint's " + e->desc.toString() +
          ": the checkpoint is from another model");
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      die("initializer '" + t.name() + "' has external data, which "
          "ppc-export does not write");
    t.clear_float_data();
    t.clear_double_data();
    t.clear_int32_data();
    t.clear_int64_data();
    t.clear_uint64_data();
    t.set_raw_data(e->data, e->bytes);
    ++replaced;
  }
  if (!replaced)
    die("no initializer of " + modelPath + " is in the checkpoint: it is "
        "from another model");
  // The trained model is for inference: batch normalisation exported in
  // training mode normalises with its (trained) running statistics, as
  // `pprun --eval` and PyTorch's eval mode do.
  int inference = 0;
  std::set<std::string> consumed;
  for (const onnx::NodeProto &node : model.graph().node())
    consumed.insert(node.input().begin(), node.input().end());
  for (const onnx::ValueInfoProto &out : model.graph().output())
    consumed.insert(out.name());
  for (onnx::NodeProto &node : *model.mutable_graph()->mutable_node()) {
    if (node.op_type() != "BatchNormalization")
      continue;
    for (int i = 1; i < node.output_size(); ++i)
      if (!node.output(i).empty() && consumed.count(node.output(i)))
        die("node '" + node.name() + "' (BatchNormalization): its running "
            "statistics output '" + node.output(i) + "' is used, so it "
            "cannot be set to inference mode");
    for (onnx::AttributeProto &a : *node.mutable_attribute())
      if (a.name() == "training_mode" && a.i() != 0) {
        a.set_i(0);
        ++inference;
      }
    while (node.output_size() > 1)
      node.mutable_output()->RemoveLast();
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    die(output + ": cannot serialize the model");
  if (pprt::Status st =
          pprt::writeFileAtomically(output, bytes.data(), bytes.size());
      !st.isOk())
    die(st.message());
  std::printf("ppc-export: %s: %d initializers from %s (step %lld), %d "
              "unchanged",
              output.c_str(), replaced, ck->dir.c_str(), (long long)ck->step,
              kept);
  if (inference)
    std::printf("; %d BatchNormalization nodes set to inference mode",
                inference);
  std::printf("\n");
  return 0;
}
