// mann/data/omniglot_cache.hpp: the bit-packed on-disk cache of the decoded Omniglot images, so a
// second run starts in well under a second: where it lives, a hash of its sources, and reading and
// writing it (through a temporary file and a rename). Used by mann/data/omniglot.hpp.
//
// Opt-in; links libpng and libzip like mann/data/omniglot_files.hpp.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/data/omniglot_images.hpp"
#include "mann/data/omniglot_listing.hpp"

namespace mann {
namespace detail {
namespace omniglot {

namespace fs = std::filesystem;

inline constexpr char cache_magic[8] = {'M', 'A', 'N', 'N', 'O', 'M', 'G', 'L'};
inline constexpr std::uint32_t cache_version = 1;
inline constexpr std::size_t cache_header_bytes = 48;


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

}  // namespace omniglot
}  // namespace detail

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

}  // namespace mann
