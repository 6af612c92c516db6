// mann/core.hpp: Matrix aliases (batch = columns), errors, the seeded Rng and episode seeds, initialisers,
// activations, parameters, the episode batch shared by data, models and training, the thread pool.
// Eigen only.
#pragma once

#include "mann/core/activations.hpp"
#include "mann/core/episode.hpp"
#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/packed_product.hpp"
#include "mann/core/parameter.hpp"
#include "mann/core/random.hpp"
#include "mann/core/thread_pool.hpp"
#include "mann/core/types.hpp"
