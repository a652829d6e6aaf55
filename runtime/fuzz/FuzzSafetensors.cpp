//===- FuzzSafetensors.cpp - libFuzzer: the safetensors reader ------------===//

#include "FuzzFile.h"

#include "pprt/Files.h"

using namespace pprt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto w = Weights::load(fuzz::asFile(data, size, ".safetensors"));
  if (!w.isOk())
    return 0;
  // Every tensor's bytes lie in the file: reading them all is safe (the
  // address sanitizer checks), and so is copying them out.
  volatile uint8_t sum = 0;
  for (auto &[name, e] : w->entries())
    for (int64_t i = 0; i < e.bytes; ++i)
      sum = sum + e.data[i];
  w->makeWritable();
  return 0;
}
