//===- FuzzFile.h - the fuzzers' input as a file ----------------*- C++ -*-===//
//
// The readers take paths (they map their files), so each input is written
// to a file of this process first.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_FUZZ_FUZZFILE_H
#define PPRT_FUZZ_FUZZFILE_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace pprt {
namespace fuzz {

inline std::string scratchDir() {
  const char *tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

/// Writes [data, data + size) to a file named after this process and
/// `suffix`; returns its path.
inline std::string asFile(const uint8_t *data, size_t size,
                          const std::string &suffix) {
  std::string path = scratchDir() + "/pprt-fuzz-" + std::to_string(getpid()) +
                     suffix;
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort();
  if (size)
    std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

} // namespace fuzz
} // namespace pprt

#endif // PPRT_FUZZ_FUZZFILE_H
