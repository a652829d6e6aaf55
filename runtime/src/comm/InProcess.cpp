//===- InProcess.cpp - ranks as threads: messages pass kept copies --------===//
//
// Between the ranks of one process a message's tensors stay where the
// sending backend keeps them (device memory on CUDA: no trip through the
// host); the transport carries the header and a ticket, which the
// receiver exchanges for the copies and restores into its buffers.
//
//===----------------------------------------------------------------------===//

#include "pprt/Comm.h"

#include <cstring>
#include <mutex>

namespace pprt {

namespace {
/// The tensors of in-process messages, by ticket, from the sending rank's
/// thread to the receiving one's.
class Parcels {
public:
  uint64_t put(std::vector<std::unique_ptr<Kept>> values) {
    std::lock_guard<std::mutex> lock(mutex);
    held[next] = std::move(values);
    return next++;
  }
  std::vector<std::unique_ptr<Kept>> take(uint64_t ticket) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = held.find(ticket);
    if (it == held.end())
      return {};
    auto values = std::move(it->second);
    held.erase(it);
    return values;
  }

private:
  std::mutex mutex;
  uint64_t next = 1;
  std::map<uint64_t, std::vector<std::unique_ptr<Kept>>> held;
};
Parcels &parcels() {
  static Parcels p;
  return p;
}

class InProcessComm : public Comm {
public:
  using Comm::Comm;

  StatusOr<Parcel> pack(const MessageHeader &header, PreparedStage &stage,
                        const std::vector<int> &ids) override {
    std::vector<std::unique_ptr<Kept>> values;
    for (int id : ids) {
      auto value = stage.keep(id);
      if (!value)
        return value.status();
      values.push_back(std::move(*value));
    }
    uint64_t ticket = parcels().put(std::move(values));
    Parcel p;
    p.header = header;
    p.bytes.resize(sizeof header + sizeof ticket);
    std::memcpy(p.bytes.data() + sizeof header, &ticket, sizeof ticket);
    return p;
  }

  Status unpack(const Parcel &p, PreparedStage &stage,
                const std::vector<int> &ids) override {
    uint64_t ticket = 0;
    if (p.bytes.size() == sizeof p.header + sizeof ticket)
      std::memcpy(&ticket, p.bytes.data() + sizeof p.header, sizeof ticket);
    auto values = parcels().take(ticket);
    if (values.size() != ids.size())
      return internalError(p.header.toString() + " holds " +
                           std::to_string(values.size()) +
                           " tensors, the program expects " +
                           std::to_string(ids.size()));
    for (size_t k = 0; k < ids.size(); ++k) {
      if (values[k]->bytes != stage.bufferBytes(ids[k]))
        return dataLoss(p.header.toString() +
                        " does not match the tensors the program expects");
      PPRT_RETURN_IF_ERROR(stage.restore(ids[k], *values[k]));
    }
    return Status::ok();
  }
};
} // namespace

std::unique_ptr<Comm> createInProcessComm(Transport &transport) {
  return std::make_unique<InProcessComm>(transport);
}

} // namespace pprt
