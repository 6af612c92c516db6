// mann/optim.hpp: optimisers over parameter lists (RMSProp with momentum, Adam), their checkpointable state,
// gradient-norm clipping, and a step split across threads. Eigen only.
#pragma once

#include "mann/optim/adam.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/optimizer_state.hpp"
#include "mann/optim/rmsprop.hpp"
#include "mann/optim/step_in_parts.hpp"
