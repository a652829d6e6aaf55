//===- FuzzNpy.cpp - libFuzzer: the .npy reader ---------------------------===//

#include "FuzzFile.h"

#include "pprt/Files.h"

using namespace pprt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto t = readNpy(fuzz::asFile(data, size, ".npy"));
  if (t.isOk() && *t->desc.byteSize() != (int64_t)t->bytes.size())
    std::abort(); // the tensor must own exactly its bytes
  return 0;
}
