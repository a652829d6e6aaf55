//===- Attrs.cpp - reading an instruction's attributes --------------------===//

#include "Attrs.h"

#include "pprt/stage_generated.h"

#include <cstdint>
#include <cstring>

namespace pprt {

static const fb::Attr *findAttr(const fb::Instr *instr, const char *name) {
  if (instr->attrs())
    for (const fb::Attr *a : *instr->attrs())
      if (std::strcmp(a->name()->c_str(), name) == 0)
        return a;
  return nullptr;
}

bool Attrs::has(const char *name) const { return findAttr(instr, name); }

int64_t Attrs::i(const char *name, int64_t otherwise) const {
  const fb::Attr *a = findAttr(instr, name);
  if (!a)
    return otherwise;
  if (a->kind() != fb::AttrKind::Float)
    return a->i();
  // A float outside int64's range (or NaN) does not convert: saturate.
  double f = a->f();
  if (!(f == f))
    return otherwise;
  if (f >= 9.2233720368547758e18)
    return INT64_MAX;
  if (f <= -9.2233720368547758e18)
    return INT64_MIN;
  return (int64_t)f;
}

double Attrs::f(const char *name, double otherwise) const {
  const fb::Attr *a = findAttr(instr, name);
  if (!a)
    return otherwise;
  return a->kind() == fb::AttrKind::Int ? (double)a->i() : a->f();
}

std::vector<int64_t> Attrs::ints(const char *name) const {
  const fb::Attr *a = findAttr(instr, name);
  if (!a || !a->ints())
    return {};
  return {a->ints()->begin(), a->ints()->end()};
}

std::vector<double> Attrs::floats(const char *name) const {
  const fb::Attr *a = findAttr(instr, name);
  if (!a || !a->floats())
    return {};
  return {a->floats()->begin(), a->floats()->end()};
}

std::string Attrs::s(const char *name, const std::string &otherwise) const {
  const fb::Attr *a = findAttr(instr, name);
  return a && a->s() ? a->s()->str() : otherwise;
}

} // namespace pprt
