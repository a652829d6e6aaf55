//===- KnownSchemas.cpp - libonnx's schemas where it knows the opset ------===//

#include "KnownSchemas.h"

#include "ppc/Import/ONNX/Importer.h"

#include "llvm/ADT/STLExtras.h"

using namespace llvm;

namespace ppc::onnximport {
namespace {

/// Default-domain ops whose inputs, outputs or attributes changed at opsets
/// 18 to kMaxOpset, with those opsets (from the schemas of the onnx package
/// on PyPI; docs/importer.md says what changed for the ops ppc imports).
/// Changes that only add element types, or new values of a string
/// attribute, leave libonnx's checker right and are not listed.
struct Change {
  const char *op;
  int64_t opsets[3]; // ascending, 0 after the last
};
const Change kChanges[] = {
    {"AveragePool", {19}},         {"Cast", {19}},
    {"CastLike", {19}},            {"DFT", {20}},
    {"DequantizeLinear", {21, 23}}, {"LpPool", {18}},
    {"OptionalHasElement", {18}},  {"Pad", {18}},
    {"QuantizeLinear", {19, 21, 23}}, {"ReduceL1", {18}},
    {"ReduceL2", {18}},            {"ReduceLogSum", {18}},
    {"ReduceLogSumExp", {18}},     {"ReduceMax", {18}},
    {"ReduceMean", {18}},          {"ReduceMin", {18}},
    {"ReduceProd", {18}},          {"ReduceSumSquare", {18}},
    {"Resize", {18}},              {"Split", {18}},
};

bool isDefaultDomain(StringRef domain) {
  return domain.empty() || domain == "ai.onnx";
}

} // namespace

int64_t KnownSchemas::libonnxOpset() {
  const auto &map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find(onnx::ONNX_DOMAIN);
  return it == map.end() ? 0 : it->second.second;
}

bool KnownSchemas::opaque(StringRef op, int64_t opset) {
  int64_t known = libonnxOpset();
  if (opset <= known)
    return false;
  if (!onnx::OpSchemaRegistry::Instance()->GetSchema(op.str(), (int)known,
                                                     onnx::ONNX_DOMAIN))
    return true;
  for (const Change &c : kChanges)
    if (op == c.op)
      return llvm::any_of(c.opsets, [&](int64_t v) {
        return v > known && v <= opset;
      });
  return false;
}

const onnx::OpSchema *KnownSchemas::GetSchema(const std::string &key,
                                              const int maxInclusiveVersion,
                                              const std::string &domain) const {
  if (!isDefaultDomain(domain) || !opaque(key, maxInclusiveVersion))
    return onnx::OpSchemaRegistry::Instance()->GetSchema(
        key, maxInclusiveVersion, domain);
  std::unique_ptr<onnx::OpSchema> &schema = permissive[key];
  if (!schema) {
    // Any inputs, outputs and attributes, and no inference function: the
    // checker still checks the node's generic form (attribute fields,
    // names, SSA), and ppc's handler checks the rest.
    schema = std::make_unique<onnx::OpSchema>(key, __FILE__, __LINE__);
    schema->SetDomain(onnx::ONNX_DOMAIN)
        .SinceVersion(maxInclusiveVersion)
        .AllowUncheckedAttributes()
        .Input(0, "inputs", "", "T", onnx::OpSchema::Variadic,
               /*is_homogeneous=*/false, /*min_arity=*/0)
        .Output(0, "outputs", "", "T", onnx::OpSchema::Variadic,
                /*is_homogeneous=*/false, /*min_arity=*/0)
        .TypeConstraint("T", onnx::OpSchema::all_tensor_types_with_bfloat(),
                        "");
    schema->Finalize();
  }
  return schema.get();
}

} // namespace ppc::onnximport
