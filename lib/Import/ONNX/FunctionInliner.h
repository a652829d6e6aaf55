//===- FunctionInliner.h - model-local ONNX functions inlined ---*- C++ -*-===//
//
// torch's dynamo exporter and onnxscript write parts of a model as
// model-local functions (ModelProto.functions): a node whose (domain,
// op_type, overload) names one is a call. Before anything else reads the
// graph, every call is replaced by the function's body: inputs and outputs
// bound to the call's, inner values renamed to fresh names under the call
// node's name, attribute references (ref_attr_name) bound to the call's
// attributes or the function's defaults (attribute_proto), nested calls
// expanded in turn. Recursion is refused, so is a node of another domain
// that is not a function, and a function whose default-domain opset means
// something else than the model's for an op it uses.
//
//===----------------------------------------------------------------------===//

#ifndef PPC_LIB_IMPORT_ONNX_FUNCTIONINLINER_H
#define PPC_LIB_IMPORT_ONNX_FUNCTIONINLINER_H

#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"

#include "onnx/onnx_pb.h"

namespace ppc::onnximport {

/// Inlines every function call in `model`'s graph and drops the model's
/// functions. `opset` is the model's default-domain opset; errors are
/// located at the call node (a NameLoc under `file`).
mlir::LogicalResult inlineFunctions(onnx::ModelProto &model, int64_t opset,
                                    mlir::Location file);

} // namespace ppc::onnximport

#endif // PPC_LIB_IMPORT_ONNX_FUNCTIONINLINER_H
