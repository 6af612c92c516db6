// mann/mpi.hpp: the mpi/ folder (opt-in; not in mann/mann.hpp): MPI's lifetime and the communicator.
// mann/distributed.hpp gathers it with the distributed parts that use it. Needs an MPI
// implementation (Debian: libopenmpi-dev); link MPI::MPI_CXX beside mann::mann.
#pragma once

#include "mann/mpi/communicator.hpp"
