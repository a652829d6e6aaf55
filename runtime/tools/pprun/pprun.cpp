//===- pprun.cpp - run a pipeline compiled by ppc -------------------------===//
//
// pprun DIR [--input NAME=FILE.npy]... [--output-dir D]
//           [--transport=local|mpi] [--backend=cpu|cuda [--tf32]]
//           [--threads N]
//           [--iterations N] [--trace FILE.json] [--timeout SECONDS]
//           [--steps N --data NAME=FILE.npy ...]   (training; see --help)
//
// Runs one batch (or N) through the pipeline in DIR, one rank per pipeline
// rank: threads of this process (local) or processes under mpirun (mpi;
// started through mpirun when pprun is not under a launcher already).
// Without --input it runs on seeded random inputs and prints throughput and
// a checksum of the outputs. Errors are one line and exit 1.
//
// The command line only: the runs themselves are the library's session
// (pprt/Session.h).
//
//===----------------------------------------------------------------------===//

#include "pprt/Session.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace pprt;

namespace {
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
      "             [--calibrate DEVICE.json]  (this machine for ppc -device=:\n"
      "             op times, shared cores, the transport's latency and\n"
      "             bandwidth)\n"
      "training (ppc -train):\n"
      "             [--steps N] [--data NAME=FILE.npy]... (samples on axis 0,\n"
      "             taken in batches, wrapping) [--metrics FILE.jsonl]\n"
      "             [--checkpoint-dir D [--save-every N]] [--resume D]\n"
      "             [--eval]  (forward only, on the current weights)\n"
      "             [--save-gradients FILE.safetensors]  (the last step's)\n");
}

SessionOptions parse(int argc, char **argv) {
  SessionOptions o;
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
    } else if (is("--calibrate")) {
      o.calibrate = value("--calibrate");
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
  return o;
}

} // namespace

int main(int argc, char **argv) {
  SessionOptions o = parse(argc, argv);
  o.command.assign(argv, argv + argc);
  o.out = stdout;
  o.err = stderr;
  o.progress = isatty(2);
  Session session(std::move(o));
  Status st = session.start();
  if (st.isOk())
    st = session.run();
  if (!st.isOk()) {
    if (!session.errorReportedByRankZero()) {
      std::fprintf(stderr, "pprun: error: %s\n", st.message().c_str());
      std::fflush(stderr);
    }
    session.abort(st.message());
    return 1;
  }
  session.finish();
  return 0;
}
