// mann/data/omniglot.hpp: reads Omniglot (Lake et al. 2015) in its official layout, from the zips
// images_background.zip / images_evaluation.zip or from the extracted folders, into OmniglotImages,
// decoding on several threads and keeping a bit-packed on-disk cache (mann/data/omniglot_cache.hpp).
// find_omniglot_dir (mann/data/omniglot_listing.hpp) says where the data is; nothing is downloaded.
//
// Opt-in (not in mann/mann.hpp). POSIX only. Link libpng and libzip (see mann/data/omniglot_files.hpp
// for the CMake lines and why these two).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/thread_pool.hpp"
#include "mann/data/omniglot_cache.hpp"
#include "mann/data/omniglot_files.hpp"
#include "mann/data/omniglot_images.hpp"
#include "mann/data/omniglot_listing.hpp"

namespace mann {
namespace detail {
namespace omniglot {

namespace fs = std::filesystem;

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
  auto work = [&](int /*thread*/) {
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
      failed = true;  // the others stop at their next character; the pool rethrows the first error
      throw;
    }
  };
  ThreadPool pool(threads);  // one load runs for seconds: starting its threads costs nothing here
  pool.run(threads, work);
}

}  // namespace omniglot
}  // namespace detail

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

}  // namespace mann
