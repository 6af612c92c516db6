// mann/mann.hpp: the umbrella header: every header of the library that needs only Eigen (and the C++17
// standard library with threads: link Threads::Threads, which the mann::mann target does for you).
// Each folder also has its own header, as Eigen has its modules: mann/core.hpp, mann/nn.hpp,
// mann/optim.hpp, mann/memory.hpp, mann/knn.hpp, mann/kv.hpp, mann/models.hpp, mann/train.hpp.
// Opt-in, with their own dependencies: mann/io.hpp (checkpoints; nlohmann-json) and mann/data.hpp
// (the Omniglot loader and Lake's runs; libpng and libzip). The Eigen-only data headers (episode
// generators, augmentation, the few-shot store and evaluation, GP functions) are included here.
#pragma once

#include "mann/version.hpp"

#include "mann/core.hpp"
#include "mann/knn.hpp"
#include "mann/kv.hpp"
#include "mann/memory.hpp"
#include "mann/models.hpp"
#include "mann/nn.hpp"
#include "mann/optim.hpp"
#include "mann/train.hpp"

#include "mann/data/augment.hpp"
#include "mann/data/episodes.hpp"
#include "mann/data/few_shot_evaluation.hpp"
#include "mann/data/gp.hpp"
#include "mann/data/omniglot_fewshot.hpp"
#include "mann/data/omniglot_images.hpp"
