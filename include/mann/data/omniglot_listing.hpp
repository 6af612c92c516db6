// mann/data/omniglot_listing.hpp: Omniglot's official layout on disk (Lake et al. 2015):
// images_background and images_evaluation, each an extracted folder <set>/<alphabet>/characterNN/*.png
// or its zip; which folder holds the data ($MANN_DATA_DIR, else ./data/omniglot), what it holds, and
// the listing of the selected characters that mann/data/omniglot.hpp loads. Nothing is downloaded:
// the examples do that (examples/common/omniglot_download.hpp).
//
// Opt-in; links libpng and libzip like mann/data/omniglot_files.hpp.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/data/omniglot_files.hpp"
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

/// A 64-bit hash (multiply-rotate rounds, splitmix64 finaliser): fingerprints of the files (and the cache keys).
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

}  // namespace omniglot
}  // namespace detail

/// True if `dir` holds both sets, each as an extracted folder or as its zip.
inline bool has_omniglot(const std::string& dir) {
  for (const char* set : detail::omniglot::set_names) {
    if (!detail::omniglot::has_set(dir, set)) return false;
  }
  return true;
}

/// The Omniglot folder: $MANN_DATA_DIR if set (the folder itself or its omniglot/ subfolder), else
/// ./data/omniglot if it holds both sets. Nothing is downloaded (the examples do that, see
/// examples/common/omniglot_download.hpp). \throws FileError when $MANN_DATA_DIR holds no data, or
/// there is none in ./data/omniglot, saying how to get it.
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
  throw FileError(detail::concat(where, ": no Omniglot data: set MANN_DATA_DIR to a folder holding images_background.zip "
                                        "and images_evaluation.zip (from github.com/brendenlake/omniglot, python/), put "
                                        "them in ./", local, ", or run an Omniglot example once (it downloads them)"));
}

}  // namespace mann
