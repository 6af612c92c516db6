// examples/common/output.hpp: helpers shared by the examples (not part of the library): the output
// folder checked before training, the CSV training log (every write checked; on --resume cut
// back to the checkpoint so rows never repeat after a kill or a failed save), and the names of the
// checkpoints --keep-checkpoints keeps; write_file_whole for result files written whole or not at all.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "mann/core/error.hpp"

namespace mann_examples {

/// Creates `dir` (and its parents) and checks that a file can be made there: a probe file is
/// created, written and removed. \throws mann::FileError naming the folder and the reason.
inline void ensure_writable_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw mann::FileError("cannot create the output folder " + dir + ": " + error.message());
  if (!fs::is_directory(dir, error)) throw mann::FileError("the output folder " + dir + " is not a folder");
  const fs::path probe = fs::path(dir) / (".write-probe-" + std::to_string(::getpid()));
  {
    std::ofstream out(probe);
    const int open_errno = errno;
    if (out) out << "probe" << std::flush;
    if (!out) {
      fs::remove(probe, error);
      throw mann::FileError("the output folder " + dir + " is not writable (" + std::strerror(open_errno) + ")");
    }
  }
  fs::remove(probe, error);
}

/// The weights-only copy --keep-checkpoints writes beside `checkpoint` after `episodes` episodes:
/// "out/mann.safetensors", 12500 -> "out/mann.episode-000012500.safetensors" (zero-padded to nine
/// digits, so that a shell glob lists them in training order; for scripts/average-checkpoints.py).
inline std::string kept_checkpoint_path(const std::string& checkpoint, long long episodes) {
  const std::string suffix = ".safetensors";
  const bool has_suffix = checkpoint.size() >= suffix.size() &&
                          checkpoint.compare(checkpoint.size() - suffix.size(), suffix.size(), suffix) == 0;
  const std::string stem = has_suffix ? checkpoint.substr(0, checkpoint.size() - suffix.size()) : checkpoint;
  char number[32];
  std::snprintf(number, sizeof number, "%09lld", episodes);
  return stem + ".episode-" + number + suffix;
}

/// Writes `path` whole or not at all: `write(std::ostream&)` fills a temporary file beside it, which is
/// renamed over `path` once written and flushed. \throws mann::FileError naming the file if the write
/// or the rename fails; an exception from `write` propagates. Either way the temporary is removed and
/// an existing `path` is left as it was.
template <class Write>
void write_file_whole(const std::string& path, Write&& write) {
  namespace fs = std::filesystem;
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  auto remove_temporary = [&] {
    std::error_code ignored;
    fs::remove(temporary, ignored);
  };
  try {
    {
      std::ofstream out(temporary, std::ios::trunc);
      write(static_cast<std::ostream&>(out));
      out.flush();
      if (!out) throw mann::FileError("cannot write " + temporary + " (for " + path + ")");
    }
    std::error_code error;
    fs::rename(temporary, path, error);
    if (error) throw mann::FileError("cannot rename " + temporary + " to " + path + ": " + error.message());
  } catch (...) {
    remove_temporary();
    throw;
  }
}

/// A CSV log whose first column is the episode count. Every row is flushed and checked.
class CsvLog {
 public:
  /// Starts a fresh log at `path` with `header` (no newline), or with `resume_from` >= 0 keeps the
  /// rows of an existing log whose episodes are <= resume_from (the checkpoint's episodes_done;
  /// the file is rewritten through a temporary file and a rename) and appends after them.
  /// \throws mann::FileError if the log cannot be read or written; mann::FormatError if an existing
  ///   log has another header or a row whose first column is not an episode count.
  CsvLog(std::string path, std::string header, long long resume_from = -1) : path_(std::move(path)) {
    namespace fs = std::filesystem;
    std::error_code error;
    if (resume_from >= 0 && fs::exists(path_, error)) {
      cut(header, resume_from);
      out_.open(path_, std::ios::app);
      if (!out_) throw mann::FileError("cannot open the log " + path_ + " for appending: " + std::strerror(errno));
    } else {
      out_.open(path_, std::ios::trunc);
      if (!out_) throw mann::FileError("cannot create the log " + path_ + ": " + std::strerror(errno));
      write_line(header);
    }
    if (const char* kill = std::getenv("MANN_EXAMPLES_TEST_KILL_AFTER_ROWS")) kill_after_ = std::atol(kill);
  }

  const std::string& path() const { return path_; }

  /// Appends `row` (no newline) and flushes. \throws mann::FileError naming the file if it fails.
  void write_row(const std::string& row) {
    write_line(row);
    // Test hook (used by examples/common/resume_test.sh): a kill -9 at the worst moment, right after
    // a row is written and before the checkpoint that goes with it is saved.
    if (kill_after_ > 0 && ++rows_ == kill_after_) std::raise(SIGKILL);
  }

 private:
  void write_line(const std::string& line) {
    out_ << line << '\n' << std::flush;
    if (!out_) throw mann::FileError("cannot write to the log " + path_ + " (disk full or file gone?)");
  }

  /// Rewrites the log with the header and the complete rows up to `episodes`.
  void cut(const std::string& header, long long episodes) {
    namespace fs = std::filesystem;
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw mann::FileError("cannot read the log " + path_ + ": " + std::strerror(errno));
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw mann::FileError("cannot read the log " + path_);
    std::vector<std::string> kept;
    std::size_t start = 0;
    bool first = true;
    // A last line without its newline was cut off by a kill: dropped with the rows after the checkpoint.
    for (std::size_t end; (end = content.find('\n', start)) != std::string::npos; start = end + 1) {
      const std::string line = content.substr(start, end - start);
      if (first) {
        if (line != header) {
          throw mann::FormatError("the log " + path_ + " has the header \"" + line + "\", expected \"" + header +
                                  "\"; move it away to start a new log");
        }
        first = false;
        continue;
      }
      long long row_episodes = -1;
      const std::size_t comma = line.find(',');
      const char* begin = line.data();
      const char* stop = begin + (comma == std::string::npos ? line.size() : comma);
      const auto [ptr, ec] = std::from_chars(begin, stop, row_episodes);
      if (ec != std::errc() || ptr != stop || row_episodes < 0) {
        throw mann::FormatError("the log " + path_ + " has a row whose episodes column is not a count: \"" + line + "\"");
      }
      if (row_episodes <= episodes) kept.push_back(line);
    }
    write_file_whole(path_, [&](std::ostream& out) {
      out << header << '\n';
      for (const std::string& line : kept) out << line << '\n';
    });
  }

  std::string path_;
  std::ofstream out_;
  long kill_after_ = 0, rows_ = 0;
};

}  // namespace mann_examples
