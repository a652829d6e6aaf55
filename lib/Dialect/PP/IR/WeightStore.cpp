//===- WeightStore.cpp - bytes of pp.param symbols ------------------------===//

#include "ppc/Dialect/PP/IR/WeightStore.h"

#include "llvm/Support/Process.h"

#include <sys/mman.h>

namespace ppc {

WeightBuffer::~WeightBuffer() = default;

void WeightBuffer::release(llvm::ArrayRef<uint8_t>) const {}

void WeightBuffer::prefetch(llvm::ArrayRef<uint8_t>) const {}

namespace {
/// The whole pages inside `bytes` (`inner`) or the pages that hold them.
std::pair<uintptr_t, uintptr_t> pages(llvm::ArrayRef<uint8_t> bytes, bool inner) {
  uintptr_t page = llvm::sys::Process::getPageSizeEstimate();
  uintptr_t begin = reinterpret_cast<uintptr_t>(bytes.data());
  uintptr_t end = begin + bytes.size();
  if (inner)
    return {(begin + page - 1) / page * page, end / page * page};
  return {begin / page * page, (end + page - 1) / page * page};
}
} // namespace

FileWeightBuffer::FileWeightBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer)
    : buffer(std::move(buffer)) {
  // Weights are read front to back, once, when the stages are written.
  if (this->buffer->getBufferKind() == llvm::MemoryBuffer::MemoryBuffer_MMap) {
    auto [begin, end] = pages(data(), /*inner=*/false);
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_SEQUENTIAL);
  }
}

FileWeightBuffer::~FileWeightBuffer() = default;

llvm::ArrayRef<uint8_t> FileWeightBuffer::data() const {
  return llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(buffer->getBufferStart()),
      buffer->getBufferSize());
}

void FileWeightBuffer::release(llvm::ArrayRef<uint8_t> bytes) const {
  if (buffer->getBufferKind() != llvm::MemoryBuffer::MemoryBuffer_MMap ||
      bytes.empty())
    return;
  // A mapped file's clean pages, dropped here, fault in again from the
  // file (or the page cache) when read. Pages shared with bytes outside
  // the range stay.
  auto [begin, end] = pages(bytes, /*inner=*/true);
  if (begin < end)
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

void FileWeightBuffer::prefetch(llvm::ArrayRef<uint8_t> bytes) const {
  if (buffer->getBufferKind() != llvm::MemoryBuffer::MemoryBuffer_MMap ||
      bytes.empty())
    return;
  auto [begin, end] = pages(bytes, /*inner=*/false);
  ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_WILLNEED);
}

bool WeightStore::add(llvm::StringRef name, llvm::ArrayRef<uint8_t> bytes,
                      std::shared_ptr<WeightBuffer> owner) {
  return entries.try_emplace(name, Entry{bytes, std::move(owner)}).second;
}

bool WeightStore::addOwned(llvm::StringRef name, std::string bytes) {
  auto owner = std::make_shared<StringWeightBuffer>(std::move(bytes));
  llvm::StringRef data = owner->data();
  return add(name,
             llvm::ArrayRef<uint8_t>(
                 reinterpret_cast<const uint8_t *>(data.data()), data.size()),
             std::move(owner));
}

bool WeightStore::setWiden(llvm::StringRef name, Widen how) {
  auto it = entries.find(name);
  if (it == entries.end())
    return false;
  it->second.widen = how;
  return true;
}

/// The float with the value of IEEE half `h` (every half is a float).
static uint32_t halfToFloatBits(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ffu;
  if (exponent == 0x1f) // infinity, NaN (payload kept)
    return sign | 0x7f800000u | (mantissa << 13);
  if (exponent == 0) {
    if (mantissa == 0)
      return sign;
    // A subnormal half is a normal float: shift its leading one up.
    int shift = 0;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      ++shift;
    }
    return sign | uint32_t(113 - shift) << 23 | (mantissa & 0x3ffu) << 13;
  }
  return sign | (exponent + 112) << 23 | mantissa << 13;
}

void widenHalf(Widen how, llvm::ArrayRef<uint8_t> in,
               llvm::MutableArrayRef<uint8_t> out) {
  for (size_t i = 0, n = in.size() / 2; i < n; ++i) {
    uint16_t h = uint16_t(in[2 * i]) | uint16_t(in[2 * i + 1]) << 8;
    uint32_t f = how == Widen::BF16ToF32 ? uint32_t(h) << 16 : halfToFloatBits(h);
    for (int b = 0; b < 4; ++b)
      out[4 * i + b] = uint8_t(f >> (8 * b));
  }
}

const WeightStore::Entry *WeightStore::lookup(llvm::StringRef name) const {
  auto it = entries.find(name);
  return it == entries.end() ? nullptr : &it->second;
}

uint64_t WeightStore::totalBytes() const {
  uint64_t total = 0;
  for (const auto &entry : entries)
    total += entry.second.bytes.size();
  return total;
}

} // namespace ppc
