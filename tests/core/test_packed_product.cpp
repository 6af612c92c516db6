// Tests for mann/core/packed_product.hpp: out += A · X with A packed once, each kernel, against a
// hand-computed case and against Eigen's own product on sizes around the kernel's panel widths.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "mann/core/packed_product.hpp"

namespace {

std::vector<mann::PackedKernel> kernels() {
  std::vector<mann::PackedKernel> list{mann::PackedKernel::plain};
  if (mann::best_packed_kernel() != mann::PackedKernel::plain) list.push_back(mann::best_packed_kernel());
  return list;
}

const char* name(mann::PackedKernel kernel) { return kernel == mann::PackedKernel::plain ? "plain" : "eigen_gebp"; }

TEST(PackedMatrix, HandComputedProductAndTranspose) {
  mann::MatrixD a(2, 3);
  a << 1, 2, 3,  //
      4, 5, 6;
  mann::MatrixD x(3, 2);
  x << 1, 0,  //
      0, 1,   //
      2, -1;
  for (const auto kernel : kernels()) {
    SCOPED_TRACE(name(kernel));
    mann::PackedMatrix<double> packed(kernel);
    packed.pack(a);
    EXPECT_EQ(packed.rows(), 2);
    EXPECT_EQ(packed.cols(), 3);
    mann::MatrixD out = mann::MatrixD::Ones(2, 2);  // accumulates
    packed.multiply_add(x, out);
    mann::MatrixD expected(2, 2);
    expected << 1 + 1 + 6, 1 + 2 - 3,  //
        1 + 4 + 12, 1 + 5 - 6;
    EXPECT_EQ(out, expected);

    packed.pack(a, true);  // Aᵀ: 3 × 2
    EXPECT_EQ(packed.rows(), 3);
    EXPECT_EQ(packed.cols(), 2);
    mann::MatrixD y(2, 1);
    y << 1, -1;
    mann::MatrixD out_t = mann::MatrixD::Zero(3, 1);
    packed.multiply_add(y, out_t);
    EXPECT_EQ(out_t, (mann::MatrixD(3, 1) << -3, -3, -3).finished());
  }
}

// Blocks of larger matrices (outer strides ≠ rows) on both sides, float and double, sizes around
// the kernel's panels (AVX-512 float: 48-row panels, 4-column panels) and the MANN's 800 × 360.
template <class Scalar>
void check_against_eigen(double tolerance) {
  using Mat = mann::Matrix<Scalar>;
  const Mat big = Mat::Random(810, 810);
  for (const auto kernel : kernels()) {
    for (const bool transpose : {false, true}) {
      for (const mann::Index rows : {1, 7, 16, 47, 48, 49, 97, 800}) {
        for (const mann::Index cols : {1, 5, 360}) {
          for (const mann::Index n : {1, 4, 8, 17}) {
            SCOPED_TRACE(testing::Message() << name(kernel) << " transpose " << transpose << " " << rows << " x "
                                            << cols << " · n " << n);
            const auto a = transpose ? big.block(3, 2, cols, rows) : big.block(3, 2, rows, cols);
            const Mat x_big = Mat::Random(cols + 5, n);
            Mat out_big = Mat::Random(rows + 4, n);
            Mat expected = out_big;
            if (transpose) {
              expected.middleRows(1, rows).noalias() += a.transpose() * x_big.middleRows(2, cols);
            } else {
              expected.middleRows(1, rows).noalias() += a * x_big.middleRows(2, cols);
            }
            mann::PackedMatrix<Scalar> packed(kernel);
            packed.pack(a, transpose);
            packed.multiply_add(x_big.middleRows(2, cols), out_big.middleRows(1, rows));
            const double scale = std::max<double>(1.0, static_cast<double>(cols) / 10.0);
            ASSERT_LT((out_big - expected).cwiseAbs().maxCoeff(), tolerance * scale);
          }
        }
      }
    }
  }
}

TEST(PackedMatrix, EqualsEigenProductFloat) { check_against_eigen<float>(2e-6); }
TEST(PackedMatrix, EqualsEigenProductDouble) { check_against_eigen<double>(1e-14); }

TEST(PackedMatrix, RepackingAndNewWidthsReuseTheObject) {
  for (const auto kernel : kernels()) {
    SCOPED_TRACE(name(kernel));
    mann::PackedMatrix<float> packed(kernel);
    for (const mann::Index rows : {50, 20, 130}) {
      const mann::MatrixF a = mann::MatrixF::Random(rows, 33);
      packed.pack(a);
      for (const mann::Index n : {16, 2, 9}) {
        const mann::MatrixF x = mann::MatrixF::Random(33, n);
        mann::MatrixF out = mann::MatrixF::Zero(rows, n);
        packed.multiply_add(x, out);
        const mann::MatrixF expected = a * x;
        ASSERT_LT((out - expected).cwiseAbs().maxCoeff(), 1e-5f);
      }
    }
  }
}

}  // namespace
