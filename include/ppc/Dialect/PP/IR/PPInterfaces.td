//===- PPInterfaces.td - interfaces the pp passes rely on --*- tablegen -*-===//
//
// Every pp op carries the cost interface; later issues add the gradient rule and
// the kernel lowering here, so that adding an op touches one place.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_DIALECT_PP_IR_PPINTERFACES_TD
#define PPC_DIALECT_PP_IR_PPINTERFACES_TD

include "mlir/IR/OpBase.td"

def PP_CostOpInterface : OpInterface<"CostOpInterface"> {
  let description = [{
    Analytic cost of one execution of the op: floating-point operations and bytes
    moved to and from memory. The defaults suit elementwise ops (one operation
    per result element; every operand read once, every result written once);
    ops whose work is not proportional to their output override them.
  }];
  let cppNamespace = "::ppc::pp";
  let methods = [
    InterfaceMethod<"Floating-point (or integer) operations of one execution.",
      "int64_t", "getFlops", (ins), "",
      [{ return ::ppc::pp::detail::defaultFlops($_op); }]>,
    InterfaceMethod<"Bytes read plus bytes written by one execution.",
      "int64_t", "getBytesMoved", (ins), "",
      [{ return ::ppc::pp::detail::defaultBytesMoved($_op); }]>,
  ];
}

def PP_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let description = [{
    The op's gradient rule, for -pp-autodiff: given the gradient of the loss
    with respect to each result (null where a result does not reach the
    loss), build ops that compute the gradient with respect to each operand,
    at the builder's insertion point. `operandGrads` comes sized to the
    operands, all null; leave null those with no gradient (integer operands,
    masks). The rules live in lib/Dialect/PP/IR/Gradients.cpp, one function
    per op.
  }];
  let cppNamespace = "::ppc::pp";
  let methods = [
    InterfaceMethod<"Builds the operands' gradients from the results'.",
      "::mlir::LogicalResult", "buildGradient",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // PPC_DIALECT_PP_IR_PPINTERFACES_TD
