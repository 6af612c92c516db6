// mann/data/omniglot.hpp: reads Omniglot (Lake et al. 2015) in its official layout, from the zips
// images_background.zip / images_evaluation.zip or from the extracted folders, into OmniglotImages;
// keeps a bit-packed on-disk cache so a second run starts in well under a second; finds the data
// ($MANN_DATA_DIR, ./data/omniglot). It never downloads or starts a process: the examples do
// (examples/common/omniglot_download.hpp).
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
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/data/omniglot_images.hpp"

namespace mann {

/// What load_omniglot reads and how.
struct OmniglotLoadOptions {
  /// Keep only these alphabet folders (of either set); empty: every alphabet.
  std::vector<std::string> alphabets;
  /// Then keep only the first `alphabet_limit` alphabets of each set, in folder-name order; 0: all.
  int alphabet_limit = 0;
  /// Read and write the bit-packed cache.
  bool use_cache = true;
  /// Cache folder; "": $XDG_CACHE_HOME/mann, else $HOME/.cache/mann (never the data folder, which
  /// may be shared or read-only), else no cache. The file name hashes the absolute data folder.
  std::string cache_dir;
  /// Decoding threads for an uncached load; <= 0: one per hardware thread.
  int threads = 2;
  /// Report an uncached load (and a rejected cache) on stderr.
  bool progress = true;
};

namespace detail {
namespace omniglot {

namespace fs = std::filesystem;

inline constexpr std::array<const char*, 2> set_names = {"images_background", "images_evaluation"};
inline constexpr char cache_magic[8] = {'M', 'A', 'N', 'N', 'O', 'M', 'G', 'L'};
inline constexpr std::uint32_t cache_version = 1;
inline constexpr std::size_t cache_header_bytes = 48;

/// A 64-bit hash (multiply-rotate rounds, splitmix64 finaliser): detects corrupt or stale caches.
class Hasher {
 public:
  void add(std::uint64_t value) {
    state_ = rotate(state_ ^ (value * 0x9E3779B97F4A7C15ull), 29) * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
    ++count_;
  }
  void add(const std::string& text) {
    add(static_cast<std::uint64_t>(text.size()));
    add_bytes(text.data(), text.size());
  }
  void add_bytes(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      add(word);
    }
    std::uint64_t tail = 0;
    for (std::size_t k = 0; i + k < size; ++k) tail |= static_cast<std::uint64_t>(bytes[i + k]) << (8 * k);
    add(tail ^ (static_cast<std::uint64_t>(size) << 56));
  }
  std::uint64_t value() const {
    std::uint64_t z = state_ ^ count_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  static std::uint64_t rotate(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_ = 0x6A09E667F3BCC908ull;
  std::uint64_t count_ = 0;
};

inline std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

inline bool is_hidden(const std::string& name) { return name.empty() || name[0] == '.'; }

inline bool ends_with_png(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".png") == 0;
}

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

/// One set (background or evaluation) as found on disk: its selected characters and their files.
struct SetListing {
  std::string set;
  bool is_zip = false;
  fs::path path;                                       ///< the set folder or the zip file
  std::vector<OmniglotCharacter> characters;           ///< selected characters, in the fixed order
  std::vector<std::vector<zip_uint64_t>> zip_entries;  ///< zip only: entry index of every drawing
  std::uint64_t fingerprint = 0;                       ///< names + sizes + CRCs (zip) or mtimes (folder)

  std::string file_name(std::size_t c, std::size_t d) const {
    const OmniglotCharacter& ch = characters[c];
    const std::string relative = ch.set + "/" + ch.alphabet + "/" + ch.character + "/" + ch.drawings[d];
    return is_zip ? path.string() + ":" + relative : (path.parent_path() / relative).string();
  }
};

/// Files of a character folder: file name → zip entry index (0 for folders).
using CharacterFiles = std::map<std::string, zip_uint64_t>;
/// alphabet → character → files; std::map orders std::string bytewise, i.e. as in the C locale.
using SetTree = std::map<std::string, std::map<std::string, CharacterFiles>>;

inline std::vector<std::string> list_folder(const fs::path& folder, bool want_directories, const char* where) {
  std::vector<std::string> names;
  std::error_code error;
  fs::directory_iterator it(folder, error);
  if (error) throw FileError(detail::concat(where, ": cannot list ", folder.string(), ": ", error.message()));
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (is_hidden(name)) continue;
    std::error_code type_error;
    const bool is_directory = entry.is_directory(type_error);
    if (want_directories ? is_directory : (!is_directory && ends_with_png(name))) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline bool wanted(const std::string& alphabet, const OmniglotLoadOptions& options) {
  return options.alphabets.empty() ||
         std::find(options.alphabets.begin(), options.alphabets.end(), alphabet) != options.alphabets.end();
}

/// Applies the alphabet filter and limit to `alphabets` (sorted).
inline std::vector<std::string> select_alphabets(const std::vector<std::string>& alphabets,
                                                 const OmniglotLoadOptions& options) {
  std::vector<std::string> selected;
  for (const std::string& a : alphabets) {
    if (!wanted(a, options)) continue;
    if (options.alphabet_limit > 0 && static_cast<int>(selected.size()) >= options.alphabet_limit) break;
    selected.push_back(a);
  }
  return selected;
}

inline fs::path set_folder(const fs::path& dir, const std::string& set) { return dir / set; }
inline fs::path set_zip(const fs::path& dir, const std::string& set) { return dir / (set + ".zip"); }

inline bool has_set(const fs::path& dir, const std::string& set) {
  std::error_code error;
  return fs::is_directory(set_folder(dir, set), error) || fs::is_regular_file(set_zip(dir, set), error);
}

/// Lists one set, preferring the extracted folder over the zip, and checks its layout.
inline SetListing list_set(const fs::path& dir, const std::string& set, const OmniglotLoadOptions& options,
                           const char* where) {
  SetListing listing;
  listing.set = set;
  std::error_code error;
  SetTree tree;
  std::vector<std::string> all_alphabets;
  std::unique_ptr<ZipArchive> archive;
  if (fs::is_directory(set_folder(dir, set), error)) {
    listing.path = set_folder(dir, set);
    all_alphabets = list_folder(listing.path, true, where);
    for (const std::string& alphabet : select_alphabets(all_alphabets, options)) {
      auto& characters = tree[alphabet];
      for (const std::string& character : list_folder(listing.path / alphabet, true, where)) {
        CharacterFiles& files = characters[character];
        for (const std::string& file : list_folder(listing.path / alphabet / character, false, where)) files[file] = 0;
      }
    }
  } else if (fs::is_regular_file(set_zip(dir, set), error)) {
    listing.is_zip = true;
    listing.path = set_zip(dir, set);
    archive = std::make_unique<ZipArchive>(listing.path, where);
    const zip_int64_t count = zip_get_num_entries(archive->get(), 0);
    SetTree everything;
    for (zip_int64_t i = 0; i < count; ++i) {
      const char* raw = zip_get_name(archive->get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
      if (raw == nullptr) continue;
      // "<set>/<alphabet>/<character>/<file>.png", or a directory entry ending in '/'.
      std::vector<std::string> parts;
      std::string name = raw;
      for (std::size_t start = 0;;) {
        const std::size_t slash = name.find('/', start);
        parts.push_back(name.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
      if (!parts.empty() && parts.back().empty()) parts.pop_back();  // directory entry
      if (parts.size() < 2 || parts.size() > 4 || parts[0] != set) continue;
      if (std::any_of(parts.begin() + 1, parts.end(), [](const std::string& p) { return is_hidden(p); })) continue;
      const bool is_directory = name.back() == '/';
      if (parts.size() == 4 && (is_directory || !ends_with_png(parts[3]))) continue;
      auto& characters = everything[parts[1]];
      if (parts.size() >= 3) {
        CharacterFiles& files = characters[parts[2]];
        if (parts.size() == 4) files[parts[3]] = static_cast<zip_uint64_t>(i);
      }
    }
    for (const auto& alphabet : everything) all_alphabets.push_back(alphabet.first);
    for (const std::string& alphabet : select_alphabets(all_alphabets, options)) tree[alphabet] = everything[alphabet];
  } else {
    throw FileError(detail::concat(where, ": neither ", set_folder(dir, set).string(), "/ nor ",
                                   set_zip(dir, set).string(), " exists"));
  }
  if (all_alphabets.empty()) {
    throw FormatError(detail::concat(where, ": ", listing.path.string(), " holds no alphabet folders (expected ", set,
                                     "/<alphabet>/characterNN/*.png)"));
  }

  Hasher hash;
  hash.add(set);
  hash.add(static_cast<std::uint64_t>(listing.is_zip));
  for (const auto& [alphabet, characters] : tree) {
    const std::string alphabet_name = listing.path.string() + (listing.is_zip ? ":" + set + "/" : "/") + alphabet;
    if (characters.empty()) throw FormatError(detail::concat(where, ": ", alphabet_name, ": no character folders"));
    for (const auto& [character, files] : characters) {
      if (files.size() != static_cast<std::size_t>(OmniglotImages::drawings_per_character)) {
        throw FormatError(detail::concat(where, ": ", alphabet_name, "/", character, ": ", files.size(),
                                         " PNG drawings, expected ", OmniglotImages::drawings_per_character));
      }
      OmniglotCharacter entry{set, alphabet, character, {}};
      std::vector<zip_uint64_t> indices;
      for (const auto& [file, index] : files) {
        entry.drawings.push_back(file);
        indices.push_back(index);
        hash.add(alphabet + "/" + character + "/" + file);
        if (listing.is_zip) {
          zip_stat_t stat;
          zip_stat_init(&stat);
          if (zip_stat_index(archive->get(), index, 0, &stat) != 0) {
            throw FormatError(detail::concat(where, ": ", alphabet_name, "/", character, "/", file, ": ",
                                             zip_strerror(archive->get())));
          }
          hash.add(static_cast<std::uint64_t>(stat.size));
          hash.add(static_cast<std::uint64_t>(stat.crc));
        } else {
          const fs::path path = listing.path / alphabet / character / file;
          struct stat info;
          if (::stat(path.c_str(), &info) != 0) {
            throw FileError(detail::concat(where, ": cannot stat ", path.string(), ": ", std::strerror(errno)));
          }
          hash.add(static_cast<std::uint64_t>(info.st_size));
          hash.add(static_cast<std::uint64_t>(info.st_mtim.tv_sec));
          hash.add(static_cast<std::uint64_t>(info.st_mtim.tv_nsec));
        }
      }
      listing.characters.push_back(std::move(entry));
      listing.zip_entries.push_back(std::move(indices));
    }
  }
  listing.fingerprint = hash.value();
  return listing;
}

// ---- cache ------------------------------------------------------------------------------------

inline void put_u32(std::vector<unsigned char>& out, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<unsigned char>(v >> (8 * k)));
}
inline void put_u64(std::vector<unsigned char>& out, std::uint64_t v) {
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<unsigned char>(v >> (8 * k)));
}
inline std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v |= static_cast<std::uint64_t>(p[k]) << (8 * k);
  return v;
}

/// Identity of what the cache must hold: format, selection and the source fingerprints.
inline std::uint64_t source_key(const std::vector<SetListing>& sets, const OmniglotLoadOptions& options) {
  Hasher hash;
  hash.add(static_cast<std::uint64_t>(cache_version));
  hash.add(static_cast<std::uint64_t>(options.alphabets.size()));
  for (const std::string& a : options.alphabets) hash.add(a);
  hash.add(static_cast<std::uint64_t>(std::max(options.alphabet_limit, 0)));
  for (const SetListing& s : sets) hash.add(s.fingerprint);
  return hash.value();
}

/// Names block of the cache payload: per character set, alphabet, character and the 20 file names.
inline std::vector<unsigned char> encode_names(const std::vector<OmniglotCharacter>& characters) {
  std::vector<unsigned char> out;
  auto put_string = [&out](const std::string& s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  };
  for (const OmniglotCharacter& c : characters) {
    put_string(c.set);
    put_string(c.alphabet);
    put_string(c.character);
    for (const std::string& d : c.drawings) put_string(d);
  }
  return out;
}

/// Cache layout (little-endian): magic "MANNOMGL", u32 version, u32 image side (105), u32 drawings (20),
/// u32 characters, u64 source key, u64 payload bytes, u64 payload hash; payload = names block, then
/// characters × 20 packed bitmaps.
inline std::vector<unsigned char> cache_header(const OmniglotImages& images, std::uint64_t key, std::uint64_t payload_bytes,
                                               std::uint64_t payload_hash) {
  std::vector<unsigned char> header(cache_magic, cache_magic + 8);
  put_u32(header, cache_version);
  put_u32(header, OmniglotImages::image_size);
  put_u32(header, OmniglotImages::drawings_per_character);
  put_u32(header, static_cast<std::uint32_t>(images.size()));
  put_u64(header, key);
  put_u64(header, payload_bytes);
  put_u64(header, payload_hash);
  return header;
}

/// Reads a cache into `images` if it is intact and matches `key` and `characters`; else returns false
/// and says why in `reason`.
inline bool read_cache(const fs::path& path, std::uint64_t key, const std::vector<OmniglotCharacter>& characters,
                       OmniglotImages& images, std::string& reason) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    reason = "no cache file";
    return false;
  }
  unsigned char header[cache_header_bytes];
  if (!in.read(reinterpret_cast<char*>(header), cache_header_bytes)) {
    reason = "truncated header";
    return false;
  }
  if (std::memcmp(header, cache_magic, 8) != 0) {
    reason = "bad magic";
    return false;
  }
  if (get_le(header + 8, 4) != cache_version || get_le(header + 12, 4) != OmniglotImages::image_size ||
      get_le(header + 16, 4) != OmniglotImages::drawings_per_character) {
    reason = "other format version";
    return false;
  }
  if (get_le(header + 20, 4) != characters.size() || get_le(header + 24, 8) != key) {
    reason = "made from other files or another selection";
    return false;
  }
  const std::vector<unsigned char> names = encode_names(characters);
  OmniglotImages loaded(characters);
  std::vector<std::uint8_t>& bits = loaded.packed_data();
  if (get_le(header + 32, 8) != names.size() + bits.size()) {
    reason = "wrong payload size";
    return false;
  }
  std::vector<unsigned char> stored_names(names.size());
  if (!in.read(reinterpret_cast<char*>(stored_names.data()), static_cast<std::streamsize>(stored_names.size())) ||
      !in.read(reinterpret_cast<char*>(bits.data()), static_cast<std::streamsize>(bits.size()))) {
    reason = "truncated payload";
    return false;
  }
  if (in.peek() != std::char_traits<char>::eof()) {
    reason = "trailing bytes";
    return false;
  }
  Hasher hash;
  hash.add_bytes(stored_names.data(), stored_names.size());
  hash.add_bytes(bits.data(), bits.size());
  if (hash.value() != get_le(header + 40, 8)) {
    reason = "checksum mismatch";
    return false;
  }
  if (stored_names != names) {
    reason = "other character names";
    return false;
  }
  images = std::move(loaded);
  return true;
}

/// Writes the cache to a temporary file beside `path`, then renames it; returns "" or why it failed.
inline std::string write_cache(const fs::path& path, std::uint64_t key, const OmniglotImages& images) {
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) return "cannot create " + path.parent_path().string() + ": " + error.message();
  const std::vector<unsigned char> names = encode_names(images.characters());
  const std::vector<std::uint8_t>& bits = images.packed_data();
  Hasher hash;
  hash.add_bytes(names.data(), names.size());
  hash.add_bytes(bits.data(), bits.size());
  const std::vector<unsigned char> header = cache_header(images, key, names.size() + bits.size(), hash.value());

  static std::atomic<unsigned> serial{0};
  const fs::path temporary =
      path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(serial.fetch_add(1));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(names.data()), static_cast<std::streamsize>(names.size()));
    out.write(reinterpret_cast<const char*>(bits.data()), static_cast<std::streamsize>(bits.size()));
    out.close();
    if (!out) {
      fs::remove(temporary, error);
      return "cannot write " + temporary.string();
    }
  }
  fs::rename(temporary, path, error);
  if (error) {
    const std::string message = "cannot rename " + temporary.string() + " to " + path.string() + ": " + error.message();
    fs::remove(temporary, error);
    return message;
  }
  return "";
}

inline fs::path default_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return fs::path(xdg) / "mann";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return fs::path(home) / ".cache" / "mann";
  return fs::path();
}

// ---- decoding -----------------------------------------------------------------------------------

/// Decodes every selected PNG into `images` with `threads` threads (each with its own zip handles).
inline void decode_all(const fs::path& dir, const std::vector<SetListing>& sets, OmniglotImages& images, int threads,
                       bool progress, const char* where) {
  struct Job {
    std::size_t set, character;
  };
  std::vector<Job> jobs;
  for (std::size_t s = 0; s < sets.size(); ++s) {
    for (std::size_t c = 0; c < sets[s].characters.size(); ++c) jobs.push_back({s, c});
  }
  const std::size_t total = jobs.size() * OmniglotImages::drawings_per_character;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(threads), std::max<std::size_t>(jobs.size(), 1)));
  if (progress) {
    std::fprintf(stderr, "%s: decoding %zu PNGs from %s with %d thread%s\n", where, total, dir.string().c_str(), threads,
                 threads == 1 ? "" : "s");
  }
  const std::size_t report_step = std::max<std::size_t>(total / 10, 1);
  std::atomic<std::size_t> next_job{0}, done{0}, next_report{report_step};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&]() {
    try {
      std::array<std::unique_ptr<ZipArchive>, 2> archives;
      std::vector<unsigned char> bytes, gray;
      while (!failed.load(std::memory_order_relaxed)) {
        const std::size_t j = next_job.fetch_add(1);
        if (j >= jobs.size()) break;
        const SetListing& set = sets[jobs[j].set];
        const std::size_t c = jobs[j].character;
        Index image_character = static_cast<Index>(c);
        for (std::size_t s = 0; s < jobs[j].set; ++s) image_character += static_cast<Index>(sets[s].characters.size());
        for (int d = 0; d < OmniglotImages::drawings_per_character; ++d) {
          const std::string name = set.file_name(c, static_cast<std::size_t>(d));
          if (set.is_zip) {
            auto& archive = archives[jobs[j].set];
            if (!archive) archive = std::make_unique<ZipArchive>(set.path, where);
            const OmniglotCharacter& ch = set.characters[c];
            archive->read(set.zip_entries[c][static_cast<std::size_t>(d)],
                          ch.set + "/" + ch.alphabet + "/" + ch.character + "/" + ch.drawings[static_cast<std::size_t>(d)],
                          where, bytes);
          } else {
            std::ifstream in(name, std::ios::binary);
            if (!in) throw FileError(detail::concat(where, ": cannot open ", name, ": ", std::strerror(errno)));
            bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            if (in.bad()) throw FileError(detail::concat(where, ": cannot read ", name));
          }
          decode_png(bytes.data(), bytes.size(), name, where, gray, images.packed(image_character, d));
        }
        const std::size_t now = done.fetch_add(OmniglotImages::drawings_per_character) + OmniglotImages::drawings_per_character;
        std::size_t mark = next_report.load();
        if (progress && now >= mark && now < total &&
            next_report.compare_exchange_strong(mark, (now / report_step + 1) * report_step)) {
          std::fprintf(stderr, "%s: %zu / %zu images\n", where, now, total);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace omniglot
}  // namespace detail

/// True if `dir` holds both sets, each as an extracted folder or as its zip.
inline bool has_omniglot(const std::string& dir) {
  for (const char* set : detail::omniglot::set_names) {
    if (!detail::omniglot::has_set(dir, set)) return false;
  }
  return true;
}

/// Where the cache for (`dir`, `options`) lives: "<cache dir>/omniglot-<key>.mannbits", where the key
/// hashes the absolute data folder and the alphabet selection; "" when there is no place for it.
inline std::string omniglot_cache_path(const std::string& dir, const OmniglotLoadOptions& options = {}) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path absolute = fs::absolute(dir, error);
  if (error) absolute = dir;
  fs::path canonical = fs::weakly_canonical(absolute, error);
  if (!error) absolute = canonical;
  const fs::path cache_dir = options.cache_dir.empty() ? detail::omniglot::default_cache_dir() : fs::path(options.cache_dir);
  if (cache_dir.empty()) return "";
  detail::omniglot::Hasher hash;
  hash.add(absolute.string());
  hash.add(static_cast<std::uint64_t>(options.alphabets.size()));
  for (const std::string& a : options.alphabets) hash.add(a);
  hash.add(static_cast<std::uint64_t>(std::max(options.alphabet_limit, 0)));
  return (cache_dir / ("omniglot-" + detail::omniglot::hex64(hash.value()) + ".mannbits")).string();
}

/// Reads Omniglot from `dir`, which holds images_background/ and images_evaluation/ (the official
/// layout <set>/<alphabet>/characterNN/*.png) or images_background.zip and images_evaluation.zip; an
/// extracted folder is preferred over its zip. Alphabet and character come from the folder names,
/// in the order documented on OmniglotImages (1623 characters × 20 drawings for the full set).
///
/// With options.use_cache, a valid cache is read instead of the PNGs; it is valid when it is intact
/// (checksum) and made from the same files (names and sizes plus CRCs for zips, mtimes for folders)
/// with the same selection. Otherwise the PNGs are decoded and the cache is (re)written through a
/// temporary file and a rename; a failure to write it is reported on stderr, not thrown.
/// \throws FileError when a set, folder or file is missing or unreadable; FormatError, naming the
///   file, when a PNG or zip entry is corrupt or not 105 × 105, or a character has other than 20
///   PNGs; ValueError when options.alphabets names an alphabet that is not there.
inline OmniglotImages load_omniglot(const std::string& dir, const OmniglotLoadOptions& options = {}) {
  namespace fs = std::filesystem;
  namespace om = detail::omniglot;
  const char* where = "mann::load_omniglot";
  check_value(options.alphabet_limit >= 0, where, "options.alphabet_limit", options.alphabet_limit, ">= 0");
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw FileError(detail::concat(where, ": data folder ", dir, " does not exist"));
  const auto start = std::chrono::steady_clock::now();

  std::vector<om::SetListing> sets;
  std::vector<OmniglotCharacter> characters;
  for (const char* set : om::set_names) {
    sets.push_back(om::list_set(dir, set, options, where));
    characters.insert(characters.end(), sets.back().characters.begin(), sets.back().characters.end());
  }
  for (const std::string& alphabet : options.alphabets) {
    if (std::none_of(characters.begin(), characters.end(), [&](const OmniglotCharacter& c) { return c.alphabet == alphabet; })) {
      throw ValueError(detail::concat(where, ": options.alphabets names \"", alphabet, "\", which is in neither set of ", dir));
    }
  }

  const std::uint64_t key = om::source_key(sets, options);
  const std::string cache = options.use_cache ? omniglot_cache_path(dir, options) : std::string();
  OmniglotImages images;
  if (!cache.empty()) {
    std::string reason;
    if (om::read_cache(cache, key, characters, images, reason)) return images;
    if (options.progress && reason != "no cache file") {
      std::fprintf(stderr, "%s: cache %s is stale or corrupt (%s); rebuilding it\n", where, cache.c_str(), reason.c_str());
    }
  }

  images = OmniglotImages(characters);
  om::decode_all(dir, sets, images, options.threads, options.progress, where);
  std::string written;
  if (!cache.empty()) {
    const std::string failure = om::write_cache(cache, key, images);
    if (failure.empty()) {
      written = "; cache written to " + cache;
    } else {
      std::fprintf(stderr, "%s: warning: cache not written (%s)\n", where, failure.c_str());
    }
  }
  if (options.progress) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s: %lld characters x 20 drawings read in %.2f s%s\n", where,
                 static_cast<long long>(images.size()), seconds, written.c_str());
  }
  return images;
}

/// The Omniglot folder: $MANN_DATA_DIR if set (the folder itself or its omniglot/ subfolder), else
/// ./data/omniglot if it holds both sets. Looks only; never downloads.
/// \throws FileError when $MANN_DATA_DIR holds no data, or nothing is found; the message says how
///   to get the data.
inline std::string find_omniglot_dir() {
  const char* where = "mann::find_omniglot_dir";
  const char* env = std::getenv("MANN_DATA_DIR");
  if (env != nullptr && env[0] != '\0') {
    const std::string root = env;
    if (has_omniglot(root)) return root;
    if (has_omniglot(root + "/omniglot")) return root + "/omniglot";
    throw FileError(detail::concat(where, ": MANN_DATA_DIR is ", root,
                                   ", which holds neither images_background(.zip) and images_evaluation(.zip) nor an "
                                   "omniglot/ folder with them"));
  }
  const std::string local = "data/omniglot";
  if (has_omniglot(local)) return local;
  throw FileError(detail::concat(where, ": no Omniglot data: set MANN_DATA_DIR to the folder holding "
                                        "images_background.zip and images_evaluation.zip, or put the two zips in ./",
                                 local, ", or run one of mann's Omniglot examples, which downloads them there"));
}

}  // namespace mann
