// Tests for mann/memory/slot_products.hpp: a hand-computed case, then each product against Eigen's
// own on sizes around the row chunk (16/32 rows), with strided operands, in float and double.
#include <gtest/gtest.h>

#include "mann/core/init.hpp"
#include "mann/core/random.hpp"
#include "mann/memory/slot_products.hpp"

namespace {

TEST(SlotProducts, HandComputedCase) {
  mann::MatrixD memory(3, 2);  // N = 3 slots of width 2
  memory << 1, 2,              //
      3, 4,                    //
      5, 6;
  mann::MatrixD keys(2, 1);
  keys << 1, -1;
  mann::MatrixD similarity = mann::MatrixD::Constant(3, 1, 10);
  mann::add_slot_product<double>(memory, keys, similarity);
  EXPECT_EQ(similarity, (mann::MatrixD(3, 1) << 9, 9, 9).finished());

  mann::MatrixD weights(3, 1);
  weights << 1, 0, 2;
  mann::MatrixD reads = mann::MatrixD::Zero(2, 1);
  mann::add_slot_transpose_product<double>(memory, weights, reads);  // Σ_i w(i) M(i)
  EXPECT_EQ(reads, (mann::MatrixD(2, 1) << 11, 14).finished());

  mann::MatrixD written = memory;
  mann::add_slot_outer_product<double>(weights, keys, written);  // M(i) += w(i) kᵀ
  EXPECT_EQ(written, (mann::MatrixD(3, 2) << 2, 1, 3, 4, 7, 4).finished());
}

template <class Scalar>
void expect_equal_to_eigen(mann::Index N, mann::Index W, mann::Index H) {
  using Mat = mann::Matrix<Scalar>;
  SCOPED_TRACE(::testing::Message() << "N " << N << " W " << W << " H " << H << " sizeof " << sizeof(Scalar));
  mann::Rng rng(static_cast<std::uint64_t>(N * 1000 + W * 10 + H));
  auto random = [&](mann::Index rows, mann::Index cols) {
    Mat m(rows, cols);
    mann::init_uniform(m, rng, -1.0, 1.0);
    return m;
  };
  // Operands are blocks of wider matrices, so the column stride differs from the row count.
  const Mat memory_store = random(N + 3, W + 2), heads_store = random(N + 1, H + 1), keys_store = random(W + 2, H);
  const auto memory = memory_store.block(1, 1, N, W);
  const auto heads = heads_store.topLeftCorner(N, H);
  const auto keys = keys_store.bottomRows(W);
  const double tolerance = sizeof(Scalar) == 4 ? 1e-5 : 1e-13;

  Mat out_store = random(N + 2, H + 1);
  auto out = out_store.block(2, 1, N, H);
  const Mat expected_product = out + memory * keys;
  mann::add_slot_product<Scalar>(memory, keys, out);
  EXPECT_LE((out - expected_product).norm(), tolerance * (1 + expected_product.norm()));

  Mat reads = random(W, H);
  const Mat expected_transpose = reads + memory.transpose() * heads;
  mann::add_slot_transpose_product<Scalar>(memory, heads, reads);
  EXPECT_LE((reads - expected_transpose).norm(), tolerance * (1 + expected_transpose.norm()));

  Mat updated_store = random(N + 1, W);
  auto updated = updated_store.bottomRows(N);
  const Mat expected_outer = updated + heads * keys.transpose();
  mann::add_slot_outer_product<Scalar>(heads, keys, updated);
  EXPECT_LE((updated - expected_outer).norm(), tolerance * (1 + expected_outer.norm()));
}

TEST(SlotProducts, EqualEigenProductsAroundTheChunkSize) {
  for (const mann::Index N : {1, 5, 15, 16, 17, 31, 32, 33, 128, 130}) {
    for (const mann::Index W : {1, 3, 40}) {
      for (const mann::Index H : {1, 4, 5}) {
        expect_equal_to_eigen<float>(N, W, H);
        expect_equal_to_eigen<double>(N, W, H);
      }
    }
  }
}

}  // namespace
