// mann/mann.hpp: the umbrella header — the core library, needing Eigen only. Optional parts
// (io/checkpoint.hpp needs nlohmann-json; data/omniglot.hpp needs libpng and libzip) are included
// on their own.
#pragma once

#include "mann/version.hpp"

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/parameter.hpp"
#include "mann/core/random.hpp"
#include "mann/core/types.hpp"

#include "mann/nn/conv2d.hpp"
#include "mann/nn/dropout.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/linear.hpp"
#include "mann/nn/losses.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/nn/max_pool2d.hpp"
#include "mann/nn/relu.hpp"

#include "mann/train/adam.hpp"
#include "mann/train/clip.hpp"
#include "mann/train/grad_check.hpp"
#include "mann/train/rmsprop.hpp"
