//===- Passes.h - pp passes -------------------------------------*- C++ -*-===//

#ifndef PPC_DIALECT_PP_TRANSFORMS_PASSES_H
#define PPC_DIALECT_PP_TRANSFORMS_PASSES_H

#include "ppc/Dialect/PP/IR/PPDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ppc::pp {

#define GEN_PASS_DECL
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ppc/Dialect/PP/Transforms/Passes.h.inc"

} // namespace ppc::pp

#endif // PPC_DIALECT_PP_TRANSFORMS_PASSES_H
