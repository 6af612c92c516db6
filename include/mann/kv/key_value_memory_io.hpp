// mann/kv/key_value_memory_io.hpp: save and load the state of a KeyValueMemory (keys, values,
// ages) as a safetensors checkpoint through mann/io/checkpoint.hpp (needs nlohmann-json, like io/).
//
// File contents, all F64 so that integer values and ages stay exact (float keys convert exactly;
// integers do up to 2^53, so values and ages above that are refused):
//   "kv.keys"    key_size × memory_size, one key per column (empty slots zero)
//   "kv.values"  memory_size × 1, the values (−1: empty slot)
//   "kv.ages"    memory_size × 1, the ages (in update() calls)
//   metadata     format "mann.KeyValueMemory", format_version "1", memory_size, key_size, clock,
//                and the options for information (k, alpha, inverse_temperature, method).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mann/io/checkpoint.hpp"
#include "mann/kv/key_value_memory.hpp"

namespace mann {

namespace detail {
/// The largest integer a file's F64 values and ages hold exactly, 2^53.
inline constexpr std::int64_t key_value_memory_max_integer = std::int64_t{1} << 53;
/// How far a written slot's key norm may exceed 1. Written keys are normalised queries,
/// q̂ = x / √(‖x‖² + ε), or normalised sums of two, so ‖k‖ ≤ 1 up to rounding.
/// NOTE: only the excess is refused: a (near-)zero query writes a key shorter than 1 (‖x‖ < 2.2e-5
/// gives ‖q̂‖ < 1 − 1e-3, x = 0 gives a zero key), which a save must be able to load again.
inline constexpr double key_value_memory_key_norm_tolerance = 1e-3;
}  // namespace detail

/// Writes the memory's keys, values and ages to `path` (atomically, as save_checkpoint).
/// Not thread-safe with a concurrent update() of the same memory.
/// \throws ValueError, writing nothing, if a value or age exceeds 2^53 (F64 would round it);
/// FileError as save_checkpoint.
template <class Scalar>
void save_key_value_memory(const std::string& path, const KeyValueMemory<Scalar>& memory) {
  const char* where = "mann::save_key_value_memory";
  const Index n = memory.memory_size();
  Parameter<double> keys, values, ages;
  keys.value = memory.keys().template cast<double>();
  values.value.resize(n, 1);
  ages.value.resize(n, 1);
  const std::vector<std::int64_t> age = memory.ages();
  for (Index s = 0; s < n; ++s) {
    const std::int64_t v = memory.value(s), a = age[static_cast<std::size_t>(s)];
    if (v > detail::key_value_memory_max_integer || a > detail::key_value_memory_max_integer) {
      throw ValueError(detail::concat(where, ": ", path, ": slot ", s, " has value ", v, " and age ", a,
                                      ", expected both at most 2^53 (stored as F64)"));
    }
    values.value(s, 0) = static_cast<double>(v);
    ages.value(s, 0) = static_cast<double>(a);
  }
  const ParameterList<double> tensors = {{"kv.keys", &keys}, {"kv.values", &values}, {"kv.ages", &ages}};
  const auto& o = memory.options();
  const CheckpointMetadata metadata = {
      {"format", "mann.KeyValueMemory"},
      {"format_version", "1"},
      {"memory_size", std::to_string(n)},
      {"key_size", std::to_string(memory.key_size())},
      {"clock", std::to_string(memory.clock())},
      {"k", std::to_string(o.k)},
      {"alpha", detail::concat(o.alpha)},
      {"inverse_temperature", detail::concat(o.inverse_temperature)},
      {"method", o.method == KnnMethod::exact ? "exact" : "lsh"},
  };
  save_checkpoint(path, tensors, metadata);
}

/// Replaces the memory's state with the one saved at `path`. The memory must have the saved
/// memory_size and key_size; its options (k, α, t, search) stay those it was constructed with.
/// All or nothing: on any exception (std::bad_alloc too) the memory is unchanged.
/// \throws FileError / FormatError as load_checkpoint (missing tensor, other shape, corrupt file);
///         FormatError, naming the slot, if the file is not a KeyValueMemory checkpoint, holds a
///         value that is not an integer in [-1, 2^53] or an age not in [0, 2^53], or a written
///         slot's key longer than 1 + 1e-3 (keys are normalised queries); FormatError for a clock
///         that is not an integer in [0, 2^53] or below the largest age.
template <class Scalar>
CheckpointMetadata load_key_value_memory(const std::string& path, KeyValueMemory<Scalar>& memory) {
  const char* where = "mann::load_key_value_memory";
  const Index n = memory.memory_size();
  Parameter<double> keys, values, ages;
  keys.value.resize(memory.key_size(), n);
  values.value.resize(n, 1);
  ages.value.resize(n, 1);
  const ParameterList<double> tensors = {{"kv.keys", &keys}, {"kv.values", &values}, {"kv.ages", &ages}};
  CheckpointMetadata metadata = load_checkpoint(path, tensors);
  const auto format = metadata.find("format");
  if (format == metadata.end() || format->second != "mann.KeyValueMemory") {
    throw FormatError(detail::concat(where, ": ", path, ": metadata format is \"",
                                     format == metadata.end() ? std::string() : format->second,
                                     "\", expected \"mann.KeyValueMemory\""));
  }
  std::vector<typename KeyValueMemory<Scalar>::Value> value_list(static_cast<std::size_t>(n));
  std::vector<std::int64_t> age_list(static_cast<std::size_t>(n));
  const auto largest = static_cast<double>(detail::key_value_memory_max_integer);
  for (Index s = 0; s < n; ++s) {
    const double v = values.value(s, 0), a = ages.value(s, 0);
    if (v != std::floor(v) || v < -1 || v > largest || a != std::floor(a) || a < 0 || a > largest) {
      throw FormatError(detail::concat(where, ": ", path, ": slot ", s, " has value ", v, " and age ", a,
                                       ", expected an integer value in [-1, 2^53] and an integer age in [0, 2^53]"));
    }
    if (v != -1) {
      const double norm = keys.value.col(s).norm();
      if (norm > 1 + detail::key_value_memory_key_norm_tolerance) {
        throw FormatError(detail::concat(where, ": ", path, ": slot ", s, " has a key of norm ", norm,
                                         ", expected at most 1 + ", detail::key_value_memory_key_norm_tolerance,
                                         " (keys are normalised queries)"));
      }
    }
    value_list[static_cast<std::size_t>(s)] = static_cast<std::int64_t>(v);
    age_list[static_cast<std::size_t>(s)] = static_cast<std::int64_t>(a);
  }
  std::int64_t clock_value = -1;
  if (metadata.count("clock") != 0) {
    try {
      clock_value = metadata_int(metadata, "clock", 0, detail::key_value_memory_max_integer);
    } catch (const FormatError& e) {
      throw FormatError(detail::concat(where, ": ", path, ": ", e.what()));
    }
  }
  try {
    memory.restore(keys.value.template cast<Scalar>(), value_list, age_list, clock_value);
  } catch (const ValueError& e) {
    throw FormatError(detail::concat(where, ": ", path, ": ", e.what()));
  }
  return metadata;
}

}  // namespace mann
