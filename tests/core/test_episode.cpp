// Tests for mann/core/episode.hpp: EpisodeBatch::validate names what is wrong (steps, episodes,
// targets, instance counts, NaN), and InstanceAccuracy counts by instance and rejects mismatched
// shapes instead of reading out of bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "mann/core/episode.hpp"

namespace {

mann::EpisodeBatch<float> tiny_batch() {
  mann::EpisodeBatch<float> batch;
  batch.resize(3, 2, 4, 5);
  for (int t = 0; t < 3; ++t) {
    batch.inputs[t].setOnes();
    batch.targets[t].setZero();
    batch.targets[t](t, 0) = 1;
    batch.targets[t](4 - t, 1) = 1;
    batch.instance[t] = {1, t + 1};
  }
  return batch;
}

std::string error_of(const mann::EpisodeBatch<float>& batch) {
  try {
    batch.validate("test");
  } catch (const mann::Error& e) {
    return e.what();
  }
  return "";
}

TEST(EpisodeBatch, ValidateNamesWhatIsWrong) {
  EXPECT_EQ(error_of(tiny_batch()), "");
  mann::EpisodeBatch<float> batch = tiny_batch();
  batch.instance[1].pop_back();
  EXPECT_NE(error_of(batch).find("instance[1] has 1 entries, expected 2"), std::string::npos) << error_of(batch);
  batch = tiny_batch();
  batch.instance.pop_back();
  EXPECT_NE(error_of(batch).find("instance.size()"), std::string::npos) << error_of(batch);
  batch = tiny_batch();
  batch.instance[2][0] = -3;
  EXPECT_NE(error_of(batch).find("instance[2] holds -3"), std::string::npos) << error_of(batch);
  batch = tiny_batch();
  batch.targets[1].resize(5, 3);
  EXPECT_NE(error_of(batch).find("targets[t]"), std::string::npos) << error_of(batch);
  batch = tiny_batch();
  batch.inputs[2](0, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(error_of(batch).find("inputs[t]"), std::string::npos) << error_of(batch);
  EXPECT_NO_THROW(batch.validate_shape("test"));  // shapes only
  mann::EpisodeBatch<float> none;
  none.resize(3, 0, 4, 5);
  EXPECT_NE(error_of(none).find("episodes in the batch"), std::string::npos) << error_of(none);
  mann::EpisodeBatch<float> no_steps;
  EXPECT_NE(error_of(no_steps).find("episode length"), std::string::npos) << error_of(no_steps);
}

TEST(InstanceAccuracy, CountsByInstanceAndRejectsMismatchedShapes) {
  const mann::EpisodeBatch<float> batch = tiny_batch();
  mann::InstanceAccuracy accuracy(2);
  for (int t = 0; t < 3; ++t) accuracy.add_step(batch.targets[t], batch.targets[t], batch.instance[t], mann::LabelEncoding::one_hot);
  EXPECT_EQ(accuracy.count(1), 4);  // column 0 every step (instance 1), column 1 at t = 0
  EXPECT_EQ(accuracy.count(2), 1);  // instance 3 is beyond max_instance 2: ignored
  EXPECT_EQ(accuracy.accuracy(1), 1.0);
  EXPECT_TRUE(std::isnan(mann::InstanceAccuracy().accuracy(4)));
  const std::vector<int> short_instance{1};
  EXPECT_THROW(accuracy.add_step(batch.targets[0], batch.targets[0], short_instance, mann::LabelEncoding::one_hot),
               mann::ShapeError);
  const mann::MatrixF narrow = batch.targets[0].leftCols(1);
  EXPECT_THROW(accuracy.add_step(batch.targets[0], narrow, batch.instance[0], mann::LabelEncoding::one_hot),
               mann::ShapeError);
}

}  // namespace
