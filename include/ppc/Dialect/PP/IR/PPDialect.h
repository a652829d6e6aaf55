//===- PPDialect.h - the pp dialect -----------------------------*- C++ -*-===//

#ifndef PPC_DIALECT_PP_IR_PPDIALECT_H
#define PPC_DIALECT_PP_IR_PPDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"
#include "ppc/Dialect/PP/IR/WeightStore.h"

#include <memory>

#include "ppc/Dialect/PP/IR/PPDialect.h.inc"

#endif // PPC_DIALECT_PP_IR_PPDIALECT_H
