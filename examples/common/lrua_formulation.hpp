// examples/common/lrua_formulation.hpp: helpers shared by the examples (not part of the library):
// the command-line options of the LRUA read's formulation (β, ε, learned key strength, initial
// memory, eq. 6's n), their defaults (mann::LruaHead's), and their resolution from a checkpoint.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "mann/memory/lrua_head.hpp"

#include "checkpoint_settings.hpp"
#include "options.hpp"

namespace mann_examples {

struct LruaFormulation {
  double read_sharpness, epsilon;
  std::string key_strength;
  double initial_memory;
  int least_used_slots;  ///< 0: the heads' count (the paper)

  /// The defaults of the options: LruaHead's unless an example measured better ones.
  explicit LruaFormulation(const mann::LruaHeadOptions& defaults = {})
      : read_sharpness(defaults.read_sharpness),
        epsilon(defaults.epsilon),
        key_strength(defaults.learned_key_strength ? "learned" : "fixed"),
        initial_memory(defaults.initial_memory),
        least_used_slots(static_cast<int>(defaults.least_used_slots)) {}

  void add_options(CLI::App& app) {
    app.add_option("--read-sharpness", read_sharpness,
                   "LRUA: fixed beta in w_r = softmax(beta K); 1 is the paper's eq. 3")
        ->check(positive_number())
        ->capture_default_str();
    app.add_option("--norm-epsilon", epsilon,
                   "LRUA: epsilon in the cosine's norms sqrt(|v|^2 + epsilon); the paper's is 1e-6")
        ->check(positive_number())
        ->capture_default_str();
    app.add_option("--key-strength", key_strength,
                   "LRUA: fixed (beta = --read-sharpness) | learned (beta = 1 + softplus, per head and step)")
        ->check(CLI::IsMember({"fixed", "learned"}))
        ->capture_default_str();
    app.add_option("--initial-memory", initial_memory, "LRUA: every entry of the wiped memory (the paper: 0)")
        ->check(finite_number(-1e6, 1e6))
        ->capture_default_str();
    app.add_option("--least-used-slots", least_used_slots,
                   "LRUA: n of eq. 6, the least-used slots each step writes (0: the heads' count, the paper; "
                   "1: only the slot eq. 8 zeroes)")
        ->check(CLI::Range(0, 1 << 20))
        ->capture_default_str();
  }

  /// --read-sharpness 1 --norm-epsilon 1e-6: eqs 2–8 as the paper writes them. `heads`: the
  /// model's head count, already resolved (checkpoints store eq. 6's n as a count, so the option's
  /// 0, "the heads' count", is compared as that count).
  void resolve(CheckpointSettings& c, int heads) {
    c.resolve("head.read_sharpness", "--read-sharpness", read_sharpness);
    c.resolve("head.epsilon", "--norm-epsilon", epsilon);
    // Written since these options exist; a checkpoint without them was trained with the then only value.
    c.resolve_or_earlier("head.key_strength", "--key-strength", key_strength, std::string("fixed"));
    c.resolve_or_earlier("head.initial_memory", "--initial-memory", initial_memory, 0.0);
    const bool heads_count = least_used_slots == 0;
    if (heads_count) least_used_slots = heads;
    try {
      c.resolve_or_earlier("head.least_used_slots", "--least-used-slots", least_used_slots, heads);
    } catch (const mann::ValueError& e) {
      if (!heads_count) throw;
      throw mann::ValueError("--least-used-slots 0 means the heads' count: " + std::string(e.what()));
    }
  }

  void apply(mann::LruaHeadOptions& o) const {
    o.read_sharpness = read_sharpness;
    o.epsilon = epsilon;
    o.learned_key_strength = key_strength == "learned";
    o.initial_memory = initial_memory;
    o.least_used_slots = least_used_slots;
  }
};

}  // namespace mann_examples
