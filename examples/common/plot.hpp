// examples/common/plot.hpp: helpers shared by the examples (not part of the library): running
// gnuplot, and a learning curve drawn from columns of a CSV log.
#pragma once

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace mann_examples {

/// Whether gnuplot is on the PATH; says how to get it when not.
inline bool gnuplot_available(const std::string& what) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) return true;
  std::cerr << "gnuplot not found: skipping " << what << " (apt-get install gnuplot-nox)\n";
  return false;
}

/// Runs gnuplot on `script`; reports `png` or the failure.
inline bool run_gnuplot(const std::string& script, const std::string& png) {
  if (std::system(("gnuplot '" + script + "'").c_str()) != 0) {
    std::cerr << "gnuplot failed; the script is " << script << "\n";
    return false;
  }
  std::cerr << "plot: " << png << "\n";
  return true;
}

/// One curve of a learning-curve plot: a CSV column (1-based) against the first.
struct CurveSeries {
  int column;
  std::string title;
  std::string style = "linespoints";
};

/// Draws `series` of the CSV log `csv` (header on the first line, episodes in the first column)
/// against training episodes into `png`, y in [0, 1]; the gnuplot script is `png` + ".gp".
/// Skipped with a note when gnuplot is missing.
inline void plot_learning_curve(const std::string& csv, const std::string& png, const std::string& title,
                                const std::string& ylabel, const std::vector<CurveSeries>& series) {
  if (!gnuplot_available("the learning-curve plot")) return;
  const std::string script = png + ".gp";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 900,600 noenhanced\nset output '" << png << "'\n"
       << "set datafile separator ','\nset key bottom right\nset grid\n"
       << "set title '" << title << "'\nset xlabel 'training episodes'\n"
       << "set ylabel '" << ylabel << "'\nset yrange [0:1]\nplot ";
    for (std::size_t i = 0; i < series.size(); ++i) {
      gp << (i == 0 ? "'" + csv + "'" : std::string(", ''")) << " using 1:" << series[i].column << " every ::1 with "
         << series[i].style << " title '" << series[i].title << "'";
    }
    gp << "\n";
  }
  run_gnuplot(script, png);
}

}  // namespace mann_examples
