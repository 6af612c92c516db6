// The ConvNet's forward + backward, and a whole ConvNetWithMemory training step, allocate nothing
// after warm-up at a fixed batch size: operator new is counted by replacing it in this test binary,
// and Eigen's own heap use (std::malloc, which operator new does not see) by Eigen's runtime check
// EIGEN_RUNTIME_NO_MALLOC, its assertion redirected to a counter so it also works under NDEBUG.
#include <atomic>
inline std::atomic<long> g_eigen_assertions{0};
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                      \
  do {                                                                       \
    if (!(x)) g_eigen_assertions.fetch_add(1, std::memory_order_relaxed);   \
  } while (false)
#include "replaced_operator_new.hpp"  // the global operator new of this binary

#include <gtest/gtest.h>

#include "mann/core/init.hpp"
#include "mann/models/conv_net.hpp"
#include "mann/models/conv_net_memory.hpp"

namespace {

using mann_test::allocations;

// Allocations (operator new + Eigen heap) made by f().
template <class F>
long allocations_during(F&& f) {
  const long before = allocations.load() + g_eigen_assertions.load();
  Eigen::internal::set_is_malloc_allowed(false);
  f();
  Eigen::internal::set_is_malloc_allowed(true);
  return allocations.load() + g_eigen_assertions.load() - before;
}

mann::ConvNetEncoderOptions encoder_options() {
  mann::ConvNetEncoderOptions o;
  o.height = 12;
  o.width = 12;
  o.conv1_channels = 8;
  o.conv2_channels = 16;
  o.hidden_size = 32;
  o.embedding_size = 16;
  return o;
}

TEST(ConvNetAllocations, EncoderForwardBackwardAllocatesNothingAfterWarmUp) {
  mann::Rng rng(1);
  mann::ConvNetEncoder<float> encoder(encoder_options(), rng);
  mann::MatrixF images(encoder.input_size(), 6), d_embedding(encoder.embedding_size(), 6);
  mann::init_uniform(images, rng, 0.0, 1.0);
  mann::init_normal(d_embedding, rng, 1.0);
  mann::ConvNetEncoder<float>::Cache cache;
  auto steps = [&] {
    for (int step = 0; step < 3; ++step) {
      encoder.forward(images, cache, true, rng);
      encoder.backward(cache, d_embedding);
    }
  };
  EXPECT_GT(allocations_during(steps), 0);  // the counter sees the first step's buffers
  EXPECT_EQ(allocations_during(steps), 0);
}

class ConvNetAllocationsThreads : public ::testing::TestWithParam<int> {};

TEST_P(ConvNetAllocationsThreads, TrainStepAllocatesNothingOnceItsLabelsAreKnown) {
  mann::ConvNetWithMemoryOptions o;
  o.encoder = encoder_options();
  o.memory_size = 64;
  o.memory.k = 8;
  o.threads = GetParam();  // 2: the batch split over the pool, the encoder copies kept in step
  mann::ConvNetWithMemory<float> net(o);
  mann::Rng rng(2);
  mann::MatrixF images(net.encoder().input_size(), 5);
  mann::init_uniform(images, rng, 0.0, 1.0);
  const std::vector<std::int64_t> labels{0, 1, 2, 3, 4};
  for (int step = 0; step < 3; ++step) net.train_step(images, labels);  // warm-up: labels enter the memory
  net.predict(images);  // and predict()'s cache (its own with threads > 1) is sized
  EXPECT_EQ(allocations_during([&] {
              for (int step = 0; step < 5; ++step) net.train_step(images, labels);
              net.predict(images);
            }),
            0);
}

INSTANTIATE_TEST_SUITE_P(Threads, ConvNetAllocationsThreads, ::testing::Values(1, 2));

}  // namespace
