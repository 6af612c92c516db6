// examples/common/schedule.hpp: the learning-rate schedule shared by the training examples (not part
// of the library): constant, or a cosine from the initial rate at episode 0 to a final rate at the
// run's last episode (--learning-rate, --final-learning-rate).
#pragma once

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

namespace mann_examples {

/// The learning rate after `done` of `total` episodes: `initial` when `final_rate` <= 0 (constant) or
/// `total` <= 0; otherwise final + (initial − final) · (1 + cos(π · done / total)) / 2, which is
/// `initial` at 0 and `final_rate` at `total` and after.
inline double cosine_learning_rate(double initial, double final_rate, long long done, long long total) {
  if (final_rate <= 0 || total <= 0) return initial;
  const double progress = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  return final_rate + (initial - final_rate) * 0.5 * (1 + std::cos(3.14159265358979323846 * progress));
}

/// The schedule as the training banner states it: "learning rate 0.0003", or "learning rate 0.0003
/// falling as a cosine to 1e-05" when `final_rate` > 0 (printf's %g, six significant digits).
inline std::string learning_rate_text(double initial, double final_rate) {
  std::ostringstream text;
  text << "learning rate " << initial;
  if (final_rate > 0) text << " falling as a cosine to " << final_rate;
  return text.str();
}

}  // namespace mann_examples
