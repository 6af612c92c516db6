// mann/distributed.hpp: every distributed part (opt-in; not in mann/mann.hpp): the communicator
// (mann/mpi.hpp), data-parallel training over ranks (MANN-style models and the ConvNet with
// memory), and a nearest-neighbour index sharded across
// ranks. Needs an MPI implementation (Debian: libopenmpi-dev); link MPI::MPI_CXX beside mann::mann.
#pragma once

#include "mann/knn/sharded_index.hpp"
#include "mann/mpi.hpp"
#include "mann/train/data_parallel_conv_net.hpp"
#include "mann/train/data_parallel_trainer.hpp"
