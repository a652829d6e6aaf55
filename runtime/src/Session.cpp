//===- Session.cpp - starting this process's ranks, and ending them -------===//
//
// A run is one rank per pipeline rank: threads of this process (local), or
// one process each under mpirun (mpi; pprun re-runs itself there when no
// launcher started it). Each rank gets an executor over the transport and a
// backend; the CPU backend is shared by the process's ranks, a CUDA one
// serves one rank. A failure anywhere is returned; the caller reports it
// and then calls abort(), which under MPI ends every process at once.
//
//===----------------------------------------------------------------------===//

#include "SessionInternal.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

namespace pprt {

int worldRanks(const Plan &plan) { return plan.worldRanks(); }

namespace session {

double seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

HostTensor randomInput(const Plan::Io &io, int microbatches, uint64_t seed) {
  HostTensor t;
  t.desc = wholeBatch(io, microbatches);
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

std::string replicasText(const Plan &plan) {
  if (plan.replicas == 1)
    return "";
  return ", " + std::to_string(plan.ranks) + " pipeline ranks x " +
         std::to_string(plan.replicas) + " replicas" +
         (plan.zero ? ", ZeRO-1" : "");
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

} // namespace session

namespace {

/// Re-runs `command` under mpirun, one process per rank; returns only when
/// mpirun cannot be started.
Status relaunchUnderMpirun(int ranks, const std::vector<std::string> &command) {
  if (command.empty())
    return invalidArgument("--transport=mpi: not started by mpirun, and no "
                           "command to re-run under it");
  std::vector<std::string> args = {"mpirun", "-np", std::to_string(ranks),
                                   "--oversubscribe", "--bind-to", "none"};
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = 0;
  args.push_back(n > 0 ? self : command[0]);
  args.insert(args.end(), command.begin() + 1, command.end());
  if (getuid() == 0) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  std::vector<char *> cargs;
  for (auto &a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execvp("mpirun", cargs.data());
  return Status(StatusCode::Unavailable,
                std::string("cannot start mpirun: ") + std::strerror(errno));
}

/// The flags' values on their own, before any file is read.
Status checkOptions(const SessionOptions &o) {
  if (!o.transport.empty() && o.transport != "local" && o.transport != "mpi")
    return invalidArgument("--transport=" + o.transport +
                           ": expected local or mpi");
  if (o.backend != "cpu" && o.backend != "cuda")
    return invalidArgument("--backend=" + o.backend + ": expected cpu or cuda");
  if (o.tf32 && o.backend != "cuda")
    return invalidArgument("--tf32 is for --backend=cuda (the CPU backend's "
                           "products are fp32)");
  return Status::ok();
}

} // namespace

Status Session::State::eachRank(const std::function<Status(int)> &f) {
  int ranks = count();
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

Status Session::State::barrier() {
  return eachRank([&](int i) { return executors[i]->barrier(); });
}

Session::Session(SessionOptions options) : s(std::make_unique<State>()) {
  s->o = std::move(options);
  if (s->o.outputDir.empty())
    s->o.outputDir = s->o.dir + "/outputs";
}

Session::~Session() = default;

Status Session::start() {
  const SessionOptions &o = s->o;
  PPRT_RETURN_IF_ERROR(checkOptions(o));
  auto loaded = Plan::load(o.dir);
  if (!loaded)
    return loaded.status();
  s->plan = std::make_unique<Plan>(std::move(*loaded));
  const Plan &plan = *s->plan;
  int world = worldRanks(plan);
  bool launched = launchedByMpi();
  s->transport = o.transport.empty() ? (launched ? "mpi" : "local")
                                     : o.transport;
  if (s->transport == "mpi" && !launched)
    return relaunchUnderMpirun(world, o.command);

  int firstRank = 0, lastRank = world;
  if (s->transport == "mpi") {
    auto t = createMpiTransport(o.timeout);
    if (!t)
      return t.status();
    s->mpi = std::move(*t);
    s->mpiStarted = true;
    if (s->mpi->size() != world) {
      // Every process finds the same; rank 0 says it for all.
      s->errorOnRankZero = true;
      return invalidArgument("the pipeline has " + std::to_string(world) +
                             " ranks, mpirun started " +
                             std::to_string(s->mpi->size()));
    }
    firstRank = s->mpi->rank();
    lastRank = firstRank + 1;
  }
  s->firstRank = firstRank;

  // --threads is the budget of this machine (default: its cores), shared by
  // the ranks on it: the ranks of this process (local) or the processes
  // mpirun started here.
  int budget = o.threads > 0
                   ? o.threads
                   : (int)std::max(1u, std::thread::hardware_concurrency());
  s->threadBudget = budget;
  int sharing = lastRank - firstRank;
  if (s->mpi)
    if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
      sharing = std::max(1, std::atoi(local));
  // The CPU backend is shared by this process's ranks; a CUDA backend
  // serves one rank (its cuBLASLt workspace is not shared between streams).
  auto makeBackend = [&]() -> StatusOr<std::unique_ptr<Backend>> {
    if (o.backend == "cpu")
      return createCpuBackend(std::max(1, budget / sharing));
#ifdef PPRT_HAVE_CUDA
    CudaOptions co;
    co.tf32 = o.tf32;
    if (s->mpi)
      if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK"))
        co.device = std::atoi(local);
    return createCudaBackend(co);
#else
    return invalidArgument(
        "--backend=cuda: this pprun was built without the CUDA toolkit");
#endif
  };
  if (!s->mpi)
    s->world = std::make_unique<LocalWorld>(world, o.timeout);
  for (int r = firstRank; r < lastRank; ++r) {
    if (s->backends.empty() || o.backend != "cpu") {
      auto b = makeBackend();
      if (!b)
        return b.status();
      s->backends.push_back(std::move(*b));
    }
    s->transports.push_back(s->mpi ? nullptr : s->world->transport(r));
    s->executors.push_back(std::make_unique<Executor>(
        plan, r, *s->backends.back(),
        s->mpi ? *s->mpi : *s->transports.back()));
  }
  for (auto &e : s->executors) {
    PPRT_RETURN_IF_ERROR(e->load());
    e->enableProfile(o.profiling());
  }
  return Status::ok();
}

Status Session::run() {
  if (!s->plan || s->executors.empty())
    return internalError("Session::run before a successful start");
  const SessionOptions &o = s->o;
  const Plan &plan = *s->plan;
  if (plan.training && !o.eval) {
    if (!o.inputs.empty())
      return invalidArgument("--input is for inference and --eval: training "
                             "reads its samples with --data NAME=FILE.npy");
    return session::runTraining(*s);
  }
  bool trainingOnly = o.steps || !o.data.empty() || !o.metrics.empty() ||
                      !o.checkpointDir.empty() || !o.saveGradients.empty();
  if (trainingOnly)
    return invalidArgument(
        std::string("--steps, --data, --metrics, --checkpoint-dir and "
                    "--save-gradients ") +
        (plan.training ? "train: leave out --eval"
                       : "need a pipeline compiled with ppc -train"));
  if (o.eval && !plan.training)
    return invalidArgument("--eval runs a training pipeline's forward: this "
                           "pipeline is inference already");
  for (auto &e : s->executors)
    e->setEvalMode(o.eval);
  if (!o.resume.empty()) {
    if (!plan.training)
      return invalidArgument("--resume needs a pipeline compiled with ppc "
                             "-train");
    auto ck = session::resume(*s);
    if (!ck)
      return ck.status();
  }
  return session::runInference(*s);
}

void Session::finish() {
  s->executors.clear();
  s->transports.clear();
  if (s->mpi) {
    s->mpi.reset();
    finalizeMpi(false);
  }
}

void Session::abort(const std::string &why) {
  if (!s->mpi)
    return;
  // MPI_Abort at once: draining the pending sends first would wait for
  // the peer that failed.
  if (!s->errorOnRankZero)
    s->mpi->abort(why);
  finalizeMpi(true);
}

bool Session::errorReportedByRankZero() const {
  return s->errorOnRankZero && s->mpi && s->mpi->rank() != 0;
}

const Plan &Session::plan() const { return *s->plan; }
int Session::firstRank() const { return s->firstRank; }
int Session::rankCount() const { return s->count(); }
const SessionSummary &Session::summary() const { return s->summary; }

} // namespace pprt
