//===- SessionInference.cpp - batches through the pipeline, outputs -------===//
//
// The inputs (--input files, or seeded random ones), one batch or
// --iterations of them (with several, the first warms up and is not timed),
// then each rank's model outputs as .npy files, their checksum, and one
// summary line from the rank holding the model's outputs.
//
//===----------------------------------------------------------------------===//

#include "SessionInternal.h"

#include "pprt/Format.h"
#include "pprt/Paths.h"

#include <algorithm>
#include <filesystem>

namespace pprt {
namespace session {

Status runInference(Session::State &s) {
  const SessionOptions &o = s.o;
  const Plan &plan = *s.plan;
  auto &executors = s.executors;
  Backend *backend = s.backends.front().get();
  int firstRank = s.firstRank, lastRank = firstRank + s.count();

  BatchIO io;
  bool random = o.inputs.empty();
  for (auto &[name, path] : o.inputs) {
    auto t = readNpy(path);
    if (!t)
      return t.status().withContext("--input " + name + "=" + path);
    io.inputs[name] = std::move(*t);
  }
  if (random) {
    uint64_t seed = 0;
    for (const Plan::Io &in : plan.modelInputs())
      io.inputs[in.name] = randomInput(in, plan.batchMicrobatches(), seed++);
  }
  PPRT_RETURN_IF_ERROR(checkInputs(plan, io));
  allocateOutputs(plan, io);

  int iterations = o.iterations ? o.iterations : random ? 4 : 1;
  // Buffers copied to and from the device on every iteration are worth
  // page-locking (a GPU backend; once, before the warm-up batch); a single
  // batch would pay more to pin them than it saves.
  std::vector<void *> pinned;
  if (iterations > 1)
    for (auto *tensors : {&io.inputs, &io.outputs})
      for (auto &[name, t] : *tensors) {
        backend->pinHost(t.bytes.data(), t.bytes.size());
        pinned.push_back(t.bytes.data());
      }
  struct Unpin {
    Backend *backend;
    std::vector<void *> &pinned;
    ~Unpin() {
      for (void *p : pinned)
        backend->unpinHost(p);
    }
  } unpin{backend, pinned};

  std::vector<std::vector<TraceEvent>> traces(s.count());
  double origin = seconds(), timed = 0;
  int timedIterations = 0;
  bool progress = iterations > 1 && o.progress && o.err;
  for (int it = 0; it < iterations; ++it) {
    bool last = it == iterations - 1;
    // --profile leaves the warm-up batch out as the timing does (the GEMM
    // algorithms are timed and scratch allocated in the first).
    if (iterations > 1 && o.profiling())
      for (auto &e : executors)
        e->enableProfile(it > 0);
    double start = seconds();
    PPRT_RETURN_IF_ERROR(s.eachRank([&](int i) {
      return executors[i]->runBatch(
          io, last && !o.trace.empty() ? &traces[i] : nullptr, origin);
    }));
    // With several iterations the first warms up and is not timed.
    if (iterations == 1 || it > 0) {
      timed += seconds() - start;
      ++timedIterations;
    }
    if (progress)
      std::fprintf(o.err, "\rpprun: batch %d/%d", it + 1, iterations);
  }
  if (progress)
    std::fprintf(o.err, "\n");

  std::error_code ec;
  std::filesystem::create_directories(o.outputDir, ec);
  if (ec)
    return invalidArgument("--output-dir " + o.outputDir +
                           ": cannot create it: " + ec.message());
  // Across processes each replica holds its own rows of the outputs.
  if (s.underMpi() && plan.replicas > 1)
    PPRT_RETURN_IF_ERROR(s.executors[0]->gatherOutputs(io));
  // Replica 0's rank of each stage writes the outputs the stage computes
  // (every replica's rows: in one process they share the batch; across
  // processes they were gathered).
  uint64_t checksum = 1469598103934665603ull;
  for (const Plan::Stage &st : plan.stages) {
    int writer = st.rank * plan.replicas;
    if (writer < firstRank || writer >= lastRank)
      continue;
    for (const Plan::Io &out : st.outputs) {
      const HostTensor &t = io.outputs.at(out.name);
      checksum ^= fnv1a(t.bytes.data(), t.bytes.size());
      // The name comes from the model: one plain file name, inside
      // --output-dir.
      PPRT_RETURN_IF_ERROR(
          checkFileComponent(out.name, "model output '" + out.name + "'"));
      auto path = resolveInside(o.outputDir, out.name + ".npy",
                                "model output '" + out.name + "'");
      if (!path)
        return path.status();
      PPRT_RETURN_IF_ERROR(writeNpy(*path, t));
    }
  }
  if (!o.trace.empty())
    PPRT_RETURN_IF_ERROR(writeTrace(s, traces));
  if (!o.profile.empty())
    PPRT_RETURN_IF_ERROR(writeProfile(s));
  if (!o.calibrate.empty())
    PPRT_RETURN_IF_ERROR(writeCalibration(s));
  double perBatch = timed / std::max(timedIterations, 1);
  s.summary.checksum = checksum;
  s.summary.secondsPerBatch = perBatch;
  // Under MPI the rank of the last stage, which holds the model's outputs,
  // reports.
  if (o.out && (!s.underMpi() ||
                firstRank == plan.stages.back().rank * plan.replicas))
    std::fprintf(o.out,
                 "pprun: %d ranks (%s, %s%s), schedule %s, batch %lld in %d "
                 "micro-batches: %.3f ms per batch, %.1f samples/s; outputs "
                 "in %s, checksum %016llx\n",
                 worldRanks(plan), s.transport.c_str(), backend->name(),
                 replicasText(plan).c_str(), plan.schedule.c_str(),
                 (long long)plan.batch, plan.batchMicrobatches(),
                 perBatch * 1e3, plan.batch / perBatch,
                 o.outputDir.c_str(), (unsigned long long)checksum);
  return Status::ok();
}

} // namespace session
} // namespace pprt
