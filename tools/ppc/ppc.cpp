//===- ppc.cpp - the ppc compiler driver ----------------------------------===//
//
// ppc MODEL.onnx [-batch=N] [-dim NAME=N] [-emit=summary|mlir] [-o FILE]
// ppc MODEL.onnx -stages=K [-data-parallel=D] [-microbatches=M] [-schedule=S]
//     [-partition=P] [-device=D] [-memory-limit=SIZE] -o DIR
// ppc MODEL.onnx -devices=N -batch=B ...: chooses K x D = N and the schedule
//
// Without -stages: imports the model and prints a summary or the module.
// With -stages (or -devices): compiles the pipeline (canonicalize, annotate cost,
// partition, split stages, build and verify the schedule) and writes DIR.
// Errors are one line each, and the exit code is 1.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPAttrNames.h"
#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Emit/Emit.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Import/ONNX/Importer.h"
#include "ppc/Pipelines/ChooseDevices.h"
#include "ppc/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/MapVector.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory ppcCategory("ppc options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.onnx>"),
                                      cl::Required, cl::cat(ppcCategory));
static cl::opt<std::string> outputFile("o", cl::desc("Output file ('-' is stdout)"),
                                       cl::value_desc("path"), cl::init("-"),
                                       cl::cat(ppcCategory));
enum class Emit { Summary, MLIR };
static cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::Summary),
    cl::values(clEnumValN(Emit::Summary, "summary",
                          "a summary of the imported model (default)"),
               clEnumValN(Emit::MLIR, "mlir", "the imported pp module")),
    cl::cat(ppcCategory));
static cl::opt<int64_t> batch("batch",
                              cl::desc("The whole batch: the value of the "
                                       "model inputs' batch dimension (split "
                                       "into micro-batches when pipelining)"),
                              cl::value_desc("N"), cl::init(0),
                              cl::cat(ppcCategory));
static cl::opt<std::string>
    batchDim("batch-dim",
             cl::desc("The symbolic dimension of the inputs that is the batch, "
                      "on whatever axis (default: the one named like "
                      "'batch', else the leading axis)"),
             cl::value_desc("NAME"), cl::cat(ppcCategory));
static cl::list<std::string> dims("dim",
                                  cl::desc("Value of a named symbolic dimension"),
                                  cl::value_desc("NAME=N"), cl::cat(ppcCategory));
static cl::list<std::string>
    bindings("bind", cl::desc("Freeze a graph input to the tensor in a "
                              "TensorProto file"),
             cl::value_desc("NAME=FILE.pb"), cl::cat(ppcCategory));
static cl::opt<bool> runCanonicalize("canonicalize",
                                  cl::desc("Run -pp-canonicalize after import"),
                                  cl::init(false), cl::cat(ppcCategory));

static cl::OptionCategory pipelineCategory("pipeline options (with -stages)");
static cl::opt<int64_t> stages("stages",
                               cl::desc("Pipeline ranks; compiles a pipeline "
                                        "into the directory -o"),
                               cl::value_desc("K"), cl::init(0),
                               cl::cat(pipelineCategory));
static cl::opt<int64_t>
    microbatches("microbatches",
                 cl::desc("Micro-batches per step; -batch is split into them "
                          "(default: -stages)"),
                 cl::value_desc("M"), cl::init(0), cl::cat(pipelineCategory));
static cl::opt<int64_t>
    devices("devices",
            cl::desc("Devices for the pipeline (instead of -stages): every "
                     "K stages x D replicas with K x D = N and every "
                     "schedule is simulated; the fastest that fits memory "
                     "is compiled"),
            cl::value_desc("N"), cl::init(0), cl::cat(pipelineCategory));
static cl::opt<int64_t>
    dataParallel("data-parallel",
                 cl::desc("Replicas of the pipeline (K x D devices); -batch is "
                          "split into D x -microbatches micro-batches "
                          "(default 1)"),
                 cl::value_desc("D"), cl::init(1), cl::cat(pipelineCategory));
static cl::opt<std::string>
    scheduleName("schedule",
                 cl::desc("inference (default), gpipe, 1f1b, interleaved, "
                          "zb-h1, zb-h2, zb-v, v-half, looped-bfs, dualpipe-v, "
                          "interleaved-zb, or auto (the best predicted "
                          "that fits; docs/partitioning.md)"),
                 cl::init("inference"), cl::cat(pipelineCategory));
static cl::opt<int64_t>
    virtualStages("virtual-stages",
                  cl::desc("Stages per rank for interleaved (default 2; "
                           "looped-bfs and interleaved-zb take V too; zb-v, v-half and "
                           "dualpipe-v exactly 2)"),
                  cl::value_desc("V"), cl::init(0), cl::cat(pipelineCategory));
static cl::opt<std::string>
    partitionMethod("partition",
                    cl::desc("cost (default), uniform, parameters, "
                             "type:REGEX, manual:NODE,NODE,..."),
                    cl::init("cost"), cl::cat(pipelineCategory));
static cl::opt<std::string> device("device",
                                   cl::desc("h100 (default), h200, a100, cpu, "
                                            "or a device JSON file"),
                                   cl::init("h100"), cl::cat(pipelineCategory));
static cl::opt<std::string>
    costTable("cost-table", cl::desc("Measured per-op times (JSON)"),
              cl::value_desc("FILE"), cl::init(""), cl::cat(pipelineCategory));
static cl::opt<std::string>
    memoryLimit("memory-limit",
                cl::desc("Memory per device, e.g. 40GB (default: the "
                         "device's)"),
                cl::value_desc("SIZE"), cl::init(""), cl::cat(pipelineCategory));

static cl::OptionCategory trainCategory("training options (with -train)");
static cl::opt<bool> train("train",
                           cl::desc("Compile a training pipeline: loss, "
                                    "backward, optimizer step"),
                           cl::init(false), cl::cat(trainCategory));
static cl::opt<std::string>
    lossKind("loss", cl::desc("cross-entropy (default), mse, or output (an "
                              "output of the model is the loss)"),
             cl::init("cross-entropy"), cl::cat(trainCategory));
static cl::opt<std::string>
    lossOn("loss-on", cl::desc("The model output the loss reads (default: "
                               "the first)"),
           cl::value_desc("OUTPUT"), cl::init(""), cl::cat(trainCategory));
static cl::opt<std::string>
    labelsName("labels", cl::desc("Name of the labels input (default labels)"),
               cl::value_desc("NAME"), cl::init("labels"),
               cl::cat(trainCategory));
static cl::opt<std::string>
    optimizer("optimizer", cl::desc("sgd (default) or adamw"), cl::init("sgd"),
              cl::cat(trainCategory));
static cl::opt<double> lr("lr", cl::desc("Learning rate (default 0.01)"),
                          cl::init(0.01), cl::cat(trainCategory));
static cl::opt<double> momentum("momentum",
                                cl::desc("SGD momentum (default 0)"),
                                cl::init(0), cl::cat(trainCategory));
static cl::opt<double>
    weightDecay("weight-decay",
                cl::desc("SGD: L2 added to the gradient; AdamW: decoupled "
                         "(default 0, AdamW 0.01)"),
                cl::init(-1), cl::cat(trainCategory));
static cl::opt<double> beta1("beta1", cl::desc("AdamW beta1 (default 0.9)"),
                             cl::init(0.9), cl::cat(trainCategory));
static cl::opt<double> beta2("beta2", cl::desc("AdamW beta2 (default 0.999)"),
                             cl::init(0.999), cl::cat(trainCategory));
static cl::opt<double> adamEps("eps", cl::desc("AdamW epsilon (default 1e-8)"),
                               cl::init(1e-8), cl::cat(trainCategory));
static cl::opt<double>
    gradClip("grad-clip",
             cl::desc("Clip the global gradient norm (over all stages) to "
                      "NORM (default: off)"),
             cl::value_desc("NORM"), cl::init(0), cl::cat(trainCategory));

static cl::opt<double> lossScale(
    "loss-scale",
    cl::desc("Dynamic loss scaling as torch.amp.GradScaler's: the initial "
             "scale, halved (and the step skipped) when a gradient is inf or "
             "NaN, doubled after -loss-scale-growth-interval good steps "
             "(default 65536 with -precision=fp16, else off; 0: off)"),
    cl::value_desc("SCALE"), cl::init(-1), cl::cat(trainCategory));
static cl::opt<int64_t> lossScaleGrowthInterval(
    "loss-scale-growth-interval",
    cl::desc("Good steps in a row before the loss scale doubles (default "
             "2000)"),
    cl::value_desc("N"), cl::init(2000), cl::cat(trainCategory));

static cl::opt<int64_t>
    zero("zero",
         cl::desc("1: ZeRO-1, shard the optimizer state over the "
                  "-data-parallel replicas (default 0)"),
         cl::value_desc("0|1"), cl::init(0), cl::cat(trainCategory));

static cl::opt<bool>
    recompute("recompute",
              cl::desc("Keep only each stage's inputs for its backward and "
                       "recompute the rest of its forward there (less "
                       "activation memory, more compute)"),
              cl::init(false), cl::cat(trainCategory));

static cl::opt<bool> promoteHalf(
    "promote-half",
    cl::desc("Compute an f16/bf16 model in f32, as the CPU backend needs: "
             "parameters become f32 (widened once, when the stage weights "
             "are written), inputs and outputs keep their types (always on "
             "with -train)"),
    cl::init(false), cl::cat(pipelineCategory));

static cl::opt<std::string> precision(
    "precision",
    cl::desc("Compute precision of the products (matmul, gemm, conv and "
             "their gradients): fp32 (default), bf16 or fp16, with fp32 "
             "accumulation, fp32 master weights and optimizer "
             "(-pp-precision, docs/precision.md)"),
    cl::value_desc("fp32|bf16|fp16"), cl::init("fp32"),
    cl::cat(pipelineCategory));

static cl::opt<bool> timePhases("time-phases",
                                cl::desc("Print the time of each phase"),
                                cl::init(false), cl::cat(pipelineCategory));

/// Wall time and memory of the compiler's phases, printed with -time-phases:
/// the resident set at each phase's end and its peak so far.
class PhaseTimer {
public:
  void mark(llvm::StringRef phase) {
    auto now = std::chrono::steady_clock::now();
    phases.push_back({phase.str(),
                      std::chrono::duration<double>(now - last).count(),
                      residentBytes(), peakResidentBytes()});
    last = now;
  }
  ~PhaseTimer() {
    if (!timePhases)
      return;
    double total = 0;
    llvm::errs() << llvm::format("  %-36s %9s %12s %12s\n", "phase", "time",
                                 "RSS at end", "peak RSS");
    for (const Phase &p : phases) {
      llvm::errs() << llvm::format("  %-36s %7.3f s %9.1f MB %9.1f MB\n",
                                   p.name.c_str(), p.seconds, p.rss / 1e6,
                                   p.peak / 1e6);
      total += p.seconds;
    }
    llvm::errs() << llvm::format("  %-36s %7.3f s %9s    %9.1f MB\n", "total",
                                 total, "", peakResidentBytes() / 1e6);
  }

private:
  struct Phase {
    std::string name;
    double seconds;
    double rss, peak;
  };
  /// VmHWM or VmRSS of /proc/self/status: this process's own peak and
  /// current resident set (getrusage's peak would include what the parent
  /// held when it forked us).
  static double statusBytes(const char *key) {
    std::FILE *f = std::fopen("/proc/self/status", "r");
    if (!f)
      return 0;
    char line[256];
    double kb = 0;
    size_t n = std::strlen(key);
    while (std::fgets(line, sizeof line, f))
      if (!std::strncmp(line, key, n) && line[n] == ':')
        kb = std::atof(line + n + 1);
    std::fclose(f);
    return kb * 1024;
  }
  static double peakResidentBytes() { return statusBytes("VmHWM"); }
  static double residentBytes() { return statusBytes("VmRSS"); }
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  std::vector<Phase> phases;
};

/// `text` with control characters written as escapes, so that a name taken
/// from the model (a node called "a\nb") cannot split a one-line error.
static std::string oneLine(llvm::StringRef text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", unsigned(c));
      out += hex;
    }
    else
      out += char(c);
  }
  return out;
}

/// One line per diagnostic: "error: FILE: node 'NAME': message".
static void printDiagnostic(Diagnostic &diag) {
  llvm::raw_ostream &os = llvm::errs();
  switch (diag.getSeverity()) {
  case DiagnosticSeverity::Error:
    os << "error: ";
    break;
  case DiagnosticSeverity::Warning:
    os << "warning: ";
    break;
  default:
    os << "note: ";
    break;
  }
  Location loc = diag.getLocation();
  std::string node;
  if (auto name = dyn_cast<NameLoc>(loc)) {
    node = name.getName().str();
    loc = name.getChildLoc();
  }
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    os << oneLine(file.getFilename().getValue()) << ": ";
  if (!node.empty())
    os << "node '" << oneLine(node) << "': ";
  os << oneLine(diag.str()) << "\n";
}

static LogicalResult parseDims(ppc::ImportOptions &options) {
  for (const std::string &d : dims) {
    llvm::StringRef name, value;
    std::tie(name, value) = llvm::StringRef(d).split('=');
    int64_t v;
    if (name.empty() || value.getAsInteger(10, v)) {
      llvm::errs() << "error: -dim " << d << ": expected NAME=N\n";
      return failure();
    }
    options.dims[name] = v;
  }
  for (const std::string &b : bindings) {
    llvm::StringRef name, file;
    std::tie(name, file) = llvm::StringRef(b).split('=');
    if (name.empty() || file.empty()) {
      llvm::errs() << "error: -bind " << b << ": expected NAME=FILE.pb\n";
      return failure();
    }
    options.bindings.emplace_back(name.str(), file.str());
  }
  if (batch.getNumOccurrences()) {
    if (batch <= 0) {
      llvm::errs() << "error: -batch=" << batch << ": must be positive\n";
      return failure();
    }
    options.batch = batch;
    options.userBatch = batch;
  }
  options.batchDim = batchDim;
  return success();
}

static void printSummary(ModuleOp module, ppc::WeightStore &store,
                         llvm::raw_ostream &os) {
  auto func = module.lookupSymbol<func::FuncOp>("main");
  os << "model: " << inputFile << "\n";
  auto printValues = [&](StringRef what, TypeRange types,
                         function_ref<Attribute(unsigned)> nameOf) {
    for (auto [i, t] : llvm::enumerate(types)) {
      os << "  " << what << " ";
      if (auto name = dyn_cast_or_null<StringAttr>(nameOf(i)))
        os << "'" << name.getValue() << "' ";
      os << t << "\n";
    }
  };
  printValues("input", func.getArgumentTypes(),
              [&](unsigned i) { return func.getArgAttr(i, ppc::kNameAttr); });
  printValues("output", func.getResultTypes(),
              [&](unsigned i) { return func.getResultAttr(i, ppc::kNameAttr); });
  int64_t params = 0, paramElements = 0, constants = 0;
  for (auto p : module.getOps<ppc::pp::ParamOp>()) {
    if (p.getConstant()) {
      ++constants;
      continue;
    }
    ++params;
    paramElements += p.getTensorType().getNumElements();
  }
  os << "  parameters: " << params << " tensors, " << paramElements
     << " elements; constants: " << constants << "; weight bytes: "
     << store.totalBytes() << "\n";
  llvm::MapVector<StringRef, int64_t> counts;
  int64_t ops = 0, flops = 0;
  func.walk([&](Operation *op) {
    // Parameter reads and constants are not work.
    if (isa<ppc::pp::GetParamOp, ppc::pp::ConstantOp>(op))
      return;
    if (auto cost = dyn_cast<ppc::pp::CostOpInterface>(op)) {
      ++counts[op->getName().getStringRef()];
      ++ops;
      flops += cost.getFlops();
    }
  });
  os << "  ops: " << ops << ", forward FLOPs: "
     << llvm::format("%.3g", (double)flops) << "\n";
  SmallVector<std::pair<StringRef, int64_t>> sorted(counts.begin(), counts.end());
  llvm::sort(sorted, [](auto &a, auto &b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  for (auto &[name, n] : sorted)
    os << "    " << llvm::left_justify(name, 20) << " " << n << "\n";
}

/// "40GB", "512MiB", "1e9" -> bytes.
static std::optional<double> parseSize(StringRef text) {
  StringRef number = text.take_while(
      [](char c) { return isdigit(c) || c == '.' || c == 'e' || c == 'E'; });
  StringRef unit = text.drop_front(number.size()).trim().lower() == ""
                       ? ""
                       : text.drop_front(number.size()).trim();
  double value;
  if (number.empty() || number.getAsDouble(value) || value <= 0)
    return std::nullopt;
  std::string u = unit.lower();
  static const std::pair<const char *, double> units[] = {
      {"", 1},          {"b", 1},           {"kb", 1e3},
      {"mb", 1e6},      {"gb", 1e9},        {"tb", 1e12},
      {"kib", 1024.0},  {"mib", 1048576.0}, {"gib", 1073741824.0},
      {"tib", 1099511627776.0}};
  for (auto &[name, factor] : units)
    if (u == name)
      return value * factor;
  return std::nullopt;
}

static int fail(const Twine &message) {
  llvm::errs() << "error: " << inputFile << ": " << message << "\n";
  return 1;
}

/// The pipeline compiler's settings from the flags.
static ppc::CompileOptions compileOptions(double limit) {
  ppc::CompileOptions o;
  o.device = device;
  o.costTable = costTable;
  o.partitionMethod = partitionMethod;
  o.memoryLimit = limit;
  o.zero = zero;
  o.train = train;
  o.loss = lossKind;
  o.lossOn = lossOn;
  o.labels = labelsName;
  o.optimizer = optimizer;
  o.lr = lr;
  o.momentum = momentum;
  o.gradClip = gradClip;
  o.weightDecay = weightDecay;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.eps = adamEps;
  o.recompute = recompute;
  o.promoteHalf = promoteHalf;
  o.precision = precision;
  o.lossScale = lossScale;
  o.lossScaleGrowthInterval = lossScaleGrowthInterval;
  return o;
}

/// ppc MODEL -stages=K -o DIR (or -devices=N): the whole pipeline compiler.
static int compilePipeline(MLIRContext &context, ppc::ImportOptions options) {
  bool byDevices = devices.getNumOccurrences();
  if (byDevices) {
    if (stages.getNumOccurrences())
      return fail("-devices=" + Twine(devices) + " and -stages=" +
                  Twine(stages) + ": give one (-devices chooses the stages "
                  "and data-parallel replicas)");
    if (dataParallel.getNumOccurrences())
      return fail("-devices=" + Twine(devices) + " and -data-parallel=" +
                  Twine(dataParallel) + ": give one (-devices chooses the "
                  "stages and data-parallel replicas)");
    if (devices < 1)
      return fail("-devices=" + Twine(devices) + ": needs at least one device");
    if (!options.batch)
      return fail("-devices compares splits of one global batch: give it "
                  "with -batch=B");
  } else if (stages < 1) {
    return fail("-stages=" + Twine(stages) + ": needs at least one stage");
  }
  if (microbatches.getNumOccurrences() && microbatches < 1)
    return fail("-microbatches=" + Twine(microbatches) +
                ": needs at least one micro-batch");
  if (dataParallel < 1)
    return fail("-data-parallel=" + Twine(dataParallel) +
                ": needs at least one replica");
  if (zero != 0 && zero != 1)
    return fail("-zero=" + Twine(zero) + ": expected 0 or 1 (ZeRO-1)");
  if (zero.getNumOccurrences() && !train)
    return fail("-zero shards the optimizer state: it needs -train");
  // Training defaults to 1F1B (-devices: to every training schedule);
  // inference schedules have no backward.
  if (train && !scheduleName.getNumOccurrences())
    scheduleName = byDevices ? "auto" : "1f1b";
  // The schedules compared: -schedule=auto's four, or the one given.
  std::string error;
  SmallVector<ppc::ScheduleChoice> schedules =
      ppc::scheduleChoices(scheduleName, virtualStages, error);
  if (schedules.empty())
    return fail(error);
  std::optional<ppc::sched::Kind> kind = ppc::sched::parseKind(scheduleName);
  // (A training schedule without -train plans and times the schedule but
  // compiles, and runs, the forward only.)
  if (kind && train && !ppc::sched::isTraining(*kind))
    return fail("-schedule=" + scheduleName +
                " runs no backward: training takes any other schedule or "
                "auto");
  if (train) {
    if (optimizer != "sgd" && optimizer != "adamw")
      return fail("-optimizer=" + optimizer + ": expected sgd or adamw");
    if (lossKind != "cross-entropy" && lossKind != "mse" && lossKind != "output")
      return fail("-loss=" + lossKind +
                  ": expected cross-entropy, mse or output");
    if (lr <= 0 || momentum < 0 || gradClip < 0 || beta1 < 0 || beta1 >= 1 ||
        beta2 < 0 || beta2 >= 1 || adamEps <= 0)
      return fail("-lr must be positive; -momentum and -grad-clip not "
                  "negative; -beta1 and -beta2 in [0, 1); -eps positive");
  } else if (lossKind.getNumOccurrences() || lossOn.getNumOccurrences() ||
             optimizer.getNumOccurrences() || lr.getNumOccurrences() ||
             recompute) {
    return fail("-loss, -loss-on, -optimizer, -lr and -recompute need -train");
  }
  if (virtualStages.getNumOccurrences() && kind &&
      ppc::sched::isVShaped(*kind) && virtualStages != 2)
    return fail("-virtual-stages=" + Twine(virtualStages) + ": -schedule=" +
                scheduleName + " runs two stages per rank, in a V");
  if (precision != "fp32" && precision != "bf16" && precision != "fp16")
    return fail("-precision=" + precision + ": expected fp32, bf16 or fp16");
  if (lossScale.getNumOccurrences() ||
      lossScaleGrowthInterval.getNumOccurrences()) {
    if (!train)
      return fail("-loss-scale and -loss-scale-growth-interval need -train");
    if ((lossScale.getNumOccurrences() &&
         !(lossScale >= 0 && lossScale <= 3.4e38)) ||
        lossScaleGrowthInterval < 1 || lossScaleGrowthInterval > INT32_MAX)
      return fail("-loss-scale must be in [0, 3.4e38] (0: off) and "
                  "-loss-scale-growth-interval at least 1");
  }
  if (train && precision == "fp16" && lossScale.getNumOccurrences() &&
      lossScale == 0)
    return fail("-precision=fp16 with -train needs loss scaling: "
                "-loss-scale=0 turns it off (use -precision=bf16)");
  if (virtualStages.getNumOccurrences() &&
      (virtualStages < 1 ||
       (virtualStages > 1 && !(kind && (ppc::sched::takesVirtualStages(*kind) ||
                                        ppc::sched::isVShaped(*kind))))))
    return fail("-virtual-stages=" + Twine(virtualStages) +
                " needs -schedule=interleaved and a value of at least 1");
  double limit = 0;
  if (!memoryLimit.empty()) {
    auto size = parseSize(memoryLimit);
    if (!size)
      return fail("-memory-limit=" + memoryLimit +
                  ": expected a size such as 40GB or 512MiB");
    limit = *size;
  }
  if (outputFile == "-")
    return fail(Twine(byDevices ? "-devices" : "-stages") +
                " writes a directory: give it with -o DIR");

  ppc::CompileOptions compile = compileOptions(limit);
  PhaseTimer timer;
  std::vector<ppc::DeviceCandidate> candidates;
  int64_t k = stages, d = dataParallel, m = microbatches > 0 ? microbatches : k;
  if (byDevices) {
    FailureOr<ppc::DeviceChoice> choice =
        ppc::chooseDevices(context, inputFile, options, compile, devices,
                           microbatches, schedules);
    if (failed(choice))
      return 1;
    // The chosen split compiles as -stages=K -data-parallel=D would, with
    // its schedule (and the other partition methods beside it).
    k = choice->stages, d = choice->dataParallel, m = choice->microbatches;
    schedules = {choice->schedule};
    candidates = std::move(choice->candidates);
    timer.mark("devices: splits compared");
  }
  // The model's batch dimension is the micro-batch (shared/DESIGN.md §2).
  int64_t batchSize = 0;
  // With D replicas, each runs M micro-batches of B / (M x D).
  if (options.batch) {
    if (d == 1 && *options.batch % m != 0)
      return fail("-microbatches=" + Twine(m) + " does not divide -batch=" +
                  Twine(*options.batch));
    if (*options.batch % (m * d) != 0)
      return fail("-batch=" + Twine(*options.batch) +
                  " does not split into -data-parallel=" + Twine(d) + " x "
                  "-microbatches=" + Twine(m) +
                  " equal micro-batches: pass a -batch that is a multiple of " +
                  Twine(m * d));
    batchSize = *options.batch;
    options.batch = batchSize / (m * d);
    options.microbatches = m;
    options.replicas = d;
  }
  // The optimizer update counts in the step with data parallelism and for
  // -devices (docs/partitioning.md); a single replica's step is the
  // pipeline's, as it was.
  bool updateInStep = d > 1 || byDevices;

  options.stepDone = [&](StringRef step) { timer.mark(step); };
  OwningOpRef<ModuleOp> module = ppc::prepareModule(
      context, inputFile, options, compile, m, d, /*warn=*/!byDevices);
  options.stepDone = nullptr;
  if (!module)
    return 1;
  timer.mark("canonicalize, annotate cost");
  auto main = module->lookupSymbol<func::FuncOp>("main");
  if (!batchSize) {
    // The model's own batch: of its first input that has one, on its axis.
    auto axes = (*module)->getAttrOfType<DictionaryAttr>(ppc::kBatchAxesAttr);
    int64_t size = 1;
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto t = dyn_cast<RankedTensorType>(main.getArgumentTypes()[i]);
      auto name = main.getArgAttrOfType<StringAttr>(i, ppc::kNameAttr);
      int64_t axis = 0;
      if (axes && name)
        if (auto a = axes.getAs<IntegerAttr>(name.getValue()))
          axis = a.getInt();
      if (t && axis >= 0 && axis < t.getRank()) {
        size = t.getDimSize(axis);
        break;
      }
    }
    batchSize = m * d * size;
  }
  // Every method (and, for auto, every schedule) side by side, and the
  // chosen one compiled pass by pass, as ppc-opt -pp-pipeline runs it.
  ppc::PipelineShape shape;
  shape.stages = k;
  shape.microbatches = m;
  shape.dataParallel = d;
  shape.schedules = schedules;
  shape.updateInStep = updateInStep;
  auto run = [&](OpPassManager &passes) {
    return ppc::runPasses(*module, passes);
  };
  FailureOr<std::vector<ppc::Alternative>> alternatives =
      ppc::compilePrepared(*module, compile, shape, run, error);
  if (failed(alternatives))
    return error.empty() ? 1 : fail(error);
  timer.mark("methods compared; partition, split, schedule");

  std::optional<ppc::PipelineSummary> summary = ppc::summarize(*module, error);
  if (!summary)
    return fail(error);
  summary->model = inputFile;
  summary->batch = batchSize;
  summary->alternatives = std::move(*alternatives);
  if (byDevices) {
    summary->devices = devices;
    summary->candidates = std::move(candidates);
  }

  std::string mlirText;
  llvm::raw_string_ostream mlirStream(mlirText);
  // As mlir-opt and ppc-opt print it: ppc-opt -pp-pipeline writes the same.
  module->print(mlirStream);
  mlirStream << "\n";
  if (std::error_code ec = llvm::sys::fs::create_directories(outputFile))
    return fail("-o " + outputFile + ": " + ec.message());
  std::pair<const char *, std::string> files[] = {
      {"pipeline.json", ppc::pipelineJson(*summary, *module)},
      {"report.txt", ppc::reportText(*summary)},
      {"report.json", ppc::reportJson(*summary)},
      {"timeline.svg", ppc::timelineSvg(*summary)},
      {"trace.json", ppc::chromeTrace(*summary)},
      {"pipeline.mlir", mlirText},
  };
  ppc::WeightStore &store =
      context.getLoadedDialect<ppc::pp::PPDialect>()->getWeightStore();
  timer.mark("summary, report");
  if (llvm::Error err = ppc::writeStagePrograms(*module, store, outputFile))
    return fail(llvm::toString(std::move(err)));
  timer.mark("stage programs, weights");
  for (auto &[name, contents] : files)
    if (llvm::Error err = ppc::writeAtomically(outputFile, name, contents))
      return fail(llvm::toString(std::move(err)));
  timer.mark("write the rest");
  llvm::outs() << ppc::reportText(*summary) << "wrote " << outputFile
               << "/{pipeline.json,stage<k>.ppx,stage<k>.safetensors,"
                  "report.txt,report.json,timeline.svg,trace.json,"
                  "pipeline.mlir}\n";
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // MLIR's printing flags (-mlir-print-debuginfo, ...) work, under --help-hidden.
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions({&ppcCategory, &pipelineCategory, &trainCategory});
  cl::ParseCommandLineOptions(argc, argv,
                              "ppc: pipeline-parallel compiler for ONNX models\n");
  ppc::ImportOptions options;
  if (failed(parseDims(options)))
    return 1;

  DialectRegistry registry;
  registry.insert<ppc::pp::PPDialect, func::FuncDialect>();
  MLIRContext context(registry);
  context.disableMultithreading();
  context.getDiagEngine().registerHandler(
      [](Diagnostic &diag) { printDiagnostic(diag); });

  if (!llvm::sys::fs::exists(inputFile)) {
    llvm::errs() << "error: " << inputFile << ": no such file\n";
    return 1;
  }
  if (stages.getNumOccurrences() || devices.getNumOccurrences())
    return compilePipeline(context, options);
  OwningOpRef<ModuleOp> module =
      ppc::importONNXModel(inputFile, context, options);
  if (!module)
    return 1;
  if (runCanonicalize) {
    PassManager pm(&context);
    pm.addPass(ppc::pp::createPPCanonicalizePass());
    if (failed(pm.run(*module)))
      return 1;
  }

  std::string error;
  auto output = openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  ppc::WeightStore &store =
      context.getLoadedDialect<ppc::pp::PPDialect>()->getWeightStore();
  if (emit == Emit::MLIR)
    module->print(output->os());
  else
    printSummary(*module, store, output->os());
  output->keep();
  return 0;
}
