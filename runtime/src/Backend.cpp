//===- Backend.cpp - what every backend shares ----------------------------===//

#include "pprt/Backend.h"

#include <cstring>
#include <vector>

namespace pprt {

PreparedStage::~PreparedStage() = default;
Backend::~Backend() = default;
Kept::~Kept() = default;

namespace {
struct HostKept : Kept {
  std::vector<uint8_t> data;
};
} // namespace

StatusOr<std::unique_ptr<Kept>> PreparedStage::keep(int buffer) {
  auto kept = std::make_unique<HostKept>();
  kept->data.resize(program.buffers().at(buffer).bytes);
  kept->bytes = kept->data.size();
  PPRT_RETURN_IF_ERROR(read(buffer, kept->data.data()));
  return std::unique_ptr<Kept>(std::move(kept));
}

Status PreparedStage::restore(int buffer, const Kept &kept) {
  const auto *host = dynamic_cast<const HostKept *>(&kept);
  if (!host || host->bytes != program.buffers().at(buffer).bytes)
    return internalError("a kept value does not match its buffer");
  return write(buffer, host->data.data());
}

// The host backends: the buffer is the program's own memory.
Status PreparedStage::write(int buffer, const void *src) {
  TensorRef &t = program.buffers().at(buffer);
  std::memcpy(t.data, src, t.bytes);
  return Status::ok();
}

Status PreparedStage::read(int buffer, void *dst) {
  const TensorRef &t = program.buffers().at(buffer);
  std::memcpy(dst, t.data, t.bytes);
  return Status::ok();
}

void PreparedStage::parametersChanged() { program.parametersChanged(); }

} // namespace pprt
