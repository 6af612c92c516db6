// mann/nn.hpp: differentiable layers (Linear, Lstm, FeedForward, Conv2d, MaxPool2d, ReLU, Dropout) and
// losses, each with a hand-written backward pass. Eigen only.
#pragma once

#include "mann/nn/conv2d.hpp"
#include "mann/nn/dropout.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/linear.hpp"
#include "mann/nn/losses.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/nn/max_pool2d.hpp"
#include "mann/nn/relu.hpp"
