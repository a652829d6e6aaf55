//===- CudaBackend.cpp - stage programs on one GPU ------------------------===//
//
// A prepared stage owns, on its device: the arena (the compiler's buffer
// plan, one allocation, the same offsets as on the host), the program's
// constants, and a stream. Parameters live once per device and are shared
// by the stage's programs (forward, B, W): the backend keeps one device
// copy per host tensor and uploads it again when the host copy's version
// moves (an optimizer step, a checkpoint loaded). Nothing is allocated in
// steady state: scratch that a kernel needs is allocated on its first run.
//
// run() enqueues every instruction on the stage's stream and synchronises
// once at the end; from the second run on, the instructions replay as one
// CUDA graph captured from a run (PPRT_CUDA_GRAPHS=0: never). Errors found on the host (shapes, types, launches) name
// the instruction at once; a fault inside a kernel surfaces at the
// synchronisation, where the stage is named, and PPRT_CUDA_SYNC=1
// synchronises after each instruction to name it. Data errors our kernels
// detect (an index or label out of range) are recorded in mapped host
// memory with the instruction's position, so they are named always.
//
// A backend serves one rank: one thread calls it (cuBLASLt's plans and
// workspace are not shared between concurrent streams).
//
//===----------------------------------------------------------------------===//

#include "../Steps.h"
#include "CudaOps.h"
#include "TrainDevice.h"
#include "pprt/Backend.h"

#include "pprt/stage_generated.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>

namespace pprt {
namespace cuda {
namespace {

//===----------------------------------------------------------------------===//
// The backend
//===----------------------------------------------------------------------===//

/// The device copy of one host parameter, shared by the programs that read
/// it; `version` is the host version it holds. A training step updates the
/// device copy itself (`hostStale`: the device copy leads, and a version
/// the step moved is adopted rather than uploaded) until the host copy is
/// written (parametersFromHost).
struct Mirror {
  DeviceMemory memory;
  uint64_t version = 0;
  bool hostStale = false;
};

/// A StateVector in device memory.
struct DeviceVector : StateVector {
  explicit DeviceVector(int64_t n) : StateVector(n) {}
  float *data() const { return static_cast<float *>(memory.ptr); }
  DeviceMemory memory;
};

/// Device buffers for kept values (the backward's stash), reused by size
/// so that steady state allocates nothing.
class KeptPool {
public:
  ~KeptPool() {
    for (auto &[bytes, list] : free)
      for (void *p : list)
        cudaFree(p);
  }
  StatusOr<void *> acquire(int64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto &list = free[bytes];
      if (!list.empty()) {
        void *p = list.back();
        list.pop_back();
        return p;
      }
    }
    void *p = nullptr;
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaMalloc(&p, bytes),
                                    "keeping " + mib(bytes) +
                                        " for the backward"));
    return p;
  }
  void release(void *p, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    free[bytes].push_back(p);
  }

private:
  std::mutex mutex;
  std::map<int64_t, std::vector<void *>> free;
};

struct DeviceKept : Kept {
  std::shared_ptr<KeptPool> pool;
  void *ptr = nullptr;
  ~DeviceKept() override {
    if (ptr)
      pool->release(ptr, bytes);
  }
};

class CudaBackend;

class CudaStage : public PreparedStage {
public:
  CudaStage(StageProgram &program, CudaBackend &backend)
      : PreparedStage(program), backend(backend) {}
  ~CudaStage() override;

  struct Param {
    int buffer;
    const uint8_t *host;
    std::shared_ptr<Mirror> mirror;
  };

  Status prepare();
  Status run() override;
  std::vector<OpTime> profile() const override { return times; }
  Status write(int buffer, const void *src) override;
  Status read(int buffer, void *dst) override;
  Status parameterWritten(const void *host) override;
  StatusOr<std::unique_ptr<Kept>> keep(int buffer) override;
  Status restore(int buffer, const Kept &kept) override;
  Status updateParameter(int buffer, void *host) override;
  /// into = buffer (`first`), else into += buffer, on this stage's stream
  /// (ordered before its next run; the backend synchronises it before its
  /// own training-state work).
  Status accumulateInto(int buffer, float *into, bool first);
  cudaStream_t streamOf() const { return stream; }

private:
  std::string where(size_t step) const {
    return instrContext(program.stage(), steps[step].instr);
  }
  Status refreshParameters();
  Status synchronise();
  /// Enqueues every instruction on the stream.
  Status enqueue();
  /// Records enqueue() as a CUDA graph (graphExec).
  Status capture();

  CudaBackend &backend;
  cudaStream_t stream = nullptr;
  DeviceMemory arena, constants;
  std::vector<TensorRef> dev; // device views of the program's buffers
  std::vector<Param> params;
  std::vector<Step<Kernel>> steps;
  DeviceError *error = nullptr; // mapped host memory
  DeviceError *errorOnDevice = nullptr;
  std::vector<cudaEvent_t> events; // two per step, when profiling
  std::vector<OpTime> times;
  cudaGraphExec_t graphExec = nullptr;
  bool ranOnce = false, graphFailed = false, graphEvaluation = false;
};

class CudaBackend : public Backend {
public:
  CudaBackend(const CudaOptions &o, std::unique_ptr<LtGemm> gemm)
      : options(o), gemm(std::move(gemm)) {
    auto flag = [](const char *name, bool otherwise) {
      const char *v = std::getenv(name);
      return v && *v ? std::strcmp(v, "0") != 0 : otherwise;
    };
    syncEach = flag("PPRT_CUDA_SYNC", false);
    graphs = flag("PPRT_CUDA_GRAPHS", true);
    pin = flag("PPRT_PIN_HOST", true);
  }
  ~CudaBackend() override {
    for (void *p : pinned)
      cudaHostUnregister(p);
    if (train)
      cudaStreamDestroy(train);
  }
  const char *name() const override { return "cuda"; }
  bool hostArena() const override { return false; }
  int64_t hostDeviceBytes() const override { return copied.load(); }
  /// Counts a host<->device copy (hostDeviceBytes).
  void countCopy(int64_t bytes) { copied += bytes; }

  void pinHost(void *data, size_t bytes) override {
    if (!pin || !data || bytes == 0 || pinned.count(data) ||
        !setDevice().isOk())
      return;
    // Portable: every rank's context (all on this process) sees it pinned.
    if (cudaHostRegister(data, bytes, cudaHostRegisterPortable) == cudaSuccess)
      pinned.insert(data);
    else
      cudaGetLastError(); // stays pageable
  }
  void unpinHost(void *data) override {
    if (pinned.erase(data))
      cudaHostUnregister(data);
  }

  StatusOr<std::unique_ptr<PreparedStage>>
  prepare(StageProgram &program) override {
    auto stage = std::make_unique<CudaStage>(program, *this);
    PPRT_RETURN_IF_ERROR(stage->prepare());
    return std::unique_ptr<PreparedStage>(std::move(stage));
  }

  Status setDevice() {
    return cudaStatus(cudaSetDevice(options.device),
                      "cudaSetDevice(" + std::to_string(options.device) + ")");
  }

  /// The device copy of a host parameter (created and uploaded on first
  /// use).
  StatusOr<std::shared_ptr<Mirror>> mirror(const TensorRef &host,
                                           cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mutex);
    auto &m = mirrors[host.data];
    if (m)
      return m;
    auto made = std::make_shared<Mirror>();
    if (host.bytes > 0) {
      PPRT_RETURN_IF_ERROR(cudaStatus(cudaMalloc(&made->memory.ptr, host.bytes),
                                      "parameter of " + mib(host.bytes)));
      made->memory.bytes = host.bytes;
      PPRT_RETURN_IF_ERROR(cudaStatus(
          cudaMemcpyAsync(made->memory.ptr, host.data, host.bytes,
                          cudaMemcpyHostToDevice, stream),
          "uploading a parameter"));
      countCopy(host.bytes);
    }
    made->version = host.version;
    m = made;
    return m;
  }

  /// The device copy of the host parameter at `host`, if there is one.
  std::shared_ptr<Mirror> findMirror(const void *host) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = mirrors.find(static_cast<const uint8_t *>(host));
    return it == mirrors.end() ? nullptr : it->second;
  }

  // The training state (Backend.h): device vectors and kernels on the
  // backend's own stream; gradient sums read the stages' buffers on their
  // streams, which are synchronised before the state is next read.
  StatusOr<std::unique_ptr<StateVector>> stateVector(int64_t n) override;
  Status accumulate(PreparedStage &stage, int buffer, StateVector &into,
                    bool first) override;
  Status combine(StateVector &into, const StateVector &from,
                 bool add) override;
  Status toHost(const StateVector &v, int64_t at, int64_t n,
                float *dst) override {
    return copyState(v, at, n, dst, /*toHost=*/true);
  }
  Status fromHost(StateVector &v, int64_t at, int64_t n,
                  const float *src) override {
    return copyState(v, at, n, const_cast<float *>(src), /*toHost=*/false);
  }
  Status chunkSquares(const StateVector &g, int64_t chunk,
                      const std::vector<int64_t> &chunks,
                      double *out) override;
  Status optimizerStep(const OptimizerStep &o,
                       const std::vector<ParamUpdate> &updates) override;
  Status parametersToHost() override;
  void parametersFromHost() override {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &[host, m] : mirrors)
      m->hostStale = false;
  }

  CudaOptions options;
  std::unique_ptr<LtGemm> gemm;
  std::shared_ptr<KeptPool> keptPool = std::make_shared<KeptPool>();
  bool syncEach = false, graphs = true, pin = true;
  std::atomic<int64_t> copied{0};

private:
  /// The backend's stream (created on first use), once every stage stream
  /// with pending gradient sums has finished.
  StatusOr<cudaStream_t> trainStream();
  Status synchroniseTrain(const std::string &what);
  /// Elements [at, at + n) of `v` to or from host memory.
  Status copyState(const StateVector &v, int64_t at, int64_t n, float *host,
                   bool toHost);
  static const DeviceVector *device(const StateVector &v) {
    return static_cast<const DeviceVector *>(&v);
  }

  std::mutex mutex;
  std::map<const uint8_t *, std::shared_ptr<Mirror>> mirrors;
  std::set<void *> pinned;
  cudaStream_t train = nullptr;
  std::set<cudaStream_t> pending;
  DeviceMemory squares; // chunkSquares' device results
  std::vector<double> squaresHost;
};

CudaStage::~CudaStage() {
  if (graphExec)
    cudaGraphExecDestroy(graphExec);
  for (cudaEvent_t e : events)
    cudaEventDestroy(e);
  if (stream)
    cudaStreamDestroy(stream);
  if (error)
    cudaFreeHost(error);
}

Status CudaStage::prepare() {
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  const fb::StageProgram &prog = program.program();
  const std::string stageName = "stage " + std::to_string(program.stage());
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
      stageName + ": cudaStreamCreate"));
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaHostAlloc(reinterpret_cast<void **>(&error), sizeof(DeviceError),
                    cudaHostAllocMapped),
      stageName + ": cudaHostAlloc of the error record"));
  *error = DeviceError();
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaHostGetDevicePointer(reinterpret_cast<void **>(&errorOnDevice), error, 0),
      stageName + ": cudaHostGetDevicePointer"));

  // What the stage needs on the device against what is free, before
  // anything large is allocated: a clear line rather than a failed
  // cudaMalloc half-way.
  auto &host = program.buffers();
  int64_t constantBytes = 0, paramBytes = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    fb::BufferKind kind = prog.buffers()->Get(i)->kind();
    if (kind == fb::BufferKind::Constant)
      constantBytes += (host[i].bytes + 255) / 256 * 256;
    else if (kind == fb::BufferKind::Param)
      paramBytes += host[i].bytes;
  }
  int64_t arenaBytes = prog.arena_bytes();
  size_t freeBytes = 0, totalBytes = 0;
  PPRT_RETURN_IF_ERROR(cudaStatus(cudaMemGetInfo(&freeBytes, &totalBytes),
                                  stageName + ": cudaMemGetInfo"));
  auto outOfMemory = [&](const std::string &failed) {
    return Status(StatusCode::Unavailable,
                  stageName + " needs " +
                      mib(arenaBytes + constantBytes + paramBytes) +
                      " of device memory (arena " + mib(arenaBytes) +
                      ", parameters up to " + mib(paramBytes) +
                      ", constants " + mib(constantBytes) + "); GPU " +
                      std::to_string(backend.options.device) + " has " +
                      mib(freeBytes) + " free of " + mib(totalBytes) +
                      (failed.empty() ? "" : " (" + failed + ")"));
  };
  if (arenaBytes + constantBytes + paramBytes > (int64_t)freeBytes)
    return outOfMemory("");
  auto allocate = [&](DeviceMemory &m, int64_t bytes) -> Status {
    if (bytes == 0)
      return Status::ok();
    cudaError_t e = cudaMalloc(&m.ptr, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError(); // not sticky: clear it
      return outOfMemory(std::string("cudaMalloc: ") + cudaGetErrorName(e));
    }
    m.bytes = bytes;
    return Status::ok();
  };
  PPRT_RETURN_IF_ERROR(allocate(arena, arenaBytes));
  PPRT_RETURN_IF_ERROR(allocate(constants, constantBytes));

  dev = host;
  int64_t constantAt = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    const fb::Buffer *b = prog.buffers()->Get(i);
    TensorRef &t = dev[i];
    switch (b->kind()) {
    case fb::BufferKind::Arena:
      t.data = static_cast<uint8_t *>(arena.ptr) + b->offset();
      break;
    case fb::BufferKind::Constant:
      t.data = static_cast<uint8_t *>(constants.ptr) + constantAt;
      if (t.bytes > 0)
        PPRT_RETURN_IF_ERROR(cudaStatus(
            cudaMemcpyAsync(t.data, host[i].data, t.bytes,
                            cudaMemcpyHostToDevice, stream),
            stageName + ": uploading a constant"));
      backend.countCopy(t.bytes);
      constantAt += (t.bytes + 255) / 256 * 256;
      break;
    case fb::BufferKind::Param: {
      auto m = backend.mirror(host[i], stream);
      if (!m) {
        cudaGetLastError();
        return outOfMemory(m.status().message());
      }
      t.data = static_cast<uint8_t *>((*m)->memory.ptr);
      params.push_back({(int)i, host[i].data, *m});
      break;
    }
    }
  }

  auto resolved = resolveSteps(
      program, registry(), dev, &evaluation,
      "is not implemented on the CUDA backend yet (docs/gpu.md lists what "
      "is); run it with --backend=cpu");
  if (!resolved)
    return resolved.status();
  steps = std::move(*resolved);
  return synchronise();
}

Status CudaStage::refreshParameters() {
  auto &host = program.buffers();
  for (const Param &p : params) {
    const TensorRef &h = host[p.buffer];
    if (p.mirror->version == h.version)
      continue;
    if (p.mirror->hostStale) {
      // The optimizer stepped the device copy (the host one is behind).
      p.mirror->version = h.version;
      continue;
    }
    if (h.bytes > 0)
      PPRT_RETURN_IF_ERROR(cudaStatus(
          cudaMemcpyAsync(p.mirror->memory.ptr, p.host, h.bytes,
                          cudaMemcpyHostToDevice, stream),
          "stage " + std::to_string(program.stage()) + ": uploading a parameter"));
    backend.countCopy(h.bytes);
    p.mirror->version = h.version;
  }
  return Status::ok();
}

Status CudaStage::synchronise() {
  return cudaStatus(cudaStreamSynchronize(stream),
                    "stage " + std::to_string(program.stage()) +
                        ": a CUDA kernel failed" +
                        (backend.syncEach
                             ? ""
                             : " (PPRT_CUDA_SYNC=1 names the instruction)"));
}

Status CudaStage::enqueue() {
  Ctx ctx;
  ctx.stream = stream;
  ctx.gemm = backend.gemm.get();
  ctx.tf32 = backend.options.tf32;
  ctx.error = errorOnDevice;
  for (size_t i = 0; i < steps.size(); ++i) {
    Step<Kernel> &s = steps[i];
    ctx.instr = (int)i;
    if (profiling)
      cudaEventRecord(events[2 * i], stream);
    Status st = (*s.kernel)(s.in, s.out, s.attrs, ctx);
    if (!st.isOk())
      return st.withContext(where(i));
    if (profiling)
      cudaEventRecord(events[2 * i + 1], stream);
    if (backend.syncEach)
      if (Status st = synchronise(); !st.isOk())
        return st.withContext(where(i));
  }
  return Status::ok();
}

Status CudaStage::capture() {
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
      "cudaStreamBeginCapture"));
  Status st = enqueue();
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(stream, &graph);
  if (st.isOk())
    st = cudaStatus(e, "cudaStreamEndCapture");
  if (st.isOk())
    st = cudaStatus(cudaGraphInstantiate(&graphExec, graph, 0),
                    "cudaGraphInstantiate");
  if (graph)
    cudaGraphDestroy(graph);
  if (!st.isOk()) {
    graphExec = nullptr;
    cudaGetLastError(); // a failed capture is not sticky
    return st;
  }
  graphEvaluation = evaluation;
  return Status::ok();
}

Status CudaStage::run() {
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  PPRT_RETURN_IF_ERROR(refreshParameters());
  if (profiling && events.size() != 2 * steps.size()) {
    events.resize(2 * steps.size());
    for (cudaEvent_t &e : events)
      PPRT_RETURN_IF_ERROR(cudaStatus(cudaEventCreate(&e), "cudaEventCreate"));
    times = namedTimes(steps);
  }
  // From the second run on, the instructions replay as one CUDA graph
  // captured from that run (the first allocated the scratch and chose the
  // GEMM algorithms; nothing in a run depends on the data). Profiling and
  // PPRT_CUDA_SYNC run eagerly; a capture that fails falls back to eager.
  bool replay = backend.graphs && !profiling && !backend.syncEach &&
                !graphFailed && ranOnce;
  if (replay && graphExec && graphEvaluation != evaluation) {
    cudaGraphExecDestroy(graphExec); // kernels captured the other mode
    graphExec = nullptr;
  }
  if (replay && !graphExec) {
    Status st = capture();
    if (!st.isOk()) {
      graphFailed = true;
      std::fprintf(stderr, "pprun: stage %d: runs without a CUDA graph (%s)\n",
                   program.stage(), st.message().c_str());
    }
  }
  if (replay && graphExec) {
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaGraphLaunch(graphExec, stream),
                                    "stage " + std::to_string(program.stage()) +
                                        ": cudaGraphLaunch"));
  } else {
    PPRT_RETURN_IF_ERROR(enqueue());
    ranOnce = true;
  }
  PPRT_RETURN_IF_ERROR(synchronise());
  if (error->code != 0) {
    DeviceError e = *error;
    *error = DeviceError();
    std::string what =
        e.code == 3 ? "range: start, limit and delta give " +
                          std::to_string(e.value) + " elements; it was "
                          "compiled for " + std::to_string(e.limit)
        : e.code == 2 ? "label " + std::to_string(e.value) + " at position " +
                          std::to_string(e.position) + " is outside the " +
                          std::to_string(e.limit) + " classes [0, " +
                          std::to_string(e.limit) + ")"
                    : "index " + std::to_string(e.value) + " at position " +
                          std::to_string(e.position) + " is out of range [-" +
                          std::to_string(e.limit) + ", " +
                          std::to_string(e.limit) + ")";
    size_t at = e.instr >= 0 && e.instr < (int)steps.size() ? e.instr : 0;
    return invalidArgument(what).withContext(where(at));
  }
  if (profiling)
    for (size_t i = 0; i < steps.size(); ++i) {
      float ms = 0;
      cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]);
      times[i].seconds += ms / 1e3;
      ++times[i].runs;
    }
  return Status::ok();
}

Status CudaStage::write(int buffer, const void *src) {
  const TensorRef &t = dev.at(buffer);
  if (t.bytes == 0)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  // From pageable memory the copy is staged before this returns, so `src`
  // may change at once; the stream orders it before the stage's kernels.
  backend.countCopy(t.bytes);
  return cudaStatus(cudaMemcpyAsync(t.data, src, t.bytes,
                                    cudaMemcpyHostToDevice, stream),
                    "stage " + std::to_string(program.stage()) +
                        ": copying " + t.desc.toString() + " to the device");
}

Status CudaStage::parameterWritten(const void *host) {
  std::shared_ptr<Mirror> m = backend.findMirror(host);
  if (!m || m->memory.bytes == 0)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  backend.countCopy(m->memory.bytes);
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaMemcpyAsync(m->memory.ptr, host, m->memory.bytes,
                      cudaMemcpyHostToDevice, stream),
      "stage " + std::to_string(program.stage()) + ": uploading a state update"));
  return synchronise();
}

StatusOr<std::unique_ptr<Kept>> CudaStage::keep(int buffer) {
  const TensorRef &t = dev.at(buffer);
  auto kept = std::make_unique<DeviceKept>();
  kept->pool = backend.keptPool;
  kept->bytes = t.bytes;
  if (t.bytes > 0) {
    PPRT_RETURN_IF_ERROR(backend.setDevice());
    auto p = backend.keptPool->acquire(t.bytes);
    if (!p)
      return p.status().withContext("stage " + std::to_string(program.stage()));
    kept->ptr = *p;
    PPRT_RETURN_IF_ERROR(cudaStatus(
        cudaMemcpyAsync(kept->ptr, t.data, t.bytes, cudaMemcpyDeviceToDevice,
                        stream),
        "stage " + std::to_string(program.stage()) + ": keeping " +
            t.desc.toString()));
    // The later program restores it on its own stream.
    PPRT_RETURN_IF_ERROR(synchronise());
  }
  return std::unique_ptr<Kept>(std::move(kept));
}

Status CudaStage::restore(int buffer, const Kept &kept) {
  const TensorRef &t = dev.at(buffer);
  const auto *d = dynamic_cast<const DeviceKept *>(&kept);
  if (!d || d->bytes != t.bytes)
    return internalError("a kept value does not match its buffer");
  if (t.bytes == 0)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaMemcpyAsync(t.data, d->ptr, t.bytes, cudaMemcpyDeviceToDevice,
                      stream),
      "stage " + std::to_string(program.stage()) + ": restoring " +
          t.desc.toString()));
  // The executor releases the kept buffer (to the pool) right after this.
  return synchronise();
}

Status CudaStage::read(int buffer, void *dst) {
  const TensorRef &t = dev.at(buffer);
  if (t.bytes == 0)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  backend.countCopy(t.bytes);
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaMemcpyAsync(dst, t.data, t.bytes, cudaMemcpyDeviceToHost, stream),
      "stage " + std::to_string(program.stage()) + ": copying " +
          t.desc.toString() + " from the device"));
  return synchronise();
}

Status CudaStage::updateParameter(int buffer, void *host) {
  std::shared_ptr<Mirror> m = backend.findMirror(host);
  const TensorRef &t = dev.at(buffer);
  if (!m)
    // No program of the rank reads it: the host copy is the value.
    return read(buffer, host);
  if (m->memory.bytes != t.bytes)
    return internalError("stage " + std::to_string(program.stage()) +
                         ": a state update does not match its parameter");
  if (t.bytes == 0)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaMemcpyAsync(m->memory.ptr, t.data, t.bytes, cudaMemcpyDeviceToDevice,
                      stream),
      "stage " + std::to_string(program.stage()) + ": a state update"));
  m->hostStale = true;
  // Another program of the stage (another stream) may read it next.
  return synchronise();
}

Status CudaStage::accumulateInto(int buffer, float *into, bool first) {
  const TensorRef &t = dev.at(buffer);
  if (t.bytes == 0)
    return Status::ok();
  PPRT_RETURN_IF_ERROR(backend.setDevice());
  if (first)
    return cudaStatus(cudaMemcpyAsync(into, t.data, t.bytes,
                                      cudaMemcpyDeviceToDevice, stream),
                      "stage " + std::to_string(program.stage()) +
                          ": summing a gradient");
  return addFloats(into, t.as<float>(), t.numel, stream);
}

//===----------------------------------------------------------------------===//
// The training state
//===----------------------------------------------------------------------===//

StatusOr<cudaStream_t> CudaBackend::trainStream() {
  PPRT_RETURN_IF_ERROR(setDevice());
  if (!train)
    PPRT_RETURN_IF_ERROR(cudaStatus(
        cudaStreamCreateWithFlags(&train, cudaStreamNonBlocking),
        "cudaStreamCreate (the training state's stream)"));
  for (cudaStream_t s : pending)
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaStreamSynchronize(s),
                                    "summing the gradients of a stage"));
  pending.clear();
  return train;
}

Status CudaBackend::synchroniseTrain(const std::string &what) {
  return cudaStatus(cudaStreamSynchronize(train), what);
}

StatusOr<std::unique_ptr<StateVector>> CudaBackend::stateVector(int64_t n) {
  auto s = trainStream();
  if (!s)
    return s.status();
  auto v = std::make_unique<DeviceVector>(n);
  if (n > 0) {
    int64_t bytes = n * (int64_t)sizeof(float);
    cudaError_t e = cudaMalloc(&v->memory.ptr, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t freeBytes = 0, totalBytes = 0;
      cudaMemGetInfo(&freeBytes, &totalBytes);
      return Status(StatusCode::Unavailable,
                    "the training state needs " + mib(bytes) + " more; GPU " +
                        std::to_string(options.device) + " has " +
                        mib(freeBytes) + " free of " + mib(totalBytes));
    }
    v->memory.bytes = bytes;
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaMemsetAsync(v->memory.ptr, 0, bytes, *s),
                                    "zeroing the training state"));
    PPRT_RETURN_IF_ERROR(synchroniseTrain("zeroing the training state"));
  }
  return std::unique_ptr<StateVector>(std::move(v));
}

Status CudaBackend::accumulate(PreparedStage &stage, int buffer,
                               StateVector &into, bool first) {
  auto *cs = dynamic_cast<CudaStage *>(&stage);
  if (!cs || stage.bufferBytes(buffer) != into.size() * (int64_t)sizeof(float))
    return internalError("a gradient buffer does not match its sum");
  PPRT_RETURN_IF_ERROR(
      cs->accumulateInto(buffer, device(into)->data(), first));
  pending.insert(cs->streamOf());
  return Status::ok();
}

Status CudaBackend::combine(StateVector &into, const StateVector &from,
                            bool add) {
  if (into.size() != from.size())
    return internalError("combining vectors of " + std::to_string(from.size()) +
                         " and " + std::to_string(into.size()) + " elements");
  auto s = trainStream();
  if (!s)
    return s.status();
  if (into.size() == 0)
    return Status::ok();
  if (add)
    return addFloats(device(into)->data(), device(from)->data(), into.size(),
                     *s);
  return cudaStatus(cudaMemcpyAsync(device(into)->data(), device(from)->data(),
                                    into.size() * sizeof(float),
                                    cudaMemcpyDeviceToDevice, *s),
                    "copying a gradient sum");
}

Status CudaBackend::copyState(const StateVector &v, int64_t at, int64_t n,
                              float *host, bool toHost) {
  std::string what = toHost ? "copying training state to the host"
                            : "copying training state to the device";
  if (at < 0 || n < 0 || at + n > v.size())
    return internalError(what + ": elements outside the vector");
  auto s = trainStream();
  if (!s)
    return s.status();
  if (n == 0)
    return Status::ok();
  countCopy(n * (int64_t)sizeof(float));
  float *dev = device(v)->data() + at;
  // From pageable memory the bytes are staged before this returns.
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaMemcpyAsync(toHost ? host : dev, toHost ? dev : host,
                      n * sizeof(float),
                      toHost ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice,
                      *s),
      what));
  return synchroniseTrain(what);
}

Status CudaBackend::chunkSquares(const StateVector &g, int64_t chunk,
                                 const std::vector<int64_t> &chunks,
                                 double *out) {
  auto s = trainStream();
  if (!s)
    return s.status();
  if (chunks.empty())
    return Status::ok();
  int64_t bytes = (int64_t)chunks.size() * (int64_t)sizeof(double);
  if (squares.bytes < bytes) {
    if (squares.ptr)
      cudaFree(squares.ptr);
    squares.ptr = nullptr;
    squares.bytes = 0;
    PPRT_RETURN_IF_ERROR(cudaStatus(cudaMalloc(&squares.ptr, bytes),
                                    "the gradient norm's chunks"));
    squares.bytes = bytes;
  }
  auto *dst = static_cast<double *>(squares.ptr);
  // One launch per run of consecutive chunks (a parameter's, or a shard's).
  for (size_t i = 0; i < chunks.size();) {
    size_t j = i + 1;
    while (j < chunks.size() && chunks[j] == chunks[j - 1] + 1)
      ++j;
    PPRT_RETURN_IF_ERROR(cuda::chunkSquares(device(g)->data(), g.size(), chunk,
                                            chunks[i], (int64_t)(j - i),
                                            dst + i, *s));
    i = j;
  }
  // The norm's parts (8 bytes a chunk of 65536 gradients) cross to the
  // host, where every rank's are summed.
  countCopy(bytes);
  PPRT_RETURN_IF_ERROR(cudaStatus(
      cudaMemcpyAsync(out, dst, bytes, cudaMemcpyDeviceToHost, *s),
      "reading the gradient norm's chunks"));
  return synchroniseTrain("the gradient norm");
}

Status CudaBackend::optimizerStep(const OptimizerStep &o,
                                  const std::vector<ParamUpdate> &updates) {
  auto s = trainStream();
  if (!s)
    return s.status();
  UpdateList list;
  auto flush = [&]() -> Status {
    if (list.count == 0)
      return Status::ok();
    Status st = optimizerUpdate(list, o, *s);
    list = UpdateList();
    return st;
  };
  for (const ParamUpdate &u : updates) {
    std::shared_ptr<Mirror> m = findMirror(u.param);
    if (!m)
      return internalError("an optimizer update of a parameter no program "
                           "of this rank reads");
    if ((u.lo + u.n) * (int64_t)sizeof(float) > m->memory.bytes ||
        u.gradAt + u.n > u.grad->size() || (u.m && u.m->size() != u.n) ||
        (u.v && u.v->size() != u.n))
      return internalError("an optimizer update outside its parameter");
    if (u.n == 0)
      continue;
    int k2 = list.count++;
    list.w[k2] = static_cast<float *>(m->memory.ptr) + u.lo;
    list.g[k2] = device(*u.grad)->data() + u.gradAt;
    list.m[k2] = u.m ? static_cast<DeviceVector *>(u.m)->data() : nullptr;
    list.v[k2] = u.v ? static_cast<DeviceVector *>(u.v)->data() : nullptr;
    list.n[k2] = u.n;
    list.first[k2] = u.first;
    m->hostStale = true;
    if (list.count == kMaxUpdateTensors)
      PPRT_RETURN_IF_ERROR(flush());
  }
  PPRT_RETURN_IF_ERROR(flush());
  // The stages' next runs read the parameters on their own streams.
  return synchroniseTrain("the optimizer step");
}

Status CudaBackend::parametersToHost() {
  auto s = trainStream();
  if (!s)
    return s.status();
  std::vector<std::pair<const uint8_t *, std::shared_ptr<Mirror>>> stale;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &[host, m] : mirrors)
      if (m->hostStale)
        stale.emplace_back(host, m);
  }
  for (auto &[host, m] : stale) {
    if (m->memory.bytes > 0) {
      countCopy(m->memory.bytes);
      PPRT_RETURN_IF_ERROR(cudaStatus(
          cudaMemcpyAsync(const_cast<uint8_t *>(host), m->memory.ptr,
                          m->memory.bytes, cudaMemcpyDeviceToHost, *s),
          "copying the parameters to the host"));
    }
  }
  // The device copies stay the ones the programs read (hostStale: a
  // version moved by the step is adopted, not uploaded).
  return synchroniseTrain("copying the parameters to the host");
}

} // namespace
} // namespace cuda

StatusOr<std::unique_ptr<Backend>> createCudaBackend(const CudaOptions &o) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Status(StatusCode::Unavailable,
                  std::string("--backend=cuda: no usable GPU here (") +
                      (e != cudaSuccess
                           ? std::string("cudaGetDeviceCount: ") +
                                 cudaGetErrorName(e) + ": " +
                                 cudaGetErrorString(e)
                           : std::string("no CUDA device")) +
                      "); run with --backend=cpu");
  }
  CudaOptions chosen = o;
  chosen.device = ((o.device % count) + count) % count;
  PPRT_RETURN_IF_ERROR(cuda::cudaStatus(cudaSetDevice(chosen.device),
                                        "cudaSetDevice(" +
                                            std::to_string(chosen.device) + ")"));
  auto gemm = cuda::LtGemm::create(size_t(32) << 20);
  if (!gemm)
    return gemm.status();
  return std::unique_ptr<Backend>(
      std::make_unique<cuda::CudaBackend>(chosen, std::move(*gemm)));
}

} // namespace pprt
