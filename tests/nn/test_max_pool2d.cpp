// Tests for mann/nn/max_pool2d.hpp: hand cases (even and odd sizes), gradient check without ties,
// routing of the gradient, shape errors.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "mann/core/init.hpp"
#include "mann/nn/max_pool2d.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::Index;
using mann::MatrixD;

TEST(MaxPool2d, HandCaseFourByFour) {
  mann::MaxPool2d<double> pool(1, 4, 4);
  MatrixD x(16, 1), y;
  x << 1, 5, 2, 0,  //
      3, 4, 8, 7,   //
      -1, -2, 6, 6.5, //
      -3, -0.5, 9, 1;
  mann::MaxPool2d<double>::Cache cache;
  pool.forward(x, y, cache);
  ASSERT_EQ(y.rows(), 4);
  EXPECT_EQ(y(0, 0), 5);
  EXPECT_EQ(y(1, 0), 8);
  EXPECT_EQ(y(2, 0), -0.5);
  EXPECT_EQ(y(3, 0), 9);
  EXPECT_EQ(cache.argmax(0, 0), 1);
  EXPECT_EQ(cache.argmax(1, 0), 6);
  EXPECT_EQ(cache.argmax(2, 0), 13);
  EXPECT_EQ(cache.argmax(3, 0), 14);
  MatrixD dy(4, 1), dx;
  dy << 1, 2, 3, 4;
  pool.backward(cache, dy, dx);
  MatrixD expected = MatrixD::Zero(16, 1);
  expected(1) = 1;
  expected(6) = 2;
  expected(13) = 3;
  expected(14) = 4;
  EXPECT_EQ(dx, expected);
}

TEST(MaxPool2d, OddSizesDropTheLastRowAndColumn) {
  mann::MaxPool2d<double> pool(2, 3, 5);  // → 1 × 2 per channel
  EXPECT_EQ(pool.output_height(), 1);
  EXPECT_EQ(pool.output_width(), 2);
  MatrixD x(30, 1), y;
  for (Index i = 0; i < 15; ++i) x(i) = static_cast<double>(i);  // channel 0: 0 … 14, row-major
  for (Index i = 0; i < 15; ++i) x(15 + i) = -static_cast<double>(i);  // channel 1: 0 … −14
  mann::MaxPool2d<double>::Cache cache;
  pool.forward(x, y, cache);
  ASSERT_EQ(y.rows(), 4);
  // channel 0: windows {0,1,5,6} and {2,3,7,8}; row 2 (10 … 14) and column 4 are dropped
  EXPECT_EQ(y(0), 6);
  EXPECT_EQ(y(1), 8);
  EXPECT_EQ(y(2), 0);
  EXPECT_EQ(y(3), -2);
  MatrixD dx;
  pool.backward(cache, MatrixD::Ones(4, 1), dx);
  EXPECT_EQ(dx.sum(), 4);
  for (Index r : {4, 9, 10, 11, 12, 13, 14}) EXPECT_EQ(dx(r), 0) << r;  // dropped entries
}

TEST(MaxPool2d, TiesGoToTheFirstInRowMajorOrder) {
  mann::MaxPool2d<double> pool(1, 2, 2);
  MatrixD x = MatrixD::Constant(4, 1, 3.0), y;
  mann::MaxPool2d<double>::Cache cache;
  pool.forward(x, y, cache);
  EXPECT_EQ(cache.argmax(0, 0), 0);
}

TEST(MaxPool2d, GradientsMatchFiniteDifferences) {
  mann::Rng rng(3);
  for (const auto& [c, h, w] : {std::tuple<Index, Index, Index>{2, 5, 6}, {3, 7, 7}}) {
    mann::MaxPool2d<double> pool(c, h, w);
    const Index n = c * h * w, batch = 3;
    // distinct values 0.01 apart, shuffled: no ties, and the FD step cannot change an argmax
    std::vector<Index> order(static_cast<std::size_t>(n * batch));
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(order);
    MatrixD x(n, batch), g(pool.output_size(), batch);
    for (Index k = 0; k < x.size(); ++k) x.data()[k] = 0.01 * static_cast<double>(order[static_cast<std::size_t>(k)]) - 1;
    mann::init_normal(g, rng, 1.0);
    mann::MaxPool2d<double>::Cache cache;
    auto loss = [&] {
      MatrixD y;
      pool.forward(x, y, cache);
      return (y.array() * g.array()).sum();
    };
    loss();
    MatrixD dx = MatrixD::Constant(n, batch, 7.0);  // sentinel: must be overwritten
    pool.backward(cache, g, dx);
    mann::GradCheckResult result;
    mann::grad_check_tensor(loss, x, dx, "x", result);
    EXPECT_LT(result.max_relative_error, 1e-6) << result.worst;
  }
}

TEST(MaxPool2d, RejectsBadShapesAndSizes) {
  mann::MaxPool2d<float> pool(2, 4, 4);
  mann::MatrixF x(33, 1), y;
  mann::MaxPool2d<float>::Cache cache;
  EXPECT_THROW(pool.forward(x, y, cache), mann::ShapeError);
  EXPECT_THROW(mann::MaxPool2d<float>(0, 4, 4), mann::ValueError);
  EXPECT_THROW(mann::MaxPool2d<float>(1, 1, 4), mann::ValueError);
  EXPECT_THROW(mann::MaxPool2d<float>(1, 4, 1), mann::ValueError);
}

}  // namespace
