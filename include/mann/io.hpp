// mann/io.hpp: checkpoints (opt-in, not in mann/mann.hpp): safetensors files with a JSON header,
// readable from Python, for parameter lists (and, through mann/kv/key_value_memory_io.hpp, the
// key-value memory). Needs nlohmann-json 3.9 or later, e.g. in CMake:
// find_package(nlohmann_json 3.9 REQUIRED) and
// target_link_libraries(app PRIVATE mann::mann nlohmann_json::nlohmann_json).
#pragma once

#include "mann/io/checkpoint.hpp"
