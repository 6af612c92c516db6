// mann/kv.hpp: the key-value memory module of Kaiser et al. 2017 (query, margin loss and its gradient,
// update with ages). Eigen only; its checkpoints, mann/kv/key_value_memory_io.hpp, are opt-in: they
// need nlohmann-json, as mann/io.hpp does.
#pragma once

#include "mann/kv/key_value_memory.hpp"
