// examples/common/checkpoint_settings.hpp: helper shared by the examples (not part of the library):
// a checkpoint is resumed or evaluated only with the settings it was trained with.
#pragma once

#include <string>

#include "mann/core/error.hpp"
#include "mann/io/checkpoint.hpp"

namespace mann_examples {

/// Throws mann::ValueError naming the checkpoint and the first setting in `expected` that `stored`
/// (the checkpoint's metadata) lacks or holds with another value (the examples' main() prefixes the
/// program's name).
inline void check_checkpoint_settings(const std::string& checkpoint, const mann::CheckpointMetadata& stored,
                                      const mann::CheckpointMetadata& expected) {
  for (const auto& [key, value] : expected) {
    const auto it = stored.find(key);
    if (it == stored.end() || it->second != value) {
      throw mann::ValueError("checkpoint " + checkpoint + " was made with " + key + " = " +
                             (it == stored.end() ? "(missing)" : it->second) + ", these settings give " + value);
    }
  }
}

}  // namespace mann_examples
