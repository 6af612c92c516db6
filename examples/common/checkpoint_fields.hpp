// examples/common/checkpoint_fields.hpp: helpers shared by the examples (not part of the library):
// the fields of a checkpoint's metadata read through one checked parser, so a missing, malformed or
// negative field is a mann::FormatError naming the file and the field, never a std::out_of_range
// ("map::at"), a std::invalid_argument ("stoll") or a silently wrong count.
#pragma once

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>

#include "mann/core/error.hpp"
#include "mann/io/checkpoint.hpp"

namespace mann_examples {

/// The shortest text that reads back as the same double ("10", "0.99", "1e-06").
inline std::string number_text(double value) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
}

namespace detail {

[[noreturn]] inline void bad_field(const std::string& checkpoint, const std::string& field, const std::string& text,
                                   const char* expected) {
  throw mann::FormatError("checkpoint " + checkpoint + ": metadata field " + field + " is \"" + text + "\", expected " +
                          expected);
}

/// Parses all of `text` into `value` (no sign, space or trailing characters accepted beyond what
/// std::from_chars reads); false if anything is left over or out of range.
template <class T>
bool parse_whole(const std::string& text, T& value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end;
}

}  // namespace detail

/// The text of metadata field `field` of `checkpoint`.
/// \throws mann::FormatError naming the file and the field when it is missing.
inline const std::string& checkpoint_text(const std::string& checkpoint, const mann::CheckpointMetadata& metadata,
                                          const std::string& field) {
  const auto it = metadata.find(field);
  if (it == metadata.end()) {
    throw mann::FormatError("checkpoint " + checkpoint + ": metadata field " + field + " is missing");
  }
  return it->second;
}

/// Runs `read` (a checked reader of io/checkpoint.hpp); its FormatError gets the file's name in front.
template <class Read>
auto with_checkpoint_name(const std::string& checkpoint, Read&& read) {
  try {
    return read();
  } catch (const mann::FormatError& e) {
    throw mann::FormatError("checkpoint " + checkpoint + ": " + e.what());
  }
}

/// A count (e.g. episodes_done): a non-negative decimal integer, nothing else (mann::metadata_int).
/// \throws mann::FormatError naming the file and the field when it is missing, not a number, has
///   trailing characters or is negative.
inline long long checkpoint_count(const std::string& checkpoint, const mann::CheckpointMetadata& metadata,
                                  const std::string& field) {
  return with_checkpoint_name(checkpoint, [&] {
    return mann::metadata_int(metadata, field, 0, std::numeric_limits<std::int64_t>::max());
  });
}

/// A non-negative integer that fits in 64 bits (e.g. a seed). \throws mann::FormatError as above.
inline unsigned long long checkpoint_unsigned(const std::string& checkpoint, const mann::CheckpointMetadata& metadata,
                                              const std::string& field) {
  const std::string& text = checkpoint_text(checkpoint, metadata, field);
  unsigned long long value = 0;
  if (!detail::parse_whole(text, value)) detail::bad_field(checkpoint, field, text, "a non-negative 64-bit integer");
  return value;
}

/// A finite number (mann::metadata_double). \throws mann::FormatError naming the file and the field.
inline double checkpoint_number(const std::string& checkpoint, const mann::CheckpointMetadata& metadata,
                                const std::string& field) {
  return with_checkpoint_name(checkpoint, [&] {
    return mann::metadata_double(metadata, field, -std::numeric_limits<double>::max(),
                                 std::numeric_limits<double>::max());
  });
}

/// "true" or "false". \throws mann::FormatError naming the file and the field.
inline bool checkpoint_flag(const std::string& checkpoint, const mann::CheckpointMetadata& metadata,
                            const std::string& field) {
  const std::string& text = checkpoint_text(checkpoint, metadata, field);
  if (text != "true" && text != "false") detail::bad_field(checkpoint, field, text, "true or false");
  return text == "true";
}

}  // namespace mann_examples
