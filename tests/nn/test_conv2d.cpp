// Tests for mann/nn/conv2d.hpp: hand case, a direct nested-loop convolution, gradient check,
// the overwrite/accumulate rule, float vs double, shape errors.
#include <gtest/gtest.h>

#include "mann/nn/conv2d.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::Index;
using mann::MatrixD;

// Direct definition: y[o, y, x] = b[o] + Σ_{c, dy, dx} W[o, c·9 + (dy+1)·3 + dx+1] in[c, y+dy, x+dx].
MatrixD direct_convolution(const MatrixD& weight, const MatrixD& bias, const MatrixD& x, Index in, Index out,
                           Index h, Index w) {
  MatrixD y(out * h * w, x.cols());
  for (Index b = 0; b < x.cols(); ++b)
    for (Index o = 0; o < out; ++o)
      for (Index r = 0; r < h; ++r)
        for (Index s = 0; s < w; ++s) {
          double sum = bias(o, 0);
          for (Index c = 0; c < in; ++c)
            for (Index dy = -1; dy <= 1; ++dy)
              for (Index dx = -1; dx <= 1; ++dx) {
                const Index rr = r + dy, ss = s + dx;
                if (rr < 0 || rr >= h || ss < 0 || ss >= w) continue;
                sum += weight(o, c * 9 + (dy + 1) * 3 + (dx + 1)) * x(c * h * w + rr * w + ss, b);
              }
          y(o * h * w + r * w + s, b) = sum;
        }
  return y;
}

TEST(Conv2d, HandCaseThreeByThree) {
  mann::Rng rng(1);
  mann::Conv2d<double> conv(1, 2, 3, 3, rng);
  conv.weight.value.setZero();
  conv.weight.value.row(0).setOnes();  // channel 0: sum of the 3 × 3 neighbourhood
  conv.weight.value(1, 1 * 3 + 2) = 1;  // channel 1: the right neighbour (dy = 0, dx = +1)
  conv.bias.value << 0, 0.5;
  MatrixD x(9, 1);
  x << 1, 2, 3, 4, 5, 6, 7, 8, 9;
  MatrixD y;
  mann::Conv2d<double>::Workspace ws;
  conv.forward(x, y, ws);
  MatrixD expected(18, 1);
  expected << 12, 21, 16, 27, 45, 33, 24, 39, 28,  // neighbourhood sums with zero padding
      2.5, 3.5, 0.5, 5.5, 6.5, 0.5, 8.5, 9.5, 0.5;  // shifted left, zero at the right edge, + 0.5
  EXPECT_TRUE(y.isApprox(expected)) << y.transpose();
}

TEST(Conv2d, ForwardMatchesDirectConvolution) {
  mann::Rng rng(2);
  for (const auto& [in, out, h, w] : {std::tuple<Index, Index, Index, Index>{2, 3, 5, 6}, {3, 2, 7, 7},
                                      {1, 4, 1, 3}, {3, 3, 4, 1}}) {
    mann::Conv2d<double> conv(in, out, h, w, rng);
    mann::init_normal(conv.bias.value, rng, 0.5);
    MatrixD x(in * h * w, 3), y;
    mann::init_normal(x, rng, 1.0);
    mann::Conv2d<double>::Workspace ws;
    conv.forward(x, y, ws);
    const MatrixD expected = direct_convolution(conv.weight.value, conv.bias.value, x, in, out, h, w);
    EXPECT_LT((y - expected).cwiseAbs().maxCoeff(), 1e-12) << in << " " << out << " " << h << "x" << w;
  }
}

TEST(Conv2d, GradientsMatchFiniteDifferences) {
  mann::Rng rng(3);
  for (const auto& [in, out, h, w] : {std::tuple<Index, Index, Index, Index>{2, 3, 5, 6}, {3, 2, 7, 7}}) {
    mann::Conv2d<double> conv(in, out, h, w, rng);
    mann::init_normal(conv.bias.value, rng, 0.5);
    MatrixD x(in * h * w, 3), g(out * h * w, 3);
    mann::init_normal(x, rng, 1.0);
    mann::init_normal(g, rng, 1.0);
    mann::Conv2d<double>::Workspace ws;
    auto loss = [&] {
      MatrixD y;
      conv.forward(x, y, ws);
      return (y.array() * g.array()).sum();
    };
    MatrixD dx;
    auto backward = [&] {
      conv.weight.zero_grad();
      conv.bias.zero_grad();
      conv.backward(x, g, &dx, ws);
    };
    mann::ParameterList<double> params;
    conv.parameters(params, "conv");
    const auto result = mann::grad_check_parameters(loss, backward, params);
    EXPECT_LT(result.max_relative_error, 1e-6) << result.worst;
    mann::GradCheckResult input_result;
    mann::grad_check_tensor(loss, x, dx, "x", input_result);
    EXPECT_LT(input_result.max_relative_error, 1e-6) << input_result.worst;
  }
}

TEST(Conv2d, BackwardOverwritesInputGradAndAccumulatesParameterGrads) {
  mann::Rng rng(4);
  mann::Conv2d<double> conv(2, 2, 4, 5, rng);
  MatrixD x = MatrixD::Random(40, 2), dy = MatrixD::Random(40, 2);
  mann::Conv2d<double>::Workspace ws;
  MatrixD dx_once, dx = MatrixD::Constant(40, 2, 1e6);  // sentinel
  conv.backward(x, dy, &dx_once, ws);
  const MatrixD weight_grad = conv.weight.grad, bias_grad = conv.bias.grad;
  conv.backward(x, dy, &dx, ws);
  EXPECT_TRUE(dx.isApprox(dx_once));
  EXPECT_TRUE(conv.weight.grad.isApprox(2 * weight_grad));
  EXPECT_TRUE(conv.bias.grad.isApprox(2 * bias_grad));
  conv.backward(x, dy, nullptr, ws);  // no input gradient wanted
  EXPECT_TRUE(conv.weight.grad.isApprox(3 * weight_grad));
}

TEST(Conv2d, FloatMatchesDouble) {
  mann::Rng rng_d(5), rng_f(5);
  mann::Conv2d<double> conv_d(3, 4, 6, 5, rng_d);
  mann::Conv2d<float> conv_f(3, 4, 6, 5, rng_f);
  EXPECT_TRUE(conv_f.weight.value.cast<double>().isApprox(conv_d.weight.value, 1e-6));
  MatrixD x = MatrixD::Random(90, 3), y_d;
  mann::MatrixF y_f;
  mann::Conv2d<double>::Workspace ws_d;
  mann::Conv2d<float>::Workspace ws_f;
  conv_d.forward(x, y_d, ws_d);
  conv_f.forward(x.cast<float>(), y_f, ws_f);
  EXPECT_LT((y_f.cast<double>() - y_d).cwiseAbs().maxCoeff(), 1e-5);
}

TEST(Conv2d, HeInitialisationScale) {
  mann::Rng rng(6);
  mann::Conv2d<double> conv(16, 64, 3, 3, rng);
  const double variance = conv.weight.value.squaredNorm() / static_cast<double>(conv.weight.value.size());
  EXPECT_NEAR(variance, 2.0 / (16 * 9), 0.1 * 2.0 / (16 * 9));
  EXPECT_EQ(conv.bias.value.squaredNorm(), 0.0);
}

TEST(Conv2d, RejectsBadShapesAndSizes) {
  mann::Rng rng(7);
  mann::Conv2d<float> conv(2, 3, 4, 4, rng);
  mann::MatrixF x(31, 2), y;
  mann::Conv2d<float>::Workspace ws;
  try {
    conv.forward(x, y, ws);
    FAIL() << "expected ShapeError";
  } catch (const mann::ShapeError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("31"), std::string::npos) << message;
    EXPECT_NE(message.find("32"), std::string::npos) << message;
  }
  EXPECT_THROW(mann::Conv2d<float>(0, 3, 4, 4, rng), mann::ValueError);
  EXPECT_THROW(mann::Conv2d<float>(2, 0, 4, 4, rng), mann::ValueError);
  EXPECT_THROW(mann::Conv2d<float>(2, 3, 0, 4, rng), mann::ValueError);
  EXPECT_THROW(mann::Conv2d<float>(2, 3, 4, -1, rng), mann::ValueError);
}

}  // namespace
