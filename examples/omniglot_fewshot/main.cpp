// The few-shot Omniglot example: Kaiser et al. 2017's Table 1 (N-way K-shot, the protocol of Vinyals et
// al. 2016: 28 × 28 images, 1200 training characters with 90° rotations as extra classes, 423 held
// out) and Lake et al.'s twenty 20-way one-shot runs. Evaluates a model on held-out episodes and
// prints our row beside the paper's, with 95% confidence intervals, plus the error rate on Lake's runs.
//
// Models: knn, the pixel nearest-neighbour baseline of Table 1 (no training). The ConvNet with memory
// (mann/models/conv_net_memory.hpp) is trained and evaluated the same way through
// mann::evaluate_few_shot / mann::evaluate_lake_runs once it is wired in here.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mann/data/omniglot.hpp"
#include "mann/data/omniglot_fewshot.hpp"
#include "mann/data/omniglot_lake_runs.hpp"
#include "mann/train/few_shot_evaluation.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Settings {
  std::string model = "knn";
  std::vector<int> ways{5, 20};
  std::vector<int> shots{1, 5};
  int queries = 1;
  unsigned long long test_episodes = 1000;
  std::string split = "vinyals";
  bool test_rotations = false;
  std::string distance = "euclidean";
  unsigned long long seed = 1;
  int threads = 0;
  std::string data_dir;
  std::string out_dir = "out/omniglot_fewshot";
};

struct Configuration {
  int ways, shots;
  mann::FewShotAccuracy accuracy;
  double seconds = 0;
};

// --- the paper's rows (Kaiser et al. 2017, Table 1) -----------------------------------------------

struct PaperRow {
  const char* name;
  double values[4];  // 5-way 1-shot, 5-way 5-shot, 20-way 1-shot, 20-way 5-shot
};

const PaperRow kPaperRows[] = {
    {"pixels nearest neighbour", {41.7, 63.2, 26.7, 42.6}},
    {"MANN (no convolutions)", {82.8, 94.9, std::nan(""), std::nan("")}},
    {"convolutional siamese net", {96.7, 98.4, 88.0, 96.5}},
    {"matching network", {98.1, 98.9, 93.8, 98.5}},
    {"ConvNet with memory module", {98.4, 99.6, 95.0, 98.6}},
};

// Column of (ways, shots) in the paper's table, or -1.
int paper_column(int ways, int shots) {
  if ((ways != 5 && ways != 20) || (shots != 1 && shots != 5)) return -1;
  return (ways == 20 ? 2 : 0) + (shots == 5 ? 1 : 0);
}

// --- reporting --------------------------------------------------------------------------------------

std::string model_name(const Settings& s) {
  if (s.model == "knn") return "pixel NN (" + s.distance + ")";
  return s.model;
}

std::string split_description(const Settings& s) {
  return s.split == "vinyals" ? "1200 training / 423 held-out characters (Vinyals et al.)"
                              : "964 background / 659 evaluation characters (Kaiser et al.'s code)";
}

void print_table(std::ostream& out, const Settings& s, const std::vector<Configuration>& results) {
  out << "\nOmniglot N-way K-shot on held-out classes: " << split_description(s) << ", "
      << (s.test_rotations ? "held-out classes x4 rotations" : "no rotations of held-out classes") << ", 28x28,\n"
      << s.test_episodes << " episodes x " << s.queries << " quer" << (s.queries == 1 ? "y" : "ies")
      << " per class, seed " << s.seed << "; accuracy (%) ± 95% confidence interval over episodes\n\n";
  const int name_width = 40;
  out << "| " << std::left << std::setw(name_width) << "model" << std::right;
  for (const Configuration& c : results) {
    out << " | " << std::setw(13) << (std::to_string(c.ways) + "-way " + std::to_string(c.shots) + "-shot");
  }
  out << " |\n|" << std::string(name_width + 2, '-');
  for (std::size_t i = 0; i < results.size(); ++i) out << "|" << std::string(15, '-');
  out << "|\n| " << std::left << std::setw(name_width) << ("ours: " + model_name(s)) << std::right;
  for (const Configuration& c : results) {
    std::ostringstream cell;
    cell << std::fixed << std::setprecision(1) << 100 * c.accuracy.mean() << "±" << std::setprecision(1)
         << 100 * c.accuracy.confidence95();
    out << " | " << std::setw(14) << cell.str();  // "±" is two bytes, one column
  }
  out << " |\n";
  for (const PaperRow& row : kPaperRows) {
    out << "| " << std::left << std::setw(name_width) << (std::string("paper: ") + row.name) << std::right;
    for (const Configuration& c : results) {
      const int column = paper_column(c.ways, c.shots);
      std::ostringstream cell;
      if (column < 0 || std::isnan(row.values[column])) {
        cell << "-";
      } else {
        cell << std::fixed << std::setprecision(1) << row.values[column];
      }
      out << " | " << std::setw(13) << cell.str();
    }
    out << " |\n";
  }
}

void print_lake(std::ostream& out, const Settings& s, const mann::LakeRunsResult& lake) {
  out << "\nLake et al.'s 20 one-shot runs (20-way 1-shot, 400 test drawings), model " << model_name(s)
      << ": error rate " << std::fixed << std::setprecision(2) << 100 * lake.error_rate() << "% (errors per run:";
  for (int e : lake.errors) out << " " << e;
  out << ")\n";
}

void write_csv(const fs::path& path, const Settings& s, const std::vector<Configuration>& results,
               const mann::LakeRunsResult* lake) {
  std::ofstream out(path);
  out << "model,split,test_rotations,ways,shots,queries,episodes,seed,accuracy,ci95,correct,total,seconds\n";
  for (const Configuration& c : results) {
    out << model_name(s) << "," << s.split << "," << (s.test_rotations ? 1 : 0) << "," << c.ways << "," << c.shots << ","
        << s.queries << "," << s.test_episodes << "," << s.seed << "," << std::setprecision(6) << c.accuracy.mean() << ","
        << c.accuracy.confidence95() << "," << c.accuracy.correct << "," << c.accuracy.total << "," << c.seconds << "\n";
  }
  if (lake != nullptr) {
    out << model_name(s) << ",lake_runs,0,20,1,1,20,0," << 1 - lake->error_rate() << ",," << 400 - [&] {
      int e = 0;
      for (int x : lake->errors) e += x;
      return e;
    }() << ",400,\n";
  }
  if (!out) throw mann::FileError("omniglot_fewshot: cannot write " + path.string());
}

/// One status line on stderr, rewritten in place on a terminal, else every 10 s.
class Progress {
 public:
  Progress(std::string label, std::uint64_t total) : label_(std::move(label)), total_(total), tty_(::isatty(2) != 0) {}
  void update(std::uint64_t done) {
    const auto now = Clock::now();
    if (done < total_ && std::chrono::duration<double>(now - last_).count() < (tty_ ? 0.5 : 10.0)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::ostringstream line;
    line << label_ << ": " << done << "/" << total_ << " episodes, " << std::fixed << std::setprecision(1) << elapsed << " s";
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

// --- running ----------------------------------------------------------------------------------------

int run(const Settings& s) {
  const auto start = Clock::now();
  const int threads = s.threads > 0 ? s.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string dir = s.data_dir.empty() ? mann::find_omniglot_dir() : s.data_dir;
  mann::OmniglotLoadOptions load;
  load.threads = threads;
  const mann::OmniglotImages images = mann::load_omniglot(dir, load);
  const mann::FewShotSplit split_kind =
      s.split == "vinyals" ? mann::FewShotSplit::vinyals_1200 : mann::FewShotSplit::background_evaluation;
  const mann::CharacterSplit split = mann::few_shot_split(images, split_kind);
  const mann::FewShotImages<float> test_store(images, split.test, s.test_rotations);
  std::cerr << "Omniglot from " << dir << ": " << images.size() << " characters; " << split.train.size()
            << " for training, " << split.test.size() << " held out (" << test_store.classes() << " test classes)\n";

  const mann::PixelDistance distance = s.distance == "cosine" ? mann::PixelDistance::cosine : mann::PixelDistance::euclidean;
  auto make_classifier = [distance] { return mann::PixelNearestNeighbour<float>(distance); };

  const mann::FewShotSampler<float> sampler(test_store, s.seed);
  std::vector<Configuration> results;
  for (int ways : s.ways) {
    for (int shots : s.shots) {
      Configuration c{ways, shots, {}, 0};
      Progress progress(std::to_string(ways) + "-way " + std::to_string(shots) + "-shot", s.test_episodes);
      mann::FewShotEvaluationOptions options;
      options.episode = {ways, shots, s.queries};
      options.episodes = s.test_episodes;
      options.threads = threads;
      options.progress = [&](std::uint64_t done) { progress.update(done); };
      const auto begin = Clock::now();
      c.accuracy = mann::evaluate_few_shot(sampler, make_classifier, options);
      c.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
      results.push_back(std::move(c));
    }
  }

  // Lake's runs: all_runs.zip beside the image zips (skipped with a note when absent).
  const fs::path runs_zip = fs::path(dir) / "all_runs.zip";
  mann::LakeRunsResult lake;
  const bool have_lake = fs::exists(runs_zip);
  if (have_lake) {
    const auto runs = mann::load_lake_runs<float>(runs_zip.string());
    lake = mann::evaluate_lake_runs(runs, make_classifier());
  }

  print_table(std::cout, s, results);
  if (have_lake) {
    print_lake(std::cout, s, lake);
  } else {
    std::cout << "\nLake's runs skipped: " << runs_zip.string() << " not found\n";
  }
  fs::create_directories(s.out_dir);
  const fs::path csv = fs::path(s.out_dir) / (s.model + ".csv");
  write_csv(csv, s, results, have_lake ? &lake : nullptr);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "\nresults: " << csv.string() << "; wall time " << std::fixed << std::setprecision(1) << seconds
            << " s with " << threads << " thread" << (threads == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"Few-shot Omniglot (Kaiser et al. 2017, Table 1; Lake et al.'s 20 one-shot runs) with mann"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", s.model, "knn (the pixel nearest-neighbour baseline)")->check(CLI::IsMember({"knn"}))->capture_default_str();
  app.add_option("--ways", s.ways, "N: classes per episode (one or more, e.g. --ways 5 20)")
      ->check(CLI::Range(2, 1623))->expected(1, 16)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->capture_default_str();
  app.add_option("--shots", s.shots, "K: support drawings per class (one or more)")
      ->check(CLI::Range(1, 19))->expected(1, 16)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->capture_default_str();
  app.add_option("--queries", s.queries, "query drawings per class and episode (shots + queries <= 20)")->check(CLI::Range(1, 19))->capture_default_str();
  app.add_option("--test-episodes", s.test_episodes, "held-out episodes per (ways, shots)")->check(CLI::Range(2ULL, 100000000ULL))->capture_default_str();
  app.add_option("--split", s.split, "vinyals (1200/423 characters) | background (964/659, as Kaiser et al.'s code)")
      ->check(CLI::IsMember({"vinyals", "background"}))->capture_default_str();
  app.add_flag("--test-rotations", s.test_rotations, "add the 90-degree rotations of held-out characters as test classes");
  app.add_option("--distance", s.distance, "pixel NN distance: euclidean | cosine")->check(CLI::IsMember({"euclidean", "cosine"}))->capture_default_str();
  app.add_option("--seed", s.seed, "seed of the episodes")->capture_default_str();
  app.add_option("--threads", s.threads, "threads (0: all cores)")->check(CLI::Range(0, 1024))->capture_default_str();
  app.add_option("--data-dir", s.data_dir, "Omniglot folder (default: $MANN_DATA_DIR, ./data/omniglot, else download); Lake's runs: all_runs.zip there");
  app.add_option("--out-dir", s.out_dir, "where the results CSV goes")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "omniglot_fewshot: " << e.what() << " (see --help)\n";
    return 2;
  }
  for (int shots : s.shots) {
    if (shots + s.queries > 20) {
      std::cerr << "omniglot_fewshot: --shots " << shots << " + --queries " << s.queries
                << " is more than the 20 drawings of a class\n";
      return 2;
    }
  }
  try {
    return run(s);
  } catch (const std::exception& e) {
    std::cerr << "\nomniglot_fewshot: " << e.what() << "\n";
    return 1;
  }
}
