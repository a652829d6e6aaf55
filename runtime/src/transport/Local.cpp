//===- Local.cpp - ranks as threads of one process ------------------------===//

#include "pprt/Transport.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

namespace pprt {

Transport::~Transport() = default;

struct LocalWorld::State {
  int size;
  double timeout;
  std::mutex mutex;
  std::condition_variable changed;
  // queues[from * size + to]
  std::vector<std::deque<std::vector<uint8_t>>> queues;
  std::vector<std::string> failed; // per rank, why
};

namespace {
class LocalTransport : public Transport {
public:
  LocalTransport(std::shared_ptr<LocalWorld::State> s, int rank)
      : s(std::move(s)), me(rank) {}
  int rank() const override { return me; }
  int size() const override { return s->size; }
  bool inProcess() const override { return true; }

  Status send(int to, std::vector<uint8_t> message) override {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->queues[me * s->size + to].push_back(std::move(message));
    s->changed.notify_all();
    return Status::ok();
  }

  StatusOr<std::vector<uint8_t>> recv(int from) override {
    std::unique_lock<std::mutex> lock(s->mutex);
    auto &queue = s->queues[from * s->size + me];
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration<double>(s->timeout);
    while (queue.empty()) {
      if (!s->failed[from].empty())
        return Status(StatusCode::Unavailable,
                      "rank " + std::to_string(from) + " failed: " +
                          s->failed[from]);
      if (s->changed.wait_until(lock, deadline) == std::cv_status::timeout &&
          queue.empty())
        return Status(StatusCode::DeadlineExceeded,
                      "no message from rank " + std::to_string(from) +
                          " within " + std::to_string((int)s->timeout) + " s");
    }
    std::vector<uint8_t> m = std::move(queue.front());
    queue.pop_front();
    return m;
  }

  void abort(const std::string &why) override {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->failed[me] = why.empty() ? "aborted" : why;
    s->changed.notify_all();
  }

private:
  std::shared_ptr<LocalWorld::State> s;
  int me;
};
} // namespace

LocalWorld::LocalWorld(int size, double timeoutSeconds)
    : state(std::make_shared<State>()) {
  state->size = size;
  state->timeout = timeoutSeconds;
  state->queues.resize(size * size);
  state->failed.resize(size);
}

LocalWorld::~LocalWorld() = default;

std::unique_ptr<Transport> LocalWorld::transport(int rank) {
  return std::make_unique<LocalTransport>(state, rank);
}

} // namespace pprt
