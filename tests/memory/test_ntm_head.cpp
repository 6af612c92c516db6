// Tests for mann/memory/ntm_head.hpp: a 4-slot memory over 2 steps against values worked out by
// hand from Graves et al. eqs 2–9, circular shifts at the edges, γ = 1 sharpening as the identity,
// the erase/add product form for two write heads, a zeroed row without NaN, the head's own
// finite-difference gradient check through time, the overwrite rule of backward, no allocation
// after the first call (Eigen's EIGEN_RUNTIME_NO_MALLOC hook and a counting operator new), and
// option/shape errors.
#include "replaced_operator_new.hpp"  // first: the global operator new of this binary

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {
long long eigen_mallocs = 0;
// Eigen's malloc hook reports through eigen_assert: count those; every other assertion aborts as usual.
inline void eigen_assert_failed(const char* what, const char* file, int line) {
  if (std::strstr(what, "heap allocation") != nullptr) {
    ++eigen_mallocs;
    return;
  }
  std::fprintf(stderr, "%s:%d: eigen_assert(%s) failed\n", file, line, what);
  std::abort();
}
}  // namespace
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x) ((x) ? static_cast<void>(0) : eigen_assert_failed(#x, __FILE__, __LINE__))

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "mann/core/init.hpp"
#include "mann/memory/ntm_head.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann_test::allocations;

using mann::MatrixD;
using Head = mann::NtmHead<double>;

// Inverses of the head's squashing functions, so a test can state round values of β, g, s, γ, e.
double logit(double p) { return std::log(p / (1 - p)); }
double softplus_inverse(double y) { return std::log(std::expm1(y)); }

double cosine(double a0, double a1, double b0, double b1, double eps) {
  return (a0 * b0 + a1 * b1) / (std::sqrt(a0 * a0 + a1 * a1 + eps) * std::sqrt(b0 * b0 + b1 * b1 + eps));
}

// One head's addressing inputs with the values they should take after squashing.
struct Addressing {
  double key[2];
  double beta;      // β
  double gate;      // g
  double shift[3];  // s(−1), s(0), s(+1)
  double gamma;     // γ
};

// The projection of a 4-slot, width-2 head with one write head (a = 0) and one read head (a = 1);
// the rows are the documented layout with A = 2, W = 2:
//   0–1 write key, 2–3 read key, 4–5 β̂, 6–7 ĝ, 8–10 write shift logits, 11–13 read shift logits,
//   14–15 γ̂, 16–17 erase logits, 18–19 add vector.
MatrixD projection(const Addressing& write, const Addressing& read, double e0, double e1, double a0, double a1) {
  MatrixD p(20, 1);
  const Addressing* heads[2] = {&write, &read};
  for (int a = 0; a < 2; ++a) {
    const Addressing& h = *heads[a];
    p(2 * a, 0) = h.key[0];
    p(2 * a + 1, 0) = h.key[1];
    p(4 + a, 0) = softplus_inverse(h.beta);
    p(6 + a, 0) = logit(h.gate);
    for (int k = 0; k < 3; ++k) p(8 + 3 * a + k, 0) = std::log(h.shift[k]);  // softmax of logs = s
    p(14 + a, 0) = softplus_inverse(h.gamma - 1);
  }
  p(16, 0) = logit(e0);
  p(17, 0) = logit(e1);
  p(18, 0) = a0;
  p(19, 0) = a1;
  return p;
}

Head::Options four_slots() {
  Head::Options o;
  o.slots = 4;
  o.width = 2;
  o.heads = 1;
  o.write_heads = 1;
  o.epsilon = 1e-6;
  return o;
}

TEST(NtmHead, MetadataHoldsEveryOption) {
  Head::Options o = four_slots();
  o.write_heads = 2;
  o.sharpen_epsilon = 1e-10;
  const std::map<std::string, std::string> expected{
      {"slots", std::to_string(o.slots)}, {"width", std::to_string(o.width)},  {"heads", std::to_string(o.heads)},
      {"write_heads", "2"},               {"epsilon", "1e-06"},                {"sharpen_epsilon", "1e-10"}};
  EXPECT_EQ(Head(o).metadata(), expected);
}

TEST(NtmHead, SizesAndName) {
  Head head;  // the paper's sizes: N = 128, W = 40, H = 4, one write head
  EXPECT_EQ(head.projection_size(), 5 * (40 + 6) + 2 * 40);
  EXPECT_EQ(head.read_size(), 160);
  EXPECT_EQ(Head::name(), "ntm");
  Head small(four_slots());
  EXPECT_EQ(small.projection_size(), 20);
  EXPECT_EQ(small.strength_row(0), 4);
  EXPECT_EQ(small.gate_row(1), 7);
  EXPECT_EQ(small.shift_row(1), 11);
  EXPECT_EQ(small.sharpening_row(0), 14);
  EXPECT_EQ(small.erase_row(0), 16);
  EXPECT_EQ(small.add_row(0), 18);
}

TEST(NtmHead, FourSlotsTwoStepsByHand) {
  const double eps = 1e-6, delta = 1e-12;  // cosine ε, sharpening guard δ
  Head head(four_slots());
  Head::Step s0, s1, s2;
  head.wipe(s0, 1);
  // Wiped: memory zero, both heads' previous weights one-hot on slot 0, reads zero.
  EXPECT_EQ(s0.memory.norm(), 0.0);
  EXPECT_EQ(s0.write_weights.col(0), (MatrixD(4, 1) << 1, 0, 0, 0).finished());
  EXPECT_EQ(s0.read_weights.col(0), (MatrixD(4, 1) << 1, 0, 0, 0).finished());
  EXPECT_EQ(s0.reads.norm(), 0.0);

  // ---- Step 1 ----
  // Write head on M_0 = 0: every cosine is exactly 0, so w_c = (¼, ¼, ¼, ¼) whatever k and β.
  // g = ½: w_g = ½ w_c + ½ e_0 = (5/8, 1/8, 1/8, 1/8).
  // s = (s₋, s₀, s₊) = (¼, ¼, ½): w̃(i) = ¼ w_g(i+1) + ¼ w_g(i) + ½ w_g(i−1), indices mod 4:
  //   w̃(0) = ¼·⅛ + ¼·⅝ + ½·⅛ (from slot 3) = 8/32,  w̃(1) = ¼·⅛ + ¼·⅛ + ½·⅝ = 12/32,
  //   w̃(2) = ¼·⅛ + ¼·⅛ + ½·⅛ = 4/32,               w̃(3) = ¼·⅝ (from slot 0) + ¼·⅛ + ½·⅛ = 8/32.
  // γ = 2: w ∝ (8², 12², 4², 8²) = (64, 144, 16, 64) / 288 = (2/9, 1/2, 1/18, 2/9).
  // Erase e = (½, ¾) acts on a zero memory; add a = (1, −2): M_1(i) = w(i) (1, −2).
  const Addressing write1{{1, 0}, 2.0, 0.5, {0.25, 0.25, 0.5}, 2.0};
  // Read head on M_1: k = (2, 1) ⊥ (1, −2), so every cosine is exactly 0 again: w_c uniform.
  // g = ¾: w_g = ¾·¼ + ¼ e_0 = (7/16, 3/16, 3/16, 3/16).
  // s = (½, ¼, ¼): w̃(i) = ½ w_g(i+1) + ¼ w_g(i) + ¼ w_g(i−1):
  //   w̃(0) = (½·3 + ¼·7 + ¼·3)/16 = 16/64, w̃(1) = (½·3 + ¼·3 + ¼·7)/16 = 16/64,
  //   w̃(2) = (½·3 + ¼·3 + ¼·3)/16 = 12/64, w̃(3) = (½·7 (from slot 0) + ¼·3 + ¼·3)/16 = 20/64.
  // γ = 1.5: w ∝ (w̃ + δ)^1.5.
  const Addressing read1{{2, 1}, 3.0, 0.75, {0.5, 0.25, 0.25}, 1.5};
  head.forward_step(projection(write1, read1, 0.5, 0.75, 1, -2), s0, s1);

  EXPECT_EQ(s1.similarity.col(0).norm(), 0.0);  // write head on the zero memory: 0, not NaN
  const double wg1[4] = {5 / 8.0, 1 / 8.0, 1 / 8.0, 1 / 8.0};
  const double shifted_w1[4] = {8 / 32.0, 12 / 32.0, 4 / 32.0, 8 / 32.0};
  double w1[4] = {2 / 9.0, 1 / 2.0, 1 / 18.0, 2 / 9.0};
  {  // with the guard: w ∝ (w̃ + δ)², which moves the fractions by O(δ)
    double z = 0;
    for (int i = 0; i < 4; ++i) z += (shifted_w1[i] + delta) * (shifted_w1[i] + delta);
    for (int i = 0; i < 4; ++i) {
      const double guarded = (shifted_w1[i] + delta) * (shifted_w1[i] + delta) / z;
      EXPECT_NEAR(guarded, w1[i], 1e-11);
      w1[i] = guarded;
    }
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s1.content(i, 0), 0.25, 1e-16);
    EXPECT_NEAR(s1.gated(i, 0), wg1[i], 1e-16);
    EXPECT_NEAR(s1.shifted(i, 0), shifted_w1[i] + delta, 1e-16);
    EXPECT_NEAR(s1.write_weights(i, 0), w1[i], 1e-15);
    EXPECT_NEAR(s1.memory(i, 0), w1[i] * 1, 1e-15);
    EXPECT_NEAR(s1.memory(i, 1), w1[i] * -2, 1e-15);
  }
  EXPECT_NEAR(s1.erase(0, 0), 0.5, 1e-15);
  EXPECT_NEAR(s1.erase(1, 0), 0.75, 1e-15);
  EXPECT_NEAR(s1.strength(0, 0), 2.0, 1e-14);
  EXPECT_NEAR(s1.sharpening(1, 0), 1.5, 1e-14);

  const double wg_r1[4] = {7 / 16.0, 3 / 16.0, 3 / 16.0, 3 / 16.0};
  const double shifted_r1[4] = {16 / 64.0, 16 / 64.0, 12 / 64.0, 20 / 64.0};
  double r1[4], z_r1 = 0;
  for (int i = 0; i < 4; ++i) z_r1 += std::pow(shifted_r1[i] + delta, 1.5);
  for (int i = 0; i < 4; ++i) r1[i] = std::pow(shifted_r1[i] + delta, 1.5) / z_r1;
  EXPECT_EQ(s1.similarity.col(1).norm(), 0.0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s1.content(i, 1), 0.25, 1e-16);
    EXPECT_NEAR(s1.gated(i, 1), wg_r1[i], 1e-16);
    EXPECT_NEAR(s1.shifted(i, 1), shifted_r1[i] + delta, 1e-16);
    EXPECT_NEAR(s1.read_weights(i, 0), r1[i], 1e-15);
  }
  // r_1 = Σ_i w_r(i) M_1(i) = (Σ_i w_r(i) w(i)) (1, −2).
  const double overlap = r1[0] * w1[0] + r1[1] * w1[1] + r1[2] * w1[2] + r1[3] * w1[3];
  EXPECT_NEAR(s1.reads(0, 0), overlap, 1e-15);
  EXPECT_NEAR(s1.reads(1, 0), -2 * overlap, 1e-15);

  // ---- Step 2 ----
  // Write head on M_1 with k = (2, 1) ⊥ every row: w_c uniform. g = ¼:
  //   w_g = ¼·¼ + ¾ w_1 ≈ ¼·¼ + ¾ (2/9, 1/2, 1/18, 2/9) = (11, 21, 5, 11)/48.
  // s = (3/5, 1/5, 1/5): 240 w̃(i) = 3·48w_g(i+1) + 48w_g(i) + 48w_g(i−1)
  //   = (3·21 + 11 + 11, 3·5 + 21 + 11, 3·11 + 5 + 21, 3·11 (from slot 0) + 11 + 5) = (85, 47, 59, 49).
  // γ = 3: w ∝ (w̃ + δ)³. Erase e = (½, ¾), add a = (−1, 1):
  //   M_2(i) = M_1(i) ⊙ (1 − w(i) e) + w(i) a   (eqs 3–4)
  const Addressing write2{{2, 1}, 1.0, 0.25, {0.6, 0.2, 0.2}, 3.0};
  // Read head on M_2 (rows no longer parallel) with k = (1, 0), β = 2, g = ½, s = (⅓, ⅓, ⅓), γ = 2.
  const Addressing read2{{1, 0}, 2.0, 0.5, {1 / 3.0, 1 / 3.0, 1 / 3.0}, 2.0};
  head.forward_step(projection(write2, read2, 0.5, 0.75, -1, 1), s1, s2);

  double wg2[4], shifted_w2[4] = {85 / 240.0, 47 / 240.0, 59 / 240.0, 49 / 240.0}, w2[4], z_w2 = 0;
  const double approx_wg2[4] = {11 / 48.0, 21 / 48.0, 5 / 48.0, 11 / 48.0};
  for (int i = 0; i < 4; ++i) {
    wg2[i] = 0.25 * 0.25 + 0.75 * w1[i];
    EXPECT_NEAR(wg2[i], approx_wg2[i], 1e-11);
  }
  // exact w̃ from the exact w_g (the fractions above hold up to O(δ))
  for (int i = 0; i < 4; ++i) {
    const double exact = 0.6 * wg2[(i + 1) % 4] + 0.2 * wg2[i] + 0.2 * wg2[(i + 3) % 4];
    EXPECT_NEAR(exact, shifted_w2[i], 1e-11);
    shifted_w2[i] = exact;
  }
  for (int i = 0; i < 4; ++i) z_w2 += std::pow(shifted_w2[i] + delta, 3);
  for (int i = 0; i < 4; ++i) w2[i] = std::pow(shifted_w2[i] + delta, 3) / z_w2;
  double m2[4][2];
  for (int i = 0; i < 4; ++i) {
    m2[i][0] = s1.memory(i, 0) * (1 - w2[i] * 0.5) + w2[i] * -1;
    m2[i][1] = s1.memory(i, 1) * (1 - w2[i] * 0.75) + w2[i] * 1;
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s2.similarity(i, 0), 0.0, 1e-16);
    EXPECT_NEAR(s2.gated(i, 0), wg2[i], 1e-16);
    EXPECT_NEAR(s2.shifted(i, 0), shifted_w2[i] + delta, 1e-16);
    EXPECT_NEAR(s2.write_weights(i, 0), w2[i], 1e-15);
    EXPECT_NEAR(s2.memory(i, 0), m2[i][0], 1e-15);
    EXPECT_NEAR(s2.memory(i, 1), m2[i][1], 1e-15);
  }
  // Read: K(i) = cosine(M_2(i), (1, 0)) with ε inside both square roots, w_c = softmax(2 K).
  double K2[4], wc2[4], z_c2 = 0;
  for (int i = 0; i < 4; ++i) z_c2 += std::exp(2 * (K2[i] = cosine(m2[i][0], m2[i][1], 1, 0, eps)));
  for (int i = 0; i < 4; ++i) wc2[i] = std::exp(2 * K2[i]) / z_c2;
  double wg_r2[4], shifted_r2[4], r2[4], z_r2 = 0;
  for (int i = 0; i < 4; ++i) wg_r2[i] = 0.5 * wc2[i] + 0.5 * r1[i];
  for (int i = 0; i < 4; ++i) {
    shifted_r2[i] = (wg_r2[(i + 1) % 4] + wg_r2[i] + wg_r2[(i + 3) % 4]) / 3;
    z_r2 += (shifted_r2[i] + delta) * (shifted_r2[i] + delta);
  }
  for (int i = 0; i < 4; ++i) r2[i] = (shifted_r2[i] + delta) * (shifted_r2[i] + delta) / z_r2;
  double reads2[2] = {0, 0};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(s2.similarity(i, 1), K2[i], 1e-15);
    EXPECT_NEAR(s2.content(i, 1), wc2[i], 1e-15);
    EXPECT_NEAR(s2.gated(i, 1), wg_r2[i], 1e-15);
    EXPECT_NEAR(s2.read_weights(i, 0), r2[i], 1e-15);
    reads2[0] += r2[i] * m2[i][0];
    reads2[1] += r2[i] * m2[i][1];
  }
  // The cosine really distinguishes the rows now (signs of M_2(i, 0) differ).
  EXPECT_GT(*std::max_element(K2, K2 + 4) - *std::min_element(K2, K2 + 4), 0.1);
  EXPECT_NEAR(s2.reads(0, 0), reads2[0], 1e-15);
  EXPECT_NEAR(s2.reads(1, 0), reads2[1], 1e-15);
}

// One head of each kind, N = 5, with g ≈ 0 (location addressing only) and the given shifts, γ = 1.
MatrixD location_projection(const Head& head, double s_minus, double s_zero, double s_plus, double gamma = 1) {
  MatrixD p = MatrixD::Zero(head.projection_size(), 1);
  for (int a = 0; a < 2; ++a) {
    p(head.gate_row(a), 0) = -60;  // g = σ(−60) ≈ 1e-26
    const double s[3] = {s_minus, s_zero, s_plus};
    for (int k = 0; k < 3; ++k) p(head.shift_row(a) + k, 0) = s[k] > 0 ? std::log(s[k]) : -80;
    p(head.sharpening_row(a), 0) = gamma == 1 ? -60 : softplus_inverse(gamma - 1);  // γ = 1 + softplus(−60) = 1
  }
  return p;
}

TEST(NtmHead, ShiftIsCircularAtTheEdges) {
  Head::Options o = four_slots();
  o.slots = 5;
  Head head(o);
  Head::Step s0, s1, s2, s3;
  head.wipe(s0, 1);
  // From e_0, shift −1: the weight leaves slot 0 to slot N − 1 = 4.
  head.forward_step(location_projection(head, 1, 0, 0), s0, s1);
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(s1.write_weights(i, 0), i == 4 ? 1.0 : 0.0, 1e-10) << i;
    EXPECT_NEAR(s1.read_weights(i, 0), i == 4 ? 1.0 : 0.0, 1e-10) << i;
  }
  // From e_4, shift +1: back round to slot 0.
  head.forward_step(location_projection(head, 0, 0, 1), s1, s2);
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(s2.write_weights(i, 0), i == 0 ? 1.0 : 0.0, 1e-10) << i;
    EXPECT_NEAR(s2.read_weights(i, 0), i == 0 ? 1.0 : 0.0, 1e-10) << i;
  }
  // A soft shift (¼, ¼, ½) of e_0: ¼ to slot 4, ¼ stays, ½ to slot 1.
  head.forward_step(location_projection(head, 0.25, 0.25, 0.5), s2, s3);
  const double expected[5] = {0.25, 0.5, 0, 0, 0.25};
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(s3.write_weights(i, 0), expected[i], 1e-10) << i;
    EXPECT_NEAR(s3.read_weights(i, 0), expected[i], 1e-10) << i;
  }
}

// Random projections over a few steps, so the memory and the weights are not trivial.
std::vector<MatrixD> random_projections(const Head& head, int T, int B, mann::Rng& rng, double scale = 1.0) {
  std::vector<MatrixD> projections(T, MatrixD(head.projection_size(), B));
  for (auto& p : projections) mann::init_normal(p, rng, scale);
  return projections;
}

TEST(NtmHead, SharpeningWithGammaOneIsIdentity) {
  Head::Options o = four_slots();
  o.slots = 7;
  o.width = 3;
  o.heads = 2;
  Head head(o);
  mann::Rng rng(5);
  auto projections = random_projections(head, 4, 2, rng);
  for (auto& p : projections) {
    for (int a = 0; a < 3; ++a) p.row(head.sharpening_row(a)).setConstant(-60);  // γ = 1 + softplus(−60) = 1
  }
  Head::Step initial;
  head.wipe(initial, 2);
  std::vector<Head::Step> steps;
  head.forward(projections, initial, steps);
  for (const auto& s : steps) {
    EXPECT_EQ(s.sharpening.maxCoeff(), 1.0);
    for (int b = 0; b < 2; ++b) {
      for (int a = 0; a < 3; ++a) {
        const auto w = a == 0 ? s.write_weights.col(b) : s.read_weights.col(b * 2 + a - 1);
        const auto shifted = s.shifted.col(b * 3 + a);  // w̃ + δ
        EXPECT_LT((w - shifted / shifted.sum()).cwiseAbs().maxCoeff(), 1e-14);
        EXPECT_LT((w - (shifted.array() - 1e-12).matrix()).cwiseAbs().maxCoeff(), 1e-11);
      }
    }
  }
  // γ = 3 concentrates: the largest weight grows.
  for (auto& p : projections) {
    for (int a = 0; a < 3; ++a) p.row(head.sharpening_row(a)).setConstant(softplus_inverse(2));
  }
  head.forward(projections, initial, steps);
  const auto shifted = steps.back().shifted.col(1);
  EXPECT_GT(steps.back().read_weights.col(0).maxCoeff(), shifted.maxCoeff() / shifted.sum() + 1e-3);
}

TEST(NtmHead, TwoWriteHeadsEraseThenAdd) {
  Head::Options o = four_slots();
  o.slots = 6;
  o.width = 3;
  o.write_heads = 2;
  Head head(o);
  mann::Rng rng(9);
  auto projections = random_projections(head, 3, 2, rng);
  Head::Step initial;
  head.wipe(initial, 2);
  std::vector<Head::Step> steps;
  head.forward(projections, initial, steps);
  // M_t(i) = M_{t−1}(i) ⊙ (1 − w_1(i) e_1) ⊙ (1 − w_2(i) e_2) + w_1(i) a_1 + w_2(i) a_2
  const auto& prev = steps[1];
  const auto& cur = steps[2];
  const MatrixD& p = projections[2];
  ASSERT_GT(prev.memory.norm(), 0.1);
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 6; ++i) {
      for (int k = 0; k < 3; ++k) {
        double expected = prev.memory(i, b * 3 + k);
        for (int e = 0; e < 2; ++e) {
          const double erase = 1 / (1 + std::exp(-p(head.erase_row(e) + k, b)));
          EXPECT_NEAR(cur.erase(k, b * 2 + e), erase, 1e-15);
          expected *= 1 - cur.write_weights(i, b * 2 + e) * erase;
        }
        for (int e = 0; e < 2; ++e) expected += cur.write_weights(i, b * 2 + e) * p(head.add_row(e) + k, b);
        EXPECT_NEAR(cur.memory(i, b * 3 + k), expected, 1e-14);
      }
    }
  }
}

TEST(NtmHead, ZeroedRowGivesNoNaNInFloat) {
  mann::NtmHead<float>::Options o;
  o.slots = 8;
  o.width = 5;
  o.heads = 2;
  mann::NtmHead<float> head(o);
  mann::NtmHead<float>::Step prev, cur;
  head.wipe(prev, 3);
  mann::MatrixF p = mann::MatrixF::Zero(head.projection_size(), 3);  // zero keys on a zero memory
  mann::NtmHead<float>::Carry carry;
  mann::MatrixF d_projection;
  const mann::MatrixF d_reads = mann::MatrixF::Ones(head.read_size(), 3);
  for (int t = 0; t < 20; ++t) {
    if (t == 10) prev.memory.row(3).setZero();  // a zeroed row mid-episode
    head.forward_step(p, prev, cur);
    EXPECT_TRUE(cur.reads.allFinite()) << t;
    EXPECT_TRUE(cur.similarity.allFinite()) << t;
    EXPECT_TRUE(cur.read_weights.allFinite()) << t;
    head.reset_carry(carry, 3);
    head.backward_step(p, cur, prev, d_reads, carry, d_projection);
    EXPECT_TRUE(d_projection.allFinite()) << t;
    EXPECT_TRUE(carry.d_memory.allFinite()) << t;
    prev = cur;
    p.setRandom();
    p *= 3.0f;
  }
}

TEST(NtmHead, ExtremeLogitsStayFiniteInFloat) {
  mann::NtmHead<float>::Options o;
  o.slots = 16;
  o.width = 4;
  o.heads = 1;
  mann::NtmHead<float> head(o);
  mann::NtmHead<float>::Step prev, cur;
  head.wipe(prev, 1);
  mann::Rng rng(4);
  mann::MatrixF p(head.projection_size(), 1);
  mann::NtmHead<float>::Carry carry;
  mann::MatrixF d_projection;
  const mann::MatrixF d_reads = mann::MatrixF::Ones(head.read_size(), 1);
  for (int t = 0; t < 30; ++t) {
    mann::init_normal(p, rng, 50.0);  // huge β, γ, saturated gates: w_c and w̃ underflow to 0
    head.forward_step(p, prev, cur);
    EXPECT_TRUE(cur.write_weights.allFinite() && cur.read_weights.allFinite() && cur.memory.allFinite()) << t;
    head.reset_carry(carry, 1);
    head.backward_step(p, cur, prev, d_reads, carry, d_projection);
    EXPECT_TRUE(d_projection.allFinite()) << t;
    prev = cur;
  }
}

class NtmHeadGradients : public ::testing::TestWithParam<int> {};  // parameter: write heads

TEST_P(NtmHeadGradients, ProjectionGradientMatchesFiniteDifferences) {
  Head::Options o;
  o.slots = 5;
  o.width = 3;
  o.heads = 2;
  o.write_heads = GetParam();
  Head head(o);
  mann::Rng rng(3);
  const int T = 6, B = 2;
  auto projections = random_projections(head, T, B, rng);
  std::vector<MatrixD> g(T, MatrixD(head.read_size(), B));
  for (auto& x : g) mann::init_normal(x, rng, 1.0);
  Head::Step initial;
  head.wipe(initial, B);
  std::vector<Head::Step> steps;
  auto loss = [&] {  // f = Σ_t ⟨r_t, G_t⟩, the memory carried through time
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
  std::cout << "max relative error " << result.max_relative_error << " at " << result.worst << " over "
            << result.entries_checked << " entries\n";
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst << " a=" << result.analytic << " n=" << result.numeric;
  EXPECT_EQ(result.entries_checked, T * head.projection_size() * B);
}

INSTANTIATE_TEST_SUITE_P(WriteHeads, NtmHeadGradients, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "_write_heads"; });

TEST(NtmHead, BackwardOverwritesTheProjectionGradient) {
  Head::Options o = four_slots();
  o.slots = 5;
  o.width = 3;
  o.heads = 2;
  o.write_heads = 2;
  Head head(o);
  mann::Rng rng(8);
  auto projections = random_projections(head, 3, 2, rng);
  Head::Step initial;
  head.wipe(initial, 2);
  std::vector<Head::Step> steps;
  head.forward(projections, initial, steps);
  const MatrixD d_reads = MatrixD::Ones(head.read_size(), 2);
  MatrixD clean, dirty = MatrixD::Constant(head.projection_size(), 2, 1e30);  // sentinel
  Head::Carry a, b;
  head.reset_carry(a, 2);
  head.reset_carry(b, 2);
  head.backward_step(projections[2], steps[2], steps[1], d_reads, a, clean);
  head.backward_step(projections[2], steps[2], steps[1], d_reads, b, dirty);
  EXPECT_EQ(clean, dirty);
  EXPECT_GT(clean.norm(), 0);
}

TEST(NtmHead, NoAllocationAfterTheFirstCall) {
  // Eigen's hook works in this binary, in every build type.
  long long before = eigen_mallocs;
  Eigen::internal::set_is_malloc_allowed(false);
  { mann::MatrixF m(10, 10); m.setZero(); }
  Eigen::internal::set_is_malloc_allowed(true);
  EXPECT_EQ(eigen_mallocs - before, 1);

  using HeadF = mann::NtmHead<float>;
  HeadF head;  // the paper's sizes
  const int T = 4, B = 3;
  mann::Rng rng(1);
  std::vector<mann::MatrixF> projections(T, mann::MatrixF(head.projection_size(), B));
  for (auto& p : projections) mann::init_normal(p, rng, 1.0);
  const mann::MatrixF d_reads = mann::MatrixF::Ones(head.read_size(), B);
  HeadF::Step initial;
  std::vector<HeadF::Step> steps(T);
  HeadF::Carry carry;
  std::vector<mann::MatrixF> d_projection(T);
  auto run = [&] {
    head.wipe(initial, B);
    for (int t = 0; t < T; ++t) head.forward_step(projections[t], t ? steps[t - 1] : initial, steps[t]);
    head.reset_carry(carry, B);
    for (int t = T; t-- > 0;) {
      head.backward_step(projections[t], steps[t], t ? steps[t - 1] : initial, d_reads, carry, d_projection[t]);
    }
  };
  run();  // sizes every buffer
  before = eigen_mallocs;
  const long news = allocations.load();
  Eigen::internal::set_is_malloc_allowed(false);
  run();
  Eigen::internal::set_is_malloc_allowed(true);
  EXPECT_EQ(eigen_mallocs - before, 0);
  EXPECT_EQ(allocations.load() - news, 0);
  EXPECT_TRUE(steps.back().reads.allFinite());
}

TEST(NtmHead, RejectsBadOptionsAndShapes) {
  Head::Options o = four_slots();
  o.write_heads = 0;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.heads = 0;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.sharpen_epsilon = 0;
  EXPECT_THROW(Head{o}, mann::ValueError);
  o = four_slots();
  o.epsilon = 0;
  try {
    Head{o};
    ADD_FAILURE() << "no throw";
  } catch (const mann::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("mann::NtmHead: epsilon is 0"), std::string::npos) << e.what();
  }
  Head head(four_slots());
  Head::Step s0, s1, unwiped;
  head.wipe(s0, 2);
  EXPECT_THROW(head.forward_step(MatrixD::Zero(19, 2), s0, s1), mann::ShapeError);
  EXPECT_THROW(head.forward_step(MatrixD::Zero(20, 1), s0, s1), mann::ShapeError);
  EXPECT_THROW(head.forward_step(MatrixD::Zero(20, 0), unwiped, s1), mann::ShapeError);
}

}  // namespace
