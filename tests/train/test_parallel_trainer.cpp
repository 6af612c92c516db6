// Tests for mann/train/parallel_trainer.hpp: the 2-thread gradient equals the 1-thread one, and a
// training step allocates nothing after the first (global operator new is counted in this binary).
// Eigen allocates with malloc, not operator new: its EIGEN_RUNTIME_NO_MALLOC hook reports those,
// through an eigen_assert that counts instead of aborting.
#include "replaced_operator_new.hpp"  // first: the global operator new of this binary

#include <atomic>

namespace {
std::atomic<long long> eigen_mallocs{0};
}
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                         \
  do {                                                          \
    if (!(x)) eigen_mallocs.fetch_add(1, std::memory_order_relaxed); \
  } while (false)

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/step_in_parts.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/optim/rmsprop.hpp"

namespace {

using mann_test::allocations;

using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;

Model make_model(mann::Rng& rng, bool persistent = false, bool paper_size = false) {
  mann::MannConfig config;
  config.input_size = paper_size ? 400 : 20;
  config.label_size = 5;
  config.persistent_memory = persistent;
  mann::LruaHead<float>::Options o;  // the paper's: 128 × 40, 4 heads
  if (!paper_size) {
    o.slots = 16;
    o.width = 8;
    o.heads = 2;
  }
  mann::LruaHead<float> head(o);
  mann::Lstm<float> lstm(Model::controller_input_size(config, head), paper_size ? 200 : 24, rng);
  return Model(config, lstm, head, rng);
}

mann::EpisodeBatch<float> random_batch(int T, int B, mann::Rng& rng, int input = 20) {
  mann::EpisodeBatch<float> e;
  e.resize(T, B, input, 5);
  for (int t = 0; t < T; ++t) {
    mann::init_normal(e.inputs[t], rng, 1.0);
    e.targets[t].setZero();
    for (int b = 0; b < B; ++b) {
      e.targets[t](static_cast<mann::Index>(rng.below(5)), b) = 1;
      e.instance[t][static_cast<std::size_t>(b)] = 1 + t / 5;
    }
  }
  return e;
}

// 2 threads (shares 2 + 3), 3 threads (two replicas, each refreshed by all three threads) and 4
// threads on a batch of 3 (one thread idle) give the 1-thread loss and gradient.
TEST(ParallelTrainer, SeveralThreadsGiveTheOneThreadGradient) {
  for (const auto& [threads, episodes] : {std::pair{2, 5}, std::pair{3, 5}, std::pair{4, 3}}) {
    mann::Rng rng(1);
    Model a = make_model(rng);
    Model b = a;
    mann::ParallelTrainer<Model> one(a, 1), several(b, threads);
    // two batches: the second runs on replicas refreshed from the master again
    for (int round = 0; round < 2; ++round) {
      auto batch = random_batch(12, episodes, rng);
      mann::InstanceAccuracy acc_one, acc_several;
      const float loss_one = one.compute_gradients(batch, mann::LabelEncoding::one_hot, &acc_one);
      const float loss_several = several.compute_gradients(batch, mann::LabelEncoding::one_hot, &acc_several);
      EXPECT_NEAR(loss_one, loss_several, 1e-4f * std::abs(loss_one)) << threads << " threads";
      auto pa = a.parameters(), pb = b.parameters();
      for (std::size_t i = 0; i < pa.size(); ++i) {
        const float scale = pa[i].parameter->grad.cwiseAbs().maxCoeff() + 1e-6f;
        EXPECT_LT((pa[i].parameter->grad - pb[i].parameter->grad).cwiseAbs().maxCoeff() / scale, 1e-4f)
            << pa[i].name << ", " << threads << " threads";
      }
      for (int k = 1; k <= 3; ++k) EXPECT_EQ(acc_one.count(k), acc_several.count(k));
      EXPECT_EQ(acc_one.count(1), 5 * episodes);  // 5 steps at instance 1
      // a weight change on the master between batches must reach the replicas
      for (auto& p : pa) p.parameter->value *= 0.9f;
      for (auto& p : pb) p.parameter->value *= 0.9f;
    }
  }
}

// train_step on 2 threads (gradients summed and RMSProp applied by both threads, each on its slice)
// moves the weights as on 1 thread; also with an optimiser that only has step(). The RMSProp's ε is
// made large so that its update is linear in the gradient (RMSProp's usual update is nearly
// scale-free, which would hide a wrongly weighted sum).
TEST(ParallelTrainer, TwoThreadStepsMoveTheWeightsAsOneThread) {
  struct SerialRmsProp {  // step() only: the trainer sums in parallel, then steps on one thread
    mann::RmsProp<float> inner;
    void step() { inner.step(); }
  };
  const mann::RmsProp<float>::Options linear{1.0, 0.95, 0.5, 1e4};
  mann::Rng rng(5);
  Model a = make_model(rng);
  Model b = a, c = a;
  const Model start = a;
  auto batch = random_batch(12, 5, rng);  // uneven shares 2 + 3
  mann::ParallelTrainer<Model> one(a, 1), two(b, 2), two_serial(c, 2);
  mann::RmsProp<float> opt_a(a.parameters(), linear), opt_b(b.parameters(), linear);
  SerialRmsProp opt_c{mann::RmsProp<float>(c.parameters(), linear)};
  for (int s = 0; s < 3; ++s) {
    one.train_step(batch, opt_a, mann::LabelEncoding::one_hot);
    two.train_step(batch, opt_b, mann::LabelEncoding::one_hot);
    two_serial.train_step(batch, opt_c, mann::LabelEncoding::one_hot);
  }
  EXPECT_EQ(opt_b.steps(), 3);
  Model start_copy = start;
  auto p0 = start_copy.parameters(), pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const mann::MatrixF moved_a = pa[i].parameter->value - p0[i].parameter->value;
    const mann::MatrixF moved_b = pb[i].parameter->value - p0[i].parameter->value;
    const float scale = moved_a.cwiseAbs().maxCoeff();
    EXPECT_GT(scale, 0.0f) << pa[i].name;
    EXPECT_LT((moved_a - moved_b).cwiseAbs().maxCoeff(), 1e-3f * scale) << pa[i].name;
    EXPECT_EQ(pb[i].parameter->value, pc[i].parameter->value) << pa[i].name;
  }
}

// The examples' step when they log the gradient norm: compute_gradients, the norm, then the
// optimiser stepped in parts by the pool. It must move the weights exactly as train_step does
// (same sums, same element-wise update), so logging the norm cannot change a run.
TEST(ParallelTrainer, ComputeThenStepInPartsIsTrainStepBitForBit) {
  mann::Rng rng(6);
  Model a = make_model(rng);
  Model b = a;
  mann::ParallelTrainer<Model> fused(a, 2), split(b, 2);
  mann::RmsProp<float> opt_a(a.parameters()), opt_b(b.parameters());
  for (int s = 0; s < 3; ++s) {
    auto batch = random_batch(12, 5, rng);
    const float loss_a = fused.train_step(batch, opt_a, mann::LabelEncoding::one_hot);
    const float loss_b = split.compute_gradients(batch, mann::LabelEncoding::one_hot);
    EXPECT_GT(mann::global_grad_norm(b.parameters()), 0.0);
    mann::step_in_parts(opt_b, split.pool(), split.threads());
    EXPECT_EQ(loss_a, loss_b);
  }
  EXPECT_EQ(opt_b.steps(), 3);
  auto pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].parameter->value, pb[i].parameter->value) << pa[i].name;
}

TEST(ParallelTrainer, AllocationCountersWork) {
  const long long before = allocations.load(), eigen_before = eigen_mallocs.load();
  Eigen::internal::set_is_malloc_allowed(false);
  { mann::MatrixF m(100, 100); m.setZero(); }
  Eigen::internal::set_is_malloc_allowed(true);
  auto* p = new std::vector<int>(3);
  delete p;
  EXPECT_GE(allocations.load() - before, 1);
  EXPECT_EQ(eigen_mallocs.load() - eigen_before, 1);
}

TEST(ParallelTrainer, StepAllocatesNothingAfterTheFirst) {
  for (bool paper_size : {false, true}) {
  for (bool persistent : {false, true}) {
    for (int threads : {1, 2}) {
      mann::Rng rng(2);
      Model model = make_model(rng, persistent, paper_size);
      auto batch = paper_size ? random_batch(4, 16, rng, 400) : random_batch(10, 4, rng);
      mann::ParallelTrainer<Model> trainer(model, threads);
      mann::RmsProp<float> optimizer(model.parameters());
      mann::InstanceAccuracy accuracy;
      trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot, &accuracy);
      trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot, &accuracy);
      const long long before = allocations.load(), eigen_before = eigen_mallocs.load();
      Eigen::internal::set_is_malloc_allowed(false);
      for (int i = 0; i < 3; ++i) trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot, &accuracy);
      Eigen::internal::set_is_malloc_allowed(true);
      EXPECT_EQ(allocations.load() - before, 0) << "operator new; threads " << threads << " persistent " << persistent;
      EXPECT_EQ(eigen_mallocs.load() - eigen_before, 0) << "Eigen malloc; threads " << threads << " persistent " << persistent;
    }
  }
  }
}

TEST(ParallelTrainer, PersistentMemoryCarriesStateAcrossBatches) {
  mann::Rng rng(3);
  Model wiped = make_model(rng, false);
  Model kept = wiped;
  kept = Model(wiped);
  mann::MannConfig config = wiped.config();
  auto batch = random_batch(6, 2, rng);
  Model::Workspace ws_wiped, ws_kept;
  mann::Rng rng2(3);
  Model persistent = make_model(rng2, true);
  const float first = persistent.forward(batch, ws_kept);
  persistent.carry_memory(ws_kept);
  const float second = persistent.forward(batch, ws_kept);
  const float wiped_first = wiped.forward(batch, ws_wiped);
  wiped.carry_memory(ws_wiped);
  EXPECT_EQ(first, wiped_first);            // same weights, both start wiped
  EXPECT_NE(first, second);                 // the second batch sees the first's memory
  EXPECT_EQ(wiped.forward(batch, ws_wiped), wiped_first);  // wiped: same again
  (void)config;
}

}  // namespace

namespace {

// Bad batches get a clear error at the trainer's and the model's entry, never a read out of bounds
// (the shares are cut by `instance`) or a 0/0 loss.
TEST(ParallelTrainer, BadBatchesAreClearErrors) {
  mann::Rng rng(5);
  Model model = make_model(rng);
  mann::ParallelTrainer<Model> trainer(model, 2);
  mann::RmsProp<float> optimizer(model.parameters());
  mann::InstanceAccuracy accuracy;
  auto expect_error = [&](const mann::EpisodeBatch<float>& batch, const std::string& part) {
    try {
      trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot, &accuracy);
      ADD_FAILURE() << "no error for a batch that should give one naming " << part;
    } catch (const mann::Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  mann::EpisodeBatch<float> short_instance = random_batch(6, 4, rng);
  short_instance.instance[3].resize(2);
  expect_error(short_instance, "instance[3] has 2 entries, expected 4");
  mann::EpisodeBatch<float> missing_steps = random_batch(6, 4, rng);
  missing_steps.instance.resize(5);
  expect_error(missing_steps, "instance.size()");
  mann::EpisodeBatch<float> negative = random_batch(6, 4, rng);
  negative.instance[0][1] = -1;
  expect_error(negative, "instance[0] holds -1");
  mann::EpisodeBatch<float> empty = random_batch(6, 0, rng);
  expect_error(empty, "episodes in the batch");
  // The model's own entry point says the same for zero episodes (no NaN loss from 0 / 0).
  Model::Workspace workspace;
  EXPECT_THROW(model.forward(empty, workspace), mann::ValueError);
  // A good batch still trains.
  const mann::EpisodeBatch<float> good = random_batch(6, 4, rng);
  EXPECT_TRUE(std::isfinite(trainer.train_step(good, optimizer, mann::LabelEncoding::one_hot, &accuracy)));
}

}  // namespace
