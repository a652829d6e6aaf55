//===- ppc.cpp - the ppc compiler driver ----------------------------------===//
//
// ppc MODEL.onnx [-batch=N] [-dim NAME=N] [-emit=summary|mlir] [-o FILE]
//
// Imports the model into the pp dialect and, for now, prints a summary of it
// or the module itself. Errors are one line each, and the exit code is 1.
//
//===----------------------------------------------------------------------===//

#include "ppc/Dialect/PP/IR/PPOps.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Import/ONNX/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/MapVector.h"
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
                              cl::desc("Value of a symbolic leading (batch) "
                                       "dimension of the model's inputs"),
                              cl::value_desc("N"), cl::init(0),
                              cl::cat(ppcCategory));
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
    os << file.getFilename().getValue() << ": ";
  if (!node.empty())
    os << "node '" << node << "': ";
  std::string message = diag.str();
  os << message.substr(0, message.find('\n')) << "\n";
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
  }
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
              [&](unsigned i) { return func.getArgAttr(i, "pp.name"); });
  printValues("output", func.getResultTypes(),
              [&](unsigned i) { return func.getResultAttr(i, "pp.name"); });
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

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // MLIR's printing flags (-mlir-print-debuginfo, ...) work, under --help-hidden.
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions(ppcCategory);
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
