// examples/common/checkpoint_settings.hpp: helpers shared by the examples (not part of the library):
// --resume and --eval-only take the settings a model needs from its checkpoint, and a checkpoint is
// resumed or evaluated only with the settings it was trained with.
#pragma once

#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/io/checkpoint.hpp"

#include "checkpoint_fields.hpp"

namespace mann_examples {

/// Throws mann::ValueError naming the checkpoint and the first setting in `expected` that `stored`
/// (the checkpoint's metadata) holds with another value. A setting `stored` lacks is not compared:
/// a checkpoint of an older version lacks the head's settings, and CheckpointSettings::finish()
/// has already required them on the command line (the examples' main() prefixes the program's name).
inline void check_checkpoint_settings(const std::string& checkpoint, const mann::CheckpointMetadata& stored,
                                      const mann::CheckpointMetadata& expected) {
  for (const auto& [key, value] : expected) {
    const auto it = stored.find(key);
    if (it != stored.end() && it->second != value) {
      throw mann::ValueError("checkpoint " + checkpoint + " was made with " + key + " = " + it->second +
                             ", these settings give " + value);
    }
  }
}

/// The settings of a run resolved from its checkpoint's metadata, one at a time:
/// * a setting not given on the command line is taken from the checkpoint;
/// * one given with the checkpoint's value is kept; given with another value, it is a
///   mann::ValueError naming the option, both values and the checkpoint;
/// * a field the checkpoint lacks (written by an older version) is taken from the command line
///   when given there; finish() throws mann::FormatError listing the fields that were neither in
///   the checkpoint nor given, with the options to give (no silent default).
/// Fields are parsed by the checked helpers of checkpoint_fields.hpp.
class CheckpointSettings {
 public:
  /// `given`: the long names of the options on the command line (e.g. "--read-sharpness").
  CheckpointSettings(std::string checkpoint, mann::CheckpointMetadata metadata, std::set<std::string> given)
      : checkpoint_(std::move(checkpoint)), metadata_(std::move(metadata)), given_(std::move(given)) {}

  const std::string& checkpoint() const { return checkpoint_; }
  const mann::CheckpointMetadata& metadata() const { return metadata_; }

  /// Resolves `value`, the setting of option `option`, from metadata field `field` (see above).
  /// T: int, long long, unsigned long long, double, bool or std::string.
  template <class T>
  void resolve(const std::string& field, const std::string& option, T& value) {
    if (metadata_.find(field) == metadata_.end()) {
      if (given_.count(option) == 0) missing_.emplace_back(field, option);
      return;
    }
    settle(field, option, value, parse<T>(field));
  }

  /// As resolve(), for a field that versions before it did not write: a checkpoint without it was
  /// trained with `earlier` (the value those versions always used), and is treated as holding it.
  template <class T>
  void resolve_or_earlier(const std::string& field, const std::string& option, T& value, const T& earlier) {
    settle(field, option, value, metadata_.find(field) == metadata_.end() ? earlier : parse<T>(field));
  }

  /// For a setting a resumed run may change (a learning-rate schedule): given on the command line, the
  /// given value stands; else the checkpoint's, or `earlier` for a checkpoint without the field.
  template <class T>
  void default_from(const std::string& field, const std::string& option, T& value, const T& earlier) {
    if (given_.count(option) > 0) return;
    value = metadata_.find(field) == metadata_.end() ? earlier : parse<T>(field);
  }
  /// \throws mann::FormatError listing every field that was missing and not given.
  void finish() const {
    if (missing_.empty()) return;
    std::string fields, options;
    for (const auto& [field, option] : missing_) {
      fields += (fields.empty() ? "" : ", ") + field;
      options += (options.empty() ? "" : ", ") + option;
    }
    throw mann::FormatError("checkpoint " + checkpoint_ + " has no metadata field " + fields +
                            " (written by an older version?); give " + options +
                            " with the value(s) it was trained with");
  }

 private:
  // `value` becomes `stored` unless the option was given; given with another value, it is an error.
  template <class T>
  void settle(const std::string& field, const std::string& option, T& value, const T& stored) const {
    if (given_.count(option) == 0) {
      value = stored;
    } else if (!(value == stored)) {
      throw mann::ValueError(option + " " + text(value) + " differs from the checkpoint's " + field + " = " +
                             text(stored) + " (" + checkpoint_ + "); leave " + option +
                             " out to use the checkpoint's value");
    }
  }

  template <class T>
  T parse(const std::string& field) const {
    if constexpr (std::is_same_v<T, std::string>) {
      return checkpoint_text(checkpoint_, metadata_, field);
    } else if constexpr (std::is_same_v<T, bool>) {
      return checkpoint_flag(checkpoint_, metadata_, field);
    } else if constexpr (std::is_same_v<T, double>) {
      return checkpoint_number(checkpoint_, metadata_, field);
    } else if constexpr (std::is_same_v<T, unsigned long long>) {
      return checkpoint_unsigned(checkpoint_, metadata_, field);
    } else {
      static_assert(std::is_same_v<T, int> || std::is_same_v<T, long long>, "unsupported setting type");
      return with_checkpoint_name(checkpoint_, [&] {
        return static_cast<T>(mann::metadata_int(metadata_, field, 0, std::numeric_limits<T>::max()));
      });
    }
  }

  template <class T>
  static std::string text(const T& value) {
    if constexpr (std::is_same_v<T, std::string>) {
      return value;
    } else if constexpr (std::is_same_v<T, bool>) {
      return value ? "true" : "false";
    } else if constexpr (std::is_same_v<T, double>) {
      return number_text(value);
    } else {
      return std::to_string(value);
    }
  }

  std::string checkpoint_;
  mann::CheckpointMetadata metadata_;
  std::set<std::string> given_;
  std::vector<std::pair<std::string, std::string>> missing_;
};

}  // namespace mann_examples
