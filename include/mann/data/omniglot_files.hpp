// mann/data/omniglot_files.hpp: the two file formats Omniglot comes in, read in-process: a zip
// archive's entries (libzip, CRC-32 checked) and 105 × 105 PNGs decoded into packed bitmaps (libpng).
// Used by mann/data/omniglot.hpp and mann/data/omniglot_lake_runs.hpp; not a public API.
//
// Opt-in (not in mann/mann.hpp). POSIX only. Link libpng and libzip, e.g. in CMake:
//   find_package(PNG REQUIRED)
//   find_package(PkgConfig REQUIRED)
//   pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
//   target_link_libraries(app PRIVATE mann::mann PNG::PNG PkgConfig::LIBZIP)
// (libzip's own CMake config, libzip::zip, works too where its command-line tools are installed;
// Debian 12's fails without the libzip-tools package.)
// Why these two (both in every Linux distribution, e.g. Debian's libpng-dev and libzip-dev):
// * libpng's simplified API checks every chunk CRC and the zlib Adler-32, so a damaged file fails with
//   a message instead of decoding into wrong pixels (stb_image skips both checks), and as a shared
//   library it raises no one-definition-rule question in a header-only library (stb_image's
//   implementation would have to live in exactly one translation unit, or be `static` in each).
// * libzip reads each entry in-process with its CRC-32 verified, with random access per entry, so two
//   threads can decode from their own handles; no temporary extraction of 32,460 files and no `unzip`
//   process to find, quote arguments for and parse the output of.
#pragma once

#include <png.h>
#include <zip.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/data/omniglot_images.hpp"

namespace mann {
namespace detail {
namespace omniglot {

namespace fs = std::filesystem;

/// libzip archive handle (one per thread: a zip_t must not be shared between threads).
class ZipArchive {
 public:
  ZipArchive(const fs::path& path, const char* where) : path_(path.string()) {
    int code = 0;
    archive_ = zip_open(path_.c_str(), ZIP_RDONLY, &code);
    if (archive_ == nullptr) {
      zip_error_t error;
      zip_error_init_with_code(&error, code);
      const std::string message = zip_error_strerror(&error);
      zip_error_fini(&error);
      const std::string text = detail::concat(where, ": cannot open zip ", path_, ": ", message);
      if (code == ZIP_ER_NOENT || code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_MEMORY) throw FileError(text);
      throw FormatError(text);
    }
  }
  ~ZipArchive() {
    if (archive_ != nullptr) zip_discard(archive_);
  }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  zip_t* get() const { return archive_; }
  const std::string& path() const { return path_; }

  /// Reads entry `index` whole into `out`, its CRC-32 checked. \throws FormatError naming the entry.
  void read(zip_uint64_t index, const std::string& name, const char* where, std::vector<unsigned char>& out) const {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive_, index, 0, &stat) != 0 || (stat.valid & ZIP_STAT_SIZE) == 0) {
      throw FormatError(detail::concat(where, ": ", path_, ":", name, ": cannot read its size: ", zip_strerror(archive_)));
    }
    if (stat.size > (1u << 26)) {
      throw FormatError(detail::concat(where, ": ", path_, ":", name, ": entry of ", stat.size, " bytes, expected a small PNG"));
    }
    out.resize(static_cast<std::size_t>(stat.size));
    zip_file_t* file = zip_fopen_index(archive_, index, 0);
    if (file == nullptr) {
      throw FormatError(detail::concat(where, ": ", path_, ":", name, ": cannot open entry: ", zip_strerror(archive_)));
    }
    // NOTE: libzip compares the CRC-32 when it reaches the end of the data, so read one byte past it.
    const zip_int64_t got = out.empty() ? 0 : zip_fread(file, out.data(), out.size());
    unsigned char extra = 0;
    const zip_int64_t more = got < 0 ? -1 : zip_fread(file, &extra, 1);
    const std::string message = (got < 0 || more != 0) ? std::string(zip_file_strerror(file)) : std::string();
    zip_fclose(file);
    if (got != static_cast<zip_int64_t>(out.size()) || more != 0) {
      throw FormatError(detail::concat(where, ": ", path_, ":", name, ": corrupt zip entry",
                                       message.empty() ? std::string() : ": " + message));
    }
  }

 private:
  std::string path_;
  zip_t* archive_ = nullptr;
};

/// Decodes one 105 × 105 PNG (any bit depth or colour type; grey < 128 is ink) into a packed bitmap.
/// `gray` is a workspace. \throws FormatError naming `name` when the file is not a readable PNG of that size.
inline void decode_png(const unsigned char* data, std::size_t size, const std::string& name, const char* where,
                       std::vector<unsigned char>& gray, std::uint8_t* packed) {
  constexpr int side = OmniglotImages::image_size;
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&image, data, size) == 0) {
    throw FormatError(detail::concat(where, ": ", name, ": not a readable PNG (", image.message, ")"));
  }
  if (image.width != static_cast<png_uint_32>(side) || image.height != static_cast<png_uint_32>(side)) {
    const png_uint_32 width = image.width, height = image.height;
    png_image_free(&image);
    throw FormatError(detail::concat(where, ": ", name, ": image is ", width, " x ", height, " pixels, expected ",
                                     side, " x ", side));
  }
  image.format = PNG_FORMAT_GRAY;
  gray.assign(static_cast<std::size_t>(side) * side, 255);  // white under any alpha
  if (png_image_finish_read(&image, nullptr, gray.data(), side, nullptr) == 0) {
    const std::string message = image.message;
    png_image_free(&image);
    throw FormatError(detail::concat(where, ": ", name, ": corrupt PNG (", message, ")"));
  }
  png_image_free(&image);
  // The PNGs store 1 = white background, 0 = ink; we keep ink = 1.
  std::memset(packed, 0, OmniglotImages::bytes_per_image);
  for (int i = 0; i < side * side; ++i) {
    if (gray[static_cast<std::size_t>(i)] < 128) packed[i >> 3] = static_cast<std::uint8_t>(packed[i >> 3] | (1u << (i & 7)));
  }
}

}  // namespace omniglot
}  // namespace detail

}  // namespace mann
