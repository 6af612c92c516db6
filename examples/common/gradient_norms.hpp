// examples/common/gradient_norms.hpp: the gradient-norm part of a training log line (not part of the
// library): how large the gradients were, how many steps the clip bound shortened and how many were
// skipped for a non-finite norm.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

namespace mann_examples {

/// The gradient norms (before clipping) of the steps since the last log line: the median, 99th
/// percentile and largest of the finite ones, how many of those exceed `clip_norm` (when > 0) and how
/// many steps were skipped (a NaN or infinite norm). Reorders `norms`.
inline std::string gradient_norm_summary(std::vector<double>& norms, double clip_norm) {
  if (norms.empty()) return "gradient norm: no steps";
  // Non-finite norms go last before sorting: NaN has no place in a sort order.
  const auto finite_end = std::partition(norms.begin(), norms.end(), [](double n) { return std::isfinite(n); });
  const auto finite = static_cast<std::size_t>(finite_end - norms.begin());
  const auto skipped = norms.size() - finite;
  std::ostringstream out;
  out << std::setprecision(3) << "gradient norm over " << norms.size() << " steps: ";
  if (finite == 0) {
    out << "none finite";
  } else {
    std::sort(norms.begin(), finite_end);
    const auto at = [&](double q) { return norms[static_cast<std::size_t>(q * static_cast<double>(finite - 1))]; };
    out << "median " << at(0.5) << ", 99th percentile " << at(0.99) << ", largest " << norms[finite - 1];
    if (clip_norm > 0) {
      out << "; " << finite_end - std::upper_bound(norms.begin(), finite_end, clip_norm) << " clipped to " << clip_norm;
    }
  }
  if (skipped > 0) out << "; " << skipped << " skipped (not finite)";
  return out.str();
}

}  // namespace mann_examples
