//===- OpRegistry.cpp - every supported ONNX op --------------------------===//

#include "NodeContext.h"

namespace ppc::onnximport {

const OpRegistry &opRegistry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    registerElementwiseOps(r);
    registerContractionOps(r);
    registerNormalizationOps(r);
    registerShapeOps(r);
    registerConstantOps(r);
    registerRecurrentOps(r);
    registerPointwiseOps(r);
    registerIndexingOps(r); // after the constant ops: its Range folds through theirs
    registerEinsumOps(r);
    registerTransformerOps(r);
    registerSequenceOps(r);
    return r;
  }();
  return registry;
}

} // namespace ppc::onnximport
