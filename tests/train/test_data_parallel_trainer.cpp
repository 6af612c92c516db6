// Tests for mann/train/data_parallel_trainer.hpp, run by mpirun on 1, 2 and 3 ranks
// (tests/CMakeLists.txt): R ranks training their shares of a global batch end with the weights of
// one process training on the whole batch (every rank computes that reference itself); the
// replicas stay equal and a divergence is caught; bad input throws on every rank; a checkpoint
// written by one rank resumes on another number of ranks.
#include <gtest/gtest.h>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "mann/data/episodes.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/rmsprop.hpp"
#include "mann/train/data_parallel_trainer.hpp"
#include "support/overflowing_model.hpp"

namespace {

template <class Scalar>
using Model = mann::Mann<Scalar, mann::Lstm<Scalar>, mann::LruaHead<Scalar>>;

constexpr int kGlobalBatch = 7;  // uneven shares on 2 and 3 ranks

template <class Scalar>
Model<Scalar> make_model(std::uint64_t seed) {
  mann::Rng rng(seed);
  mann::MannConfig config;
  config.input_size = 24;
  config.label_size = 5;
  typename mann::LruaHead<Scalar>::Options o;  // the examples' read (β 10, ε 1e-2), small memory
  o.slots = 16;
  o.width = 8;
  o.heads = 2;
  mann::LruaHead<Scalar> head(o);
  return Model<Scalar>(config, mann::Lstm<Scalar>(Model<Scalar>::controller_input_size(config, head), 32, rng), head,
                       rng);
}

template <class Scalar>
mann::SyntheticEpisodes<Scalar> episodes() {
  mann::SyntheticEpisodeOptions o;
  o.classes = 5;
  o.dimension = 24;
  return mann::SyntheticEpisodes<Scalar>(o, 11);
}

// Largest |a − b| over every weight, relative to the largest |b|.
template <class Scalar>
double weight_difference(const mann::ParameterList<Scalar>& a, const mann::ParameterList<Scalar>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>((a[i].parameter->value - b[i].parameter->value).cwiseAbs().maxCoeff()));
    scale = std::max(scale, static_cast<double>(b[i].parameter->value.cwiseAbs().maxCoeff()));
  }
  return diff / scale;
}

// `steps` steps from episode `first` on: every rank trains its share with a DataParallelTrainer.
template <class Scalar>
void train_distributed(Model<Scalar>& model, mann::RmsProp<Scalar>& optimizer, const mann::mpi::Communicator& comm,
                       int steps, std::uint64_t first, int threads = 1) {
  mann::DataParallelTrainer<Model<Scalar>> trainer(model, threads, comm, /*check_every=*/1);
  auto generator = episodes<Scalar>();
  mann::EpisodeBatch<Scalar> local;
  const auto [begin, count] = trainer.share(kGlobalBatch);
  for (int s = 0; s < steps; ++s) {
    generator.generate(local, count, first + static_cast<std::uint64_t>(s * kGlobalBatch + begin));
    mann::InstanceAccuracy accuracy;
    trainer.train_step(local, kGlobalBatch, optimizer, mann::LabelEncoding::one_hot, &accuracy);
    // every rank holds the global batch's counts: T × B predictions in all
    double total = 0;
    for (int k = 1; k <= accuracy.max_instance(); ++k) total += accuracy.count(k);
    EXPECT_LE(total, 10.0 * 5 * kGlobalBatch);
    EXPECT_GT(total, 0.0);
  }
}

// The reference: one process, one thread, the whole batch.
template <class Scalar>
void train_alone(Model<Scalar>& model, mann::RmsProp<Scalar>& optimizer, int steps, std::uint64_t first) {
  mann::ParallelTrainer<Model<Scalar>> trainer(model, 1);
  auto generator = episodes<Scalar>();
  mann::EpisodeBatch<Scalar> batch;
  for (int s = 0; s < steps; ++s) {
    generator.generate(batch, kGlobalBatch, first + static_cast<std::uint64_t>(s * kGlobalBatch));
    trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot);
  }
}

template <class Scalar>
typename mann::RmsProp<Scalar>::Options rmsprop_options() {
  typename mann::RmsProp<Scalar>::Options o;
  o.learning_rate = 1e-3;
  return o;
}

// The tolerance the summation order allows. Double: the shares' sums differ from one process's in
// the last bits (1e-16 relative); 6 RMSProp steps keep that far below 1e-10. Float (the examples'
// precision): a gradient element near 0 may differ in its leading digits, and RMSProp's step
// g/√(E[g²]) passes that on at up to the learning rate per step: 1e-5 of the weights' scale is
// ten times the largest difference measured on 2 and 3 ranks.
TEST(DataParallelTrainer, RanksGiveTheWeightsOfOneProcessOnTheGlobalBatch) {
  const mann::mpi::Communicator world;
  {
    Model<double> distributed = make_model<double>(3), alone = make_model<double>(3);
    auto pd = distributed.parameters(), pa = alone.parameters();
    mann::RmsProp<double> od(pd, rmsprop_options<double>()), oa(pa, rmsprop_options<double>());
    train_distributed(distributed, od, world, 6, 0);
    train_alone(alone, oa, 6, 0);
    EXPECT_LT(weight_difference(pd, pa), 1e-10) << world.size() << " ranks, double";
    EXPECT_GT(weight_difference(pd, make_model<double>(3).parameters()), 1e-4) << "training changed nothing";
  }
  {
    // Float, the examples' precision: the summed gradient of the global batch, per tensor. (Weights
    // after several RMSProp steps are no test in float: an element whose gradient is rounding noise
    // moves by up to the learning rate whatever the noise is (g/√E[g²]), and one process with 4
    // threads already ends 6 steps 1.6e-2 away from one thread, measured.) Tolerance 1e-4: float's
    // own error against float64 at the examples' read is up to 7.4e-5 (test_mann_precision); the
    // order of the sums moved the worst tensor by 1.8e-5 here on 2 and 3 ranks.
    Model<float> distributed = make_model<float>(3), alone = make_model<float>(3);
    mann::DataParallelTrainer<Model<float>> trainer(distributed, 2, world);
    mann::ParallelTrainer<Model<float>> reference(alone, 1);
    auto generator = episodes<float>();
    mann::EpisodeBatch<float> local, batch;
    const auto [begin, count] = trainer.share(kGlobalBatch);
    generator.generate(local, count, 50 + static_cast<std::uint64_t>(begin));
    generator.generate(batch, kGlobalBatch, 50);
    const float loss = trainer.compute_gradients(local, kGlobalBatch, mann::LabelEncoding::one_hot);
    const float expected = reference.compute_gradients(batch, mann::LabelEncoding::one_hot);
    EXPECT_NEAR(loss, expected, 1e-6f * std::abs(expected));
    auto pd = distributed.parameters(), pa = alone.parameters();
    for (std::size_t i = 0; i < pd.size(); ++i) {
      const double error = (pd[i].parameter->grad - pa[i].parameter->grad).norm() / pa[i].parameter->grad.norm();
      EXPECT_LT(error, 1e-4) << world.size() << " ranks, float, 2 threads each: " << pd[i].name;
    }
  }
}

// train_step's grad_norm is the norm of the global batch's gradient before clipping (the same on
// every rank), and asking for it changes nothing.
TEST(DataParallelTrainer, ReportsTheGlobalGradientNormAndAskingChangesNothing) {
  const mann::mpi::Communicator world;
  Model<double> plain = make_model<double>(4), asked = make_model<double>(4), clipped = make_model<double>(4);
  Model<double> alone = make_model<double>(4);
  auto generator = episodes<double>();
  mann::EpisodeBatch<double> local, batch;
  generator.generate(batch, kGlobalBatch, 100);
  mann::ParallelTrainer<Model<double>>(alone, 1).compute_gradients(batch, mann::LabelEncoding::one_hot);
  const double expected = mann::global_grad_norm(alone.parameters());
  double norms[2] = {-1, -1};
  Model<double>* models[3] = {&plain, &asked, &clipped};
  for (int m = 0; m < 3; ++m) {
    mann::RmsProp<double> optimizer(models[m]->parameters(), rmsprop_options<double>());
    mann::DataParallelTrainer<Model<double>> trainer(*models[m], 1, world);
    const auto [begin, count] = trainer.share(kGlobalBatch);
    generator.generate(local, count, 100 + static_cast<std::uint64_t>(begin));
    const double clip = m == 2 ? expected / 2 : 0.0;
    trainer.train_step(local, kGlobalBatch, optimizer, mann::LabelEncoding::one_hot, nullptr, clip,
                       m == 0 ? nullptr : &norms[m - 1]);
  }
  EXPECT_NEAR(norms[0], expected, 1e-10 * expected) << world.size() << " ranks";
  EXPECT_NEAR(norms[1], expected, 1e-10 * expected) << world.size() << " ranks, clipped to half of it";
  EXPECT_EQ(weight_difference(asked.parameters(), plain.parameters()), 0.0);
}

// With skip_nonfinite, an overflow in one rank's share skips the step on every rank (the sum is
// Inf everywhere): weights and optimiser unchanged, the norm reported as Inf; the next finite step
// goes on. Without it, clipping refuses the Inf.
TEST(DataParallelTrainer, AnOverflowedGradientSkipsTheStepOnEveryRank) {
  const mann::mpi::Communicator world;
  mann_test::OverflowingModel model;
  model.w.value << 1, 2, 3;
  model.overflow = world.rank() == 0;  // only the first rank's share overflows
  mann::DataParallelTrainer<mann_test::OverflowingModel> trainer(model, 1, world);
  mann::RmsProp<double> optimizer(model.parameters(), rmsprop_options<double>());
  auto generator = episodes<double>();
  mann::EpisodeBatch<double> local;
  const auto [begin, count] = trainer.share(kGlobalBatch);
  generator.generate(local, count, static_cast<std::uint64_t>(begin));
  double norm = 0;
  trainer.train_step(local, kGlobalBatch, optimizer, mann::LabelEncoding::one_hot, nullptr, 5.0, &norm, true);
  EXPECT_TRUE(std::isinf(norm)) << "rank " << world.rank();
  EXPECT_EQ(model.w.value, (mann::MatrixD(3, 1) << 1, 2, 3).finished()) << "rank " << world.rank();
  EXPECT_EQ(optimizer.steps(), 0);
  EXPECT_THROW(trainer.train_step(local, kGlobalBatch, optimizer, mann::LabelEncoding::one_hot, nullptr, 5.0), mann::ValueError);
  model.w.value << 1, 2, 3;
  model.overflow = false;
  trainer.train_step(local, kGlobalBatch, optimizer, mann::LabelEncoding::one_hot, nullptr, 5.0, &norm, true);
  EXPECT_NEAR(norm, std::sqrt(3.0), 1e-12);
  EXPECT_EQ(optimizer.steps(), 1);
  EXPECT_LT(model.w.value(0), 1.0);
}

TEST(DataParallelTrainer, EvaluateSumsTheCountsOfAllShares) {
  const mann::mpi::Communicator world;
  Model<double> model = make_model<double>(5), alone = make_model<double>(5);
  mann::DataParallelTrainer<Model<double>> trainer(model, 1, world);
  mann::ParallelTrainer<Model<double>> reference(alone, 1);
  auto generator = episodes<double>();
  mann::EpisodeBatch<double> local, batch;
  const auto [begin, count] = trainer.share(kGlobalBatch);
  generator.generate(local, count, 100 + static_cast<std::uint64_t>(begin));
  generator.generate(batch, kGlobalBatch, 100);
  mann::InstanceAccuracy a, b;
  const double loss = trainer.evaluate(local, kGlobalBatch, mann::LabelEncoding::one_hot, &a);
  const double expected = reference.evaluate(batch, mann::LabelEncoding::one_hot, &b);
  EXPECT_NEAR(loss, expected, 1e-12 * std::abs(expected));
  for (int k = 1; k <= 10; ++k) {
    EXPECT_EQ(a.count(k), b.count(k)) << "instance " << k;
    EXPECT_EQ(a.correct_count(k), b.correct_count(k)) << "instance " << k;
  }
}

TEST(DataParallelTrainer, ADivergedReplicaIsCaughtOnEveryRank) {
  const mann::mpi::Communicator world;
  Model<float> model = make_model<float>(7);
  mann::DataParallelTrainer<Model<float>> trainer(model, 1, world);
  EXPECT_NO_THROW(trainer.check_replicas());
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  if (world.rank() == 1) model.parameters()[0].parameter->value(0) += 1e-6f;
  EXPECT_THROW(trainer.check_replicas(), mann::ReplicaMismatchError);
}

TEST(DataParallelTrainer, BadInputThrowsOnEveryRank) {
  const mann::mpi::Communicator world;
  Model<float> model = make_model<float>(7);
  auto parameters = model.parameters();
  mann::RmsProp<float> optimizer(parameters, rmsprop_options<float>());
  mann::DataParallelTrainer<Model<float>> trainer(model, 1, world);
  EXPECT_THROW(trainer.share(world.size() - 1), mann::ValueError);  // a rank without an episode
  auto generator = episodes<float>();
  mann::EpisodeBatch<float> local;
  generator.generate(local, trainer.share(kGlobalBatch).second + 1, 0);  // one episode too many
  EXPECT_THROW(trainer.train_step(local, kGlobalBatch, optimizer, mann::LabelEncoding::one_hot), mann::ValueError);
  EXPECT_THROW(mann::DataParallelTrainer<Model<float>>(model, 1, world, -1), mann::ValueError);
}

// Train 3 steps on `first` ranks, checkpoint (rank 0 writes, atomically), resume on `second` ranks
// for 3 more: the weights of 6 steps in one process. The sub-communicators are MPI_Comm_split's.
TEST(DataParallelTrainer, CheckpointResumesOnAnotherNumberOfRanks) {
  const mann::mpi::Communicator world;
  const std::string path = "/tmp/mann_dp_resume_" + std::to_string(getppid()) + ".safetensors";
  Model<double> alone = make_model<double>(9);
  auto pa = alone.parameters();
  mann::RmsProp<double> oa(pa, rmsprop_options<double>());
  train_alone(alone, oa, 6, 1000);
  const int sizes[][2] = {{world.size(), 1}, {1, world.size()}};
  for (const auto& [first, second] : sizes) {
    for (int phase = 0; phase < 2; ++phase) {
      const int members = phase == 0 ? first : second;
      MPI_Comm sub = MPI_COMM_NULL;
      MPI_Comm_split(MPI_COMM_WORLD, world.rank() < members ? 0 : MPI_UNDEFINED, world.rank(), &sub);
      if (sub != MPI_COMM_NULL) {
        const mann::mpi::Communicator comm(sub);
        Model<double> model = make_model<double>(9);
        auto parameters = model.parameters();
        mann::RmsProp<double> optimizer(parameters, rmsprop_options<double>());
        auto tensors = parameters;
        for (const auto& t : optimizer.state()) tensors.push_back(t);
        if (phase == 1) mann::load_checkpoint(path, tensors);
        train_distributed(model, optimizer, comm, 3, 1000 + static_cast<std::uint64_t>(3 * kGlobalBatch * phase));
        if (phase == 0 && comm.is_root()) mann::save_checkpoint(path, tensors, {});
        if (phase == 1) {
          EXPECT_LT(weight_difference(parameters, pa), 1e-10) << first << " ranks, then " << second;
        }
        MPI_Comm_free(&sub);
      }
      world.barrier();  // the checkpoint is written before anyone reads it
    }
  }
  if (world.is_root()) std::remove(path.c_str());
}

}  // namespace
