// The time of one in-place MPI_Allreduce (sum of floats, mann::mpi::Communicator::allreduce_sum) by
// message size: the median of many repetitions after a warm-up, as rank 0 sees it. The sizes
// include the gradients the examples sum per step (the MANN's 2.5 MiB, the LSTM baseline's 1.9 MiB,
// the ConvNet's 7.6 MiB). Run under mpirun: mpirun -np 2 mpi_allreduce [repetitions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mann/mpi/communicator.hpp"

int main(int argc, char** argv) {
  mann::mpi::Environment environment(&argc, &argv);
  const mann::mpi::Communicator world;
  const int repetitions = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  if (world.is_root()) std::printf("ranks %d; median of %d allreduces (sum, float, in place)\n", world.size(), repetitions);
  for (std::size_t kib : {4u, 64u, 512u, 1946u, 2530u, 7800u, 16384u}) {
    std::vector<float> buffer(kib * 1024 / sizeof(float), 1.0f);
    std::vector<double> times;
    for (int r = 0; r < repetitions + 5; ++r) {
      world.barrier();
      const auto start = std::chrono::steady_clock::now();
      world.allreduce_sum(buffer.data(), buffer.size());
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (r >= 5) times.push_back(seconds);
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    if (world.is_root()) {
      std::printf("%8zu KiB: %9.1f us  (%6.2f GB/s of message)\n", kib, 1e6 * median, kib * 1024.0 / median / 1e9);
    }
  }
  return 0;
}
