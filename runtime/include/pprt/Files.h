//===- Files.h - reading the artifacts of a compiled pipeline ---*- C++ -*-===//
//
// A read-only memory map, the safetensors weights of a stage, and .npy
// arrays (pprun's inputs and outputs).
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_FILES_H
#define PPRT_FILES_H

#include "pprt/Status.h"
#include "pprt/Tensor.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pprt {

/// A file mapped read-only; unmapped when the last owner goes.
class MappedFile {
public:
  static StatusOr<std::shared_ptr<MappedFile>> open(const std::string &path);
  ~MappedFile();
  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  const std::string &path() const { return path_; }

private:
  MappedFile() = default;
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

/// A stage's parameters, by ONNX initializer name, pointing into the map.
class Weights {
public:
  struct Entry {
    TensorDesc desc;
    uint8_t *data; // writable only after makeWritable()
    int64_t bytes;
  };
  static StatusOr<Weights> load(const std::string &path);
  const Entry *find(const std::string &name) const;
  size_t size() const { return entries_.size(); }
  const std::map<std::string, Entry> &entries() const { return entries_; }
  /// Copies the tensors out of the read-only map into memory of its own,
  /// so that an optimizer can update them in place.
  void makeWritable();

private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, Entry> entries_;
  std::vector<std::vector<uint8_t>> owned_;
};

/// Writes tensors as a safetensors file (atomically): a u64 header length,
/// a JSON header of names, dtypes, shapes and offsets, then the bytes.
struct NamedTensor {
  std::string name;
  TensorDesc desc;
  const void *data;
};
Status writeSafetensors(const std::string &path,
                        const std::vector<NamedTensor> &tensors);

/// A host tensor that owns its bytes.
struct HostTensor {
  TensorDesc desc;
  std::vector<uint8_t> bytes;
};

StatusOr<HostTensor> readNpy(const std::string &path);
Status writeNpy(const std::string &path, const HostTensor &tensor);

/// The tensors of a checkpoint's step directory: every stage<k>.safetensors
/// in it, looked up by name (names do not depend on the partition).
class CheckpointTensors {
public:
  static StatusOr<CheckpointTensors> load(const std::string &dir);
  const Weights::Entry *find(const std::string &name) const;

private:
  std::vector<Weights> files_;
};

/// Writes through a temporary file and a rename.
Status writeFileAtomically(const std::string &path, const void *data,
                           size_t size);

} // namespace pprt

#endif // PPRT_FILES_H
