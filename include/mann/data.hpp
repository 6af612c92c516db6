// mann/data.hpp: the data sets (opt-in, not in mann/mann.hpp as a whole): the Omniglot loader with its
// on-disk cache and Lake et al.'s 20 one-shot runs, which need libpng and libzip (see
// mann/data/omniglot_files.hpp for the CMake lines), plus the Eigen-only parts that mann/mann.hpp
// includes too: augmentation, episode generators and the curriculum, the few-shot store, sampler and
// evaluation, the GP function sampler. Nothing here downloads or starts a process.
#pragma once

#include "mann/data/augment.hpp"
#include "mann/data/episodes.hpp"
#include "mann/data/few_shot_evaluation.hpp"
#include "mann/data/gp.hpp"
#include "mann/data/omniglot.hpp"
#include "mann/data/omniglot_cache.hpp"
#include "mann/data/omniglot_fewshot.hpp"
#include "mann/data/omniglot_files.hpp"
#include "mann/data/omniglot_images.hpp"
#include "mann/data/omniglot_lake_runs.hpp"
#include "mann/data/omniglot_listing.hpp"
