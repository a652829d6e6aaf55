//===- Passes.td - pp passes --------------------------------*- tablegen -*-===//

#ifndef PPC_DIALECT_PP_TRANSFORMS_PASSES_TD
#define PPC_DIALECT_PP_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PPCanonicalizePass : Pass<"pp-canonicalize", "mlir::ModuleOp"> {
  let summary = "Recognise exporter patterns (GELU, LayerNorm) as pp ops";
  let description = [{
    Exporters decompose some ops: torch.onnx.export writes GELU as
    x * 0.5 * (1 + erf(x / sqrt(2))) and, before opset 17, LayerNorm as
    ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div / Mul / Add. This
    pass rewrites those chains into `pp.gelu` and `pp.layer_norm`, so that cost,
    partitioning and kernels see one op, then folds what is left (reshape
    chains, constants).
  }];
  let dependentDialects = ["ppc::pp::PPDialect"];
}

#endif // PPC_DIALECT_PP_TRANSFORMS_PASSES_TD
