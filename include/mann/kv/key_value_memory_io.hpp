// mann/kv/key_value_memory_io.hpp: save and load the state of a KeyValueMemory (keys, values,
// ages) as a safetensors checkpoint through mann/io/checkpoint.hpp (needs nlohmann-json, like io/).
//
// File contents, all F64 so that integer values and ages stay exact (float keys convert exactly):
//   "kv.keys"    key_size × memory_size, one key per column (empty slots zero)
//   "kv.values"  memory_size × 1, the values (−1: empty slot)
//   "kv.ages"    memory_size × 1, the ages
//   metadata     format "mann.KeyValueMemory", format_version "1", memory_size, key_size, clock,
//                and the options for information (k, alpha, inverse_temperature, method).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "mann/io/checkpoint.hpp"
#include "mann/kv/key_value_memory.hpp"

namespace mann {

/// Writes the memory's keys, values and ages to `path` (atomically, as save_checkpoint).
/// Not thread-safe with a concurrent update() of the same memory.
/// \throws FileError as save_checkpoint.
template <class Scalar>
void save_key_value_memory(const std::string& path, const KeyValueMemory<Scalar>& memory) {
  const Index n = memory.memory_size();
  Parameter<double> keys, values, ages;
  keys.value = memory.keys().template cast<double>();
  values.value.resize(n, 1);
  ages.value.resize(n, 1);
  const std::vector<std::int64_t> age = memory.ages();
  for (Index s = 0; s < n; ++s) {
    values.value(s, 0) = static_cast<double>(memory.value(s));
    ages.value(s, 0) = static_cast<double>(age[static_cast<std::size_t>(s)]);
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
/// All or nothing: on any exception the memory is unchanged.
/// \throws FileError / FormatError as load_checkpoint (missing tensor, other shape, corrupt file);
///         FormatError if the file is not a KeyValueMemory checkpoint or holds a non-integer value
///         or age.
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
  for (Index s = 0; s < n; ++s) {
    const double v = values.value(s, 0), a = ages.value(s, 0);
    // NOTE: 2^62 bounds keep the casts defined; real values and ages are far smaller.
    if (v != std::floor(v) || v < -1 || v > 0x1p62 || a != std::floor(a) || a < 0 || a > 0x1p62) {
      throw FormatError(detail::concat(where, ": ", path, ": slot ", s, " has value ", v, " and age ", a,
                                       ", expected an integer value >= -1 and an integer age >= 0"));
    }
    value_list[static_cast<std::size_t>(s)] = static_cast<std::int64_t>(v);
    age_list[static_cast<std::size_t>(s)] = static_cast<std::int64_t>(a);
  }
  const auto clock = metadata.find("clock");
  std::int64_t clock_value = -1;
  if (clock != metadata.end()) {
    try {
      clock_value = std::stoll(clock->second);
    } catch (const std::exception&) {
      throw FormatError(
          detail::concat(where, ": ", path, ": metadata clock is \"", clock->second, "\", expected an integer"));
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
