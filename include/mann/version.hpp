// mann/version.hpp: the library version, the single source of truth (CMake reads it).
#pragma once

#define MANN_VERSION_MAJOR 0
#define MANN_VERSION_MINOR 1
#define MANN_VERSION_PATCH 0

namespace mann {
inline constexpr int version_major = MANN_VERSION_MAJOR;
inline constexpr int version_minor = MANN_VERSION_MINOR;
inline constexpr int version_patch = MANN_VERSION_PATCH;
}  // namespace mann
