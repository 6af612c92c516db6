// mann/optim/step_in_parts.hpp: one optimiser step split across the threads of a pool, for
// optimisers whose update is element-wise and can be applied in slices (RmsProp::step_part).
#pragma once

#include <type_traits>
#include <utility>

#include "mann/core/thread_pool.hpp"

namespace mann {

/// True if Optimizer has step_part(part, parts) and end_step(): its step can be applied in slices.
template <class Optimizer, class = void>
struct can_step_in_parts : std::false_type {};
template <class Optimizer>
struct can_step_in_parts<Optimizer, std::void_t<decltype(std::declval<Optimizer&>().step_part(0, 1))>>
    : std::true_type {};

/// optimizer.step(), applied by `parts` tasks of `pool` (one slice of every parameter each) when
/// the optimiser can step in parts; the result is the same as step()'s.
template <class Optimizer>
void step_in_parts(Optimizer& optimizer, ThreadPool& pool, int parts) {
  if constexpr (can_step_in_parts<Optimizer>::value) {
    if (parts > 1) {
      auto task = [&](int k) { optimizer.step_part(k, parts); };
      pool.run(parts, task);
      optimizer.end_step();
      return;
    }
  }
  optimizer.step();
}

}  // namespace mann
