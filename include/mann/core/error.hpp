// mann/core/error.hpp: the exception hierarchy thrown at the API boundary, and the checks that throw.
#pragma once

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace mann {

/// Base of every exception mann throws. Messages name the function, the argument, the value
/// received and the value expected.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A matrix or tensor has the wrong shape.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A value is out of its allowed range, or is NaN/Inf.
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A file cannot be opened, read, written or renamed.
class FileError : public Error {
 public:
  using Error::Error;
};

/// A file was read but its contents are malformed (truncated, corrupt, wrong tensors).
class FormatError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

/// Throws ShapeError unless `matrix` is rows × cols. Pass -1 to skip a dimension.
template <class Derived>
void check_shape(const Derived& matrix, long rows, long cols, const char* where, const char* name) {
  if ((rows >= 0 && matrix.rows() != rows) || (cols >= 0 && matrix.cols() != cols)) {
    throw ShapeError(detail::concat(where, ": ", name, " is ", matrix.rows(), " x ", matrix.cols(),
                                    ", expected ", rows < 0 ? std::string("any") : std::to_string(rows),
                                    " x ", cols < 0 ? std::string("any") : std::to_string(cols)));
  }
}

/// Throws ValueError if any entry of `matrix` is NaN or infinite.
template <class Derived>
void check_finite(const Derived& matrix, const char* where, const char* name) {
  for (long j = 0; j < matrix.cols(); ++j) {
    for (long i = 0; i < matrix.rows(); ++i) {
      if (!std::isfinite(static_cast<double>(matrix(i, j)))) {
        throw ValueError(detail::concat(where, ": ", name, "(", i, ", ", j, ") is ",
                                        static_cast<double>(matrix(i, j)), ", expected a finite value"));
      }
    }
  }
}

/// Throws ValueError unless `condition`; the message says what was received and what was expected.
template <class T>
void check_value(bool condition, const char* where, const char* name, const T& received,
                 const char* expected) {
  if (!condition) {
    throw ValueError(detail::concat(where, ": ", name, " is ", received, ", expected ", expected));
  }
}

}  // namespace mann

/// Hot-path invariant check, compiled out under NDEBUG; define MANN_ASSERT yourself to override.
#ifndef MANN_ASSERT
#include <cassert>
#define MANN_ASSERT(condition) assert(condition)
#endif
