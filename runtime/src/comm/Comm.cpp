//===- Comm.cpp - messages and collectives over a byte transport ----------===//
//
// What every messenger shares: the header check on arrival and the
// collectives. A collective sends each member the piece it needs at once
// (the transports never hold a sender: MPI sends are non-blocking, local
// ones queue), then receives its own from each member and sums them in
// member order. A reduce-scatter sends (D-1)/D of the data and receives as
// much, as a ring does, in one round instead of D-1.
//
//===----------------------------------------------------------------------===//

#include "pprt/Comm.h"

#include "../Sums.h"

#include <algorithm>
#include <cstring>

namespace pprt {

Comm::~Comm() = default;

std::string MessageHeader::toString() const {
  switch (kind) {
  case (int32_t)MessageKind::Activations:
  case (int32_t)MessageKind::Gradients:
    return std::string(kind ? "gradients" : "activations") + " of stage " +
           std::to_string(source) + " -> " + std::to_string(target) +
           " micro-batch " + std::to_string(sequence);
  case (int32_t)MessageKind::Collective: {
    static const char *names[] = {"?", "reduce-scatter", "all-gather",
                                  "broadcast", "barrier"};
    const char *op = target >= 1 && target <= 4 ? names[target] : "?";
    return std::string(op) + " #" + std::to_string(sequence) + " from rank " +
           std::to_string(source);
  }
  default:
    return "a message of unknown kind " + std::to_string(kind);
  }
}

int memberIndex(const Group &group, int rank) {
  auto it = std::find(group.begin(), group.end(), rank);
  return it == group.end() ? -1 : int(it - group.begin());
}

Status Comm::send(int to, Parcel parcel) {
  std::memcpy(parcel.bytes.data(), &parcel.header, sizeof parcel.header);
  return transport.send(to, std::move(parcel.bytes));
}

StatusOr<Parcel> Comm::recv(int from, const MessageHeader &expected,
                            const std::string &what) {
  auto m = transport.recv(from);
  if (!m)
    return m.status();
  Parcel p;
  if (m->size() >= sizeof p.header)
    std::memcpy(&p.header, m->data(), sizeof p.header);
  if (!(p.header == expected))
    return dataLoss("expected " + what + ", got " + p.header.toString());
  p.bytes = std::move(*m);
  return p;
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

MessageHeader Comm::nextHeader(const Group &group, CollectiveOp op) {
  MessageHeader h;
  h.kind = (int32_t)MessageKind::Collective;
  h.source = rank();
  h.target = (int32_t)op;
  h.sequence = sequence[group]++;
  return h;
}

Status Comm::sendPiece(int to, const MessageHeader &h, const void *data,
                       size_t bytes) {
  std::vector<uint8_t> m(sizeof h + bytes);
  std::memcpy(m.data(), &h, sizeof h);
  if (bytes)
    std::memcpy(m.data() + sizeof h, data, bytes);
  collectiveBytes_ += bytes;
  return transport.send(to, std::move(m));
}

StatusOr<std::vector<uint8_t>>
Comm::recvPiece(int from, const MessageHeader &mine, int64_t bytes) {
  MessageHeader want = mine;
  want.source = from;
  auto m = transport.recv(from);
  if (!m)
    return m.status();
  MessageHeader got;
  if (m->size() >= sizeof got)
    std::memcpy(&got, m->data(), sizeof got);
  if (!(got == want) ||
      (bytes >= 0 && m->size() != sizeof got + (size_t)bytes))
    return dataLoss("expected " + want.toString() + " (" +
                    std::to_string(bytes) + " bytes), got " + got.toString() +
                    " (" + std::to_string(m->size() - sizeof got) + " bytes)");
  collectiveBytes_ += m->size() - sizeof got;
  return std::move(*m);
}

namespace {
Status checkGroup(const Group &group, int me, const std::vector<int64_t> *bounds) {
  if (memberIndex(group, me) < 0)
    return internalError("rank " + std::to_string(me) +
                         " joined a collective of a group it is not in");
  if (bounds && bounds->size() != group.size() + 1)
    return internalError("a collective's pieces do not match its group");
  return Status::ok();
}
} // namespace

Status Comm::reduceScatterSum(const Group &group, float *data,
                              const std::vector<int64_t> &bounds) {
  PPRT_RETURN_IF_ERROR(checkGroup(group, rank(), &bounds));
  MessageHeader h = nextHeader(group, CollectiveOp::ReduceScatter);
  int me = memberIndex(group, rank());
  for (size_t j = 0; j < group.size(); ++j)
    if ((int)j != me)
      PPRT_RETURN_IF_ERROR(sendPiece(group[j], h, data + bounds[j],
                                     (bounds[j + 1] - bounds[j]) * 4));
  int64_t lo = bounds[me], n = bounds[me + 1] - lo;
  // Member 0's piece first, then each in turn: the same order on every
  // member, whichever holds the piece.
  std::vector<float> sum;
  std::vector<std::vector<uint8_t>> pieces(group.size());
  for (size_t j = 0; j < group.size(); ++j) {
    if ((int)j == me)
      continue;
    auto m = recvPiece(group[j], h, n * 4);
    if (!m)
      return m.status();
    pieces[j] = std::move(*m);
  }
  for (size_t j = 0; j < group.size(); ++j) {
    const float *x = (int)j == me ? data + lo
                                  : reinterpret_cast<const float *>(
                                        pieces[j].data() + sizeof h);
    if (j == 0)
      sum.assign(x, x + n);
    else
      addInto(sum.data(), x, n);
  }
  if (n)
    std::memcpy(data + lo, sum.data(), n * 4);
  return Status::ok();
}

Status Comm::allGather(const Group &group, float *data,
                       const std::vector<int64_t> &bounds) {
  PPRT_RETURN_IF_ERROR(checkGroup(group, rank(), &bounds));
  MessageHeader h = nextHeader(group, CollectiveOp::AllGather);
  int me = memberIndex(group, rank());
  for (size_t j = 0; j < group.size(); ++j)
    if ((int)j != me)
      PPRT_RETURN_IF_ERROR(sendPiece(group[j], h, data + bounds[me],
                                     (bounds[me + 1] - bounds[me]) * 4));
  for (size_t j = 0; j < group.size(); ++j) {
    if ((int)j == me)
      continue;
    int64_t n = bounds[j + 1] - bounds[j];
    auto m = recvPiece(group[j], h, n * 4);
    if (!m)
      return m.status();
    if (n)
      std::memcpy(data + bounds[j], m->data() + sizeof h, n * 4);
  }
  return Status::ok();
}

Status Comm::allReduceSum(const Group &group, float *data, int64_t n) {
  // Even pieces; any bounds give the same sums.
  std::vector<int64_t> bounds(group.size() + 1);
  for (size_t j = 0; j <= group.size(); ++j)
    bounds[j] = n * (int64_t)j / (int64_t)group.size();
  PPRT_RETURN_IF_ERROR(reduceScatterSum(group, data, bounds));
  return allGather(group, data, bounds);
}

StatusOr<std::vector<std::vector<uint8_t>>>
Comm::allGatherBytes(const Group &group, const std::vector<uint8_t> &mine) {
  PPRT_RETURN_IF_ERROR(checkGroup(group, rank(), nullptr));
  MessageHeader h = nextHeader(group, CollectiveOp::AllGather);
  int me = memberIndex(group, rank());
  for (size_t j = 0; j < group.size(); ++j)
    if ((int)j != me)
      PPRT_RETURN_IF_ERROR(sendPiece(group[j], h, mine.data(), mine.size()));
  std::vector<std::vector<uint8_t>> all(group.size());
  for (size_t j = 0; j < group.size(); ++j) {
    if ((int)j == me) {
      all[j] = mine;
      continue;
    }
    auto m = recvPiece(group[j], h, -1);
    if (!m)
      return m.status();
    all[j].assign(m->begin() + sizeof h, m->end());
  }
  return all;
}

Status Comm::broadcast(const Group &group, int root, void *data,
                       size_t bytes) {
  PPRT_RETURN_IF_ERROR(checkGroup(group, rank(), nullptr));
  if (memberIndex(group, root) < 0)
    return internalError("a broadcast's root is not in its group");
  MessageHeader h = nextHeader(group, CollectiveOp::Broadcast);
  if (rank() == root) {
    for (int to : group)
      if (to != root)
        PPRT_RETURN_IF_ERROR(sendPiece(to, h, data, bytes));
    return Status::ok();
  }
  auto m = recvPiece(root, h, bytes);
  if (!m)
    return m.status();
  if (bytes)
    std::memcpy(data, m->data() + sizeof h, bytes);
  return Status::ok();
}

Status Comm::barrier(const Group &group) {
  PPRT_RETURN_IF_ERROR(checkGroup(group, rank(), nullptr));
  MessageHeader h = nextHeader(group, CollectiveOp::Barrier);
  for (int to : group)
    if (to != rank())
      PPRT_RETURN_IF_ERROR(sendPiece(to, h, nullptr, 0));
  for (int from : group)
    if (from != rank()) {
      auto m = recvPiece(from, h, 0);
      if (!m)
        return m.status();
    }
  return Status::ok();
}

} // namespace pprt

namespace pprt {
std::unique_ptr<Comm> createHostStagingComm(Transport &transport);
std::unique_ptr<Comm> createInProcessComm(Transport &transport);

std::unique_ptr<Comm> createComm(Transport &transport) {
  return transport.inProcess() ? createInProcessComm(transport)
                               : createHostStagingComm(transport);
}
} // namespace pprt
