// The GP regression example: Santoro et al. 2016's meta-learned regression (section 4.3, figures
// 5–6). For each input dimension asked for (1, 2 and 3 by default) it trains a MANN on episodes that
// each show a fresh function drawn from a GP prior (x_t with f(x_{t−1})), then reports the negative
// log-likelihood by sample index within the episode for the MANN and for the exact GP given the true
// hyper-parameters (figure 6), on held-out functions; for 1-D it also draws both predictions over
// the input range after 20 samples (figure 5). Plots are drawn by gnuplot.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mann/data/gp.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/optim/rmsprop.hpp"

#include "../common/checkpoint_fields.hpp"
#include "../common/checkpoint_settings.hpp"
#include "../common/lrua_formulation.hpp"
#include "../common/options.hpp"
#include "../common/output.hpp"
#include "../common/plot.hpp"
#include "../common/progress.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
using mann_examples::format_duration;

// Seeds of the held-out functions: another generator seed and episode indices far from training's.
constexpr std::uint64_t kEvalOffset = 1ull << 30, kTestOffset = 1ull << 31;

struct Settings {
  std::string dims = "all";
  long long episodes = 30000;  // about 5 minutes for all three dimensions on 2 cores
  int episode_length = 50;
  int batch = 16;
  int threads = 0;
  unsigned long long seed = 1;
  double learning_rate = 1e-3;
  int controller_size = 200, slots = 128, width = 40, heads = 4;
  // The paper's read (eq. 3: β = 1, ε = 1e-6), not LruaHead's default β = 10, ε = 1e-2: with that, lr
  // 1e-3 diverged in 1-D at 98 000 episodes (docs/results.md, GP regression).
  mann_examples::LruaFormulation formulation{mann::LruaHeadOptions::paper()};
  std::string out_dir = "out/gp_regression";
  std::string checkpoint;
  bool resume = false;
  bool eval_only = false;
  long long eval_every = 2000;
  int eval_episodes = 160;
  int test_episodes = 1000;
  int figure_samples = 20;
};

mann::GpOptions gp_options(int dimension) {
  mann::GpOptions o;  // ℓ = 0.5, σ_f² = 1, σ_n² = 0.01, x uniform in [−1, 1]^D (see mann/data/gp.hpp)
  o.dimension = dimension;
  return o;
}

std::string tag(int dimension) { return std::to_string(dimension) + "d"; }

// --- NLL by sample index ---------------------------------------------------------------------------

/// Per-sample NLL by index within the episode, summed over episodes (mean and 95% interval).
struct NllByIndex {
  std::vector<double> sum, sum_squares;
  double count = 0;

  explicit NllByIndex(int length = 0) : sum(static_cast<std::size_t>(length), 0.0), sum_squares(sum) {}
  void add(std::size_t t, double nll) {
    sum[t] += nll;
    sum_squares[t] += nll * nll;
  }
  double mean(std::size_t t) const { return sum[t] / count; }
  double confidence95(std::size_t t) const {
    if (count < 2) return std::nan("");
    const double m = mean(t), variance = std::max(0.0, sum_squares[t] / count - m * m) * count / (count - 1);
    return 1.96 * std::sqrt(variance / count);
  }
  /// Mean over all indices of the episode.
  double overall() const {
    double total = 0;
    for (std::size_t t = 0; t < sum.size(); ++t) total += mean(t);
    return total / static_cast<double>(sum.size());
  }
};

struct Evaluation {
  NllByIndex mann, gp;
};

/// Runs the MANN (no weight updates) and the exact GP on `episodes` held-out functions.
Evaluation evaluate(mann::ParallelTrainer<Model>& trainer, const Settings& s, int dimension, int episodes,
                    std::uint64_t offset) {
  const int T = s.episode_length;
  mann::GpEpisodes<float> test(gp_options(dimension), T, s.seed * 7919 + 17);
  mann::GaussianProcess<double> gp(gp_options(dimension));
  Evaluation result{NllByIndex(T), NllByIndex(T)};
  mann::EpisodeBatch<float> batch;
  mann::Matrix<double> x(dimension, T);
  mann::Vector<double> y(T), mean, variance;
  for (int e = 0; e < episodes; e += s.batch) {
    const int size = std::min(s.batch, episodes - e);
    test.generate(batch, size, offset + static_cast<std::uint64_t>(e));
    trainer.evaluate(batch, mann::LabelEncoding::one_hot, nullptr);
    // The trainer split the batch over its threads; each workspace holds its share's σ² and y − μ.
    const int parts = std::min(trainer.threads(), size);
    for (int k = 0; k < parts; ++k) {
      const auto& ws = trainer.workspace(k);
      for (int t = 0; t < T; ++t) {
        const auto& g = ws.losses[static_cast<std::size_t>(t)].gaussian;
        for (mann::Index j = 0; j < g.variance.cols(); ++j) {
          result.mann.add(static_cast<std::size_t>(t), mann::gaussian_nll(g.residual(0, j), 0.0, g.variance(0, j)));
        }
      }
    }
    // The GP sees the same (float) values in the same order.
    for (int b = 0; b < size; ++b) {
      for (int t = 0; t < T; ++t) {
        x.col(t) = batch.inputs[static_cast<std::size_t>(t)].col(b).cast<double>();
        y(t) = batch.targets[static_cast<std::size_t>(t)](0, b);
      }
      gp.sequential_predictive(x, y, mean, variance);
      for (int t = 0; t < T; ++t) {
        result.gp.add(static_cast<std::size_t>(t), mann::gaussian_nll(y(t), mean(t), variance(t)));
      }
    }
  }
  result.mann.count = result.gp.count = episodes;
  return result;
}

std::vector<int> report_indices(int length) {
  std::vector<int> indices;
  for (int i : {1, 2, 3, 5, 10, 20, 30, 40, 50, 75, 100}) {
    if (i <= length) indices.push_back(i);
  }
  if (indices.back() != length) indices.push_back(length);
  return indices;
}

void print_table(std::ostream& out, const Evaluation& r, int dimension, const Settings& s, long long trained) {
  const auto indices = report_indices(s.episode_length);
  out << "\nNLL by sample index, " << dimension << "-D: " << s.test_episodes << " held-out functions, MANN trained on "
      << trained << " episodes; per-sample negative log-likelihood (nats), ± 95% interval\n\n";
  out << "| model |";
  for (int i : indices) out << " " << i << " |";
  out << " mean |\n|---|";
  for (std::size_t i = 0; i <= indices.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& [name, nll] : {std::pair<const char*, const NllByIndex*>{"MANN", &r.mann}, {"GP (exact)", &r.gp}}) {
    out << "| " << name << " |";
    for (int i : indices) {
      const std::size_t t = static_cast<std::size_t>(i - 1);
      out << " " << std::fixed << std::setprecision(2) << nll->mean(t) << "±" << nll->confidence95(t) << " |";
    }
    out << " " << nll->overall() << " |\n";
  }
}

void write_nll_csv(const std::string& path, const Evaluation& r) {
  std::ofstream csv(path);
  csv << "index,mann_nll,mann_ci95,gp_nll,gp_ci95\n" << std::setprecision(6);
  for (std::size_t t = 0; t < r.mann.sum.size(); ++t) {
    csv << t + 1 << "," << r.mann.mean(t) << "," << r.mann.confidence95(t) << "," << r.gp.mean(t) << ","
        << r.gp.confidence95(t) << "\n";
  }
}

/// Figure 6: NLL by sample index, one panel per dimension.
void plot_nll(const Settings& s, const std::vector<int>& dims) {
  const std::string png = s.out_dir + "/nll_by_index.png", script = png + ".gp";
  if (!mann_examples::gnuplot_available("the NLL plot")) return;
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size " << 450 * dims.size() + 50 << ",420 noenhanced\nset output '" << png << "'\n"
       << "set datafile separator ','\nset grid\nset key top right opaque box\nset xlabel 'sample index within the episode'\n"
       << "set ylabel 'negative log-likelihood (nats)'\nset multiplot layout 1," << dims.size() << "\n";
    for (int d : dims) {
      const std::string csv = s.out_dir + "/nll_by_index_" + tag(d) + ".csv";
      gp << "set title '" << d << "-D regression'\n"
         << "plot '" << csv << "' using 1:2:3 every ::1 with yerrorlines pt 7 ps 0.5 title 'MANN', "
         << "'' using 1:4:5 every ::1 with yerrorlines pt 5 ps 0.5 title 'GP (true hyper-parameters)'\n";
    }
    gp << "unset multiplot\n";
  }
  mann_examples::run_gnuplot(script, png);
}

// --- figure 5 --------------------------------------------------------------------------------------

/// A 1-D function from the prior, `samples` noisy observations of it shown to the MANN in order, then
/// the MANN's prediction at every grid point (as step samples + 1 of the same episode) beside the
/// exact GP posterior; mean and ±2σ of a new observation y = f(x) + ε for both.
void figure5(const Model& model, const Settings& s) {
  const mann::GpOptions o = gp_options(1);
  mann::GaussianProcess<double> gp(o);
  mann::Rng rng(s.seed * 104729 + 5);
  const int n = s.figure_samples, grid_size = 201;
  mann::Matrix<double> points(1, n + grid_size);
  gp.sample_inputs(rng, n, points);
  points.conservativeResize(1, n + grid_size);
  for (int g = 0; g < grid_size; ++g) {
    points(0, n + g) = o.input_low + (o.input_high - o.input_low) * g / (grid_size - 1);
  }
  mann::Vector<double> f, y(n), gp_mean, gp_variance;
  gp.sample_function(rng, points, f);
  for (int i = 0; i < n; ++i) y(i) = f(i) + std::sqrt(o.noise_variance) * rng.normal();
  const mann::Matrix<double> x = points.leftCols(n), grid = points.rightCols(grid_size);
  gp.predict(x, y, grid, gp_mean, gp_variance, true);

  // The MANN, in chunks of grid points: every column replays the same n samples, then asks at its x.
  mann::Vector<double> mann_mean(grid_size), mann_variance(grid_size);
  Model::Workspace ws;
  mann::EpisodeBatch<float> batch;
  const int chunk = 67;
  for (int begin = 0; begin < grid_size; begin += chunk) {
    const int size = std::min(chunk, grid_size - begin);
    batch.resize(n + 1, size, 1, 1);
    for (int t = 0; t < n; ++t) {
      batch.inputs[static_cast<std::size_t>(t)].setConstant(static_cast<float>(x(0, t)));
      batch.targets[static_cast<std::size_t>(t)].setConstant(static_cast<float>(y(t)));
    }
    batch.inputs[static_cast<std::size_t>(n)] = grid.middleCols(begin, size).cast<float>();
    batch.targets[static_cast<std::size_t>(n)] = f.segment(n + begin, size).transpose().cast<float>();
    model.forward(batch, ws);
    mann_mean.segment(begin, size) = ws.outputs[static_cast<std::size_t>(n)].row(0).transpose().cast<double>();
    mann_variance.segment(begin, size) =
        ws.losses[static_cast<std::size_t>(n)].gaussian.variance.row(0).transpose().cast<double>();
  }

  const std::string csv = s.out_dir + "/figure5_1d.csv", samples = s.out_dir + "/figure5_1d_samples.csv";
  {
    std::ofstream out(csv);
    out << "x,f,mann_mean,mann_low,mann_high,gp_mean,gp_low,gp_high\n" << std::setprecision(6);
    for (int g = 0; g < grid_size; ++g) {
      const double ms = 2 * std::sqrt(mann_variance(g)), gs = 2 * std::sqrt(gp_variance(g));
      out << grid(0, g) << "," << f(n + g) << "," << mann_mean(g) << "," << mann_mean(g) - ms << "," << mann_mean(g) + ms
          << "," << gp_mean(g) << "," << gp_mean(g) - gs << "," << gp_mean(g) + gs << "\n";
    }
    std::ofstream out_samples(samples);
    out_samples << "x,y\n" << std::setprecision(6);
    for (int i = 0; i < n; ++i) out_samples << x(0, i) << "," << y(i) << "\n";
  }
  const std::string png = s.out_dir + "/figure5_1d.png", script = png + ".gp";
  if (!mann_examples::gnuplot_available("figure 5")) return;
  {
    const double low = std::min({f.minCoeff(), (mann_mean - 2 * mann_variance.cwiseSqrt()).minCoeff(),
                                 (gp_mean - 2 * gp_variance.cwiseSqrt()).minCoeff()});
    const double high = std::max({f.maxCoeff(), (mann_mean + 2 * mann_variance.cwiseSqrt()).maxCoeff(),
                                  (gp_mean + 2 * gp_variance.cwiseSqrt()).maxCoeff()});
    const double margin = 0.05 * (high - low);
    std::ofstream gp_script(script);
    gp_script << "set terminal pngcairo size 1100,450 noenhanced\nset output '" << png << "'\n"
              << "set datafile separator ','\nset grid\nset key top left opaque box\nset xlabel 'x'\nset ylabel 'y'\n"
              << "set yrange [" << low - margin << ":" << high + margin << "]\nset multiplot layout 1,2\n";
    const char* panels[2][2] = {{"(a) MANN predictions after ", "3:4:5"}, {"(b) GP predictions after ", "6:7:8"}};
    for (const auto& panel : panels) {
      const std::string columns = panel[1];
      const std::string mean_column = columns.substr(0, 1), band = "1:" + columns.substr(2);
      gp_script << "set title '" << panel[0] << n << " samples'\n"
                << "plot '" << csv << "' using " << band << " every ::1 with filledcurves fc rgb '#c6dbef' "
                << "fs solid 0.8 title 'mean ± 2σ', '' using 1:" << mean_column
                << " every ::1 with lines lw 2 lc rgb '#08519c' title 'predicted mean', "
                << "'' using 1:2 every ::1 with lines dt 2 lw 1.5 lc rgb 'black' title 'true function', '" << samples
                << "' using 1:2 every ::1 with points pt 7 ps 0.9 lc rgb '#cb181d' title 'samples'\n";
    }
    gp_script << "unset multiplot\n";
  }
  mann_examples::run_gnuplot(script, png);
}

// --- training --------------------------------------------------------------------------------------

Model make_model(const Settings& s, int dimension) {
  mann::MannConfig config;
  config.input_size = dimension;
  config.label_size = 1;
  config.output = mann::OutputKind::gaussian;
  mann::LruaHead<float>::Options o;
  o.slots = s.slots;
  o.width = s.width;
  o.heads = s.heads;
  s.formulation.apply(o);
  mann::LruaHead<float> head(o);
  mann::Rng rng(s.seed + static_cast<unsigned long long>(dimension));
  return Model(config, mann::Lstm<float>(Model::controller_input_size(config, head), s.controller_size, rng), head, rng);
}

std::string checkpoint_path(const Settings& s, int dimension) {
  return s.checkpoint.empty() ? s.out_dir + "/mann_" + tag(dimension) + ".safetensors" : s.checkpoint;
}

/// The settings a checkpoint must be resumed or evaluated with: the model's own metadata (with the
/// head's settings) and the episode length.
mann::CheckpointMetadata settings_metadata(const Model& model, const Settings& s) {
  auto metadata = model.metadata();
  metadata["episode_length"] = std::to_string(s.episode_length);
  return metadata;
}

/// The checkpoint's metadata: settings_metadata() and the run's state, which --resume takes unless
/// given anew (resolve_from_checkpoint): the episode count, seed, learning rate and batch size.
mann::CheckpointMetadata checkpoint_metadata(const Model& model, const Settings& s, long long done) {
  auto metadata = settings_metadata(model, s);
  metadata["episodes_done"] = std::to_string(done);
  metadata["seed"] = std::to_string(s.seed);
  metadata["learning_rate"] = mann_examples::number_text(s.learning_rate);
  metadata["batch"] = std::to_string(s.batch);
  return metadata;
}

/// --resume / --eval-only: the settings the model of `dimension` needs, from its checkpoint (see
/// examples/common/checkpoint_settings.hpp). The seed is the checkpoint's on --resume only (with
/// --eval-only it just picks the test functions).
void resolve_from_checkpoint(Settings& s, int dimension, const std::set<std::string>& given) {
  const std::string path = checkpoint_path(s, dimension);
  mann_examples::CheckpointSettings c(path, mann::read_checkpoint_metadata(path), given);
  c.resolve("controller_output_size", "--controller-size", s.controller_size);
  c.resolve("head.slots", "--memory-slots", s.slots);
  c.resolve("head.width", "--memory-width", s.width);
  c.resolve("head.heads", "--heads", s.heads);
  s.formulation.resolve(c, s.heads);
  c.resolve("episode_length", "--episode-length", s.episode_length);
  if (s.resume) {
    c.resolve("seed", "--seed", s.seed);
    // Training settings a resumed run may change: the checkpoint's unless given (a checkpoint
    // without them was trained with the defaults).
    c.default_from("learning_rate", "--learning-rate", s.learning_rate, 1e-3);
    c.default_from("batch", "--batch", s.batch, 16);
  }
  c.finish();
}

struct DimensionResult {
  int dimension;
  long long trained;
  double seconds;
  Evaluation evaluation;
};

DimensionResult run_dimension(const Settings& s, int dimension, int threads) {
  Model model = make_model(s, dimension);
  mann::ParallelTrainer<Model> trainer(model, threads);
  mann::RmsProp<float>::Options rmsprop;
  rmsprop.learning_rate = s.learning_rate;
  auto parameters = model.parameters();
  mann::RmsProp<float> optimizer(parameters, rmsprop);
  const std::string checkpoint = checkpoint_path(s, dimension);
  auto checkpoint_tensors = [&] {
    auto list = parameters;
    auto state = optimizer.state();
    list.insert(list.end(), state.begin(), state.end());
    return list;
  };
  long long done = 0;
  if (s.resume || s.eval_only) {
    const auto metadata = s.eval_only ? mann::load_checkpoint(checkpoint, parameters)
                                      : mann::load_checkpoint(checkpoint, checkpoint_tensors());
    mann_examples::check_checkpoint_settings(checkpoint, metadata, settings_metadata(model, s));
    done = mann_examples::checkpoint_count(checkpoint, metadata, "episodes_done");
    std::cerr << "loaded " << checkpoint << " (" << done << " episodes trained)\n";
  }

  double seconds = 0;
  if (!s.eval_only && done < s.episodes) {
    const std::string csv_path = s.out_dir + "/train_" + tag(dimension) + ".csv";
    mann_examples::CsvLog csv(csv_path, "episodes,seconds,train_nll,heldout_mann_nll,heldout_gp_nll", s.resume ? done : -1);
    std::cerr << "training the MANN on " << dimension << "-D functions for " << s.episodes << " episodes of "
              << s.episode_length << " samples (" << s.batch << " per batch, " << threads << " threads)\n";
    mann_examples::ProgressLine progress(s.episodes);
    const long long done_at_start = done;
    const auto start = Clock::now();
    mann::GpEpisodes<float> train(gp_options(dimension), s.episode_length, s.seed);
    mann::EpisodeBatch<float> batch;
    double running = 0;
    int running_steps = 0;
    const double per_sample = 1.0 / s.episode_length;
    while (done < s.episodes) {
      const int size = static_cast<int>(std::min<long long>(s.batch, s.episodes - done));
      train.generate(batch, size, static_cast<std::uint64_t>(done));
      running += per_sample * trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot);
      ++running_steps;
      done += size;
      const double shown = running / running_steps;
      auto detail = [&](std::ostream& line) { line << "NLL/sample " << std::setprecision(3) << shown; };
      progress.update(done, done_at_start, detail);
      if (done % s.eval_every < size || done == s.episodes) {
        progress.update(done, done_at_start, detail, true);
        progress.finish();
        const Evaluation heldout = evaluate(trainer, s, dimension, s.eval_episodes, kEvalOffset);
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        std::ostringstream row;
        row << done << "," << std::fixed << std::setprecision(1) << elapsed << "," << std::setprecision(5) << shown
            << "," << heldout.mann.overall() << "," << heldout.gp.overall();
        csv.write_row(row.str());
        std::cerr << "  held-out after " << done << " episodes: NLL/sample MANN " << std::setprecision(3)
                  << heldout.mann.overall() << ", GP " << heldout.gp.overall() << "\n";
        mann::save_checkpoint(checkpoint, checkpoint_tensors(), checkpoint_metadata(model, s, done));
        running = 0;
        running_steps = 0;
      }
    }
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cerr << "trained " << done - done_at_start << " episodes in " << format_duration(seconds) << "; checkpoint "
              << checkpoint << ", log " << csv_path << "\n";
  }
  DimensionResult result{dimension, done, seconds, evaluate(trainer, s, dimension, s.test_episodes, kTestOffset)};
  write_nll_csv(s.out_dir + "/nll_by_index_" + tag(dimension) + ".csv", result.evaluation);
  if (dimension == 1) figure5(model, s);
  return result;
}

int run(const Settings& s, const std::set<std::string>& given) {
  const int threads = s.threads > 0 ? s.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> dims;
  if (s.dims == "all") {
    dims = {1, 2, 3};
  } else {
    dims = {std::stoi(s.dims)};
  }
  mann_examples::ensure_writable_dir(s.out_dir);  // before anything is trained
  // Every dimension's settings (from its checkpoint with --resume / --eval-only), before any training.
  std::vector<Settings> settings(dims.size(), s);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (s.resume || s.eval_only) resolve_from_checkpoint(settings[i], dims[i], given);
    if (settings[i].heads > settings[i].slots) {
      throw mann::ValueError("--heads " + std::to_string(settings[i].heads) + " is more than --memory-slots " +
                             std::to_string(settings[i].slots));
    }
  }
  std::vector<DimensionResult> results;
  const auto start = Clock::now();
  for (std::size_t i = 0; i < dims.size(); ++i) results.push_back(run_dimension(settings[i], dims[i], threads));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const DimensionResult& r = results[i];
    print_table(std::cout, r.evaluation, r.dimension, settings[i], r.trained);
    if (r.seconds > 0) std::cout << "\ntraining time " << format_duration(r.seconds) << "\n";
  }
  std::cout << "\ntotal wall time " << format_duration(seconds) << " (" << threads << " threads)\n" << std::flush;
  plot_nll(s, dims);
  for (const auto& r : results) {
    for (std::size_t t = 0; t < r.evaluation.mann.sum.size(); ++t) {
      if (!std::isfinite(r.evaluation.mann.mean(t))) return 2;  // never a silent NaN
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"Meta-learned regression (Santoro et al. 2016, section 4.3, figures 5-6): a MANN against the exact "
               "Gaussian process, on functions drawn from a GP prior"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // later ones override
  app.add_option("--dims", s.dims, "input dimension: 1, 2, 3, or all (one model each, trained in turn)")
      ->check(CLI::IsMember({"1", "2", "3", "all"}))->capture_default_str();
  app.add_option("--episodes", s.episodes, "training episodes per dimension")->check(CLI::Range(0LL, 1000000000LL))->capture_default_str();
  app.add_option("--episode-length", s.episode_length, "samples per episode (function values shown one step late)")->check(CLI::Range(2, 10000))->capture_default_str();
  app.add_option("--batch", s.batch, "episodes per minibatch (--resume: the checkpoint's unless given)")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--threads", s.threads, "threads the batch is split across (0: all cores)")->check(CLI::Range(0, 1024))->capture_default_str();
  app.add_option("--seed", s.seed, "seed of weights and functions (--resume: the checkpoint's)")->check(mann_examples::seed_number())->capture_default_str();
  app.add_option("--learning-rate", s.learning_rate, "RMSProp learning rate (decay 0.95, momentum 0.9; the paper: 1e-4; --resume: the checkpoint's unless given)")->check(mann_examples::positive_number())->capture_default_str();
  app.add_option("--controller-size", s.controller_size, "LSTM hidden units")->check(CLI::Range(1, 1 << 16))->capture_default_str();
  app.add_option("--memory-slots", s.slots, "memory slots N")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--memory-width", s.width, "memory slot width W")->check(CLI::Range(1, 1 << 16))->capture_default_str();
  app.add_option("--heads", s.heads, "read heads")->check(CLI::Range(1, 64))->capture_default_str();
  s.formulation.add_options(app);
  app.add_option("--out-dir", s.out_dir, "where logs, checkpoints, CSV tables and plots go")->capture_default_str();
  app.add_option("--checkpoint", s.checkpoint, "checkpoint file (default: <out-dir>/mann_<D>d.safetensors; needs a single --dims)");
  app.add_flag("--resume", s.resume, "continue training from the checkpoint(s)");
  app.add_flag("--eval-only", s.eval_only, "only evaluate the checkpoint(s)");
  app.add_option("--eval-every", s.eval_every, "episodes between held-out evaluations, log lines and checkpoints")->check(CLI::Range(1LL, 1000000000LL))->capture_default_str();
  app.add_option("--eval-episodes", s.eval_episodes, "held-out functions per periodic evaluation")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--test-episodes", s.test_episodes, "held-out functions of the final NLL-by-index table")->check(CLI::Range(2, 10000000))->capture_default_str();
  app.add_option("--figure-samples", s.figure_samples, "samples shown before the figure-5 predictions (1-D)")->check(CLI::Range(1, 10000))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "gp_regression: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (s.resume && s.eval_only) {
    std::cerr << "gp_regression: --resume and --eval-only exclude each other\n";
    return 2;
  }
  if (!s.checkpoint.empty() && s.dims == "all") {
    std::cerr << "gp_regression: --checkpoint names one file, so it needs a single --dims (1, 2 or 3)\n";
    return 2;
  }
  try {
    return run(s, mann_examples::given_options(app));
  } catch (const std::exception& e) {
    std::cerr << "\ngp_regression: " << e.what() << "\n";
    return 1;
  }
}
