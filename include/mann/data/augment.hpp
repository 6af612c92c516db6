// mann/data/augment.hpp: image augmentation for Omniglot (Santoro et al. 4.1, supplement 7): an exact
// rotation by a multiple of 90° (per class and episode), a small random rotation and translation (per
// sample; optionally a scale and shear too, not in the papers), then an area-averaging downscale
// (105 × 105 → 20 × 20, or any other output size).
// Needs Eigen only.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/random.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// π to double precision.
inline constexpr double pi = 3.14159265358979323846;

/// An angle given in degrees (as the examples' options take it) in radians, the unit of
/// AugmentOptions::max_rotation: degrees · π / 180.
constexpr double radians_from_degrees(double degrees) { return degrees * pi / 180; }

/// Ranges of the per-sample augmentation and the output size.
struct AugmentOptions {
  double max_rotation = pi / 16;  ///< radians; the angle is uniform in [−max, max]
  double max_translation = 10.0;  ///< source pixels; each of the two shifts is uniform in [−max, max]
  double max_scale = 0.0;         ///< each axis' scale is uniform in [1 − max, 1 + max] (max < 1; 0: none)
  double max_shear = 0.0;         ///< the shear factor is uniform in [−max, max] (0: none)
  int output_size = 20;           ///< side of the square output (20 in Santoro et al., 28 in Kaiser et al.)
};

/// The geometric transform of one sample, applied in this order about the image centre ((S−1)/2, (S−1)/2):
/// a counter-clockwise rotation by quarter_turns × 90° (exact: a permutation of pixels), a scale by
/// (scale_x, scale_y), a shear x += shear · y, a counter-clockwise rotation by `angle` radians, a
/// translation by (shift_x, shift_y) pixels (x to the right along columns, y down along rows).
/// Counter-clockwise as the image is displayed (row 0 on top). A point at (x, y) from the centre goes
/// to A (x, y) + shift with A = R(angle) · [[1, shear], [0, 1]] · diag(scale_x, scale_y),
/// R(a) = [[cos a, sin a], [−sin a, cos a]].
struct ImageTransform {
  int quarter_turns = 0;
  double angle = 0.0;
  double shift_x = 0.0;
  double shift_y = 0.0;
  double scale_x = 1.0;  ///< > 0
  double scale_y = 1.0;  ///< > 0
  double shear = 0.0;
  bool rotation_only() const { return scale_x == 1.0 && scale_y == 1.0 && shear == 0.0; }
};

/// Draws a per-sample transform: angle, then shift_x, then shift_y, each uniform in its range
/// (a range of 0 gives exactly 0); then, only for ranges > 0 (so that without them the draws are
/// the same as before they existed), scale_x and scale_y, then shear. `quarter_turns` is passed through.
inline ImageTransform random_transform(Rng& rng, const AugmentOptions& options, int quarter_turns = 0) {
  ImageTransform t;
  t.quarter_turns = quarter_turns;
  t.angle = options.max_rotation * (2.0 * rng.uniform() - 1.0);
  t.shift_x = options.max_translation * (2.0 * rng.uniform() - 1.0);
  t.shift_y = options.max_translation * (2.0 * rng.uniform() - 1.0);
  if (options.max_scale > 0) {
    t.scale_x = 1.0 + options.max_scale * (2.0 * rng.uniform() - 1.0);
    t.scale_y = 1.0 + options.max_scale * (2.0 * rng.uniform() - 1.0);
  }
  if (options.max_shear > 0) t.shear = options.max_shear * (2.0 * rng.uniform() - 1.0);
  return t;
}

/// Area-averaging weights, output_size × input_size: entry (o, p) is the length of the overlap of
/// source pixel p = [p, p+1) with output pixel o = [o·s, (o+1)·s), s = input/output, divided by s.
/// Every row sums to 1. Computed in integer units of 1/output_size pixel, so the weights are exact
/// ratios (105 → 20: multiples of 1/105). \throws ValueError for a size < 1.
inline MatrixD area_weights(int input_size, int output_size) {
  check_value(input_size >= 1, "mann::area_weights", "input_size", input_size, ">= 1");
  check_value(output_size >= 1, "mann::area_weights", "output_size", output_size, ">= 1");
  MatrixD w = MatrixD::Zero(output_size, input_size);
  for (int o = 0; o < output_size; ++o) {
    // Output pixel o spans [o·input, (o+1)·input) and source pixel p spans [p·output, (p+1)·output).
    const long begin = static_cast<long>(o) * input_size, end = begin + input_size;
    for (int p = static_cast<int>(begin / output_size); p < input_size && static_cast<long>(p) * output_size < end; ++p) {
      const long overlap = std::min(end, static_cast<long>(p + 1) * output_size) - std::max(begin, static_cast<long>(p) * output_size);
      if (overlap > 0) w(o, p) = static_cast<double>(overlap) / static_cast<double>(input_size);
    }
  }
  return w;
}

/// Applies an ImageTransform to a square image and downscales it by area averaging.
///
/// Images are row-major arrays, pixel (row, col) at [row · side + col], ink = 1, values in [0, 1];
/// or 1-bit bitmaps packed row-major, least significant bit first (bit row · side + col), as in
/// OmniglotImages. The warp samples the quarter-turned source bilinearly at the inverse-transformed
/// centre of each pixel; samples outside the source are background (0). The quarter turns are exact,
/// and so is a zero angle with integer shifts (pixels move by whole pixels).
/// Holds workspaces: use one augmenter per thread. After construction nothing allocates.
class ImageAugmenter {
 public:
  /// \throws ValueError for a size < 1.
  explicit ImageAugmenter(int input_size = 105, int output_size = 20)
      : input_size_(input_size), output_size_(output_size) {
    const MatrixD w = area_weights(input_size, output_size);
    for (int o = 0; o < output_size; ++o) {
      int first = input_size, last = -1;
      for (int p = 0; p < input_size; ++p) {
        if (w(o, p) > 0) {
          first = std::min(first, p);
          last = std::max(last, p);
        }
      }
      first_.push_back(first);
      count_.push_back(last - first + 1);
      offset_.push_back(static_cast<int>(weights_.size()));
      for (int p = first; p <= last; ++p) weights_.push_back(static_cast<float>(w(o, p)));
    }
    const std::size_t pixels = static_cast<std::size_t>(input_size) * input_size;
    warped_.resize(pixels);
    padded_.assign(static_cast<std::size_t>(input_size + 2) * (input_size + 2), 0.0f);
    ink_.reserve(pixels);
    columns_.resize(static_cast<std::size_t>(input_size) * output_size);
  }

  int input_size() const { return input_size_; }
  int output_size() const { return output_size_; }

  /// `out` (output_size² values) = downscale(warp(source, transform)), clamped to [0, 1].
  template <class Scalar>
  void apply(const float* source, const ImageTransform& transform, Scalar* out) {
    load(source, transform.quarter_turns);
    sample(transform, warped_.data());
    downscale_rows(warped_.data(), rows_[0], rows_[1], out);
  }

  /// As apply(), from a packed 1-bit bitmap of input_size² bits (ink = 1); faster for sparse ink.
  template <class Scalar>
  void apply_packed(const std::uint8_t* bits, const ImageTransform& transform, Scalar* out) {
    load_packed(bits, transform.quarter_turns);
    sample(transform, warped_.data());
    downscale_rows(warped_.data(), rows_[0], rows_[1], out);
  }

  /// `out` (input_size² values) = `source` transformed, before the downscale.
  void warp(const float* source, const ImageTransform& transform, float* out) {
    load(source, transform.quarter_turns);
    sample(transform, out);
  }

  /// `out` (output_size² values) = area average of `image` (input_size² values), clamped to [0, 1].
  template <class Scalar>
  void downscale(const float* image, Scalar* out) {
    downscale_rows(image, 0, input_size_ - 1, out);
  }

 private:
  // Where source pixel (r, c) lands in the image turned counter-clockwise by `turns` × 90°:
  // turns = 1 maps (r, c) to (last − c, r), so the top-right corner goes to the top left.
  int turned_row(int r, int c, int turns) const {
    const int last = input_size_ - 1;
    switch (turns) {
      case 1: return last - c;
      case 2: return last - r;
      case 3: return c;
      default: return r;
    }
  }
  int turned_col(int r, int c, int turns) const {
    const int last = input_size_ - 1;
    switch (turns) {
      case 1: return r;
      case 2: return last - c;
      case 3: return last - r;
      default: return c;
    }
  }
  static int normal_turns(int turns) { return ((turns % 4) + 4) % 4; }
  int padded_index(int r, int c, int turns) const {
    return (turned_row(r, c, turns) + 1) * (input_size_ + 2) + turned_col(r, c, turns) + 1;
  }

  // Sets ink_box_ (turned frame: row min, row max, col min, col max) from a source box.
  void set_ink_box(int row_min, int row_max, int col_min, int col_max, int turns) {
    if (row_max < 0) {
      ink_box_ = {0, -1, 0, -1};
      return;
    }
    const int r0 = turned_row(row_min, col_min, turns), r1 = turned_row(row_max, col_max, turns);
    const int c0 = turned_col(row_min, col_min, turns), c1 = turned_col(row_max, col_max, turns);
    ink_box_ = {std::min(r0, r1), std::max(r0, r1), std::min(c0, c1), std::max(c0, c1)};
  }

  // padded_ = the quarter-turned source with a 1-pixel background border (the bilinear taps then
  // need no bounds checks): source (r, c) goes to base + r·step_r + c·step_c.
  void load(const float* source, int quarter_turns) {
    const int side = input_size_, turns = normal_turns(quarter_turns);
    const int base = padded_index(0, 0, turns);
    const int step_r = padded_index(1, 0, turns) - base, step_c = padded_index(0, 1, turns) - base;
    int row_min = side, row_max = -1, col_min = side, col_max = -1;
    for (int r = 0; r < side; ++r) {
      const float* row = source + static_cast<std::ptrdiff_t>(r) * side;
      float* target = padded_.data() + base + r * step_r;
      for (int c = 0; c < side; ++c) target[c * step_c] = row[c];
      int first = 0;
      while (first < side && row[first] == 0.0f) ++first;
      if (first == side) continue;
      int final = side - 1;
      while (row[final] == 0.0f) --final;
      row_min = std::min(row_min, r);
      row_max = r;
      col_min = std::min(col_min, first);
      col_max = std::max(col_max, final);
    }
    ink_.clear();
    padded_dense_ = true;
    set_ink_box(row_min, row_max, col_min, col_max, turns);
  }

  void load_packed(const std::uint8_t* bits, int quarter_turns) {
    const int side = input_size_, turns = normal_turns(quarter_turns);
    if (padded_dense_) {
      std::fill(padded_.begin(), padded_.end(), 0.0f);
      padded_dense_ = false;
    }
    for (int i : ink_) padded_[static_cast<std::size_t>(i)] = 0.0f;
    ink_.clear();
    const int base = padded_index(0, 0, turns);
    const int step_r = padded_index(1, 0, turns) - base, step_c = padded_index(0, 1, turns) - base;
    int row_min = side, row_max = -1, col_min = side, col_max = -1;
    const int pixels = side * side, bytes = (pixels + 7) / 8;
    for (int i = 0, row = 0, col = 0; i < bytes; ++i, col += 8) {  // (row, col) of bit 8i
      if (col >= side) {
        col -= side;
        ++row;
      }
      for (unsigned b = bits[i], k = 0; b != 0; b >>= 1, ++k) {
        if ((b & 1u) == 0) continue;
        int r = row, c = col + static_cast<int>(k);
        if (c >= side) {
          c -= side;
          ++r;
        }
        if (r >= side) break;  // padding bits after the last pixel
        const int index = base + r * step_r + c * step_c;
        padded_[static_cast<std::size_t>(index)] = 1.0f;
        ink_.push_back(index);
        row_min = std::min(row_min, r);
        row_max = std::max(row_max, r);
        col_min = std::min(col_min, c);
        col_max = std::max(col_max, c);
      }
    }
    set_ink_box(row_min, row_max, col_min, col_max, turns);
  }

  // out = the loaded image transformed (angle, scale, shear, shift), sampled bilinearly; sets rows_.
  void sample(const ImageTransform& transform, float* out) {
    const int side = input_size_, stride = side + 2;
    std::fill(out, out + static_cast<std::ptrdiff_t>(side) * side, 0.0f);
    rows_ = {0, -1};
    if (ink_box_[1] < 0) return;
    const double centre = 0.5 * (side - 1);
    const double cos_a = std::cos(transform.angle), sin_a = std::sin(transform.angle);
    // The forward matrix A (see ImageTransform) and its inverse B = diag(1/sx, 1/sy) · [[1, −h], [0, 1]]
    // · R(−angle). NOTE: a rotation alone keeps the arithmetic it had before scale and shear existed,
    // so that runs without them reproduce earlier ones bit for bit.
    const double sx = transform.scale_x, sy = transform.scale_y, h = transform.shear;
    if (!(sx > 0 && sy > 0 && std::isfinite(sx) && std::isfinite(sy) && std::isfinite(h))) {
      throw ValueError(detail::concat("mann::ImageAugmenter: scale (", sx, ", ", sy, ") and shear ", h,
                                      " must be finite, the scales > 0"));
    }
    const bool rotation_only = transform.rotation_only();
    const double a00 = cos_a * sx, a01 = (cos_a * h + sin_a) * sy;
    const double a10 = -sin_a * sx, a11 = (cos_a - sin_a * h) * sy;
    const double b00 = (cos_a - h * sin_a) / sx, b01 = (-sin_a - h * cos_a) / sx;
    const double b10 = sin_a / sy, b11 = cos_a / sy;
    // Outside the forward image of the ink's box (grown by the bilinear footprint) every output
    // pixel is exactly 0, so only that region is sampled.
    double row_lo = side, row_hi = -1, col_lo = side, col_hi = -1;
    for (int corner = 0; corner < 4; ++corner) {
      const double y = ((corner & 1) ? ink_box_[1] + 1.0 : ink_box_[0] - 1.0) - centre;
      const double x = ((corner & 2) ? ink_box_[3] + 1.0 : ink_box_[2] - 1.0) - centre;
      const double ox = rotation_only ? centre + x * cos_a + y * sin_a + transform.shift_x
                                      : centre + a00 * x + a01 * y + transform.shift_x;
      const double oy = rotation_only ? centre - x * sin_a + y * cos_a + transform.shift_y
                                      : centre + a10 * x + a11 * y + transform.shift_y;
      row_lo = std::min(row_lo, oy);
      row_hi = std::max(row_hi, oy);
      col_lo = std::min(col_lo, ox);
      col_hi = std::max(col_hi, ox);
    }
    if (row_hi < -1 || col_hi < -1 || row_lo > side || col_lo > side) return;  // shifted out of the frame
    const int r0 = std::max(0, static_cast<int>(std::floor(row_lo)) - 1);
    const int r1 = std::min(side - 1, static_cast<int>(std::ceil(row_hi)) + 1);
    const int c0 = std::max(0, static_cast<int>(std::floor(col_lo)) - 1);
    const int c1 = std::min(side - 1, static_cast<int>(std::ceil(col_hi)) + 1);
    rows_ = {r0, r1};
    const float* p = padded_.data();
    const float step_x = static_cast<float>(rotation_only ? cos_a : b00);
    const float step_y = static_cast<float>(rotation_only ? sin_a : b10);
    for (int r = r0; r <= r1; ++r) {
      // Inverse map of (r, c0): undo the translation, then B about the centre (a rotation alone:
      // rotate by −angle); then step along the row by B's first column (exact for a zero angle,
      // no scale or shear and integer shifts).
      const double x = c0 - transform.shift_x - centre, y = r - transform.shift_y - centre;
      float qx = static_cast<float>(rotation_only ? centre + x * cos_a - y * sin_a : centre + b00 * x + b01 * y);
      float qy = static_cast<float>(rotation_only ? centre + x * sin_a + y * cos_a : centre + b10 * x + b11 * y);
      float* target = out + static_cast<std::ptrdiff_t>(r) * side;
      for (int c = c0; c <= c1; ++c, qx += step_x, qy += step_y) {
        // floor(q) for q > −2 by truncation; anything at or below −2 fails the range test anyway.
        const int x0 = static_cast<int>(qx + 2.0f) - 2, y0 = static_cast<int>(qy + 2.0f) - 2;
        if (static_cast<unsigned>(x0 + 1) > static_cast<unsigned>(side) ||
            static_cast<unsigned>(y0 + 1) > static_cast<unsigned>(side)) {
          continue;  // both taps of a row or column fall outside [−1, side]
        }
        const int i = (y0 + 1) * stride + x0 + 1;
        const float fx = qx - static_cast<float>(x0), fy = qy - static_cast<float>(y0);
        const float top = p[i] + fx * (p[i + 1] - p[i]);
        const float bottom = p[i + stride] + fx * (p[i + stride + 1] - p[i + stride]);
        target[c] = top + fy * (bottom - top);
      }
    }
  }

  // downscale() of an image whose rows outside [row_begin, row_last] are all 0.
  template <class Scalar>
  void downscale_rows(const float* image, int row_begin, int row_last, Scalar* out) {
    const int side = input_size_, n = output_size_;
    // Columns first: columns_(r, o) = Σ_p w(o, p) image(r, p); then rows.
    std::fill(columns_.begin(), columns_.end(), 0.0f);
    for (int r = std::max(row_begin, 0); r <= std::min(row_last, side - 1); ++r) {
      const float* row = image + static_cast<std::ptrdiff_t>(r) * side;
      for (int o = 0; o < n; ++o) {
        const std::size_t k = static_cast<std::size_t>(o);
        const float* w = weights_.data() + offset_[k];
        const float* p = row + first_[k];
        float sum = 0.0f;
        for (int i = 0; i < count_[k]; ++i) sum += w[i] * p[i];
        columns_[static_cast<std::size_t>(r) * n + k] = sum;
      }
    }
    for (int o = 0; o < n; ++o) {
      const std::size_t k = static_cast<std::size_t>(o);
      const float* w = weights_.data() + offset_[k];
      for (int j = 0; j < n; ++j) {
        float sum = 0.0f;
        for (int i = 0; i < count_[k]; ++i) {
          sum += w[i] * columns_[static_cast<std::size_t>(first_[k] + i) * n + static_cast<std::size_t>(j)];
        }
        out[o * n + j] = static_cast<Scalar>(std::min(1.0f, std::max(0.0f, sum)));
      }
    }
  }

  int input_size_, output_size_;
  std::vector<int> first_, count_, offset_;  // per output pixel: first source pixel, count, weight offset
  std::vector<float> weights_;
  std::vector<float> warped_, padded_, columns_;
  std::vector<int> ink_;                    // padded_ indices set by the last load_packed
  bool padded_dense_ = false;               // padded_ was last filled by load()
  std::array<int, 4> ink_box_{0, -1, 0, -1};  // ink of the loaded image: row min/max, col min/max
  std::array<int, 2> rows_{0, -1};            // rows of the last sample() outside which it is 0
};

/// Convenience: `image` (S × S, (row, col), ink = 1) transformed and downscaled to an
/// output_size² column, row-major (entry row · output_size + col). Allocates; ImageAugmenter does not.
/// \throws ShapeError unless `image` is square.
template <class Scalar = float>
Vector<Scalar> augment_image(const Eigen::Ref<const Eigen::MatrixXf>& image, const ImageTransform& transform,
                             int output_size = 20) {
  check_shape(image, image.cols(), -1, "mann::augment_image", "image");
  ImageAugmenter augmenter(static_cast<int>(image.rows()), output_size);
  const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = image;
  Vector<Scalar> out(static_cast<Index>(output_size) * output_size);
  augmenter.apply(row_major.data(), transform, out.data());
  return out;
}

}  // namespace mann
