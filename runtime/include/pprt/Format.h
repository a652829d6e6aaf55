//===- Format.h - the .ppx container, shared with the compiler --*- C++ -*-===//
//
// A stage program file is a 24-byte header and a FlatBuffer
// (runtime/schema/stage.fbs). The compiler writes it and the runtime reads
// it through these same definitions, so the two never disagree.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_FORMAT_H
#define PPRT_FORMAT_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace pprt {

/// Bump on any schema change an older reader would misread.
constexpr uint32_t kStageProgramVersion = 3;
constexpr char kStageProgramMagic[4] = {'P', 'P', 'X', '\0'};
constexpr size_t kStageProgramHeaderBytes = 24;

/// FNV-1a, 64-bit: the checksum of everything after the header.
inline uint64_t fnv1a(const void *data, size_t size) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/// The header of a body: magic, version (u32), flags (u32), reserved (u32),
/// checksum (u64), little-endian; 24 bytes keep the FlatBuffer 8-aligned.
inline std::string stageProgramHeader(const void *body, size_t size) {
  std::string out(kStageProgramMagic, 4);
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      out.push_back(char((v >> (8 * i)) & 0xff));
  };
  put(kStageProgramVersion, 4);
  put(0, 4);
  put(0, 4);
  put(fnv1a(body, size), 8);
  return out;
}

} // namespace pprt

#endif // PPRT_FORMAT_H
