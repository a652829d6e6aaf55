//===- PPDialect.cpp - the pp dialect -------------------------------------===//

#include "ppc/Dialect/PP/IR/PPDialect.h"
#include "ppc/Dialect/PP/IR/PPOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace ppc::pp;

#include "ppc/Dialect/PP/IR/PPDialect.cpp.inc"
#include "ppc/Dialect/PP/IR/PPEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ppc/Dialect/PP/IR/PPAttrs.cpp.inc"

void PPDialect::initialize() {
  weights = std::make_unique<ppc::WeightStore>();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ppc/Dialect/PP/IR/PPAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ppc/Dialect/PP/IR/PPOps.cpp.inc"
      >();
}

Operation *PPDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                          Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}
