// mann/core/random.hpp: a seeded random generator whose streams are identical on every platform
// (the std distributions are implementation-defined, so we draw from the raw 64-bit engine).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace mann {

/// Seeded generator: same seed, same stream, on every compiler and standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 42) : engine_(seed) {}

  void seed(std::uint64_t seed) {
    engine_.seed(seed);
    has_spare_normal_ = false;
  }

  std::uint64_t next_u64() { return engine_(); }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  /// Uniform integer in [0, n) without modulo bias. Requires n > 0 (n = 0 returns 0).
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) return 0;
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x = engine_();
    while (x >= limit) x = engine_();
    return x % n;
  }

  /// Standard normal (Box–Muller, the spare value kept for the next call).
  double normal() {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return spare_normal_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * 3.14159265358979323846 * u2;
    spare_normal_ = radius * std::sin(angle);
    has_spare_normal_ = true;
    return radius * std::cos(angle);
  }

  double normal(double mean, double stddev) { return mean + stddev * normal(); }

  /// Fisher–Yates shuffle.
  template <class T>
  void shuffle(std::vector<T>& values) {
    for (std::size_t i = values.size(); i > 1; --i) {
      std::swap(values[i - 1], values[below(i)]);
    }
  }

  /// A fresh generator seeded from this one (for per-thread or per-episode streams).
  Rng split() { return Rng(engine_() ^ 0x9E3779B97F4A7C15ull); }

 private:
  std::mt19937_64 engine_;
  double spare_normal_ = 0.0;
  bool has_spare_normal_ = false;
};

/// The seed of episode `episode` of a generator seeded with `seed` (splitmix64 of both): every episode
/// has its own stream, so any split of a batch over threads gives the same episodes.
inline std::uint64_t episode_seed(std::uint64_t seed, std::uint64_t episode) {
  auto mix = [](std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(seed ^ mix(episode));
}

}  // namespace mann
