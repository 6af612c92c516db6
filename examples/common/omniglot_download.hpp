// examples/common/omniglot_download.hpp: the examples' Omniglot download (not part of the library,
// which only looks the data up and never starts a process): fetches images_background.zip and
// images_evaluation.zip with curl or wget (started with posix_spawn, no shell) into a temporary
// file, checks it is a readable zip, and renames it into place; find_or_download_omniglot() uses
// the library's lookup and downloads to ./data/omniglot when nothing is found.
// Needs libzip (and, through mann/data/omniglot.hpp, libpng). POSIX only.
#pragma once

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/data/omniglot.hpp"

extern char** environ;

namespace mann_examples {

/// Where and how download_omniglot fetches the two official zips.
struct OmniglotDownloadOptions {
  /// The zips are `base_url + "images_background.zip"` and `base_url + "images_evaluation.zip"`.
  std::string base_url = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/";
  /// "curl", "wget" or a path to one of them; "": the first of curl, wget found in $PATH.
  std::string tool;
  /// Report the download on stderr.
  bool progress = true;
};

namespace detail {

/// The executable for `tool` ("" → curl, then wget), searched in $PATH unless it holds a '/'; "" if none.
inline std::string find_tool(const std::string& tool) {
  const std::vector<std::string> candidates = tool.empty() ? std::vector<std::string>{"curl", "wget"}
                                                           : std::vector<std::string>{tool};
  for (const std::string& candidate : candidates) {
    if (candidate.find('/') != std::string::npos) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      continue;
    }
    const char* path = std::getenv("PATH");
    const std::string directories = path != nullptr ? path : "";
    for (std::size_t start = 0; start <= directories.size();) {
      std::size_t colon = directories.find(':', start);
      if (colon == std::string::npos) colon = directories.size();
      const std::string folder = directories.substr(start, colon - start);
      if (!folder.empty()) {
        const std::string full = folder + "/" + candidate;
        struct stat info;
        if (::stat(full.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(full.c_str(), X_OK) == 0) return full;
      }
      start = colon + 1;
    }
  }
  return "";
}

/// Runs `argv` (no shell) and returns its exit status, or -1 if it could not be started / was killed.
inline int run_process(const std::vector<std::string>& arguments) {
  std::vector<char*> argv;
  for (const std::string& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// "" if `path` is a zip that libzip opens (consistency checked) with at least one entry, else why not.
inline std::string zip_problem(const std::filesystem::path& path) {
  int code = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (archive == nullptr) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    return message;
  }
  const zip_int64_t entries = zip_get_num_entries(archive, 0);
  zip_discard(archive);
  return entries > 0 ? "" : "it holds no entries";
}

}  // namespace detail

/// Downloads whichever of images_background.zip and images_evaluation.zip `dir` lacks (as a zip or a
/// folder) from options.base_url with curl or wget. Each goes to a temporary file in `dir`, is checked
/// to be a readable zip, and only then renamed; on failure the temporary file is removed.
/// \throws mann::FileError when no tool is found or the download fails; mann::FormatError when the
///   file is not a zip.
inline void download_omniglot(const std::string& dir, const OmniglotDownloadOptions& options = {}) {
  namespace fs = std::filesystem;
  using mann::detail::concat;
  const char* where = "download_omniglot";
  const std::string tool = detail::find_tool(options.tool);
  if (tool.empty()) {
    throw mann::FileError(concat(where, ": ", options.tool.empty() ? std::string("neither curl nor wget") : options.tool,
                                 " found in PATH; download ", options.base_url, "images_background.zip and ",
                                 options.base_url, "images_evaluation.zip into ", dir, " by hand"));
  }
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw mann::FileError(concat(where, ": cannot create ", dir, ": ", error.message()));
  const bool is_wget = fs::path(tool).filename().string().find("wget") != std::string::npos;
  for (const char* set : mann::detail::omniglot::set_names) {
    if (mann::detail::omniglot::has_set(dir, set)) continue;  // the library's layout check
    const std::string url = options.base_url + set + ".zip";
    const fs::path target = fs::path(dir) / (std::string(set) + ".zip");
    const fs::path temporary = fs::path(dir) / ("." + std::string(set) + ".zip.part-" + std::to_string(::getpid()));
    if (options.progress) std::fprintf(stderr, "%s: downloading %s to %s\n", where, url.c_str(), target.string().c_str());
    const std::vector<std::string> command =
        is_wget ? std::vector<std::string>{tool, "--quiet", "--output-document=" + temporary.string(), url}
                : std::vector<std::string>{tool, "--fail", "--location", "--silent", "--show-error", "--output",
                                           temporary.string(), url};
    const int status = detail::run_process(command);
    if (status != 0) {
      fs::remove(temporary, error);
      throw mann::FileError(concat(where, ": ", tool, " failed (", status < 0 ? std::string("could not run") : "exit status " + std::to_string(status),
                                   ") downloading ", url, "; nothing was written to ", target.string()));
    }
    const std::string problem = detail::zip_problem(temporary);
    if (!problem.empty()) {
      fs::remove(temporary, error);
      throw mann::FormatError(concat(where, ": the file downloaded from ", url, " is not a readable zip (", problem,
                                     "); nothing was written to ", target.string()));
    }
    fs::rename(temporary, target, error);
    if (error) {
      const std::string message = error.message();
      fs::remove(temporary, error);
      throw mann::FileError(concat(where, ": cannot rename the download to ", target.string(), ": ", message));
    }
  }
}

/// The Omniglot folder: the library's lookup (mann::find_omniglot_dir: $MANN_DATA_DIR, else
/// ./data/omniglot); when it finds nothing and MANN_DATA_DIR is not set, the two zips are
/// downloaded into ./data/omniglot. \throws mann::FileError when $MANN_DATA_DIR holds no data (a
/// setting the user made is never overridden by a download) or the download fails.
inline std::string find_or_download_omniglot(const OmniglotDownloadOptions& options = {}) {
  const char* env = std::getenv("MANN_DATA_DIR");
  if (env != nullptr && env[0] != '\0') return mann::find_omniglot_dir();
  const std::string local = "data/omniglot";
  if (mann::has_omniglot(local)) return mann::find_omniglot_dir();
  download_omniglot(local, options);
  return local;
}

}  // namespace mann_examples
