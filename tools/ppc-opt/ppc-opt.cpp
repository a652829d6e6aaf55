//===- ppc-opt.cpp - run any pp pass, mlir-opt style ----------------------===//

#include "ppc/Dialect/PP/IR/PPDialect.h"
#include "ppc/Dialect/PP/Transforms/Passes.h"
#include "ppc/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<ppc::pp::PPDialect, mlir::func::FuncDialect>();
  ppc::pp::registerPPPasses();
  // ppc -stages=K after its import, as one pass (its pipeline.mlir).
  ppc::registerPipelinePass();
  // Upstream passes that are useful around ours.
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "ppc optimizer driver\n", registry));
}
