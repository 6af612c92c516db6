// Tests for mann/mpi/communicator.hpp, run by mpirun on 1 and 2 ranks: the typed collectives, and
// MPI errors as mann::MpiError instead of MPI's abort.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "mann/distributed.hpp"  // every MPI part compiles together
#include "mann/mpi/communicator.hpp"

namespace {

TEST(MpiCommunicator, CollectivesSumGatherAndBroadcast) {
  const mann::mpi::Communicator world;
  const int r = world.rank(), n = world.size();
  std::vector<float> values = {1.0f, static_cast<float>(r), 0.5f};
  world.allreduce_sum(values.data(), values.size());
  EXPECT_EQ(values[0], static_cast<float>(n));
  EXPECT_EQ(values[1], static_cast<float>(n * (n - 1) / 2));
  EXPECT_EQ(values[2], 0.5f * static_cast<float>(n));

  std::uint64_t low = 100 + static_cast<std::uint64_t>(r), high = low;
  world.allreduce_min(&low, 1);
  world.allreduce_max(&high, 1);
  EXPECT_EQ(low, 100u);
  EXPECT_EQ(high, 100u + static_cast<std::uint64_t>(n - 1));

  const std::int32_t mine[2] = {r, 10 * r};
  std::vector<std::int32_t> all(static_cast<std::size_t>(2 * n), -1);
  world.allgather(mine, 2, all.data());
  for (int k = 0; k < n; ++k) {
    EXPECT_EQ(all[static_cast<std::size_t>(2 * k)], k);
    EXPECT_EQ(all[static_cast<std::size_t>(2 * k + 1)], 10 * k);
  }

  double shared[2] = {r == 0 ? 3.5 : -1.0, r == 0 ? -2.0 : -1.0};
  world.broadcast(shared, 2, 0);
  EXPECT_EQ(shared[0], 3.5);
  EXPECT_EQ(shared[1], -2.0);
  world.barrier();
}

TEST(MpiCommunicator, AFailedCallThrowsMpiErrorNamingIt) {
  const mann::mpi::Communicator world;
  double value = 1;
  try {
    world.broadcast(&value, 1, world.size() + 5);  // no such root: MPI returns an error code
    FAIL() << "no exception";
  } catch (const mann::MpiError& e) {
    EXPECT_NE(std::string(e.what()).find("MPI_Bcast"), std::string::npos) << e.what();
  }
}

}  // namespace
