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
    return r;
  }();
  return registry;
}

} // namespace ppc::onnximport
