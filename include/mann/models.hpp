// mann/models.hpp: the models: Mann<Scalar, Controller, Head> (Santoro et al. 2016), the LSTM and
// feed-forward baselines, the ConvNet with key-value memory (Kaiser et al. 2017), the pixel
// nearest-neighbour baseline. Eigen only.
#pragma once

#include "mann/models/controller_only.hpp"
#include "mann/models/conv_net.hpp"
#include "mann/models/conv_net_memory.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/models/output_layer.hpp"
#include "mann/models/pixel_nearest_neighbour.hpp"
