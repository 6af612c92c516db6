// Tests for mann/memory/lrua_head.hpp: a 4-slot memory over 3 steps against values worked out by
// hand from eqs 2–8 (which slots w_lu picks, which slot is zeroed), a zeroed row without NaN,
// the head's own gradient check, shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "mann/core/init.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;
using Head = mann::LruaHead<double>;

Head::Options four_slots() {
  Head::Options o = Head::Options::paper();
  o.slots = 4;
  o.width = 2;
  o.heads = 1;
  o.usage_decay = 0.99;
  o.epsilon = 1e-6;
  return o;
}

// Projection for one head of width 2: [k0, k1, α].
MatrixD projection(double k0, double k1, double alpha) {
  MatrixD p(3, 1);
  p << k0, k1, alpha;
  return p;
}

double cosine(double a0, double a1, double b0, double b1, double eps) {
  return (a0 * b0 + a1 * b1) / (std::sqrt(a0 * a0 + a1 * a1 + eps) * std::sqrt(b0 * b0 + b1 * b1 + eps));
}

TEST(LruaHead, MetadataHoldsEveryOptionRoundTrip) {
  Head::Options o = four_slots();
  o.usage_decay = 0.95;
  o.read_sharpness = 10;
  o.epsilon = 1e-7;
  const auto metadata = Head(o).metadata();
  const std::map<std::string, std::string> expected{
      {"slots", "4"},        {"width", "2"},           {"heads", "1"},         {"usage_decay", "0.95"},
      {"epsilon", "1e-07"},  {"read_sharpness", "10"}, {"key_strength", "fixed"}, {"initial_memory", "0"},
      {"least_used_slots", "1"}};  // 0 in the options: the heads' count, written as the count itself
  EXPECT_EQ(metadata, expected);
  // The shortest text that reads back as the same double.
  o.read_sharpness = 0.1 + 0.2;
  EXPECT_EQ(std::stod(Head(o).metadata().at("read_sharpness")), 0.1 + 0.2);
}

TEST(LruaHead, FourSlotsThreeStepsByHand) {
  const double eps = 1e-6, gamma = 0.99;
  Head head(four_slots());
  Head::Step s0, s1, s2, s3;
  head.wipe(s0, 1);
  // Wiped: usage all 0, so w_lu_0 is slot 0 (ties: lowest index), memory zero.
  EXPECT_EQ(s0.least_used.col(0), (MatrixD(4, 1) << 1, 0, 0, 0).finished());

  // Step 1: k = (1, 0), α = 0 → σ = 1/2. w_w = ½·0 + ½·w_lu_0 = (½, 0, 0, 0).
  // Zeroed slot: argmin w_u_0 = slot 0 (empty anyway). M_1 row 0 = ½ k = (½, 0), rows 1–3 zero.
  head.forward_step(projection(1, 0, 0), s0, s1);
  EXPECT_EQ(s1.zeroed[0], 0);
  EXPECT_NEAR(s1.write_weights(0, 0), 0.5, 1e-15);
  EXPECT_NEAR(s1.write_weights(1, 0), 0.0, 1e-15);
  EXPECT_NEAR(s1.memory(0, 0), 0.5, 1e-15);
  EXPECT_EQ(s1.memory.bottomRows(3).norm(), 0.0);
  // Cosine: row 0 vs k ≈ 1; zero rows give exactly 0, not NaN (ε inside the square root).
  const double K0 = cosine(0.5, 0, 1, 0, eps);
  EXPECT_NEAR(s1.similarity(0, 0), K0, 1e-15);
  EXPECT_EQ(s1.similarity(1, 0), 0.0);
  EXPECT_TRUE(s1.similarity.allFinite());
  const double z1 = std::exp(K0) + 3;
  const double r1[4] = {std::exp(K0) / z1, 1 / z1, 1 / z1, 1 / z1};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s1.read_weights(i, 0), r1[i], 1e-15);
  EXPECT_NEAR(s1.reads(0, 0), r1[0] * 0.5, 1e-15);  // r = Σ w_r(i) M(i)
  EXPECT_NEAR(s1.reads(1, 0), 0.0, 1e-15);
  // Usage w_u_1 = 0.99·0 + w_r + w_w = (r1₀ + ½, r1₁, r1₂, r1₃): slot 0 is the MOST used, and the
  // least used (n = 1) is slot 1 (slots 1–3 tie; lowest index).
  const double u1[4] = {r1[0] + 0.5, r1[1], r1[2], r1[3]};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s1.usage(i, 0), u1[i], 1e-15);
  EXPECT_EQ(s1.least_used.col(0), (MatrixD(4, 1) << 0, 1, 0, 0).finished());

  // Step 2: k = (0, 2), α = ln 3 → σ = 3/4. w_w = ¾ w_r_1 + ¼ w_lu_1.
  // Zeroed slot: argmin w_u_1 = slot 1.
  head.forward_step(projection(0, 2, std::log(3.0)), s1, s2);
  EXPECT_EQ(s2.zeroed[0], 1);
  const double w2[4] = {0.75 * r1[0], 0.75 * r1[1] + 0.25, 0.75 * r1[2], 0.75 * r1[3]};
  double m2[4][2];
  for (int i = 0; i < 4; ++i) {
    const double kept0 = i == 1 ? 0.0 : s1.memory(i, 0), kept1 = i == 1 ? 0.0 : s1.memory(i, 1);
    m2[i][0] = kept0 + w2[i] * 0;
    m2[i][1] = kept1 + w2[i] * 2;
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s2.write_weights(i, 0), w2[i], 1e-15);
    EXPECT_NEAR(s2.memory(i, 0), m2[i][0], 1e-15);
    EXPECT_NEAR(s2.memory(i, 1), m2[i][1], 1e-15);
  }
  double K2[4], z2 = 0;
  for (int i = 0; i < 4; ++i) z2 += std::exp(K2[i] = cosine(m2[i][0], m2[i][1], 0, 2, eps));
  double u2[4];
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s2.read_weights(i, 0), std::exp(K2[i]) / z2, 1e-14);
    u2[i] = gamma * u1[i] + std::exp(K2[i]) / z2 + w2[i];
    EXPECT_NEAR(s2.usage(i, 0), u2[i], 1e-14);
  }
  // Slots 2 and 3 are symmetric and least used: w_lu_2 picks slot 2.
  EXPECT_NEAR(u2[2], u2[3], 1e-15);
  EXPECT_LT(u2[2], u2[1]);
  EXPECT_LT(u2[2], u2[0]);
  EXPECT_EQ(s2.least_used.col(0), (MatrixD(4, 1) << 0, 0, 1, 0).finished());

  // Step 3: slot 2 — which now holds ¾ r1₂ k₂ ≠ 0 — is argmin w_u_2 and is zeroed before the write.
  EXPECT_GT(s2.memory.row(2).norm(), 0.05);
  head.forward_step(projection(1, 1, -1.0), s2, s3);
  EXPECT_EQ(s3.zeroed[0], 2);
  const double g3 = 1 / (1 + std::exp(1.0));
  for (int i = 0; i < 4; ++i) {
    const double w3 = g3 * s2.read_weights(i, 0) + (1 - g3) * (i == 2 ? 1.0 : 0.0);
    EXPECT_NEAR(s3.write_weights(i, 0), w3, 1e-15);
    for (int j = 0; j < 2; ++j) {
      const double kept = i == 2 ? 0.0 : m2[i][j];
      EXPECT_NEAR(s3.memory(i, j), kept + w3 * 1.0, 1e-14);
    }
  }
}

TEST(LruaHead, TwoHeadsTakeTheTwoLeastUsedSlots) {
  Head::Options o = four_slots();
  o.heads = 2;
  Head head(o);
  Head::Step s0, s1;
  head.wipe(s0, 1);
  EXPECT_EQ(s0.least_used.col(0), (MatrixD(4, 1) << 1, 1, 0, 0).finished());
  MatrixD p(6, 1);
  p << 1, 0, 0, 1, 0, 0;  // keys (1,0), (0,1); gates ½
  head.forward_step(p, s0, s1);
  // Usage: slots 0, 1 written (½ per head), so slots 2, 3 are the two least used.
  EXPECT_EQ(s1.least_used.col(0), (MatrixD(4, 1) << 0, 0, 1, 1).finished());
}

// n = 1 in eq. 6 with two heads: both heads write the one least-used slot, the one eq. 8 zeroed, so
// a step replaces one slot instead of adding to two.
TEST(LruaHead, OneLeastUsedSlotTakesBothHeadsWrites) {
  Head::Options o = four_slots();
  o.heads = 2;
  o.least_used_slots = 1;
  Head head(o);
  Head::Step s0, s1, s2;
  head.wipe(s0, 1);
  EXPECT_EQ(s0.least_used.col(0), (MatrixD(4, 1) << 1, 0, 0, 0).finished());
  MatrixD p(6, 1);
  p << 1, 0, 0, 1, 0, 0;  // keys (1,0), (0,1); gates ½
  head.forward_step(p, s0, s1);
  // Step 1: w_w = ½ w_lu_0 for each head, so slot 0 = ½ (1,0) + ½ (0,1) and the rest stay zero.
  EXPECT_EQ(s1.zeroed[0], 0);
  EXPECT_NEAR(s1.memory(0, 0), 0.5, 1e-15);
  EXPECT_NEAR(s1.memory(0, 1), 0.5, 1e-15);
  EXPECT_EQ(s1.memory.bottomRows(3).norm(), 0.0);
  // Usage: slot 0 has both heads' writes (½ each) and reads; slots 1–3 tie: w_lu_1 = slot 1 only.
  EXPECT_EQ(s1.least_used.col(0), (MatrixD(4, 1) << 0, 1, 0, 0).finished());
  // Step 2 with gates closed (α = −∞ in effect): slot 1 is zeroed and takes both keys, slot 0 keeps
  // its content exactly.
  p << 2, 0, 0, 2, -40, -40;  // keys (2,0), (0,2); gates σ(−40)
  head.forward_step(p, s1, s2);
  EXPECT_EQ(s2.zeroed[0], 1);
  const double g = 1 / (1 + std::exp(40.0));
  for (int i = 0; i < 4; ++i) {
    const double w0 = g * s1.read_weights(i, 0) + (1 - g) * (i == 1 ? 1.0 : 0.0);
    const double w1 = g * s1.read_weights(i, 1) + (1 - g) * (i == 1 ? 1.0 : 0.0);
    const double kept0 = i == 1 ? 0.0 : s1.memory(i, 0), kept1 = i == 1 ? 0.0 : s1.memory(i, 1);
    EXPECT_NEAR(s2.memory(i, 0), kept0 + 2 * w0, 1e-14);
    EXPECT_NEAR(s2.memory(i, 1), kept1 + 2 * w1, 1e-14);
  }
  EXPECT_NEAR(s2.memory(0, 0), 0.5, 1e-15);
  EXPECT_NEAR(s2.memory(1, 0), 2.0, 1e-15);
  EXPECT_NEAR(s2.memory(1, 1), 2.0, 1e-15);
  EXPECT_EQ(head.metadata().at("least_used_slots"), "1");
  // The paper's n (0 in the options) is the heads' count: two slots from the start.
  o.least_used_slots = 0;
  EXPECT_EQ(Head(o).metadata().at("least_used_slots"), "2");
}

TEST(LruaHead, ZeroedRowGivesNoNaNInFloat) {
  mann::LruaHead<float>::Options o;
  o.slots = 8;
  o.width = 5;
  o.heads = 2;
  mann::LruaHead<float> head(o);
  mann::LruaHead<float>::Step prev, cur;
  head.wipe(prev, 3);
  mann::MatrixF p = mann::MatrixF::Zero(head.projection_size(), 3);  // zero keys on zero memory
  for (int t = 0; t < 20; ++t) {
    head.forward_step(p, prev, cur);
    EXPECT_TRUE(cur.reads.allFinite());
    EXPECT_TRUE(cur.similarity.allFinite());
    prev = cur;
    p.setRandom();
  }
}

struct Formulation {
  const char* name;
  double read_sharpness, epsilon;
  bool learned_key_strength;
  double initial_memory;
  mann::Index least_used_slots = 0;
};

class LruaHeadGradient : public ::testing::TestWithParam<Formulation> {};

TEST_P(LruaHeadGradient, ProjectionGradientMatchesFiniteDifferences) {
  const Formulation f = GetParam();
  Head::Options o;
  o.slots = 5;
  o.width = 3;
  o.heads = 2;
  o.read_sharpness = f.read_sharpness;
  o.epsilon = f.epsilon;
  o.learned_key_strength = f.learned_key_strength;
  o.initial_memory = f.initial_memory;
  o.least_used_slots = f.least_used_slots;
  Head head(o);
  mann::Rng rng(3);
  const int T = 6, B = 2;
  std::vector<MatrixD> projections(T, MatrixD(head.projection_size(), B)), g(T, MatrixD(head.read_size(), B));
  for (auto& p : projections) mann::init_normal(p, rng, 1.0);
  for (auto& x : g) mann::init_normal(x, rng, 1.0);
  Head::Step initial;
  head.wipe(initial, B);
  std::vector<Head::Step> steps;
  auto loss = [&] {
    head.forward(projections, initial, steps);
    double f = 0;
    for (int t = 0; t < T; ++t) f += (steps[t].reads.array() * g[t].array()).sum();
    return f;
  };
  loss();
  Head::Carry carry;
  head.reset_carry(carry, B);
  std::vector<MatrixD> d_proj(T);
  for (int t = T; t-- > 0;) {
    head.backward_step(projections[t], steps[t], t ? steps[t - 1] : initial, g[t], carry, d_proj[t]);
  }
  mann::GradCheckResult result;
  for (int t = 0; t < T; ++t) mann::grad_check_tensor(loss, projections[t], d_proj[t], "p" + std::to_string(t), result);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst << " a=" << result.analytic << " n=" << result.numeric;
}

INSTANTIATE_TEST_SUITE_P(Formulations, LruaHeadGradient,
                         ::testing::Values(Formulation{"paper", 1.0, 1e-6, false, 0.0},
                                           Formulation{"sharp", 7.5, 1e-6, false, 0.0},
                                           Formulation{"sharp_floored", 10.0, 1e-2, false, 0.0},
                                           Formulation{"learned_strength", 1.0, 1e-2, true, 0.0},
                                           Formulation{"constant_memory", 10.0, 1e-6, false, 0.05},
                                           Formulation{"one_least_used_slot", 60.0, 1e-2, false, 0.0, 1}),
                         [](const auto& info) { return std::string(info.param.name); });

// β = 1 + softplus(β̂) read from the projection's last H rows: softmax(β K) by hand.
TEST(LruaHead, LearnedKeyStrengthScalesTheSimilarity) {
  Head::Options o = four_slots();
  o.learned_key_strength = true;
  Head head(o);
  EXPECT_EQ(head.projection_size(), 4);  // k (2), α, β̂
  Head::Step s0, s1;
  head.wipe(s0, 1);
  MatrixD p(4, 1);
  p << 1, 0, 0, std::log(std::exp(2.0) - 1);  // softplus(β̂) = 2, so β = 3
  head.forward_step(p, s0, s1);
  EXPECT_NEAR(s1.strengths(0, 0), 3.0, 1e-14);
  const double K0 = cosine(0.5, 0, 1, 0, 1e-6);
  const double z = std::exp(3 * K0) + 3;
  EXPECT_NEAR(s1.read_weights(0, 0), std::exp(3 * K0) / z, 1e-14);
  EXPECT_NEAR(s1.read_weights(1, 0), 1 / z, 1e-14);
  // A fixed β other than 1 with a learned one is a contradiction.
  o.read_sharpness = 10;
  EXPECT_THROW(Head{o}, mann::ValueError);
}

TEST(LruaHead, InitialMemoryFillsTheWipedMemory) {
  Head::Options o = four_slots();
  o.initial_memory = 0.25;
  Head head(o);
  Head::Step s0, s1;
  head.wipe(s0, 2);
  EXPECT_TRUE((s0.memory.array() == 0.25).all());
  EXPECT_TRUE((s0.reads.array() == 0).all());
  head.forward_step(MatrixD::Zero(3, 2), s0, s1);  // zero keys: only the zeroed slot changes
  EXPECT_EQ(s1.memory.row(0).norm(), 0.0);         // eq. 8's least-used slot is still zeroed
  EXPECT_TRUE((s1.memory.bottomRows(3).array() == 0.25).all());
}

TEST(LruaHead, RejectsBadOptionsAndShapes) {
  Head::Options o = four_slots();
  o.heads = 5;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.epsilon = 0;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.initial_memory = std::nan("");
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.read_sharpness = INFINITY;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.least_used_slots = 5;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o.least_used_slots = -1;
  EXPECT_THROW(Head{o}, mann::ValueError);
  Head head(four_slots());
  Head::Step s0, s1;
  head.wipe(s0, 2);
  EXPECT_THROW(head.forward_step(MatrixD::Zero(4, 2), s0, s1), mann::ShapeError);
  EXPECT_THROW(head.forward_step(MatrixD::Zero(3, 1), s0, s1), mann::ShapeError);
}

}  // namespace
