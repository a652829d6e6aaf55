//===- Status.h - errors without exceptions ---------------------*- C++ -*-===//
//
// No exception crosses the runtime's boundary: fallible calls return a Status
// (or a StatusOr<T>) whose message names what failed and where: the rank,
// stage, action and micro-batch once the executor exists.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_STATUS_H
#define PPRT_STATUS_H

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace pprt {

enum class StatusCode {
  Ok = 0,
  InvalidArgument, // bad input: a file, a flag, a tensor
  NotFound,        // a missing file or name
  DataLoss,        // truncated or corrupt artifact
  Unavailable,     // a peer or device that is gone
  DeadlineExceeded,
  Internal,
};

const char *statusCodeName(StatusCode code);

class [[nodiscard]] Status {
public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool isOk() const { return code_ == StatusCode::Ok; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string &message() const { return message_; }
  /// "CODE: message", or "OK".
  std::string toString() const;
  /// The same error with `context` prepended ("context: message").
  Status withContext(const std::string &context) const;

private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

inline Status invalidArgument(std::string m) {
  return Status(StatusCode::InvalidArgument, std::move(m));
}
inline Status notFound(std::string m) {
  return Status(StatusCode::NotFound, std::move(m));
}
inline Status dataLoss(std::string m) {
  return Status(StatusCode::DataLoss, std::move(m));
}
inline Status internalError(std::string m) {
  return Status(StatusCode::Internal, std::move(m));
}

/// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
public:
  StatusOr(T value) : value_(std::move(value)) {}
  StatusOr(Status status) : status_(std::move(status)) {
    assert(!status_.isOk() && "StatusOr needs a value or an error");
  }
  bool isOk() const { return value_.has_value(); }
  explicit operator bool() const { return isOk(); }
  const Status &status() const { return status_; }
  T &value() & { return *value_; }
  const T &value() const & { return *value_; }
  T &&value() && { return std::move(*value_); }
  T *operator->() { return &*value_; }
  T &operator*() { return *value_; }

private:
  Status status_;
  std::optional<T> value_;
};

} // namespace pprt

/// Returns from the enclosing function when `expr` is an error.
#define PPRT_RETURN_IF_ERROR(expr)                                             \
  do {                                                                         \
    ::pprt::Status _pprt_status = (expr);                                      \
    if (!_pprt_status.isOk())                                                  \
      return _pprt_status;                                                     \
  } while (0)

#endif // PPRT_STATUS_H
