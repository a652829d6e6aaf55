//===- WeightStore.cpp - bytes of pp.param symbols ------------------------===//

#include "ppc/Dialect/PP/IR/WeightStore.h"

namespace ppc {

WeightBuffer::~WeightBuffer() = default;

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
