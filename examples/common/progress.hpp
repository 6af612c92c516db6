// examples/common/progress.hpp: helpers shared by the examples (not part of the library): a
// training status line with episodes, rate and ETA, an evaluation count, and durations as text
// (gnuplot: plot.hpp).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>

namespace mann_examples {

/// "42s", "3m07s", "1h02m07s".
inline std::string format_duration(double seconds) {
  const long long s = static_cast<long long>(seconds + 0.5);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  out << std::setw(s >= 3600 ? 2 : 1) << std::setfill('0') << (s / 60) % 60 << "m" << std::setw(2) << s % 60 << "s";
  return out.str();
}

/// One status line "[done/total] R ep/s, ETA …, <detail>" on stderr, rewritten in place on a
/// terminal (at most every 0.5 s), or printed as a new line every 10 s otherwise.
class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ProgressLine(long long total) : total_(total), start_(Clock::now()), tty_(::isatty(2) != 0) {}

  /// `detail(std::ostream&)` writes the rest of the line; it is only called when a line is printed.
  /// The rate counts the episodes done since this object was made (done − done_at_start).
  template <class Detail>
  void update(long long done, long long done_at_start, Detail&& detail, bool force = false) {
    const auto now = Clock::now();
    const double since_print = std::chrono::duration<double>(now - last_print_).count();
    if (!force && since_print < (tty_ ? 0.5 : 10.0)) return;
    last_print_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done - done_at_start) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    std::ostringstream line;
    line << "[" << done << "/" << total_ << "] " << std::fixed << std::setprecision(0) << rate << " ep/s, ETA "
         << format_duration(eta) << ", ";
    detail(line);
    if (tty_) {
      std::cerr << "\r" << line.str() << "\033[K" << std::flush;
    } else {
      std::cerr << line.str() << "\n";
    }
  }

  /// Ends the in-place line (call before printing anything else).
  void finish() {
    if (tty_) std::cerr << "\n";
  }

 private:
  long long total_;
  Clock::time_point start_, last_print_{};
  bool tty_;
};

/// A count of finished episodes ("<label>: done/total episodes, T s") on stderr, rewritten in place
/// on a terminal (at most every 0.5 s), or printed as a new line every 10 s otherwise; the last
/// update (done == total) is always shown.
class CountProgress {
 public:
  using Clock = std::chrono::steady_clock;

  CountProgress(std::string label, std::uint64_t total)
      : label_(std::move(label)), total_(total), tty_(::isatty(2) != 0) {}

  void update(std::uint64_t done) {
    const auto now = Clock::now();
    if (done < total_ && std::chrono::duration<double>(now - last_).count() < (tty_ ? 0.5 : 10.0)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::ostringstream line;
    line << label_ << ": " << done << "/" << total_ << " episodes, " << std::fixed << std::setprecision(1) << elapsed
         << " s";
    if (tty_) {
      std::cerr << "\r" << line.str() << "\033[K" << (done >= total_ ? "\n" : "") << std::flush;
    } else {
      std::cerr << line.str() << "\n";
    }
  }

 private:
  std::string label_;
  std::uint64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now(), last_{};
};

}  // namespace mann_examples
