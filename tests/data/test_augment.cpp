// Tests for mann/data/augment.hpp: area weights, exact quarter turns, rotation and translation, the
// packed-bitmap path, output range and size.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "mann/data/augment.hpp"

namespace {

constexpr int kSide = 105;
constexpr double kPi = 3.14159265358979323846;

using Image = std::vector<float>;  // row-major kSide × kSide

Image random_binary_image(std::uint64_t seed, double density = 0.1, int side = kSide) {
  mann::Rng rng(seed);
  Image image(static_cast<std::size_t>(side) * side);
  for (float& v : image) v = rng.uniform() < density ? 1.0f : 0.0f;
  return image;
}

float at(const Image& image, int r, int c, int side = kSide) {
  if (r < 0 || r >= side || c < 0 || c >= side) return 0.0f;
  return image[static_cast<std::size_t>(r) * side + c];
}

// Counter-clockwise quarter turn as displayed: out(r, c) = in(c, side − 1 − r).
Image rotate90(const Image& in, int side = kSide) {
  Image out(in.size());
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) out[static_cast<std::size_t>(r) * side + c] = at(in, c, side - 1 - r, side);
  }
  return out;
}

double sum(const Image& image) {
  double s = 0;
  for (float v : image) s += v;
  return s;
}

// A disc of radius 20 about row 52, column 50.
Image disc_image() {
  Image disc(kSide * kSide, 0.0f);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      if ((r - 52) * (r - 52) + (c - 50) * (c - 50) <= 400) disc[static_cast<std::size_t>(r) * kSide + c] = 1.0f;
    }
  }
  return disc;
}

std::vector<std::uint8_t> pack(const Image& image) {
  std::vector<std::uint8_t> bits((image.size() + 7) / 8, 0);
  for (std::size_t i = 0; i < image.size(); ++i) {
    if (image[i] != 0.0f) bits[i / 8] = static_cast<std::uint8_t>(bits[i / 8] | (1u << (i % 8)));
  }
  return bits;
}

// Reference downscale in double: W · image · Wᵀ with the dense area weights.
std::vector<double> reference_downscale(const Image& image, int out_size, int side = kSide) {
  const mann::MatrixD w = mann::area_weights(side, out_size);
  mann::MatrixD m(side, side);
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) m(r, c) = at(image, r, c, side);
  }
  const mann::MatrixD small = w * m * w.transpose();
  std::vector<double> out;
  for (int r = 0; r < out_size; ++r) {
    for (int c = 0; c < out_size; ++c) out.push_back(small(r, c));
  }
  return out;
}

TEST(AreaWeights, RowsSumToOneWithExactOverlaps) {
  for (int out : {20, 28, 1, 105, 7}) {
    const mann::MatrixD w = mann::area_weights(kSide, out);
    ASSERT_EQ(w.rows(), out);
    ASSERT_EQ(w.cols(), kSide);
    for (int o = 0; o < out; ++o) EXPECT_NEAR(w.row(o).sum(), 1.0, 1e-12) << out << " " << o;
    EXPECT_GE(w.minCoeff(), 0.0);
  }
  // 105 → 20: output pixel 0 covers source [0, 5.25): pixels 0–4 fully (1/5.25 = 20/105 each),
  // pixel 5 a quarter (5/105); output 1 gets the other three quarters of pixel 5 (15/105).
  const mann::MatrixD w = mann::area_weights(105, 20);
  for (int p = 0; p < 5; ++p) EXPECT_DOUBLE_EQ(w(0, p), 20.0 / 105.0);
  EXPECT_DOUBLE_EQ(w(0, 5), 5.0 / 105.0);
  EXPECT_DOUBLE_EQ(w(1, 5), 15.0 / 105.0);
  EXPECT_EQ(w(0, 6), 0.0);
  EXPECT_DOUBLE_EQ(w(19, 104), 20.0 / 105.0);
  // 105 → 28: s = 3.75; output 0 = pixels 0–2 fully and pixel 3 three quarters.
  const mann::MatrixD w28 = mann::area_weights(105, 28);
  EXPECT_DOUBLE_EQ(w28(0, 0), 28.0 / 105.0);
  EXPECT_DOUBLE_EQ(w28(0, 3), 21.0 / 105.0);
  EXPECT_DOUBLE_EQ(w28(1, 3), 7.0 / 105.0);
  EXPECT_THROW(mann::area_weights(0, 20), mann::ValueError);
  EXPECT_THROW(mann::area_weights(105, 0), mann::ValueError);
}

TEST(ImageAugmenter, IdentityIsTheHandComputedAreaAverage) {
  // Rows 0–5 ink: output row 0 covers rows [0, 5.25) → all ink; output row 1 covers [5.25, 10.5),
  // of which row 5's last three quarters are ink → 0.75 / 5.25 = 1/7; the rest is background.
  Image image(kSide * kSide, 0.0f);
  for (int r = 0; r <= 5; ++r) {
    for (int c = 0; c < kSide; ++c) image[static_cast<std::size_t>(r) * kSide + c] = 1.0f;
  }
  mann::ImageAugmenter augmenter(kSide, 20);
  std::vector<float> out(400, -1.0f);
  augmenter.apply(image.data(), mann::ImageTransform{}, out.data());
  for (int c = 0; c < 20; ++c) {
    EXPECT_NEAR(out[static_cast<std::size_t>(c)], 1.0f, 1e-6f);
    EXPECT_NEAR(out[static_cast<std::size_t>(20 + c)], 1.0f / 7.0f, 1e-6f);
    for (int r = 2; r < 20; ++r) EXPECT_EQ(out[static_cast<std::size_t>(r * 20 + c)], 0.0f);
  }
  // A single ink pixel at (5, 5) straddles outputs 0 and 1 in both directions: output (i, j) gets
  // w(i, 5) · w(j, 5) with w(0, 5) = 5/105 and w(1, 5) = 15/105.
  Image dot(kSide * kSide, 0.0f);
  dot[5 * kSide + 5] = 1.0f;
  augmenter.apply(dot.data(), mann::ImageTransform{}, out.data());
  EXPECT_NEAR(out[0], 25.0 / 11025.0, 1e-7);
  EXPECT_NEAR(out[1], 75.0 / 11025.0, 1e-7);
  EXPECT_NEAR(out[20], 75.0 / 11025.0, 1e-7);
  EXPECT_NEAR(out[21], 225.0 / 11025.0, 1e-7);
  // Any image: equal to W · I · Wᵀ, for 20 × 20 and 28 × 28.
  for (int size : {20, 28}) {
    const Image random = random_binary_image(3, 0.3);
    mann::ImageAugmenter a(kSide, size);
    std::vector<double> out_d(static_cast<std::size_t>(size * size));
    a.apply(random.data(), mann::ImageTransform{}, out_d.data());
    const std::vector<double> expected = reference_downscale(random, size);
    for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(out_d[i], expected[i], 1e-5) << size << " " << i;
  }
}

TEST(ImageAugmenter, ZeroRangesGiveTheIdentityTransform) {
  mann::Rng rng(5);
  mann::AugmentOptions none;
  none.max_rotation = 0;
  none.max_translation = 0;
  const Image image = random_binary_image(8);
  mann::ImageAugmenter augmenter;
  Image warped(image.size());
  for (int i = 0; i < 5; ++i) {
    const mann::ImageTransform t = mann::random_transform(rng, none);
    EXPECT_EQ(t.angle, 0.0);
    EXPECT_EQ(t.shift_x, 0.0);
    EXPECT_EQ(t.shift_y, 0.0);
    augmenter.warp(image.data(), t, warped.data());
    EXPECT_EQ(warped, image);
  }
}

TEST(ImageAugmenter, QuarterTurnsAreExactAndCounterClockwise) {
  const Image image = random_binary_image(11, 0.2);
  mann::ImageAugmenter augmenter;
  Image expected = image, warped(image.size());
  for (int turns = 0; turns < 8; ++turns) {
    mann::ImageTransform t;
    t.quarter_turns = turns;
    augmenter.warp(image.data(), t, warped.data());
    EXPECT_EQ(warped, expected) << turns;
    // And the downscale of the exact turn.
    std::vector<float> out(400), out_expected(400);
    augmenter.apply(image.data(), t, out.data());
    augmenter.downscale(expected.data(), out_expected.data());
    EXPECT_EQ(out, out_expected) << turns;
    expected = rotate90(expected);
  }
  mann::ImageTransform back;
  back.quarter_turns = -1;
  augmenter.warp(image.data(), back, warped.data());
  EXPECT_EQ(warped, rotate90(rotate90(rotate90(image))));
  // Counter-clockwise as displayed: the top-right corner goes to the top left.
  Image corner(kSide * kSide, 0.0f);
  corner[kSide - 1] = 1.0f;
  mann::ImageTransform quarter;
  quarter.quarter_turns = 1;
  augmenter.warp(corner.data(), quarter, warped.data());
  EXPECT_EQ(warped[0], 1.0f);
  EXPECT_EQ(sum(warped), 1.0);
}

TEST(ImageAugmenter, SmallRotationKeepsInkMassAndTurnsCounterClockwise) {
  // A disc of radius 20 and a set of strokes keep their ink within a few percent.
  const Image disc = disc_image();
  Image strokes(kSide * kSide, 0.0f);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      if ((r > 30 && r < 36 && c > 20 && c < 80) || (c > 60 && c < 64 && r > 20 && r < 90)) {
        strokes[static_cast<std::size_t>(r) * kSide + c] = 1.0f;
      }
    }
  }
  mann::ImageAugmenter augmenter;
  Image warped(disc.size());
  for (double angle : {kPi / 16, -kPi / 16, 0.05}) {
    mann::ImageTransform t;
    t.angle = angle;
    augmenter.warp(disc.data(), t, warped.data());
    EXPECT_NEAR(sum(warped) / sum(disc), 1.0, 0.01) << angle;
    augmenter.warp(strokes.data(), t, warped.data());
    EXPECT_NEAR(sum(warped) / sum(strokes), 1.0, 0.05) << angle;
    for (float v : warped) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
  }
  // Direction: a pixel 30 right of the centre, turned by +90°, ends 30 above it.
  Image dot(kSide * kSide, 0.0f);
  dot[52 * kSide + 82] = 1.0f;
  mann::ImageTransform t;
  t.angle = kPi / 2;
  augmenter.warp(dot.data(), t, warped.data());
  EXPECT_NEAR(warped[22 * kSide + 52], 1.0f, 1e-4f);
  // A small positive angle moves that pixel up (to a smaller row).
  t.angle = kPi / 16;
  augmenter.warp(dot.data(), t, warped.data());
  double row_mass = 0, mass = 0;
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      row_mass += r * warped[static_cast<std::size_t>(r) * kSide + c];
      mass += warped[static_cast<std::size_t>(r) * kSide + c];
    }
  }
  EXPECT_NEAR(row_mass / mass, 52 - 30 * std::sin(kPi / 16), 0.5);
}

TEST(ImageAugmenter, TranslationShiftsByTheRightAmount) {
  const Image image = random_binary_image(21, 0.15);
  mann::ImageAugmenter augmenter;
  Image warped(image.size());
  for (auto [dx, dy] : {std::pair<int, int>{7, -4}, {-10, 10}, {0, 3}, {-1, 0}}) {
    mann::ImageTransform t;
    t.shift_x = dx;
    t.shift_y = dy;
    augmenter.warp(image.data(), t, warped.data());
    for (int r = 0; r < kSide; ++r) {
      for (int c = 0; c < kSide; ++c) {
        ASSERT_EQ(warped[static_cast<std::size_t>(r) * kSide + c], at(image, r - dy, c - dx)) << dx << " " << dy;
      }
    }
  }
  // Half a pixel to the right splits each pixel evenly between two columns.
  Image dot(kSide * kSide, 0.0f);
  dot[40 * kSide + 40] = 1.0f;
  mann::ImageTransform half;
  half.shift_x = 0.5;
  augmenter.warp(dot.data(), half, warped.data());
  EXPECT_NEAR(warped[40 * kSide + 40], 0.5f, 1e-6f);
  EXPECT_NEAR(warped[40 * kSide + 41], 0.5f, 1e-6f);
  EXPECT_NEAR(sum(warped), 1.0, 1e-6);
  // Quarter turn, then shift: the shift is in the output frame.
  mann::ImageTransform both;
  both.quarter_turns = 1;
  both.shift_x = 3;
  augmenter.warp(image.data(), both, warped.data());
  const Image turned = rotate90(image);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) ASSERT_EQ(warped[static_cast<std::size_t>(r) * kSide + c], at(turned, r, c - 3));
  }
}

TEST(ImageAugmenter, OutOfFrameAndEmptyImagesGiveBackground) {
  mann::ImageAugmenter augmenter;
  const Image image = random_binary_image(2);
  std::vector<float> out(400, -1.0f);
  mann::ImageTransform far;
  far.shift_x = 500;
  augmenter.apply(image.data(), far, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
  const Image empty(kSide * kSide, 0.0f);
  mann::ImageTransform t;
  t.angle = 0.1;
  std::fill(out.begin(), out.end(), -1.0f);
  augmenter.apply(empty.data(), t, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(ImageAugmenter, PackedPathEqualsTheFloatPath) {
  mann::Rng rng(77);
  mann::AugmentOptions options;
  for (int size : {20, 28}) {
    mann::ImageAugmenter a(kSide, size), b(kSide, size);
    options.output_size = size;
    for (int i = 0; i < 30; ++i) {
      const Image image = random_binary_image(100 + static_cast<std::uint64_t>(i), 0.02 + 0.01 * i);
      const std::vector<std::uint8_t> bits = pack(image);
      const mann::ImageTransform t = mann::random_transform(rng, options, i % 4);
      std::vector<float> from_float(static_cast<std::size_t>(size * size)), from_bits(from_float.size());
      a.apply(image.data(), t, from_float.data());
      b.apply_packed(bits.data(), t, from_bits.data());
      ASSERT_EQ(from_float, from_bits) << size << " " << i;
      // Interleaving the two paths on one augmenter changes nothing.
      b.apply(image.data(), t, from_float.data());
      ASSERT_EQ(from_float, from_bits);
    }
  }
}

// Centre of ink mass (row, col) of a kSide × kSide image.
std::pair<double, double> centroid(const Image& image) {
  double rows = 0, cols = 0, mass = 0;
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      const double v = image[static_cast<std::size_t>(r) * kSide + c];
      rows += r * v;
      cols += c * v;
      mass += v;
    }
  }
  return {rows / mass, cols / mass};
}

TEST(ImageAugmenter, ScaleAndShearMoveInkAsTheMatrixSays) {
  // A 3 × 3 blob 20 right of and 10 above the centre (52, 52).
  Image blob(kSide * kSide, 0.0f);
  for (int r = 41; r <= 43; ++r) {
    for (int c = 71; c <= 73; ++c) blob[static_cast<std::size_t>(r) * kSide + c] = 1.0f;
  }
  mann::ImageAugmenter augmenter;
  Image warped(blob.size());
  mann::ImageTransform t;
  t.angle = 0.3;
  t.scale_x = 1.5;
  t.scale_y = 0.8;
  t.shear = 0.2;
  t.shift_x = 2;
  t.shift_y = -3;
  augmenter.warp(blob.data(), t, warped.data());
  // By hand: (x, y) = (20, −10) → scale (30, −8) → shear (30 − 1.6, −8) → R(0.3) → + shift.
  const double x = 28.4, y = -8, cos_a = std::cos(0.3), sin_a = std::sin(0.3);
  const auto [row, col] = centroid(warped);
  EXPECT_NEAR(col, 52 + x * cos_a + y * sin_a + 2, 0.25);
  EXPECT_NEAR(row, 52 - x * sin_a + y * cos_a - 3, 0.25);
  // Ink mass scales with the area, det A = scale_x · scale_y (shear and rotation keep it).
  const Image disc = disc_image();
  augmenter.warp(disc.data(), t, warped.data());
  EXPECT_NEAR(sum(warped) / sum(disc), 1.5 * 0.8, 0.03);
  // A scale a hair from 1 takes the general path; it matches the rotation-only arithmetic.
  mann::ImageTransform rotation, almost;
  rotation.angle = almost.angle = -0.2;
  rotation.shift_x = almost.shift_x = 1.5;
  almost.scale_x = 1 + 1e-12;
  ASSERT_TRUE(rotation.rotation_only());
  ASSERT_FALSE(almost.rotation_only());
  Image reference(blob.size());
  augmenter.warp(disc.data(), rotation, reference.data());
  augmenter.warp(disc.data(), almost, warped.data());
  for (std::size_t i = 0; i < warped.size(); ++i) ASSERT_NEAR(warped[i], reference[i], 1e-4f) << i;
  t.scale_y = 0;
  EXPECT_THROW(augmenter.warp(disc.data(), t, warped.data()), mann::ValueError);
}

TEST(ImageAugmenter, ScaleAndShearDrawsComeAfterTheOthers) {
  mann::AugmentOptions plain, affine;
  affine.max_scale = 0.1;
  affine.max_shear = 0.2;
  mann::Rng a(4), b(4), c(4);
  for (int i = 0; i < 500; ++i) {
    const mann::ImageTransform t = mann::random_transform(a, plain);
    const mann::ImageTransform u = mann::random_transform(b, affine);
    // Without scale and shear a draw takes three numbers, as before they existed.
    const double angle = plain.max_rotation * (2 * c.uniform() - 1);
    c.uniform();
    c.uniform();
    ASSERT_EQ(t.angle, angle);
    ASSERT_TRUE(t.rotation_only());
    ASSERT_EQ(a.uniform(), c.uniform());
    // With them, the first three are the same numbers; then scales in 1 ± 0.1, shear in ± 0.2.
    ASSERT_GE(u.scale_x, 0.9);
    ASSERT_LE(u.scale_x, 1.1);
    ASSERT_GE(u.scale_y, 0.9);
    ASSERT_LE(u.scale_y, 1.1);
    ASSERT_LE(std::abs(u.shear), 0.2);
  }
  mann::Rng d(7), e(7);
  const mann::ImageTransform t = mann::random_transform(d, plain), u = mann::random_transform(e, affine);
  EXPECT_EQ(t.angle, u.angle);
  EXPECT_EQ(t.shift_x, u.shift_x);
  EXPECT_EQ(t.shift_y, u.shift_y);
}

TEST(ImageAugmenter, RandomTransformsStayInRangeAndOutputInUnitInterval) {
  mann::Rng rng(9), same(9);
  mann::AugmentOptions options;
  double mean_angle = 0, mean_x = 0;
  const int draws = 2000;
  for (int i = 0; i < draws; ++i) {
    const mann::ImageTransform t = mann::random_transform(rng, options, 2);
    const mann::ImageTransform u = mann::random_transform(same, options, 2);
    ASSERT_EQ(t.angle, u.angle);
    ASSERT_EQ(t.shift_y, u.shift_y);
    EXPECT_EQ(t.quarter_turns, 2);
    ASSERT_LE(std::abs(t.angle), kPi / 16);
    ASSERT_LE(std::abs(t.shift_x), 10.0);
    ASSERT_LE(std::abs(t.shift_y), 10.0);
    mean_angle += t.angle / draws;
    mean_x += t.shift_x / draws;
  }
  EXPECT_NEAR(mean_angle, 0.0, 0.02);
  EXPECT_NEAR(mean_x, 0.0, 0.5);
  mann::ImageAugmenter augmenter(kSide, 28);
  std::vector<float> out(784);
  for (int i = 0; i < 20; ++i) {
    const Image image = random_binary_image(300 + static_cast<std::uint64_t>(i), 0.5);
    augmenter.apply(image.data(), mann::random_transform(rng, options, i), out.data());
    for (float v : out) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
  }
}

TEST(AugmentImage, EigenConvenienceMatchesTheAugmenter) {
  const Image image = random_binary_image(4);
  Eigen::MatrixXf m(kSide, kSide);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) m(r, c) = at(image, r, c);
  }
  mann::ImageTransform t;
  t.quarter_turns = 3;
  t.angle = 0.1;
  t.shift_x = -2.5;
  const mann::Vector<float> v = mann::augment_image(m, t, 28);
  ASSERT_EQ(v.size(), 784);
  mann::ImageAugmenter augmenter(kSide, 28);
  std::vector<float> out(784);
  augmenter.apply(image.data(), t, out.data());
  for (int i = 0; i < 784; ++i) EXPECT_EQ(v(i), out[static_cast<std::size_t>(i)]);
  EXPECT_THROW(mann::augment_image(Eigen::MatrixXf::Zero(10, 12), t), mann::ShapeError);
}

}  // namespace
