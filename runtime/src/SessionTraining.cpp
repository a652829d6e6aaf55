//===- SessionTraining.cpp - the training loop and its checkpoints --------===//
//
// Steps from the checkpoint resumed (or 0) up to --steps, each one batch of
// --data through every rank's executor (forward, backward, optimizer), a
// metrics line per step, and checkpoints every --save-every steps and at the
// end. The commit protocol (Checkpoint.h): rank 0 prepares the staging
// folder, every rank writes its stages there, and once all have, rank 0
// writes checkpoint.json and names the folder. Rank 0 writes the metrics
// and checkpoints, and reports.
//
//===----------------------------------------------------------------------===//

#include "SessionInternal.h"

#include <cerrno>
#include <cmath>
#include <cstring>

namespace pprt {
namespace session {

StatusOr<Checkpoint> resume(Session::State &s) {
  auto ck = findCheckpoint(s.o.resume, "--resume ");
  if (!ck)
    return ck.status();
  for (auto &e : s.executors) {
    PPRT_RETURN_IF_ERROR(e->loadCheckpoint(ck->dir, ck->step));
    // A checkpoint without the scaler's state (from a run without loss
    // scaling) starts the scaler afresh.
    if (e->lossScaling() && ck->lossScale > 0)
      e->resumeScaler(LossScaler{float(ck->lossScale), ck->growthTracker},
                      ck->optimizerSteps < 0 ? ck->step : ck->optimizerSteps);
  }
  return *ck;
}

namespace {

/// Checkpoint `step` (the data at `position`) into --checkpoint-dir.
Status saveCheckpoint(Session::State &s, int64_t step, int64_t position) {
  const std::string &root = s.o.checkpointDir;
  bool reporter = s.firstRank == 0;
  if (reporter)
    PPRT_RETURN_IF_ERROR(prepareCheckpoint(root, step).withContext(
        "--checkpoint-dir " + root));
  PPRT_RETURN_IF_ERROR(s.barrier());
  std::string staging = checkpointStaging(root, step);
  // Side by side: under -zero=1 the replicas gather their shards.
  PPRT_RETURN_IF_ERROR(s.eachRank(
      [&](int i) { return s.executors[i]->saveCheckpoint(staging); }));
  PPRT_RETURN_IF_ERROR(s.barrier());
  if (!reporter)
    return Status::ok();
  Checkpoint meta;
  meta.step = step;
  meta.position = position;
  meta.schedule = s.plan->schedule;
  meta.stages = s.plan->stages.size();
  const Executor &e = *s.executors[0];
  if (e.lossScaling()) {
    meta.lossScale = e.lossScaler().scale;
    meta.growthTracker = e.lossScaler().growthTracker;
    meta.optimizerSteps = e.optimizerSteps();
  }
  return commitCheckpoint(root, step, checkpointJson(meta))
      .withContext("--checkpoint-dir " + root);
}

/// The metrics file, closed however the loop ends.
struct MetricsFile {
  std::FILE *f = nullptr;
  ~MetricsFile() {
    if (f)
      std::fclose(f);
  }
};

} // namespace

Status runTraining(Session::State &s) {
  const SessionOptions &o = s.o;
  const Plan &plan = *s.plan;
  auto &executors = s.executors;
  bool reporter = s.firstRank == 0; // rank 0 writes metrics and checkpoints
  auto data = TrainingData::load(o, plan);
  if (!data)
    return data.status();

  int64_t batch = plan.batch, startStep = 0, position = 0;
  if (!o.resume.empty()) {
    auto ck = resume(s);
    if (!ck)
      return ck.status();
    startStep = ck->step;
    position = ck->position;
  }
  int64_t steps = o.steps ? o.steps : startStep + 1;
  if (steps <= startStep)
    return invalidArgument("--steps " + std::to_string(steps) +
                           ": the checkpoint is at step " +
                           std::to_string(startStep) +
                           " already (--steps counts from the start of "
                           "training)");
  MetricsFile metrics;
  if (!o.metrics.empty() && reporter) {
    metrics.f = std::fopen(o.metrics.c_str(), startStep ? "a" : "w");
    if (!metrics.f) {
      int error = errno;
      return invalidArgument("--metrics " + o.metrics + ": " +
                             std::strerror(error));
    }
  }
  for (auto &e : executors)
    e->keepGradients(!o.saveGradients.empty());

  s.summary.startStep = startStep;
  BatchIO io;
  allocateOutputs(plan, io);
  std::vector<std::vector<TraceEvent>> traces(s.count());
  bool progress = o.progress && o.err && reporter;
  double origin = seconds(), total = 0, firstLoss = 0;
  // Host<->device bytes of this process's backends (--profile): of the
  // last step, and what its batch's inputs and loss alone would take.
  auto deviceBytes = [&] {
    int64_t b = 0;
    for (auto &backend : s.backends)
      b += backend->hostDeviceBytes();
    return b;
  };
  int64_t lastStepBytes = 0;
  for (int64_t step = startStep + 1; step <= steps; ++step) {
    int64_t bytesBefore = deviceBytes();
    position = data->fill(io, position);
    bool traceIt = !o.trace.empty() && step == steps;
    // As for inference, --profile leaves the run's first step out (GEMM
    // algorithm timing, first allocations) where there are more.
    if (o.profiling() && steps - startStep > 1)
      for (auto &e : executors)
        e->enableProfile(step > startStep + 1);
    double start = seconds();
    PPRT_RETURN_IF_ERROR(s.eachRank([&](int i) {
      return executors[i]->runBatch(io, traceIt ? &traces[i] : nullptr, origin);
    }));
    double took = seconds() - start;
    total += took;
    lastStepBytes = deviceBytes() - bytesBefore;
    double loss = executors[0]->lastLoss();
    if (step == startStep + 1)
      firstLoss = loss;
    s.summary.losses.push_back(loss);
    double norm = executors[0]->lastGradNorm();
    s.summary.gradNorms.push_back(norm);
    bool scaling = executors[0]->lossScaling();
    if (scaling) {
      s.summary.lossScales.push_back(executors[0]->lastLossScale());
      s.summary.skipped.push_back(executors[0]->lastSkipped());
    }
    if (metrics.f) {
      // A skipped step's norm is inf or NaN: JSON has no such number.
      char normText[32] = "null";
      if (std::isfinite(norm))
        std::snprintf(normText, sizeof normText, "%.9g", norm);
      std::string scaler;
      if (scaling) {
        char text[96];
        std::snprintf(text, sizeof text,
                      ", \"loss_scale\": %.9g, \"skipped\": %s",
                      executors[0]->lastLossScale(),
                      executors[0]->lastSkipped() ? "true" : "false");
        scaler = text;
      }
      std::fprintf(metrics.f,
                   "{\"step\": %lld, \"loss\": %.9g, \"grad_norm\": %s, "
                   "\"step_time\": %.6f, \"samples_per_s\": %.3f%s}\n",
                   (long long)step, loss, normText, took, batch / took,
                   scaler.c_str());
      std::fflush(metrics.f);
    }
    if (progress) {
      int width = 30, done = int(width * (step - startStep) /
                                 double(steps - startStep));
      std::fprintf(o.err, "\rpprun: step %lld/%lld [%s%s] loss %.4f, %.1f "
                   "samples/s ",
                   (long long)step, (long long)steps,
                   std::string(done, '=').c_str(),
                   std::string(width - done, ' ').c_str(), loss, batch / took);
    }
    bool save = !o.checkpointDir.empty() &&
                ((o.saveEvery && step % o.saveEvery == 0) || step == steps);
    if (save)
      PPRT_RETURN_IF_ERROR(saveCheckpoint(s, step, position));
  }
  if (progress)
    std::fprintf(o.err, "\n");
  if (metrics.f) {
    std::fclose(metrics.f);
    metrics.f = nullptr;
  }
  if (!o.saveGradients.empty())
    for (int i = 0; i < s.count(); ++i) {
      std::string path = s.count() == 1 && !s.underMpi() &&
                                 worldRanks(plan) == 1
                             ? o.saveGradients
                             : o.saveGradients + ".rank" +
                                   std::to_string(s.firstRank + i);
      PPRT_RETURN_IF_ERROR(executors[i]->saveGradients(path));
    }
  if (!o.trace.empty())
    PPRT_RETURN_IF_ERROR(writeTrace(s, traces));
  if (!o.profile.empty())
    PPRT_RETURN_IF_ERROR(writeProfile(s));
  if (!o.calibrate.empty())
    PPRT_RETURN_IF_ERROR(writeCalibration(s));
  // What each stage kept for its backward at most: the schedule's
  // activation memory (1F1B: stage s holds at most K - s micro-batches).
  if (o.out)
    for (int i = 0; i < s.count(); ++i)
      for (const Executor::StashPeak &p : executors[i]->stashPeaks())
        std::fprintf(o.out, "pprun: rank %d stage %d kept at most %d "
                     "micro-batches (%s) for the backward\n",
                     s.firstRank + i, p.stage, p.microbatches,
                     humanBytes(p.bytes).c_str());
  // Optimizer state per rank (divided over the replicas under -zero=1).
  if (o.out)
    for (int i = 0; i < s.count(); ++i)
      std::fprintf(o.out, "pprun: rank %d optimizer state %s (%lld bytes)\n",
                   s.firstRank + i,
                   humanBytes(executors[i]->optimizerStateBytes()).c_str(),
                   (long long)executors[i]->optimizerStateBytes());
  if (o.out && !o.profile.empty() && !s.backends.front()->hostArena()) {
    // Every model input once, and the loss: the floor of what a step moves;
    // and the gradient norm's parts, 8 bytes a chunk (kNormChunk), each
    // computed once in the world.
    int64_t floor = 0, norm = 0;
    for (const Plan::Io &in : plan.modelInputs())
      floor += *wholeBatch(plan, in).byteSize();
    for (const Plan::Io &out : plan.modelOutputs())
      floor += *wholeBatch(plan, out).byteSize();
    for (const Plan::Param &p : plan.params)
      norm += (*p.desc.numElements() + kNormChunk - 1) / kNormChunk * 8;
    std::fprintf(o.out, "pprun: the last step moved %s (%lld bytes) between "
                 "host and device on this process's ranks; its inputs and "
                 "outputs are %s (%lld bytes), the gradient norm's parts "
                 "%lld bytes\n",
                 humanBytes(lastStepBytes).c_str(), (long long)lastStepBytes,
                 humanBytes(floor).c_str(), (long long)floor,
                 (long long)norm);
  }
  int64_t ran = steps - startStep;
  if (o.out && reporter)
    std::fprintf(o.out, "pprun: %d ranks (%s%s), schedule %s, %lld steps of "
                 "batch %lld in %d micro-batches: loss %.6g -> %.6g, %.3f ms "
                 "per step, %.1f samples/s\n",
                 worldRanks(plan), s.underMpi() ? "mpi" : "local",
                 replicasText(plan).c_str(), plan.schedule.c_str(),
                 (long long)ran, (long long)batch, plan.batchMicrobatches(),
                 firstLoss, executors[0]->lastLoss(),
                 total / ran * 1e3, batch * ran / total);
  return Status::ok();
}

} // namespace session
} // namespace pprt
