// examples/common/options.hpp: helpers shared by the examples (not part of the library): CLI11
// validators with short messages for the numbers CLI11's own ranges let through or describe badly
// (CLI::PositiveNumber accepts inf and NaN and prints its bound with 300 digits; an unsigned option
// takes "-1" as 18446744073709551615), and the set of options given on the command line.
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <string>
#include <system_error>

#include "checkpoint_fields.hpp"  // detail::parse_whole

namespace mann_examples {


/// A finite number in [low, high] (`low_open`: (low, high]); NaN and inf are rejected.
inline CLI::Validator finite_number(double low, double high, bool low_open = false) {
  std::ostringstream text;
  text << (low_open ? "(" : "[") << low << ", " << high << "]";
  const std::string range = text.str();
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        double value = 0;
        if (!detail::parse_whole(input, value) || !std::isfinite(value) ||
            (low_open ? value <= low : value < low) || value > high) {
          return input + " is not a finite number in " + range;
        }
        return "";
      },
      "finite, in " + range);
}

/// A finite number > 0 (e.g. a learning rate); inf and NaN are rejected.
inline CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        double value = 0;
        if (!detail::parse_whole(input, value) || !std::isfinite(value) || value <= 0) {
          return input + " is not a finite number > 0";
        }
        return "";
      },
      "finite, > 0");
}

/// A non-negative decimal integer that fits in 64 bits (e.g. a seed); "-1" is rejected.
inline CLI::Validator seed_number() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        unsigned long long value = 0;
        if (!detail::parse_whole(input, value)) return input + " is not an integer in [0, 2^64 - 1]";
        return "";
      },
      "integer in [0, 2^64 - 1]");
}

/// The long names ("--read-sharpness") of the options given on the command line.
inline std::set<std::string> given_options(const CLI::App& app) {
  std::set<std::string> given;
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0) continue;
    for (const std::string& name : option->get_lnames()) given.insert("--" + name);
  }
  return given;
}

}  // namespace mann_examples
