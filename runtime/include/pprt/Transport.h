//===- Transport.h - moving messages between ranks --------------*- C++ -*-===//
//
// The executor sees only this interface: `local` (every rank a thread of one
// process) and `mpi` (one process per rank). Messages between a pair of
// ranks arrive in the order they were sent. A receive that waits longer
// than the timeout, or whose peer has failed, is an error naming the peer;
// so is a send that a peer has not taken within the timeout (mpi), so that
// a stopped peer holds no call longer than that.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_TRANSPORT_H
#define PPRT_TRANSPORT_H

#include "pprt/Status.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace pprt {

class Transport {
public:
  virtual ~Transport();
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual Status send(int to, std::vector<uint8_t> message) = 0;
  virtual StatusOr<std::vector<uint8_t>> recv(int from) = 0;
  /// Whether every rank is a thread of this process (--transport=local):
  /// the executor then passes the tensors of a message as its backend's
  /// kept copies (device memory on CUDA), and the transport only their
  /// header and ticket.
  virtual bool inProcess() const { return false; }
  /// Tells the other ranks this one has failed, so that none waits for it
  /// (mpi: MPI_Abort at once, without waiting for pending sends; it does
  /// not return).
  virtual void abort(const std::string &why) = 0;
};

/// The shared state of a local (threaded) world of `size` ranks.
class LocalWorld {
public:
  LocalWorld(int size, double timeoutSeconds);
  ~LocalWorld();
  std::unique_ptr<Transport> transport(int rank);
  struct State;

private:
  std::shared_ptr<State> state;
};

/// True when this process was started by mpirun or srun.
bool launchedByMpi();
/// The MPI world (MPI_Init on first use); timeout as for local.
StatusOr<std::unique_ptr<Transport>> createMpiTransport(double timeoutSeconds);
/// MPI_Finalize, or MPI_Abort when `failed`.
void finalizeMpi(bool failed);

} // namespace pprt

#endif // PPRT_TRANSPORT_H
