// Issue 20: a rank that gets bad input ends the whole MPI job with a clear error instead of leaving
// the other ranks waiting in a collective. Rank 1 passes queries with the wrong number of rows to
// the sharded search, which throws there before any communication; rank 0 goes on into the search's
// MPI_Allgather, where it would wait forever. mann::mpi::run_or_abort turns rank 1's exception into
// MPI_Abort, so the job ends with a non-zero exit code and, on stderr,
// "mann (rank 1 of 2): mann::ShardedIndex::search: queries has 7 rows, keys have 8".
// Run by tests/mpi/expect_abort.cmake (tests/CMakeLists.txt), which checks exactly that.
#include <cstdio>
#include <memory>

#include "mann/core/random.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/sharded_index.hpp"
#include "mann/mpi/communicator.hpp"

int main(int argc, char** argv) {
  mann::mpi::Environment environment(&argc, &argv);
  const mann::mpi::Communicator world;
  if (world.size() < 2) {
    std::fprintf(stderr, "abort_on_bad_input: run with at least 2 ranks\n");
    return 2;
  }
  return mann::mpi::run_or_abort(world, [&] {
    const mann::Index d = 8, n = 64;
    mann::ShardedIndex<float> index(world, n, std::make_unique<mann::ExactIndex<float>>(d));
    mann::Rng rng(1);
    mann::MatrixF key(d, 1);
    for (mann::Index s = 0; s < n; ++s) {
      for (mann::Index i = 0; i < d; ++i) key(i, 0) = static_cast<float>(rng.normal());
      index.set(s, key);
    }
    const mann::MatrixF queries = mann::MatrixF::Ones(world.rank() == 1 ? d - 1 : d, 2);  // rank 1: bad
    mann::KnnResult<float> result;
    index.search(queries, 3, result);
    std::printf("rank %d: the search returned (it should not have)\n", world.rank());
    return 0;
  });
}
