// mann/train.hpp: training: the batch-parallel ParallelTrainer and the finite-difference gradient check.
// Eigen only.
#pragma once

#include "mann/train/grad_check.hpp"
#include "mann/train/parallel_trainer.hpp"
