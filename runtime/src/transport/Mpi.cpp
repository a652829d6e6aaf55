//===- Mpi.cpp - one process per rank over OpenMPI ------------------------===//
//
// Sends are non-blocking (MPI_Isend; the buffer is kept until it completes),
// so that a rank is never held by a peer that is not receiving yet, as the
// schedule verifier assumes. A receive polls MPI_Iprobe until its message
// is there or the timeout passes.
//
//===----------------------------------------------------------------------===//

#include "pprt/Transport.h"

#ifdef PPRT_HAVE_MPI
#include <mpi.h>
#endif

#include <chrono>
#include <cstdlib>
#include <list>
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
class MpiTransport : public Transport {
public:
  explicit MpiTransport(double timeout) : timeout(timeout) {
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
  }
  ~MpiTransport() override { drain(); }
  int rank() const override { return me; }
  int size() const override { return n; }

  Status send(int to, std::vector<uint8_t> message) override {
    pending.push_back({std::move(message), MPI_REQUEST_NULL});
    auto &p = pending.back();
    if (MPI_Isend(p.bytes.data(), (int)p.bytes.size(), MPI_BYTE, to, 0,
                  MPI_COMM_WORLD, &p.request) != MPI_SUCCESS)
      return Status(StatusCode::Unavailable,
                    "MPI_Isend to rank " + std::to_string(to) + " failed");
    reap();
    return Status::ok();
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
      reap();
      if (std::chrono::steady_clock::now() > deadline)
        return Status(StatusCode::DeadlineExceeded,
                      "no message from rank " + std::to_string(from) +
                          " within " + std::to_string((int)timeout) +
                          " s (is rank " + std::to_string(from) + " alive?)");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    std::vector<uint8_t> m(count);
    MPI_Recv(m.data(), count, MPI_BYTE, from, 0, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    return m;
  }

  void abort(const std::string &) override {}

private:
  struct Pending {
    std::vector<uint8_t> bytes;
    MPI_Request request;
  };
  void reap() {
    for (auto it = pending.begin(); it != pending.end();) {
      int done = 0;
      MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      it = done ? pending.erase(it) : std::next(it);
    }
  }
  void drain() {
    for (auto &p : pending)
      MPI_Wait(&p.request, MPI_STATUS_IGNORE);
    pending.clear();
  }

  double timeout;
  int me = 0, n = 1;
  std::list<Pending> pending;
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
