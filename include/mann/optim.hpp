// mann/optim.hpp: optimisers over parameter lists (RMSProp with momentum, Adam), their checkpointable state,
// and gradient-norm clipping. Eigen only.
#pragma once

#include "mann/optim/adam.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/optimizer_state.hpp"
#include "mann/optim/rmsprop.hpp"
