// Tests for mann/train/data_parallel_conv_net.hpp (and ConvNetWithMemory's data-parallel hooks), run
// by mpirun on 1, 2 and 3 ranks (tests/CMakeLists.txt): R ranks of T threads training their columns
// of each batch end with the weights, Adam state and memory (keys, values, ages) of one process with
// R·T threads training on the whole batch (every rank computes that reference itself), dropout on
// and off, in double and in float; the replicas stay equal and a divergence is caught; bad input on
// any one rank throws on every rank (no hang), and the job goes on afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "mann/core/init.hpp"
#include "mann/models/conv_net_memory.hpp"
#include "mann/train/data_parallel_conv_net.hpp"

namespace {

using mann::Index;
using Value = std::int64_t;

constexpr Index kBatch = 7;  // uneven blocks on 2 and 3 ranks, and on 2 ranks x 2 threads
constexpr int kSteps = 6;

mann::ConvNetWithMemoryOptions small_net(double dropout, int threads) {
  mann::ConvNetWithMemoryOptions o;
  o.encoder.channels = 1;
  o.encoder.height = 8;
  o.encoder.width = 8;
  o.encoder.conv1_channels = 2;
  o.encoder.conv2_channels = 3;
  o.encoder.hidden_size = 6;
  o.encoder.embedding_size = 5;
  o.encoder.dropout = dropout;
  o.memory_size = 24;
  o.memory.k = 4;  // the authors' age noise (±8) stays on: the memory's own generator must agree too
  o.learning_rate = 1e-3;
  o.seed = 5;
  o.threads = threads;
  return o;
}

// The batches of the run: step s has images (input × kBatch, every rank makes them all) and labels
// of 3 classes (the memory is cleared before step 3, as at an episode's start).
template <class Scalar>
struct Batches {
  std::vector<mann::Matrix<Scalar>> images;
  std::vector<std::vector<Value>> labels;
  Batches(Index input_size, Index batch, int steps) {
    mann::Rng data(11);
    for (int s = 0; s < steps; ++s) {
      mann::MatrixD x(input_size, batch);
      mann::init_uniform(x, data, 0.0, 1.0);
      images.push_back(x.cast<Scalar>());
      std::vector<Value> l;
      for (Index j = 0; j < batch; ++j) l.push_back(static_cast<Value>((j + s) % 3));
      labels.push_back(l);
    }
  }
};

struct Difference {
  double weights = 0, adam = 0, keys = 0;  // largest |a − b| relative to the largest |b|
  bool memory_values_and_ages_equal = true;
  bool bit_identical = true;
};

template <class Scalar>
double largest_difference(const mann::ParameterList<Scalar>& a, const mann::ParameterList<Scalar>& b, bool& same) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& x = a[i].parameter->value;
    const auto& y = b[i].parameter->value;
    same = same && x == y;
    diff = std::max(diff, static_cast<double>((x - y).cwiseAbs().maxCoeff()));
    scale = std::max(scale, static_cast<double>(y.cwiseAbs().maxCoeff()));
  }
  return diff / std::max(scale, 1e-300);
}

template <class Scalar>
Difference compare(mann::ConvNetWithMemory<Scalar>& a, mann::ConvNetWithMemory<Scalar>& b) {
  Difference d;
  d.weights = largest_difference(a.parameters(), b.parameters(), d.bit_identical);
  d.adam = largest_difference(a.optimizer().state(), b.optimizer().state(), d.bit_identical);
  const mann::Matrix<Scalar> ka = a.memory().keys(), kb = b.memory().keys();
  d.bit_identical = d.bit_identical && ka == kb;
  d.keys = static_cast<double>((ka - kb).cwiseAbs().maxCoeff());
  d.memory_values_and_ages_equal = a.memory().values() == b.memory().values() && a.memory().ages() == b.memory().ages();
  d.bit_identical = d.bit_identical && d.memory_values_and_ages_equal;
  return d;
}

// Prints how far apart the states ended (rank 0), for the record of the measured differences.
void report(const char* what, const Difference& d) {
  const mann::mpi::Communicator world;
  if (!world.is_root()) return;
  std::printf("[ measured ] %s, %d ranks: weights %.3g, Adam state %.3g, memory keys %.3g (relative); values and ages "
              "%s; bit-identical: %s\n", what, world.size(), d.weights, d.adam, d.keys,
              d.memory_values_and_ages_equal ? "equal" : "DIFFER", d.bit_identical ? "yes" : "no");
}

// kSteps steps of the distributed trainer (T threads per rank) and of one process with R·T threads
// (or `reference_threads`) on the same batches; checks the per-step results agree, returns how far
// the end states are apart.
template <class Scalar>
Difference train_both(double dropout, int threads, int reference_threads = 0) {
  const mann::mpi::Communicator world;
  mann::ConvNetWithMemory<Scalar> distributed(small_net(dropout, threads));
  mann::ConvNetWithMemory<Scalar> alone(
      small_net(dropout, reference_threads > 0 ? reference_threads : world.size() * threads));
  mann::DataParallelConvNetTrainer<Scalar> trainer(distributed, world, /*check_every=*/1);
  const Batches<Scalar> batches(distributed.encoder().input_size(), kBatch, kSteps);
  const auto [begin, count] = trainer.share(kBatch);
  for (int s = 0; s < kSteps; ++s) {
    if (s == 3) {
      distributed.clear_memory();
      alone.clear_memory();
    }
    const auto& images = batches.images[static_cast<std::size_t>(s)];
    const auto& labels = batches.labels[static_cast<std::size_t>(s)];
    const auto r = trainer.train_step(images.middleCols(begin, count), labels);
    const auto e = alone.train_step(images, labels);
    EXPECT_EQ(r.correct, e.correct) << "step " << s;
    EXPECT_NEAR(r.loss, e.loss, 1e-5 * (1 + std::abs(e.loss))) << "step " << s;
    EXPECT_NEAR(r.grad_norm, e.grad_norm, 1e-5 * (1 + e.grad_norm)) << "step " << s;
  }
  EXPECT_GT(distributed.memory().written(), 0);
  mann::ConvNetWithMemory<Scalar> untrained(small_net(dropout, 1));
  EXPECT_GT(compare(distributed, untrained).weights, 1e-4) << "training changed nothing";
  return compare(distributed, alone);
}

// Tolerances: the ranks compute every block exactly as the threads of one process do (same columns,
// same weights, same dropout masks: set_replica); only the sum of the R blocks' gradients is done in
// another order (MPI_Allreduce's). For R <= 2 ranks of one thread that order cannot change a bit
// (a + b = b + a), so the end state must be bit-identical. Otherwise each gradient element differs
// by at most (R − 1) rounding errors of the sum of its terms' magnitudes: 1e-16 relative in double,
// where Adam's step (lr · m̂/(√v̂ + ε), ε = 1e-8 bounding its sensitivity) keeps 6 steps' weights,
// Adam moments and memory keys (unit vectors) within 1e-10; the memory's discrete choices
// (nearest neighbour, oldest slot) must then agree exactly.
TEST(DataParallelConvNet, RanksGiveTheStateOfOneProcessInDouble) {
  const int ranks = mann::mpi::Communicator().size();
  for (const double dropout : {0.3, 0.0}) {
    const Difference d = train_both<double>(dropout, 1);
    report(dropout > 0 ? "double, dropout 0.3" : "double, no dropout", d);
    if (ranks <= 2) {
      EXPECT_TRUE(d.bit_identical) << ranks << " ranks, dropout " << dropout;
    }
    EXPECT_LT(d.weights, 1e-10) << ranks << " ranks, dropout " << dropout;
    EXPECT_LT(d.adam, 1e-10) << ranks << " ranks, dropout " << dropout;
    EXPECT_LT(d.keys, 1e-10) << ranks << " ranks, dropout " << dropout;
    EXPECT_TRUE(d.memory_values_and_ages_equal) << ranks << " ranks, dropout " << dropout;
  }
  // 2 threads per rank: the blocks of one process with 2R threads, summed in pairs first.
  const Difference two = train_both<double>(0.3, 2);
  report("double, dropout 0.3, 2 threads per rank", two);
  EXPECT_LT(two.weights, 1e-10) << ranks << " ranks x 2 threads";
  EXPECT_LT(two.keys, 1e-10) << ranks << " ranks x 2 threads";
  EXPECT_TRUE(two.memory_values_and_ages_equal) << ranks << " ranks x 2 threads";
  // Without dropout, against one process of one thread (the whole batch in one block).
  const Difference one = train_both<double>(0.0, 1, /*reference_threads=*/1);
  report("double, no dropout, against 1 thread", one);
  EXPECT_LT(one.weights, 1e-10) << ranks << " ranks against 1 thread";
  EXPECT_LT(one.keys, 1e-10) << ranks << " ranks against 1 thread";
  EXPECT_TRUE(one.memory_values_and_ages_equal) << ranks << " ranks against 1 thread";
}

// Float, the examples' precision: bit-identical on 1 and 2 ranks of one thread, as in double. Where
// the order of the sum differs (2 threads per rank; 3 ranks, depending on MPI's algorithm) the
// gradient elements differ by float rounding (6e-8 relative to their terms) and Adam's normalised
// step passes that on; the weights moved by up to 2.9e-8 and the memory keys by 1.8e-7 (2 and 3
// ranks x 2 threads, measured), so the bound 1e-5 keeps a factor 50. (It is no worst case: an
// element whose summed gradient were pure rounding noise could move by Adam's learning rate.)
TEST(DataParallelConvNet, RanksGiveTheStateOfOneProcessInFloat) {
  const int ranks = mann::mpi::Communicator().size();
  for (const double dropout : {0.3, 0.0}) {
    const Difference d = train_both<float>(dropout, 1);
    if (ranks <= 2) {
      EXPECT_TRUE(d.bit_identical) << ranks << " ranks, dropout " << dropout;
    }
    EXPECT_LT(d.weights, 1e-5) << ranks << " ranks, dropout " << dropout;
    EXPECT_LT(d.keys, 1e-5) << ranks << " ranks, dropout " << dropout;
    EXPECT_TRUE(d.memory_values_and_ages_equal) << ranks << " ranks, dropout " << dropout;
    report(dropout > 0 ? "float, dropout 0.3" : "float, no dropout", d);
  }
  // 2 threads per rank: the blocks' gradients are summed in pairs first, an order that differs
  // from one process's on 2 ranks and more.
  const Difference two = train_both<float>(0.3, 2);
  report("float, dropout 0.3, 2 threads per rank", two);
  EXPECT_LT(two.weights, 1e-5) << ranks << " ranks x 2 threads";
  EXPECT_LT(two.keys, 1e-5) << ranks << " ranks x 2 threads";
  EXPECT_TRUE(two.memory_values_and_ages_equal) << ranks << " ranks x 2 threads";
}

TEST(DataParallelConvNet, ABatchSmallerThanTheThreadsLeavesRanksWithoutColumns) {
  const mann::mpi::Communicator world;
  mann::ConvNetWithMemory<double> distributed(small_net(0.3, 1)), alone(small_net(0.3, world.size()));
  mann::DataParallelConvNetTrainer<double> trainer(distributed, world, 1);
  const Batches<double> batches(distributed.encoder().input_size(), 2, 3);
  for (int s = 0; s < 3; ++s) {
    const auto [begin, count] = trainer.share(2);
    EXPECT_EQ(count, world.size() == 1 ? 2 : world.rank() < 2 ? 1 : 0);
    trainer.train_step(batches.images[static_cast<std::size_t>(s)].middleCols(begin, count),
                       batches.labels[static_cast<std::size_t>(s)]);
    alone.train_step(batches.images[static_cast<std::size_t>(s)], batches.labels[static_cast<std::size_t>(s)]);
  }
  const Difference d = compare(distributed, alone);
  EXPECT_TRUE(d.bit_identical);  // at most 2 blocks: one addition, whatever the order
}

TEST(DataParallelConvNet, ADivergedReplicaIsCaughtOnEveryRank) {
  const mann::mpi::Communicator world;
  mann::ConvNetWithMemory<float> model(small_net(0.3, 1));
  mann::DataParallelConvNetTrainer<float> trainer(model, world, 0);
  EXPECT_NO_THROW(trainer.check_replicas());
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  if (world.rank() == 1) {  // only the memory differs
    mann::MatrixF image = mann::MatrixF::Constant(model.encoder().input_size(), 1, 0.5f);
    model.write(image, {2});
  }
  EXPECT_THROW(trainer.check_replicas(), mann::ReplicaMismatchError);
  // replicas that start apart are refused at construction, on every rank
  EXPECT_THROW(mann::DataParallelConvNetTrainer<float>(model, world), mann::ReplicaMismatchError);
}

TEST(DataParallelConvNet, BadInputOnOneRankThrowsOnEveryRank) {
  const mann::mpi::Communicator world;
  const int last = world.size() - 1;
  mann::ConvNetWithMemory<float> model(small_net(0.3, 1));
  mann::DataParallelConvNetTrainer<float> trainer(model, world, 1);
  const Batches<float> batches(model.encoder().input_size(), kBatch, 1);
  const auto& images = batches.images[0];
  const auto& labels = batches.labels[0];
  const auto [begin, count] = trainer.share(kBatch);
  const mann::ParameterList<float> before_list = model.parameters();
  const mann::MatrixF before = before_list[0].parameter->value;
  // one column too many on the last rank
  const Index wrong = world.rank() == last ? count + 1 : count;
  const mann::MatrixF wide = images.leftCols(std::min<Index>(kBatch, wrong)).eval();
  if (wide.cols() == wrong) {
    EXPECT_THROW(trainer.train_step(wide, labels), mann::Error);
  }
  // NaN in the last rank's images
  mann::MatrixF nan = images.middleCols(begin, count);
  if (world.rank() == last && nan.size() > 0) nan(0, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(trainer.train_step(nan, labels), mann::ValueError);
  // a negative label, and labels that differ across ranks
  std::vector<Value> negative = labels;
  negative[3] = -1;
  EXPECT_THROW(trainer.train_step(images.middleCols(begin, count), negative), mann::ValueError);
  if (world.size() > 1) {
    std::vector<Value> other = labels;
    if (world.rank() == last) other[0] += 1;
    EXPECT_THROW(trainer.train_step(images.middleCols(begin, count), other), mann::ValueError);
    std::vector<Value> shorter(labels.begin(), labels.end() - (world.rank() == last ? 1 : 0));
    EXPECT_THROW(trainer.train_step(images.middleCols(begin, count), shorter), mann::Error);
  }
  EXPECT_THROW(trainer.train_step(images.leftCols(0), {}), mann::ValueError);  // an empty batch
  // nothing changed, and the next good step works on every rank
  EXPECT_EQ(model.parameters()[0].parameter->value, before);
  EXPECT_EQ(model.memory().written(), 0);
  EXPECT_NO_THROW(trainer.train_step(images.middleCols(begin, count), labels));
  EXPECT_GT(model.memory().written(), 0);
  // options.threads must agree (the blocks depend on it)
  if (world.size() > 1) {
    mann::ConvNetWithMemory<float> odd(small_net(0.3, world.rank() == last ? 2 : 1));
    EXPECT_THROW(mann::DataParallelConvNetTrainer<float>(odd, world), mann::ValueError);
  }
  EXPECT_THROW(mann::DataParallelConvNetTrainer<float>(model, world, -1), mann::ValueError);
}

}  // namespace
