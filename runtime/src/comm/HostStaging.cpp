//===- HostStaging.cpp - a message is its buffers' bytes ------------------===//
//
// For transports between processes (MPI): the buffers are read out of the
// backend (device to host on CUDA) after the header, and written into the
// receiving stage's buffers from there.
//
//===----------------------------------------------------------------------===//

#include "pprt/Comm.h"

namespace pprt {

namespace {
class HostStagingComm : public Comm {
public:
  using Comm::Comm;

  StatusOr<Parcel> pack(const MessageHeader &header, PreparedStage &stage,
                        const std::vector<int> &ids) override {
    Parcel p;
    p.header = header;
    size_t total = sizeof header;
    for (int id : ids)
      total += stage.bufferBytes(id);
    p.bytes.resize(total);
    size_t at = sizeof header;
    for (int id : ids) {
      PPRT_RETURN_IF_ERROR(stage.read(id, p.bytes.data() + at));
      at += stage.bufferBytes(id);
    }
    return p;
  }

  Status unpack(const Parcel &p, PreparedStage &stage,
                const std::vector<int> &ids) override {
    size_t at = sizeof p.header;
    for (int id : ids) {
      size_t bytes = stage.bufferBytes(id);
      if (at + bytes > p.bytes.size())
        return dataLoss(p.header.toString() +
                        " is shorter than the program expects");
      PPRT_RETURN_IF_ERROR(stage.write(id, p.bytes.data() + at));
      at += bytes;
    }
    if (at != p.bytes.size())
      return dataLoss(p.header.toString() +
                      " is longer than the program expects");
    return Status::ok();
  }
};
} // namespace

std::unique_ptr<Comm> createHostStagingComm(Transport &transport) {
  return std::make_unique<HostStagingComm>(transport);
}

} // namespace pprt
