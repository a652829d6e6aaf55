//===- Mpi.cpp - one process per rank over OpenMPI ------------------------===//
//
// Sends are non-blocking (MPI_Isend; the buffer is kept until it completes),
// so that a rank is never held by a peer that is not receiving yet, as the
// schedule verifier assumes. A receive polls MPI_Iprobe until its message
// is there or the timeout passes; a send not taken within the timeout, or
// a full queue of them that does not move, is an error too, so that no
// call waits longer than the timeout for a stopped peer.
//
//===----------------------------------------------------------------------===//

#include "pprt/Transport.h"

#ifdef PPRT_HAVE_MPI
#include <mpi.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <list>
#include <map>
#include <string>
#include <thread>

namespace pprt {

bool launchedByMpi() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                        "SLURM_PROCID"})
    if (std::getenv(v))
      return true;
  return false;
}

#ifdef PPRT_HAVE_MPI
namespace {
std::string secondsText(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

class MpiTransport : public Transport {
public:
  explicit MpiTransport(double timeout) : timeout(timeout) {
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
  }
  // Every message of a finished run has been received, so the pending sends
  // complete at once; one that does not within the timeout has a peer that
  // stopped, and waiting for it would hang this rank.
  ~MpiTransport() override {
    Status st = waitPending(0);
    if (!st.isOk()) {
      std::fprintf(stderr, "pprun: error: rank %d: %s\n", me,
                   st.message().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  int rank() const override { return me; }
  int size() const override { return n; }

  Status send(int to, std::vector<uint8_t> message) override {
    // Bounded: past kMaxPending messages in flight, wait (within the
    // timeout) for the oldest to be taken, so that a rank that only sends
    // cannot queue without end behind a stopped peer.
    PPRT_RETURN_IF_ERROR(waitPending(kMaxPending - 1));
    pending.push_back({std::move(message), MPI_REQUEST_NULL, to,
                       std::chrono::steady_clock::now()});
    auto &p = pending.back();
    if (MPI_Isend(p.bytes.data(), (int)p.bytes.size(), MPI_BYTE, to, 0,
                  MPI_COMM_WORLD, &p.request) != MPI_SUCCESS)
      return Status(StatusCode::Unavailable,
                    "MPI_Isend to rank " + std::to_string(to) + " failed");
    return reap();
  }

  StatusOr<std::vector<uint8_t>> recv(int from) override {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration<double>(timeout);
    MPI_Status status;
    int ready = 0;
    while (true) {
      MPI_Iprobe(from, 0, MPI_COMM_WORLD, &ready, &status);
      if (ready)
        break;
      PPRT_RETURN_IF_ERROR(reap());
      if (std::chrono::steady_clock::now() > deadline)
        return Status(StatusCode::DeadlineExceeded,
                      "no message from rank " + std::to_string(from) +
                          " within " + secondsText(timeout) + " s (is rank " +
                          std::to_string(from) + " alive?)");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    std::vector<uint8_t> m(count);
    MPI_Recv(m.data(), count, MPI_BYTE, from, 0, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    lastHeard[from] = std::chrono::steady_clock::now();
    return m;
  }

  // MPI_Abort at once: the pending sends may be to the peer that failed,
  // and waiting for them is what would hang.
  // A short grace first, within the `--timeout + 5 s` every rank must end
  // by: a rank that timed out waiting for a live peer (a hub of the
  // step-end exchange, say) and the rank that waits on the stopped one
  // time out at about the same moment, and the second must get to print
  // the error that names the culprit before MPI_Abort takes it down.
  void abort(const std::string &) override {
    pending.clear();
    std::this_thread::sleep_for(
        std::chrono::duration<double>(std::min(1.0, timeout)));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

private:
  static constexpr size_t kMaxPending = 256;
  struct Pending {
    std::vector<uint8_t> bytes;
    MPI_Request request;
    int to;
    std::chrono::steady_clock::time_point sent;
  };
  /// Drops the sends that completed. A send still waiting is an error,
  /// naming its peer, when that peer has shown no sign of life (taken a
  /// message or sent one) for the timeout since the send: a live peer
  /// busy with earlier micro-batches takes messages as it goes, however old
  /// the last queued one grows (GPipe queues all of them).
  Status reap() {
    auto now = std::chrono::steady_clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      int done = 0;
      MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      if (done) {
        lastHeard[it->to] = now;
        it = pending.erase(it);
        continue;
      }
      auto since = std::max(it->sent, lastHeard[it->to]);
      if (now - since > std::chrono::duration<double>(timeout))
        return Status(StatusCode::DeadlineExceeded,
                      "rank " + std::to_string(it->to) +
                          " has taken no message for " + secondsText(timeout) +
                          " s (is rank " + std::to_string(it->to) + " alive?)");
      ++it;
    }
    return Status::ok();
  }
  /// Polls until at most `most` sends are in flight, or a send times out.
  Status waitPending(size_t most) {
    while (true) {
      PPRT_RETURN_IF_ERROR(reap());
      if (pending.size() <= most)
        return Status::ok();
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  double timeout;
  int me = 0, n = 1;
  std::list<Pending> pending;
  std::map<int, std::chrono::steady_clock::time_point> lastHeard;
};
} // namespace

StatusOr<std::unique_ptr<Transport>> createMpiTransport(double timeout) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
      return Status(StatusCode::Unavailable, "MPI_Init failed");
  }
  return std::unique_ptr<Transport>(new MpiTransport(timeout));
}

void finalizeMpi(bool failed) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    return;
  if (failed)
    MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

#else // A runtime built without MPI (a GPU machine with CUDA alone).

StatusOr<std::unique_ptr<Transport>> createMpiTransport(double) {
  return Status(StatusCode::Unavailable,
                "this pprun was built without MPI (no MPI found at build "
                "time): run every rank in one process (--transport=local), "
                "or rebuild with MPI to run under mpirun or srun");
}

void finalizeMpi(bool) {}

#endif

} // namespace pprt
