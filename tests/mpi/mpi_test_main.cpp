// The main() of the MPI tests (started by mpirun, tests/CMakeLists.txt mann_add_mpi_test): every rank
// runs every test; rank 0 prints GoogleTest's report, and the job fails if a test failed on any rank.
#include <gtest/gtest.h>

#include "mann/mpi/communicator.hpp"

int main(int argc, char** argv) {
  mann::mpi::Environment environment(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  const mann::mpi::Communicator world;
  if (!world.is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  world.allreduce_max(&failed, 1);
  return failed;
}
