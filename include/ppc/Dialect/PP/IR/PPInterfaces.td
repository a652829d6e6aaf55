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

#endif // PPC_DIALECT_PP_IR_PPINTERFACES_TD
