//===- ImportONNXFuzz.cpp - libFuzzer target: the ONNX importer -----------===//
//
// Each input is written as model.onnx into a scratch folder of its own
// (with a small w.bin beside it, so that external data can be found) and
// imported as `ppc model.onnx -batch=2` would. Any diagnostic is fine; a
// crash, a sanitizer report, a hang or a read outside the folder is not.
//
//===----------------------------------------------------------------------===//

#include "ppc/Import/ONNX/Importer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

const std::string &scratchDir() {
  static const std::string dir = [] {
    const char *base = std::getenv("TMPDIR");
    std::string d = std::string(base ? base : "/tmp") + "/ppc-fuzz-import-" +
                    std::to_string(::getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0)
      std::abort();
    // 64 float32 values: enough for external data of small tensors.
    FILE *f = std::fopen((d + "/w.bin").c_str(), "wb");
    for (int i = 0; i < 64; ++i) {
      float v = float(i);
      std::fwrite(&v, sizeof v, 1, f);
    }
    std::fclose(f);
    return d;
  }();
  return dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = scratchDir() + "/model.onnx";
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort();
  if (size && std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);

  mlir::MLIRContext context;
  context.disableMultithreading();
  mlir::ScopedDiagnosticHandler quiet(&context,
                                      [](mlir::Diagnostic &) { return mlir::success(); });
  ppc::ImportOptions options;
  options.batch = 2;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      ppc::importONNXModel(path, context, options);
  (void)module;
  return 0;
}
