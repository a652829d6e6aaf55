//===- PPOps.h - pp ops and interfaces --------------------------*- C++ -*-===//

#ifndef PPC_DIALECT_PP_IR_PPOPS_H
#define PPC_DIALECT_PP_IR_PPOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "ppc/Dialect/PP/IR/PPDialect.h"

#include "ppc/Dialect/PP/IR/PPEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ppc/Dialect/PP/IR/PPAttrs.h.inc"

namespace ppc::pp::detail {
/// One operation per result element.
int64_t defaultFlops(mlir::Operation *op);
/// Every operand read once and every result written once.
int64_t defaultBytesMoved(mlir::Operation *op);
} // namespace ppc::pp::detail

#include "ppc/Dialect/PP/IR/PPInterfaces.h.inc"

#define GET_OP_CLASSES
#include "ppc/Dialect/PP/IR/PPOps.h.inc"

namespace ppc::pp {
/// A pp.constant of float `type` with every element `value`.
mlir::Value splatConstant(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::RankedTensorType type, double value);
} // namespace ppc::pp

#endif // PPC_DIALECT_PP_IR_PPOPS_H
