//===- pprun.cpp - run a pipeline compiled by ppc -------------------------===//
//
// pprun DIR [--input NAME=FILE.npy]... [--output-dir D]
//           [--transport=local|mpi] [--backend=cpu|cuda [--tf32]]
//           [--threads N]
//           [--iterations N] [--trace FILE.json] [--timeout SECONDS]
//
// Runs one batch (or N) through the pipeline in DIR, one rank per pipeline
// rank: threads of this process (local) or processes under mpirun (mpi;
// started through mpirun when pprun is not under a launcher already).
// Without --input it runs on seeded random inputs and prints throughput and
// a checksum of the outputs. Errors are one line and exit 1.
//
//===----------------------------------------------------------------------===//

#include "pprt/Checkpoint.h"
#include "pprt/Executor.h"
#include "pprt/Format.h"
#include "pprt/Paths.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <map>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>

using namespace pprt;

namespace {
struct Options {
  std::string dir, outputDir, transport, backend = "cpu", trace, profile;
  std::vector<std::pair<std::string, std::string>> inputs, data;
  int threads = 0, iterations = 0;
  // Training (a pipeline compiled with ppc -train).
  int steps = 0, saveEvery = 0;
  std::string metrics, checkpointDir, resume, saveGradients;
  bool eval = false, tf32 = false;
  double timeout = 30;
};

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "pprun: error: %s\n", message.c_str());
  std::exit(1);
}

void usage() {
  std::printf(
      "usage: pprun DIR [--input NAME=FILE.npy]... [--output-dir D]\n"
      "             [--transport=local|mpi] [--threads N]\n"
      "             (N: threads on this machine, shared by its ranks)\n"
      "             [--backend=cpu|cuda] [--tf32]  (cuda: every local rank on\n"
      "             GPU 0, each on its own streams; under mpirun, the local\n"
      "             rank's GPU; --tf32: fp32 products on TF32 tensor cores)\n"
      "             [--iterations N] [--trace FILE.json] [--timeout SECONDS]\n"
      "             [--profile COSTS.json]   (per-op times, for ppc -cost-table)\n"
      "training (ppc -train):\n"
      "             [--steps N] [--data NAME=FILE.npy]... (samples on axis 0,\n"
      "             taken in batches, wrapping) [--metrics FILE.jsonl]\n"
      "             [--checkpoint-dir D [--save-every N]] [--resume D]\n"
      "             [--eval]  (forward only, on the current weights)\n"
      "             [--save-gradients FILE.safetensors]  (the last step's)\n");
}

Options parse(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> std::string {
      std::string f = flag;
      if (a.rfind(f + "=", 0) == 0)
        return a.substr(f.size() + 1);
      if (a == f && i + 1 < argc)
        return argv[++i];
      die(f + " needs a value");
    };
    auto is = [&](const char *flag) {
      return a == flag || a.rfind(std::string(flag) + "=", 0) == 0;
    };
    // NAME=FILE.npy, and counts of at least 1.
    auto namedFile = [&](const char *flag) -> std::pair<std::string, std::string> {
      std::string v = value(flag);
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        die(std::string(flag) + " " + v + ": expected NAME=FILE.npy");
      return {v.substr(0, eq), v.substr(eq + 1)};
    };
    // Strict: the whole value a number, in range (atoi would take "abc"
    // as 0 and 4294967297 as 1).
    auto positive = [&](const char *flag) {
      std::string v = value(flag);
      errno = 0;
      char *end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || std::isspace((unsigned char)v[0]) ||
          errno == ERANGE || n < 1 || n > INT_MAX)
        die(std::string(flag) + " " + v + ": expected a whole number from 1 "
            "to " + std::to_string(INT_MAX));
      return (int)n;
    };
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if (is("--input")) {
      o.inputs.push_back(namedFile("--input"));
    } else if (is("--data")) {
      o.data.push_back(namedFile("--data"));
    } else if (is("--steps")) {
      o.steps = positive("--steps");
    } else if (is("--save-every")) {
      o.saveEvery = positive("--save-every");
    } else if (is("--metrics")) {
      o.metrics = value("--metrics");
    } else if (is("--checkpoint-dir")) {
      o.checkpointDir = value("--checkpoint-dir");
    } else if (is("--resume")) {
      o.resume = value("--resume");
    } else if (is("--save-gradients")) {
      o.saveGradients = value("--save-gradients");
    } else if (a == "--eval") {
      o.eval = true;
    } else if (is("--output-dir")) {
      o.outputDir = value("--output-dir");
    } else if (is("--transport")) {
      o.transport = value("--transport");
      if (o.transport != "local" && o.transport != "mpi")
        die("--transport=" + o.transport + ": expected local or mpi");
    } else if (is("--backend")) {
      o.backend = value("--backend");
      if (o.backend != "cpu" && o.backend != "cuda")
        die("--backend=" + o.backend + ": expected cpu or cuda");
#ifndef PPRT_HAVE_CUDA
      if (o.backend == "cuda")
        die("--backend=cuda: this pprun was built without the CUDA toolkit");
#endif
    } else if (a == "--tf32") {
      o.tf32 = true;
    } else if (is("--threads")) {
      o.threads = positive("--threads");
    } else if (is("--iterations")) {
      o.iterations = positive("--iterations");
    } else if (is("--trace")) {
      o.trace = value("--trace");
    } else if (is("--profile")) {
      o.profile = value("--profile");
    } else if (is("--timeout")) {
      // Finite and positive: 0 would blame every peer, inf never end.
      std::string v = value("--timeout");
      char *end = nullptr;
      o.timeout = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || std::isspace((unsigned char)v[0]) ||
          !std::isfinite(o.timeout) || o.timeout <= 0 || o.timeout > 1e6)
        die("--timeout " + v + ": expected seconds, a number above 0 and at "
            "most 1000000");
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option " + a + " (see --help)");
    } else if (o.dir.empty()) {
      o.dir = a;
    } else {
      die("unexpected argument " + a);
    }
  }
  if (o.dir.empty()) {
    usage();
    std::exit(1);
  }
  if (o.tf32 && o.backend != "cuda")
    die("--tf32 is for --backend=cuda (the CPU backend's products are fp32)");
  if (o.outputDir.empty())
    o.outputDir = o.dir + "/outputs";
  return o;
}

/// Seeded inputs: floats in [-1, 1), integers 0 or 1, booleans.
HostTensor randomInput(const Plan::Io &io, int microbatches, uint64_t seed) {
  HostTensor t;
  t.desc = wholeBatch(io.desc, microbatches);
  int64_t n = *t.desc.numElements();
  t.bytes.resize(n * dtypeSize(t.desc.dtype));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    switch (t.desc.dtype) {
    case DType::F32:
      reinterpret_cast<float *>(t.bytes.data())[i] = uniform(rng);
      break;
    case DType::F64:
      reinterpret_cast<double *>(t.bytes.data())[i] = uniform(rng);
      break;
    case DType::I64:
      reinterpret_cast<int64_t *>(t.bytes.data())[i] = rng() % 2;
      break;
    case DType::I32:
      reinterpret_cast<int32_t *>(t.bytes.data())[i] = rng() % 2;
      break;
    default:
      t.bytes[i * dtypeSize(t.desc.dtype)] = rng() % 2;
      break;
    }
  }
  return t;
}

/// Re-runs this pprun under mpirun, one process per rank.
[[noreturn]] void relaunchUnderMpirun(int ranks, int argc, char **argv) {
  std::vector<std::string> args = {"mpirun", "-np", std::to_string(ranks),
                                   "--oversubscribe", "--bind-to", "none"};
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = 0;
  args.push_back(n > 0 ? self : argv[0]);
  for (int i = 1; i < argc; ++i)
    args.push_back(argv[i]);
  if (getuid() == 0) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  std::vector<char *> cargs;
  for (auto &a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execvp("mpirun", cargs.data());
  die(std::string("cannot start mpirun: ") + std::strerror(errno));
}

std::string traceJson(const std::vector<TraceEvent> &events,
                      const std::vector<std::pair<int, Executor::StashPeak>>
                          &peaks) {
  std::ostringstream os;
  os << "{\"displayTimeUnit\":\"ms\",";
  // Training: what each stage kept for its backward at most.
  if (!peaks.empty()) {
    os << "\"otherData\":{\"peak_activation_memory\":[";
    for (size_t i = 0; i < peaks.size(); ++i)
      os << (i ? "," : "") << "{\"rank\":" << peaks[i].first
         << ",\"stage\":" << peaks[i].second.stage
         << ",\"bytes\":" << peaks[i].second.bytes
         << ",\"microbatches\":" << peaks[i].second.microbatches << "}";
    os << "]},";
  }
  os << "\"traceEvents\":[";
  bool first = true;
  for (const TraceEvent &e : events) {
    bool compute = e.action.op == ActionOp::Fwd ||
                   e.action.op == ActionOp::Bwd ||
                   e.action.op == ActionOp::BwdB ||
                   e.action.op == ActionOp::BwdW;
    os << (first ? "" : ",") << "{\"name\":\"" << actionName(e.action.op)
       << " stage " << e.action.stage << " mb " << e.action.mb
       << "\",\"cat\":\"" << (compute ? "compute" : "transfer")
       << "\",\"ph\":\"X\",\"pid\":0,\"tid\":" << e.rank * 2 + !compute
       << ",\"ts\":" << e.start * 1e6 << ",\"dur\":" << (e.end - e.start) * 1e6
       << ",\"args\":{\"stage\":" << e.action.stage << ",\"mb\":" << e.action.mb
       << "}}";
    first = false;
  }
  os << "]}\n";
  return os.str();
}

double seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

using Fail = std::function<void(const std::string &)>;

/// Runs f(i) for each rank of this process, side by side (threads when
/// local). The first failure is the cause; the others report waiting for
/// it.
Status runRanks(std::vector<std::unique_ptr<Transport>> &transports, bool mpi,
                int ranks, const std::function<Status(int)> &f) {
  std::vector<Status> results(ranks);
  auto one = [&](int i) {
    results[i] = f(i);
    if (!results[i].isOk() && !mpi)
      transports[i]->abort(results[i].message());
  };
  if (ranks == 1) {
    one(0);
  } else {
    std::vector<std::thread> threads;
    for (int i = 0; i < ranks; ++i)
      threads.emplace_back(one, i);
    for (auto &t : threads)
      t.join();
  }
  for (const Status &st : results)
    if (!st.isOk() && st.code() != StatusCode::Unavailable)
      return st;
  for (const Status &st : results)
    if (!st.isOk())
      return st;
  return Status::ok();
}

std::string humanBytes(double b) {
  const char *units[] = {"B", "KB", "MB", "GB"};
  int u = 0;
  while (b >= 1000 && u < 3) {
    b /= 1000;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return text;
}

/// --profile: mean microseconds per run of every op, by ONNX node (the
/// format of ppc -cost-table), and the kernels that take the most on
/// stderr; for inference and training alike.
void writeProfile(const Options &o,
                  const std::vector<std::unique_ptr<Executor>> &executors,
                  bool mpi, int firstRank, const Fail &fail) {
    // Mean microseconds per run of every op, by ONNX node: the format of
    // ppc -cost-table. And the kernels that take the most, on stderr.
    std::map<std::string, std::pair<double, int64_t>> byKernel;
    // A node lowered to several instructions costs their sum per run; the
    // table holds forward times (ppc costs the forward graph).
    std::map<std::string, double> byNode;
    for (auto &e : executors)
      for (const auto &t : e->profile()) {
        if (!t.runs)
          continue;
        auto &k = byKernel[t.kernel];
        k.first += t.seconds;
        k.second += t.runs;
        if (!t.node.empty() && t.forward)
          byNode[t.node] += t.seconds / t.runs * 1e6;
      }
    std::ostringstream json;
    json << "{\"unit\": \"us\", \"ops\": {";
    bool first = true;
    for (const auto &[name, us] : byNode) {
      std::string node;
      for (char c : name)
        node += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
      json << (first ? "" : ", ") << "\"" << node << "\": " << us;
      first = false;
    }
    json << "}}\n";
    std::string text = json.str();
    std::string path = mpi ? o.profile + ".rank" + std::to_string(firstRank)
                           : o.profile;
    if (Status st = writeFileAtomically(path, text.data(), text.size());
        !st.isOk())
      fail(st.message());
    std::vector<std::pair<double, std::string>> sorted;
    double total = 0;
    for (auto &[k, v] : byKernel) {
      sorted.push_back({v.first, k});
      total += v.first;
    }
    std::sort(sorted.rbegin(), sorted.rend());
    std::fprintf(stderr, "pprun: time by kernel (all runs): %.1f ms in all\n",
                 total * 1e3);
    for (size_t i = 0; i < sorted.size() && i < 10; ++i)
      std::fprintf(stderr, "  %-14s %9.1f ms %5.1f%%\n", sorted[i].second.c_str(),
                   sorted[i].first * 1e3, 100 * sorted[i].first / total);
  }

/// --trace FILE: the events of every rank of this process (one file per
/// process under MPI), with the stashes' peaks when training.
void writeTrace(const Options &o,
                const std::vector<std::vector<TraceEvent>> &traces,
                const std::vector<std::unique_ptr<Executor>> &executors,
                bool mpi, int firstRank, const Fail &fail) {
  std::vector<TraceEvent> all;
  for (auto &t : traces)
    all.insert(all.end(), t.begin(), t.end());
  std::vector<std::pair<int, Executor::StashPeak>> peaks;
  for (size_t i = 0; i < executors.size(); ++i)
    for (const Executor::StashPeak &p : executors[i]->stashPeaks())
      peaks.push_back({firstRank + (int)i, p});
  std::string path =
      mpi ? o.trace + ".rank" + std::to_string(firstRank) : o.trace;
  std::string json = traceJson(all, peaks);
  if (Status st = writeFileAtomically(path, json.data(), json.size());
      !st.isOk())
    fail(st.message());
}

/// --resume D: every executor loads the checkpoint.
Checkpoint resume(const Options &o,
                  std::vector<std::unique_ptr<Executor>> &executors,
                  const Fail &fail) {
  auto ck = findCheckpoint(o.resume, "--resume ");
  if (!ck)
    fail(ck.status().message());
  for (auto &e : executors)
    if (Status st = e->loadCheckpoint(ck->dir, ck->step); !st.isOk())
      fail(st.message());
  return *ck;
}

/// pprun DIR --steps N --data NAME=FILE.npy ...: the training loop.
int train(const Options &o, const Plan &plan,
          std::vector<std::unique_ptr<Executor>> &executors,
          std::vector<std::unique_ptr<Transport>> &transports, Transport *mpi,
          int firstRank, const Fail &fail) {
  int ranks = executors.size();
  bool reporter = firstRank == 0; // rank 0 writes metrics and checkpoints
  // The samples: one array per model input, samples on axis 0.
  std::map<std::string, HostTensor> data;
  for (auto &[name, path] : o.data) {
    auto t = readNpy(path);
    if (!t)
      fail("--data " + name + "=" + path + ": " + t.status().message());
    data[name] = std::move(*t);
  }
  int64_t batch = plan.batch, samples = -1;
  std::string firstName;
  std::vector<Plan::Io> inputs = plan.modelInputs();
  for (const Plan::Io &in : inputs) {
    TensorDesc whole = wholeBatch(in.desc, plan.microbatches);
    auto it = data.find(in.name);
    if (it == data.end()) {
      if (!o.data.empty())
        fail("--data: nothing given for the model's input '" + in.name +
             "': add --data " + in.name + "=FILE.npy");
      // No data at all: one seeded random batch, for timing.
      data[in.name] = randomInput(in, plan.microbatches, data.size());
      continue;
    }
    const TensorDesc &got = it->second.desc;
    std::string file = "--data " + in.name + "=" +
                       std::find_if(o.data.begin(), o.data.end(), [&](auto &d) {
                         return d.first == in.name;
                       })->second;
    if (got.dtype != in.desc.dtype)
      fail(file + ": " + dtypeName(got.dtype) + " samples, the model takes " +
           dtypeName(in.desc.dtype));
    if (got.shape.size() != whole.shape.size() ||
        !std::equal(got.shape.begin() + 1, got.shape.end(),
                    whole.shape.begin() + 1))
      fail(file + ": samples of shape " + got.toString() +
           ", the model takes " + whole.toString() +
           " per batch (samples on axis 0)");
    if (got.shape[0] < batch)
      fail(file + ": " + std::to_string(got.shape[0]) +
           " samples, fewer than one batch of " + std::to_string(batch));
    if (samples >= 0 && got.shape[0] != samples)
      fail(file + ": " + std::to_string(got.shape[0]) + " samples, --data " +
           firstName + " has " + std::to_string(samples));
    samples = got.shape[0];
    firstName = in.name;
  }
  for (auto &[name, path] : o.data)
    if (!std::count_if(inputs.begin(), inputs.end(),
                       [&](const Plan::Io &in) { return in.name == name; }))
      fail("--data " + name + "=" + path + ": the model has no input '" +
           name + "'");

  int64_t startStep = 0, position = 0;
  if (!o.resume.empty()) {
    Checkpoint ck = resume(o, executors, fail);
    startStep = ck.step;
    position = ck.position;
  }
  int64_t steps = o.steps ? o.steps : startStep + 1;
  if (steps <= startStep)
    fail("--steps " + std::to_string(steps) + ": the checkpoint is at step " +
         std::to_string(startStep) + " already (--steps counts from the "
         "start of training)");
  std::FILE *metrics = nullptr;
  if (!o.metrics.empty() && reporter) {
    metrics = std::fopen(o.metrics.c_str(), startStep ? "a" : "w");
    if (!metrics)
      fail("--metrics " + o.metrics + ": " + std::strerror(errno));
  }
  for (auto &e : executors)
    e->keepGradients(!o.saveGradients.empty());

  BatchIO io;
  allocateOutputs(plan, io);
  std::vector<std::vector<TraceEvent>> traces(ranks);
  bool progress = isatty(2);
  double origin = seconds(), total = 0, firstLoss = 0;
  for (int64_t step = startStep + 1; step <= steps; ++step) {
    // The batch: `batch` samples from `position` on, wrapping.
    for (auto &[name, all] : data) {
      HostTensor &t = io.inputs[name];
      int64_t n = all.desc.shape[0];
      int64_t row = all.bytes.size() / n;
      t.desc = all.desc;
      t.desc.shape[0] = batch;
      t.bytes.resize(batch * row);
      for (int64_t i = 0; i < batch; ++i)
        std::memcpy(t.bytes.data() + i * row,
                    all.bytes.data() + ((position + i) % n) * row, row);
    }
    if (samples > 0)
      position = (position + batch) % samples;
    bool traceIt = !o.trace.empty() && step == steps;
    // As for inference, --profile leaves the run's first step out (GEMM
    // algorithm timing, first allocations) where there are more.
    if (!o.profile.empty() && steps - startStep > 1)
      for (auto &e : executors)
        e->enableProfile(step > startStep + 1);
    double start = seconds();
    Status st = runRanks(transports, mpi, ranks, [&](int i) {
      return executors[i]->runBatch(io, traceIt ? &traces[i] : nullptr, origin);
    });
    if (!st.isOk())
      fail(st.message());
    double took = seconds() - start;
    total += took;
    double loss = executors[0]->lastLoss();
    if (step == startStep + 1)
      firstLoss = loss;
    if (metrics) {
      std::fprintf(metrics,
                   "{\"step\": %lld, \"loss\": %.9g, \"grad_norm\": %.9g, "
                   "\"step_time\": %.6f, \"samples_per_s\": %.3f}\n",
                   (long long)step, loss, executors[0]->lastGradNorm(), took,
                   batch / took);
      std::fflush(metrics);
    }
    if (progress && reporter) {
      int width = 30, done = int(width * (step - startStep) /
                                 double(steps - startStep));
      std::fprintf(stderr, "\rpprun: step %lld/%lld [%s%s] loss %.4f, %.1f "
                   "samples/s ",
                   (long long)step, (long long)steps,
                   std::string(done, '=').c_str(),
                   std::string(width - done, ' ').c_str(), loss, batch / took);
    }
    bool save = !o.checkpointDir.empty() &&
                ((o.saveEvery && step % o.saveEvery == 0) || step == steps);
    if (save) {
      // Rank 0 clears the staging folder, every rank writes its stages
      // there, and once all have, rank 0 names it (Checkpoint.h).
      auto everyRank = [&] {
        if (Status s = runRanks(transports, mpi, ranks,
                                [&](int i) { return executors[i]->barrier(); });
            !s.isOk())
          fail(s.message());
      };
      if (reporter)
        if (Status s = prepareCheckpoint(o.checkpointDir, step); !s.isOk())
          fail("--checkpoint-dir " + o.checkpointDir + ": " + s.message());
      everyRank();
      std::string tmp = checkpointStaging(o.checkpointDir, step);
      for (auto &e : executors)
        if (Status s = e->saveCheckpoint(tmp); !s.isOk())
          fail(s.message());
      everyRank();
      if (reporter) {
        Checkpoint meta;
        meta.step = step;
        meta.position = position;
        meta.schedule = plan.schedule;
        meta.stages = plan.stages.size();
        if (Status s = commitCheckpoint(o.checkpointDir, step,
                                        checkpointJson(meta));
            !s.isOk())
          fail("--checkpoint-dir " + o.checkpointDir + ": " + s.message());
      }
    }
  }
  if (progress && reporter)
    std::fprintf(stderr, "\n");
  if (metrics)
    std::fclose(metrics);
  if (!o.saveGradients.empty())
    for (size_t i = 0; i < executors.size(); ++i) {
      std::string path = ranks == 1 && !mpi && plan.ranks == 1
                             ? o.saveGradients
                             : o.saveGradients + ".rank" +
                                   std::to_string(firstRank + i);
      if (Status st = executors[i]->saveGradients(path); !st.isOk())
        fail(st.message());
    }
  if (!o.trace.empty())
    writeTrace(o, traces, executors, mpi, firstRank, fail);
  if (!o.profile.empty())
    writeProfile(o, executors, mpi, firstRank, fail);
  // What each stage kept for its backward at most: the schedule's
  // activation memory (1F1B: stage s holds at most K - s micro-batches).
  for (size_t i = 0; i < executors.size(); ++i)
    for (const Executor::StashPeak &p : executors[i]->stashPeaks())
      std::printf("pprun: rank %d stage %d kept at most %d micro-batches "
                  "(%s) for the backward\n",
                  firstRank + (int)i, p.stage, p.microbatches,
                  humanBytes(p.bytes).c_str());
  int64_t ran = steps - startStep;
  if (reporter)
    std::printf("pprun: %d ranks (%s), schedule %s, %lld steps of batch %lld "
                "in %d micro-batches: loss %.6g -> %.6g, %.3f ms per step, "
                "%.1f samples/s\n",
                plan.ranks, mpi ? "mpi" : "local", plan.schedule.c_str(),
                (long long)ran, (long long)batch, plan.microbatches, firstLoss,
                executors[0]->lastLoss(), total / ran * 1e3,
                batch * ran / total);
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  Options o = parse(argc, argv);
  auto plan = Plan::load(o.dir);
  if (!plan)
    die(plan.status().message());
  bool underMpi = launchedByMpi();
  std::string transport =
      o.transport.empty() ? (underMpi ? "mpi" : "local") : o.transport;
  if (transport == "mpi" && !underMpi)
    relaunchUnderMpirun(plan->ranks, argc, argv);

  std::unique_ptr<Transport> mpi;
  int firstRank = 0, lastRank = plan->ranks;
  if (transport == "mpi") {
    auto t = createMpiTransport(o.timeout);
    if (!t)
      die(t.status().message());
    mpi = std::move(*t);
    if (mpi->size() != plan->ranks) {
      std::string m = "the pipeline has " + std::to_string(plan->ranks) +
                      " ranks, mpirun started " + std::to_string(mpi->size());
      if (mpi->rank() == 0)
        std::fprintf(stderr, "pprun: error: %s\n", m.c_str());
      finalizeMpi(true);
      return 1;
    }
    firstRank = mpi->rank();
    lastRank = firstRank + 1;
  }
  auto fail = [&](const std::string &m) {
    std::fprintf(stderr, "pprun: error: %s\n", m.c_str());
    std::fflush(stderr);
    // MPI_Abort at once: draining the pending sends first would wait for
    // the peer that failed.
    if (mpi)
      mpi->abort(m);
    finalizeMpi(true);
    std::exit(1);
  };

  // --threads is the budget of this machine (default: its cores), shared by
  // the ranks on it: the ranks of this process (local) or the processes
  // mpirun started here.
  int budget = o.threads > 0 ? o.threads
                             : std::max(1u, std::thread::hardware_concurrency());
  int sharing = lastRank - firstRank;
  if (mpi)
    if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
      sharing = std::max(1, std::atoi(local));
  // The CPU backend is shared by this process's ranks; a CUDA backend
  // serves one rank (its cuBLASLt workspace is not shared between streams).
  std::vector<std::unique_ptr<Backend>> backends;
  auto makeBackend = [&]() -> std::unique_ptr<Backend> {
    if (o.backend == "cpu")
      return createCpuBackend(std::max(1, budget / sharing));
#ifdef PPRT_HAVE_CUDA
    CudaOptions co;
    co.tf32 = o.tf32;
    if (mpi)
      if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK"))
        co.device = std::atoi(local);
    auto b = createCudaBackend(co);
    if (!b)
      fail(b.status().message());
    return std::move(*b);
#else
    fail("--backend=cuda: this pprun was built without the CUDA toolkit");
#endif
  };
  LocalWorld world(plan->ranks, o.timeout);
  int ranks = lastRank - firstRank;
  std::vector<std::unique_ptr<Transport>> transports;
  std::vector<std::unique_ptr<Executor>> executors;
  for (int r = firstRank; r < lastRank; ++r) {
    if (backends.empty() || o.backend != "cpu")
      backends.push_back(makeBackend());
    transports.push_back(mpi ? nullptr : world.transport(r));
    executors.push_back(std::make_unique<Executor>(
        *plan, r, *backends.back(), mpi ? *mpi : *transports.back()));
  }
  Backend *backend = backends.front().get();
  for (auto &e : executors) {
    if (Status st = e->load(); !st.isOk())
      fail(st.message());
    e->enableProfile(!o.profile.empty());
  }

  if (plan->training && !o.eval) {
    if (!o.inputs.empty())
      fail("--input is for inference and --eval: training reads its "
           "samples with --data NAME=FILE.npy");
    int rc = train(o, *plan, executors, transports, mpi.get(), firstRank, fail);
    if (mpi) {
      mpi.reset();
      finalizeMpi(false);
    }
    return rc;
  }
  bool trainingOnly = o.steps || !o.data.empty() || !o.metrics.empty() ||
                      !o.checkpointDir.empty() || !o.saveGradients.empty();
  if (trainingOnly)
    fail(std::string("--steps, --data, --metrics, --checkpoint-dir and "
                     "--save-gradients ") +
         (plan->training ? "train: leave out --eval"
                         : "need a pipeline compiled with ppc -train"));
  if (o.eval && !plan->training)
    fail("--eval runs a training pipeline's forward: this pipeline is "
         "inference already");
  for (auto &e : executors)
    e->setEvalMode(o.eval);
  if (!o.resume.empty()) {
    if (!plan->training)
      fail("--resume needs a pipeline compiled with ppc -train");
    resume(o, executors, fail);
  }

  BatchIO io;
  bool random = o.inputs.empty();
  for (auto &[name, path] : o.inputs) {
    auto t = readNpy(path);
    if (!t)
      fail("--input " + name + "=" + path + ": " + t.status().message());
    io.inputs[name] = std::move(*t);
  }
  if (random) {
    uint64_t seed = 0;
    for (const Plan::Io &in : plan->modelInputs())
      io.inputs[in.name] = randomInput(in, plan->microbatches, seed++);
  }
  if (Status st = checkInputs(*plan, io); !st.isOk())
    fail(st.message());
  allocateOutputs(*plan, io);

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
  std::vector<std::vector<TraceEvent>> traces(ranks);
  double origin = seconds(), timed = 0;
  int timedIterations = 0;
  bool progress = iterations > 1 && isatty(2);
  for (int it = 0; it < iterations; ++it) {
    bool last = it == iterations - 1;
    // --profile leaves the warm-up batch out as the timing does (the GEMM
    // algorithms are timed and scratch allocated in the first).
    if (iterations > 1 && !o.profile.empty())
      for (auto &e : executors)
        e->enableProfile(it > 0);
    double start = seconds();
    Status st = runRanks(transports, mpi != nullptr, ranks, [&](int i) {
      return executors[i]->runBatch(
          io, last && !o.trace.empty() ? &traces[i] : nullptr, origin);
    });
    if (!st.isOk())
      fail(st.message());
    // With several iterations the first warms up and is not timed.
    if (iterations == 1 || it > 0) {
      timed += seconds() - start;
      ++timedIterations;
    }
    if (progress)
      std::fprintf(stderr, "\rpprun: batch %d/%d", it + 1, iterations);
  }
  if (progress)
    std::fprintf(stderr, "\n");
  for (void *p : pinned)
    backend->unpinHost(p);

  std::error_code ec;
  std::filesystem::create_directories(o.outputDir, ec);
  if (ec)
    fail("--output-dir " + o.outputDir + ": cannot create it: " + ec.message());
  // Each rank writes the outputs its stages compute.
  uint64_t checksum = 1469598103934665603ull;
  for (const Plan::Stage &s : plan->stages) {
    if (s.rank < firstRank || s.rank >= lastRank)
      continue;
    for (const Plan::Io &out : s.outputs) {
      const HostTensor &t = io.outputs.at(out.name);
      checksum ^= fnv1a(t.bytes.data(), t.bytes.size());
      // The name comes from the model: one plain file name, inside
      // --output-dir.
      if (Status st = checkFileComponent(out.name,
                                         "model output '" + out.name + "'");
          !st.isOk())
        fail(st.message());
      auto path = resolveInside(o.outputDir, out.name + ".npy",
                                "model output '" + out.name + "'");
      if (!path)
        fail(path.status().message());
      if (Status st = writeNpy(*path, t); !st.isOk())
        fail(st.message());
    }
  }
  if (!o.trace.empty())
    writeTrace(o, traces, executors, mpi != nullptr, firstRank, fail);
  if (!o.profile.empty())
    writeProfile(o, executors, mpi != nullptr, firstRank, fail);
  double perBatch = timed / std::max(timedIterations, 1);
  // Under MPI the rank of the last stage, which holds the model's outputs,
  // reports.
  if (!mpi || firstRank == plan->stages.back().rank)
    std::printf("pprun: %d ranks (%s, %s), schedule %s, batch %lld in %d "
                "micro-batches: %.3f ms per batch, %.1f samples/s; outputs in "
                "%s, checksum %016llx\n",
                plan->ranks, transport.c_str(), backend->name(),
                plan->schedule.c_str(), (long long)plan->batch,
                plan->microbatches, perBatch * 1e3, plan->batch / perBatch,
                o.outputDir.c_str(), (unsigned long long)checksum);
  if (mpi) {
    mpi.reset();
    finalizeMpi(false);
  }
  return 0;
}
