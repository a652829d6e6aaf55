//===- Backend.cpp - what every backend shares ----------------------------===//

#include "pprt/Backend.h"

#include "Sums.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace pprt {

PreparedStage::~PreparedStage() = default;
Backend::~Backend() = default;
Kept::~Kept() = default;
StateVector::~StateVector() = default;

namespace {
struct HostKept : Kept {
  std::vector<uint8_t> data;
};
} // namespace

StatusOr<std::unique_ptr<Kept>> PreparedStage::keep(int buffer) {
  auto kept = std::make_unique<HostKept>();
  kept->data.resize(program.buffers().at(buffer).bytes);
  kept->bytes = kept->data.size();
  PPRT_RETURN_IF_ERROR(read(buffer, kept->data.data()));
  return std::unique_ptr<Kept>(std::move(kept));
}

Status PreparedStage::restore(int buffer, const Kept &kept) {
  const auto *host = dynamic_cast<const HostKept *>(&kept);
  if (!host || host->bytes != program.buffers().at(buffer).bytes)
    return internalError("a kept value does not match its buffer");
  return write(buffer, host->data.data());
}

// The host backends: the buffer is the program's own memory.
Status PreparedStage::write(int buffer, const void *src) {
  TensorRef &t = program.buffers().at(buffer);
  std::memcpy(t.data, src, t.bytes);
  return Status::ok();
}

Status PreparedStage::read(int buffer, void *dst) {
  const TensorRef &t = program.buffers().at(buffer);
  std::memcpy(dst, t.data, t.bytes);
  return Status::ok();
}

void PreparedStage::parametersChanged() { program.parametersChanged(); }

Status PreparedStage::updateParameter(int buffer, void *host) {
  return read(buffer, host);
}

//===----------------------------------------------------------------------===//
// The training state in host memory
//===----------------------------------------------------------------------===//

namespace {
struct HostVector : StateVector {
  explicit HostVector(int64_t n) : StateVector(n), values(n, 0.0f) {}
  float *host() override { return values.data(); }
  std::vector<float> values;
};

Status outside(const char *what, int64_t at, int64_t n, int64_t size) {
  return internalError(std::string(what) + ": elements [" + std::to_string(at) +
                       ", " + std::to_string(at + n) + ") of a vector of " +
                       std::to_string(size));
}
} // namespace

StatusOr<std::unique_ptr<StateVector>> Backend::stateVector(int64_t n) {
  return std::unique_ptr<StateVector>(std::make_unique<HostVector>(n));
}

Status Backend::accumulate(PreparedStage &stage, int buffer,
                           StateVector &into, bool first) {
  if (stage.bufferBytes(buffer) != into.size() * (int64_t)sizeof(float))
    return internalError("a gradient buffer of " +
                         std::to_string(stage.bufferBytes(buffer)) +
                         " bytes does not match its sum of " +
                         std::to_string(into.size()) + " floats");
  if (first)
    return stage.read(buffer, into.host());
  // The CPU backend serves every rank of the process: scratch per thread.
  thread_local std::vector<float> scratch;
  scratch.resize(into.size());
  PPRT_RETURN_IF_ERROR(stage.read(buffer, scratch.data()));
  addInto(into.host(), scratch.data(), into.size());
  return Status::ok();
}

Status Backend::combine(StateVector &into, const StateVector &from, bool add) {
  if (into.size() != from.size())
    return outside("combining", 0, from.size(), into.size());
  if (add)
    addInto(into.host(), from.host(), into.size());
  else
    std::memcpy(into.host(), from.host(), into.size() * sizeof(float));
  return Status::ok();
}

Status Backend::toHost(const StateVector &v, int64_t at, int64_t n,
                       float *dst) {
  if (at < 0 || n < 0 || at + n > v.size())
    return outside("reading", at, n, v.size());
  std::memcpy(dst, v.host() + at, n * sizeof(float));
  return Status::ok();
}

Status Backend::fromHost(StateVector &v, int64_t at, int64_t n,
                         const float *src) {
  if (at < 0 || n < 0 || at + n > v.size())
    return outside("writing", at, n, v.size());
  std::memcpy(v.host() + at, src, n * sizeof(float));
  return Status::ok();
}

Status Backend::chunkSquares(const StateVector &g, int64_t chunk,
                             const std::vector<int64_t> &chunks, double *out) {
  const float *x = g.host();
  int64_t n = g.size();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < (int64_t)chunks.size(); ++i) {
    double sq = 0;
    for (int64_t j = chunks[i] * chunk; j < std::min(n, (chunks[i] + 1) * chunk);
         ++j)
      sq += (double)x[j] * x[j];
    out[i] = sq;
  }
  return Status::ok();
}

Status Backend::optimizerStep(const OptimizerStep &o,
                              const std::vector<ParamUpdate> &updates) {
  for (const ParamUpdate &u : updates) {
    if (u.gradAt < 0 || u.gradAt + u.n > u.grad->size() ||
        (u.m && u.m->size() != u.n) || (u.v && u.v->size() != u.n))
      return outside("updating", u.gradAt, u.n, u.grad->size());
    float *w = static_cast<float *>(u.param) + u.lo;
    const float *g = u.grad->host() + u.gradAt;
    int64_t n = u.n;
    float c = o.coefficient;
    if (!o.adamw) {
      // torch.optim.SGD: d = g + wd p; buf = d (first step) or
      // momentum buf + d; p -= lr buf.
      float lr = o.lr, wd = o.weightDecay, mom = o.momentum;
      float *buf = u.m ? u.m->host() : nullptr;
      bool first = u.first;
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        float d = g[i] * c;
        if (wd != 0)
          d += wd * w[i];
        if (buf) {
          float &b = buf[i];
          b = first ? d : mom * b + d;
          d = b;
        }
        w[i] -= lr * d;
      }
    } else {
      // torch.optim.AdamW: p *= 1 - lr wd; m = b1 m + (1-b1) g;
      // v = b2 v + (1-b2) g^2; p -= lr / (1-b1^t) m / (sqrt(v) /
      // sqrt(1-b2^t) + eps).
      float decay = o.decay;
      float b1 = o.beta1, b2 = o.beta2, eps = o.eps;
      float stepSize = o.stepSize, bc2 = o.biasCorrection2;
      float *mp = u.m->host(), *vp = u.v->host();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        float gi = g[i] * c;
        w[i] *= decay;
        mp[i] += (gi - mp[i]) * (1 - b1);
        vp[i] = b2 * vp[i] + (1 - b2) * gi * gi;
        w[i] -= stepSize * (mp[i] / (std::sqrt(vp[i]) / bc2 + eps));
      }
    }
  }
  return Status::ok();
}

} // namespace pprt
