// mann/train.hpp: training: the batch-parallel ParallelTrainer, the finite-difference gradient check and
// the float32-against-float64 gradient check.
// Eigen only.
#pragma once

#include "mann/train/grad_check.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/train/precision_check.hpp"
