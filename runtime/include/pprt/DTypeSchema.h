//===- DTypeSchema.h - element types <-> stage.fbs's DType -----*- C++ -*-===//
//
// stage.fbs's DType and Vocabulary.h's DType are one list: checked here, at
// compile time, value by value and by count, in every file that converts
// between them (the stage program's writer and its readers).
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_DTYPESCHEMA_H
#define PPRT_DTYPESCHEMA_H

#include "pprt/Vocabulary.h"
#include "pprt/stage_generated.h"

namespace pprt {

namespace detail {
constexpr bool sameValues(DType d, fb::DType f) {
  return static_cast<int>(d) == static_cast<int>(f);
}
} // namespace detail

static_assert(static_cast<int>(fb::DType::MIN) == 0 &&
                  static_cast<int>(fb::DType::MAX) + 1 == kNumDTypes,
              "stage.fbs's DType and Vocabulary.h's kDTypes differ in count");
static_assert(detail::sameValues(DType::F32, fb::DType::F32) &&
                  detail::sameValues(DType::F64, fb::DType::F64) &&
                  detail::sameValues(DType::F16, fb::DType::F16) &&
                  detail::sameValues(DType::BF16, fb::DType::BF16) &&
                  detail::sameValues(DType::I64, fb::DType::I64) &&
                  detail::sameValues(DType::I32, fb::DType::I32) &&
                  detail::sameValues(DType::I16, fb::DType::I16) &&
                  detail::sameValues(DType::I8, fb::DType::I8) &&
                  detail::sameValues(DType::U8, fb::DType::U8) &&
                  detail::sameValues(DType::Bool, fb::DType::Bool) &&
                  detail::sameValues(DType::U16, fb::DType::U16) &&
                  detail::sameValues(DType::U32, fb::DType::U32) &&
                  detail::sameValues(DType::U64, fb::DType::U64),
              "stage.fbs's DType and Vocabulary.h's DType differ in values");

/// A schema value in range (the verifier checks that before converting).
constexpr DType fromSchema(fb::DType dtype) { return static_cast<DType>(dtype); }
constexpr fb::DType toSchema(DType dtype) {
  return static_cast<fb::DType>(dtype);
}

} // namespace pprt

#endif // PPRT_DTYPESCHEMA_H
