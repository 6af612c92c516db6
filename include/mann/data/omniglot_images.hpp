// mann/data/omniglot_images.hpp: the Omniglot images in memory (1-bit packed bitmaps, one row of
// drawings per character, names taken from the folders) and the train/test split of the characters.
// Needs Eigen only; the loader that fills it from the PNGs is mann/data/omniglot.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// Where one Omniglot character comes from: its set, alphabet and character folders and its drawings.
struct OmniglotCharacter {
  std::string set;                    ///< "images_background" or "images_evaluation"
  std::string alphabet;               ///< alphabet folder, e.g. "Braille"
  std::string character;              ///< character folder, e.g. "character01"
  std::vector<std::string> drawings;  ///< PNG file names in C-locale order, e.g. "0192_01.png"

  /// "alphabet/character", e.g. "Braille/character01".
  std::string name() const { return alphabet + "/" + character; }
};

inline bool operator==(const OmniglotCharacter& a, const OmniglotCharacter& b) {
  return a.set == b.set && a.alphabet == b.alphabet && a.character == b.character && a.drawings == b.drawings;
}
inline bool operator!=(const OmniglotCharacter& a, const OmniglotCharacter& b) { return !(a == b); }

/// Omniglot characters × 20 drawings of 105 × 105 binary pixels, ink = 1, background = 0.
///
/// Character order (fixed): images_background then images_evaluation, each sorted by alphabet folder
/// name, then by character folder name (byte order, i.e. the C locale); drawings sorted by file name.
/// The full set has 1623 characters. Each bitmap is packed row-major, 8 pixels per byte, least
/// significant bit first (pixel (row, col) is bit (row·105 + col)).
/// Thread-safety: const member functions are safe for concurrent readers.
class OmniglotImages {
 public:
  static constexpr int image_size = 105;
  static constexpr int drawings_per_character = 20;
  static constexpr int pixels_per_image = image_size * image_size;
  static constexpr std::size_t bytes_per_image = (pixels_per_image + 7) / 8;

  OmniglotImages() = default;

  /// All-background bitmaps for `characters`. \throws ValueError unless each has 20 drawings.
  explicit OmniglotImages(std::vector<OmniglotCharacter> characters) : characters_(std::move(characters)) {
    for (const OmniglotCharacter& c : characters_) {
      check_value(c.drawings.size() == static_cast<std::size_t>(drawings_per_character),
                  "mann::OmniglotImages", ("drawings of " + c.name()).c_str(), c.drawings.size(), "20");
    }
    bits_.assign(characters_.size() * drawings_per_character * bytes_per_image, 0);
  }

  /// Number of characters (classes).
  Index size() const { return static_cast<Index>(characters_.size()); }
  bool empty() const { return characters_.empty(); }

  const std::vector<OmniglotCharacter>& characters() const { return characters_; }

  /// \throws ValueError if `c` is out of range.
  const OmniglotCharacter& character(Index c) const {
    check_character(c, "mann::OmniglotImages::character");
    return characters_[static_cast<std::size_t>(c)];
  }

  /// Index of the character "alphabet/character", or -1 if absent.
  Index find(const std::string& alphabet, const std::string& character) const {
    for (std::size_t c = 0; c < characters_.size(); ++c) {
      if (characters_[c].alphabet == alphabet && characters_[c].character == character) return static_cast<Index>(c);
    }
    return -1;
  }

  /// The packed bitmap of drawing `d` of character `c` (bytes_per_image bytes). No range check.
  const std::uint8_t* packed(Index c, int d) const { return bits_.data() + offset(c, d); }
  std::uint8_t* packed(Index c, int d) { return bits_.data() + offset(c, d); }

  /// Every bitmap, character-major then drawing (size() × 20 × bytes_per_image bytes).
  const std::vector<std::uint8_t>& packed_data() const { return bits_; }
  std::vector<std::uint8_t>& packed_data() { return bits_; }

  /// True where drawing `d` of character `c` has ink at (row, col). No range check.
  bool pixel(Index c, int d, int row, int col) const {
    const int bit = row * image_size + col;
    return ((packed(c, d)[bit >> 3] >> (bit & 7)) & 1u) != 0;
  }

  /// Writes the 105 × 105 pixels, row-major, ink = 1, into `out`. No range check.
  template <class T>
  void unpack(Index c, int d, T* out) const {
    const std::uint8_t* bytes = packed(c, d);
    for (int i = 0; i < pixels_per_image; ++i) out[i] = static_cast<T>((bytes[i >> 3] >> (i & 7)) & 1u);
  }

  /// Drawing `d` of character `c` as a 105 × 105 matrix (row, col), ink = 1.
  /// \throws ValueError if `c` or `d` is out of range.
  template <class Scalar = float>
  Matrix<Scalar> image(Index c, int d) const {
    check_character(c, "mann::OmniglotImages::image");
    check_value(d >= 0 && d < drawings_per_character, "mann::OmniglotImages::image", "drawing", d, "in [0, 20)");
    Matrix<Scalar> m(image_size, image_size);
    for (int row = 0; row < image_size; ++row) {
      for (int col = 0; col < image_size; ++col) m(row, col) = pixel(c, d, row, col) ? Scalar(1) : Scalar(0);
    }
    return m;
  }

  /// Number of ink pixels in drawing `d` of character `c`.
  int ink(Index c, int d) const {
    const std::uint8_t* bytes = packed(c, d);
    int count = 0;
    for (std::size_t i = 0; i < bytes_per_image; ++i) {
      for (std::uint8_t b = bytes[i]; b != 0; b &= static_cast<std::uint8_t>(b - 1)) ++count;
    }
    return count;
  }

 private:
  std::size_t offset(Index c, int d) const {
    return (static_cast<std::size_t>(c) * drawings_per_character + static_cast<std::size_t>(d)) * bytes_per_image;
  }
  void check_character(Index c, const char* where) const {
    check_value(c >= 0 && c < size(), where, "character", c, ("in [0, " + std::to_string(size()) + ")").c_str());
  }

  std::vector<OmniglotCharacter> characters_;
  std::vector<std::uint8_t> bits_;
};

/// Character indices for training and for testing; disjoint.
struct CharacterSplit {
  std::vector<Index> train;
  std::vector<Index> test;
};

/// Santoro et al. 4.1: the first `train_count` characters (in the fixed order above) for training,
/// the rest (423 of 1623 by default) held out for testing.
/// \throws ValueError unless 0 <= train_count <= images.size().
inline CharacterSplit split_characters(const OmniglotImages& images, Index train_count = 1200) {
  check_value(train_count >= 0 && train_count <= images.size(), "mann::split_characters", "train_count", train_count,
              ("in [0, " + std::to_string(images.size()) + "] (the number of characters)").c_str());
  CharacterSplit split;
  for (Index c = 0; c < images.size(); ++c) (c < train_count ? split.train : split.test).push_back(c);
  return split;
}

/// The official split (as in Kaiser et al.'s released code): images_background characters for training,
/// images_evaluation characters for testing (964 / 659 on the full set).
inline CharacterSplit split_by_set(const OmniglotImages& images) {
  CharacterSplit split;
  for (Index c = 0; c < images.size(); ++c) {
    (images.characters()[static_cast<std::size_t>(c)].set == "images_background" ? split.train : split.test).push_back(c);
  }
  return split;
}

}  // namespace mann
