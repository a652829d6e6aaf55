//===- Json.h - reading untrusted JSON without exceptions -------*- C++ -*-===//
//
// nlohmann's get<>, value() and at() throw on a missing key or a wrong
// type, and the library lets no exception out. Every JSON file pprt reads
// (pipeline.json, safetensors headers) goes through this reader instead:
// each accessor checks the type and range, returns a default on error and
// keeps the first error, which names the file and the field.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_JSON_H
#define PPRT_JSON_H

#include "pprt/Status.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace pprt {

class JsonReader {
public:
  using Json = nlohmann::json;
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  /// The member `key` of `o`, or null when `o` is not an object (an error)
  /// or lacks it (an error only when `required`).
  const Json *member(const Json &o, const char *key, const std::string &where,
                     bool required = false) {
    if (!o.is_object()) {
      fail(where + " is not an object");
      return nullptr;
    }
    auto it = o.find(key);
    if (it == o.end()) {
      if (required)
        fail(where + " has no '" + key + "'");
      return nullptr;
    }
    return &*it;
  }

  int64_t integer(const Json &o, const char *key, int64_t otherwise,
                  int64_t lo, int64_t hi, const std::string &where,
                  bool required = false) {
    const Json *v = member(o, key, where, required);
    if (!v)
      return otherwise;
    int64_t x;
    if (!asInteger(*v, lo, hi, x)) {
      fail(where + ": '" + key + "' must be an integer in [" +
           std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return otherwise;
    }
    return x;
  }

  double number(const Json &o, const char *key, double otherwise,
                const std::string &where) {
    const Json *v = member(o, key, where);
    if (!v)
      return otherwise;
    if (!v->is_number()) {
      fail(where + ": '" + key + "' must be a number");
      return otherwise;
    }
    return v->get<double>();
  }

  std::string string(const Json &o, const char *key,
                     const std::string &otherwise, const std::string &where,
                     bool required = false) {
    const Json *v = member(o, key, where, required);
    if (!v)
      return otherwise;
    if (!v->is_string()) {
      fail(where + ": '" + key + "' must be a string");
      return otherwise;
    }
    return v->get<std::string>();
  }

  /// An array member (an empty one when absent and not required).
  const Json &array(const Json &o, const char *key, const std::string &where,
                    bool required = false) {
    static const Json empty = Json::array();
    const Json *v = member(o, key, where, required);
    if (!v)
      return empty;
    if (!v->is_array()) {
      fail(where + ": '" + key + "' must be an array");
      return empty;
    }
    return *v;
  }

  /// An array of integers in [lo, hi].
  std::vector<int64_t> integers(const Json &o, const char *key, int64_t lo,
                                int64_t hi, const std::string &where,
                                bool required = false) {
    std::vector<int64_t> out;
    for (const Json &e : array(o, key, where, required)) {
      int64_t x;
      if (!asInteger(e, lo, hi, x)) {
        fail(where + ": '" + key + "' must hold integers in [" +
             std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return {};
      }
      out.push_back(x);
    }
    return out;
  }

  /// Records an error of this file (the first one wins).
  void fail(const std::string &message) {
    if (error_.empty())
      error_ = message;
  }
  bool ok() const { return error_.empty(); }
  Status status() const {
    return ok() ? Status::ok() : dataLoss(file_ + ": " + error_);
  }

  static bool asInteger(const Json &v, int64_t lo, int64_t hi, int64_t &out) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > (uint64_t)std::numeric_limits<int64_t>::max())
        return false;
      out = (int64_t)u;
    } else if (v.is_number_integer()) {
      out = v.get<int64_t>();
    } else {
      return false;
    }
    return out >= lo && out <= hi;
  }

private:
  std::string file_, error_;
};

} // namespace pprt

#endif // PPRT_JSON_H
