//===- Comm.h - messages and collectives between ranks ----------*- C++ -*-===//
//
// The one messaging interface of the runtime. The executor sends a prepared
// stage's buffers to a peer and receives them into the peer's buffers, and
// reduces, scatters and gathers values over groups of ranks, without asking
// where the ranks run:
//
//  - host staging over a byte Transport (MPI, or any): point-to-point
//    messages are the buffers' bytes after the header; collectives are
//    pieces sent to each member and summed in member order, so that a
//    result depends on the values alone (bitwise the same run to run, and
//    an all-reduce the same as a reduce-scatter followed by an all-gather
//    whatever the pieces' bounds);
//  - in-process (every rank a thread, Transport::inProcess): a message's
//    buffers pass as the sending backend's kept copies (device to device on
//    CUDA), the transport carrying only the header and a ticket;
//  - NCCL (the GPU issue) plugs in beside them.
//
// Every message starts with one header, defined here.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_COMM_H
#define PPRT_COMM_H

#include "pprt/Backend.h"
#include "pprt/Transport.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pprt {

/// What a message carries; the first field of its header.
enum class MessageKind : int32_t {
  Activations = 0, // a pp.send of a forward program
  Gradients = 1,   // a pp.send of a backward program
  Collective = 2,  // one member's piece of a collective
};

/// The 16 bytes every message starts with. Point-to-point: the sending
/// and receiving stage and the micro-batch. Collectives: the sending world
/// rank, the collective, and its sequence number in its group.
struct MessageHeader {
  int32_t kind = -1, source = -1, target = -1, sequence = -1;
  bool operator==(const MessageHeader &o) const {
    return kind == o.kind && source == o.source && target == o.target &&
           sequence == o.sequence;
  }
  std::string toString() const;
};
static_assert(sizeof(MessageHeader) == 16, "the header is 16 bytes");

enum class CollectiveOp : int32_t {
  ReduceScatter = 1,
  AllGather = 2,
  Broadcast = 3,
  Barrier = 4,
};

/// A message between pack and unpack: the header, then the tensors' bytes
/// (host staging) or a ticket for the backend's kept copies (in-process).
struct Parcel {
  MessageHeader header;
  std::vector<uint8_t> bytes; // the header first
};

/// Ranks taking part in a collective, in the order their values are summed
/// (world ranks). Every member calls the collective with the same group.
using Group = std::vector<int>;

class Comm {
public:
  explicit Comm(Transport &transport) : transport(transport) {}
  virtual ~Comm();
  int rank() const { return transport.rank(); }
  int size() const { return transport.size(); }
  Transport &link() { return transport; }

  // Point to point: a prepared stage's buffers `ids`.
  /// Copies the buffers out of `stage` (which may run again at once).
  virtual StatusOr<Parcel> pack(const MessageHeader &header,
                                PreparedStage &stage,
                                const std::vector<int> &ids) = 0;
  Status send(int to, Parcel parcel);
  /// The next message from `from`, which must carry `expected`'s header
  /// (a schedule the ranks disagree on fails loudly); `what` names it.
  StatusOr<Parcel> recv(int from, const MessageHeader &expected,
                        const std::string &what);
  /// Writes a received parcel's tensors into `stage`'s buffers `ids`.
  virtual Status unpack(const Parcel &parcel, PreparedStage &stage,
                        const std::vector<int> &ids) = 0;

  // Collectives over host memory, every member calling with the same
  // group and sizes. `bounds` (members + 1 offsets, from 0 to n) gives
  // each member's piece.
  /// data (n floats) becomes the member-order sum of every member's data.
  Status allReduceSum(const Group &group, float *data, int64_t n);
  /// Only this member's piece of `data` becomes the member-order sum;
  /// the rest is left as it was.
  Status reduceScatterSum(const Group &group, float *data,
                          const std::vector<int64_t> &bounds);
  /// Every member's piece of `data` (its own, in place) reaches every
  /// member.
  Status allGather(const Group &group, float *data,
                   const std::vector<int64_t> &bounds);
  /// Each member's bytes, of any length, to every member, by member index.
  StatusOr<std::vector<std::vector<uint8_t>>>
  allGatherBytes(const Group &group, const std::vector<uint8_t> &mine);
  /// `root`'s bytes (a world rank of the group) to every member.
  Status broadcast(const Group &group, int root, void *data, size_t bytes);
  Status barrier(const Group &group);

  /// Bytes this rank has sent and received through collectives.
  int64_t collectiveBytes() const { return collectiveBytes_; }

protected:
  Transport &transport;

private:
  /// The header of this member's next message in `group`'s collective
  /// `op` (sequence numbers count per group, so that a member of several
  /// groups keeps each in step with its peers).
  MessageHeader nextHeader(const Group &group, CollectiveOp op);
  Status sendPiece(int to, const MessageHeader &h, const void *data,
                   size_t bytes);
  StatusOr<std::vector<uint8_t>> recvPiece(int from, const MessageHeader &h,
                                           int64_t bytes);
  std::map<Group, int32_t> sequence;
  int64_t collectiveBytes_ = 0;
};

/// The messenger for `transport`: in-process when its ranks are threads of
/// this process, host staging otherwise. The only place that asks.
std::unique_ptr<Comm> createComm(Transport &transport);

/// Member index of world rank `rank` in `group`, or -1.
int memberIndex(const Group &group, int rank);

} // namespace pprt

#endif // PPRT_COMM_H
