//===- WeightStore.h - bytes of pp.param symbols ----------------*- C++ -*-===//
//
// Parameters' bytes never live in the IR. The weight store maps a pp.param
// symbol name to its bytes, which stay where they were loaded: the buffer the
// ONNX importer took over from the protobuf (moved, not copied), or a
// memory-mapped external-data file. Passes share the one store through the pp
// dialect; nothing is copied per pass.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_WEIGHTSTORE_H
#define PPC_DIALECT_PP_IR_WEIGHTSTORE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <string>

namespace ppc {

/// Holds the storage a weight's bytes point into; kept alive by shared owners.
class WeightBuffer {
public:
  virtual ~WeightBuffer();
  /// The reader is done with `bytes` (inside this buffer) for now. Storage
  /// that can read them again (a file mapping) drops them from memory, so
  /// that writing out a model far larger than memory keeps a small
  /// resident set; other storage keeps them.
  virtual void release(llvm::ArrayRef<uint8_t> bytes) const;
  /// The reader will soon read `bytes`: storage that reads them from a
  /// file starts reading now, so that the disk works while the reader
  /// writes what it has.
  virtual void prefetch(llvm::ArrayRef<uint8_t> bytes) const;
};

/// Bytes of a file, memory-mapped where the file is large enough (else
/// read); released pages are dropped and read again from the file on the
/// next access.
class FileWeightBuffer : public WeightBuffer {
public:
  explicit FileWeightBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer);
  ~FileWeightBuffer() override;
  llvm::ArrayRef<uint8_t> data() const;
  void release(llvm::ArrayRef<uint8_t> bytes) const override;
  void prefetch(llvm::ArrayRef<uint8_t> bytes) const override;

private:
  std::unique_ptr<llvm::MemoryBuffer> buffer;
};

/// Bytes owned by a std::string (taken over from a protobuf field by swap).
class StringWeightBuffer : public WeightBuffer {
public:
  explicit StringWeightBuffer(std::string bytes) : bytes(std::move(bytes)) {}
  llvm::StringRef data() const { return bytes; }

private:
  std::string bytes;
};

/// How stored bytes become the parameter's when written out.
enum class Widen {
  None,     // as stored
  F16ToF32, // IEEE half to float, exactly
  BF16ToF32 // bfloat16 to float, exactly
};

/// `in` (2-byte elements, little-endian) widened into `out` (4 bytes each,
/// out.size() == 2 * in.size()).
void widenHalf(Widen how, llvm::ArrayRef<uint8_t> in,
               llvm::MutableArrayRef<uint8_t> out);

class WeightStore {
public:
  struct Entry {
    /// Little-endian element bytes in row-major order, as stored.
    llvm::ArrayRef<uint8_t> bytes;
    std::shared_ptr<WeightBuffer> owner;
    /// Set when the parameter's type is wider than the stored bytes
    /// (f16/bf16 parameters promoted to f32): converted as written.
    Widen widen = Widen::None;
    /// Bytes of the parameter as written out.
    uint64_t size() const {
      return widen == Widen::None ? bytes.size() : 2 * bytes.size();
    }
  };

  /// Registers `name`. Returns false if the name is already present.
  bool add(llvm::StringRef name, llvm::ArrayRef<uint8_t> bytes,
           std::shared_ptr<WeightBuffer> owner);
  /// Registers bytes that the store owns from now on.
  bool addOwned(llvm::StringRef name, std::string bytes);

  /// Marks `name`'s bytes to be widened when written. False if it is
  /// absent.
  bool setWiden(llvm::StringRef name, Widen how);

  const Entry *lookup(llvm::StringRef name) const;
  bool contains(llvm::StringRef name) const { return entries.count(name); }
  size_t size() const { return entries.size(); }
  /// Sum of the bytes of every entry.
  uint64_t totalBytes() const;
  void clear() { entries.clear(); }

private:
  llvm::StringMap<Entry> entries;
};

} // namespace ppc

#endif // PPC_DIALECT_PP_IR_WEIGHTSTORE_H
