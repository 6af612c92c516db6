// The few-shot Omniglot example: Kaiser et al. 2017's Table 1 (N-way K-shot, the protocol of Vinyals et
// al. 2016: 28 × 28 images, 1200 training characters with 90° rotations as extra classes, 423 held
// out) and Lake et al.'s twenty 20-way one-shot runs. Evaluates a model on held-out episodes and
// prints our row beside the paper's, with 95% confidence intervals, plus the error rate on Lake's runs.
//
// Models:
//   knn      the pixel nearest-neighbour baseline of Table 1 (no training);
//   convnet  the ConvNet with memory (mann/models/conv_net_memory.hpp), trained here as the authors'
//            code does: batches of 16 sequential episodes (5 classes, 30 samples; the memory cleared
//            at each batch, predict then update at every step), Adam on the memory loss; a quick
//            held-out evaluation, a CSV log line and a checkpoint every --eval-every episodes
//            (--resume continues, --eval-only only evaluates), a learning-curve PNG at the end.
//
// Under mpirun (a build with MPI: examples/common/distributed.hpp) the ConvNet trains data-parallel:
// each rank encodes its share of every batch's episodes, the queries are gathered and the gradients
// summed across the ranks (mann/train/data_parallel_conv_net.hpp), and the held-out evaluations are
// split over the ranks; rank 0 alone prints, writes the log, the checkpoint, the plot and the table.
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
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mann/data/augment.hpp"
#include "mann/data/omniglot.hpp"
#include "mann/data/omniglot_fewshot.hpp"
#include "mann/data/omniglot_lake_runs.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/models/conv_net_memory.hpp"
#include "mann/models/pixel_nearest_neighbour.hpp"
#include "mann/core/episode.hpp"
#include "mann/data/few_shot_evaluation.hpp"

#include "../common/checkpoint_fields.hpp"
#include "../common/checkpoint_settings.hpp"
#include "../common/distributed.hpp"
#include "../common/omniglot_download.hpp"
#include "../common/options.hpp"
#include "../common/output.hpp"
#include "../common/plot.hpp"
#include "../common/progress.hpp"
#include "../common/schedule.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using mann::Index;

struct Settings {
  std::string model = "knn";
  std::vector<int> ways{5, 20};
  std::vector<int> shots{1, 5};
  int queries = 1;
  unsigned long long test_episodes = 1000;
  std::string split = "vinyals";
  bool test_rotations = false;
  bool sequential = false;  // Kaiser et al.'s reading: every showing predicted, then written
  std::string distance = "euclidean";
  unsigned long long seed = 1;
  int threads = 0;
  std::string data_dir;
  std::string out_dir = "out/omniglot_fewshot";
  // convnet training
  long long episodes = 4000;  // bounded default (about 13 minutes on 2 cores); see docs/results.md for longer runs
  int batch = 16;
  int train_ways = 5;
  int episode_length = 30;
  double learning_rate = 3e-4;  // measured against 1e-4 and 1e-3: docs/results.md
  double final_learning_rate = 0;  // 0: constant --learning-rate
  int embedding = 256;
  double dropout = 0.5;
  std::string hidden_activation = "relu";
  double init_stddev = 0;        // 0: He / Glorot
  double query_init_stddev = 0;  // 0: Glorot
  double adam_epsilon = 1e-8;
  long long memory_size = 8192;
  int k = 256;
  // Per-sample distortion of the training drawings: Santoro et al.'s ranges (SPEC, 4.1), measured
  // against none (docs/results.md, issue 19); 0 and 0: none, as in Kaiser et al.'s code.
  double distort_rotation = 11.25;  // degrees
  double distort_shift = 10;        // pixels of the 105 x 105 original
  double distort_scale = 0;         // each axis scaled by 1 +- this (not in the papers; 0: none)
  double distort_shear = 0;         // shear factor +- this (not in the papers; 0: none)
  long long eval_every = 1000;
  unsigned long long eval_episodes = 300;
  std::string checkpoint;
  bool resume = false;
  bool eval_only = false;
  bool keep_checkpoints = false;  // also keep each periodic checkpoint's weights (kept_checkpoint_path)
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

std::string model_name(const Settings& s, long long trained = -1) {
  if (s.model == "knn") return "pixel NN (" + s.distance + ")";
  return "ConvNet with memory" + (trained >= 0 ? " (" + std::to_string(trained) + " ep.)" : std::string());
}

std::string split_description(const Settings& s) {
  return s.split == "vinyals" ? "1200 training / 423 held-out characters (Vinyals et al.)"
                              : "964 background / 659 evaluation characters (Kaiser et al.'s code)";
}

void print_table(std::ostream& out, const Settings& s, const std::vector<Configuration>& results, long long trained) {
  out << "\nOmniglot N-way K-shot on held-out classes: " << split_description(s) << ", "
      << (s.test_rotations ? "held-out classes x4 rotations" : "no rotations of held-out classes") << ", 28x28,\n"
      << s.test_episodes << " episodes x " << s.queries << " quer" << (s.queries == 1 ? "y" : "ies")
      << " per class, seed " << s.seed << "; accuracy (%) ± 95% confidence interval over episodes\n"
      << (s.sequential ? "sequential reading: K rounds of one showing per class, then the queries, each predicted and then written\n"
                       : "")
      << "\n";
  const int name_width = 40;
  out << "| " << std::left << std::setw(name_width) << "model" << std::right;
  for (const Configuration& c : results) {
    out << " | " << std::setw(13) << (std::to_string(c.ways) + "-way " + std::to_string(c.shots) + "-shot");
  }
  out << " |\n|" << std::string(name_width + 2, '-');
  for (std::size_t i = 0; i < results.size(); ++i) out << "|" << std::string(15, '-');
  out << "|\n| " << std::left << std::setw(name_width) << ("ours: " + model_name(s, trained)) << std::right;
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

void print_lake(std::ostream& out, const Settings& s, const mann::LakeRunsResult& lake, long long trained) {
  out << "\nLake et al.'s 20 one-shot runs (20-way 1-shot, 400 test drawings), model " << model_name(s, trained)
      << ": error rate " << std::fixed << std::setprecision(2) << 100 * lake.error_rate() << "% (errors per run:";
  for (int e : lake.errors) out << " " << e;
  out << ")\n";
  if (s.model != "knn" && s.split == "vinyals") {
    out << "NOTE: the runs' alphabets are partly among the 1200 training characters of --split vinyals;\n"
           "      train with --split background for a clean score on Lake's runs.\n";
  }
}

void write_csv(const fs::path& path, const Settings& s, const std::vector<Configuration>& results,
               const mann::LakeRunsResult* lake, long long trained) {
  mann_examples::write_file_whole(path.string(), [&](std::ostream& out) {
    out << "model,split,test_rotations,ways,shots,queries,episodes,seed,accuracy,ci95,correct,total,seconds,sequential\n";
    for (const Configuration& c : results) {
      out << model_name(s, trained) << "," << s.split << "," << (s.test_rotations ? 1 : 0) << "," << c.ways << "," << c.shots << ","
          << s.queries << "," << s.test_episodes << "," << s.seed << "," << std::setprecision(6) << c.accuracy.mean() << ","
          << c.accuracy.confidence95() << "," << c.accuracy.correct << "," << c.accuracy.total << "," << c.seconds << ","
          << (s.sequential ? 1 : 0) << "\n";
    }
    if (lake != nullptr) {
      out << model_name(s, trained) << ",lake_runs,0,20,1,1,20,0," << 1 - lake->error_rate() << ",,"
          << lake->items() - lake->wrong() << "," << lake->items() << ",,0\n";
    }
  });
}

/// One row per test episode of every (ways, shots): its index (the sampler's, seed s.seed), the
/// queries it got right, and its classes ("alphabet/character", "@90" etc. for a rotation), so that
/// a user can see which episodes and characters fail. Episodes are re-drawn from the sampler
/// (deterministic in the seed and the index) for their classes.
void write_episode_csv(const fs::path& path, const Settings& s, const std::vector<Configuration>& results,
                       const mann::FewShotSampler<float>& sampler, const mann::FewShotImages<float>& store,
                       const mann::OmniglotImages& images) {
  mann_examples::write_file_whole(path.string(), [&](std::ostream& out) {
    out << "ways,shots,queries,seed,episode,correct,total,accuracy,classes\n";
    mann::FewShotEpisode<float> episode;
    for (const Configuration& c : results) {
      for (std::size_t e = 0; e < c.accuracy.episode_accuracy.size(); ++e) {
        sampler.episode(e, {c.ways, c.shots, s.queries, s.sequential}, episode);
        const long long total = static_cast<long long>(episode.query_labels.size());
        const double accuracy = c.accuracy.episode_accuracy[e];
        out << c.ways << "," << c.shots << "," << s.queries << "," << s.seed << "," << e << ","
            << std::llround(accuracy * static_cast<double>(total)) << "," << total << "," << std::setprecision(6)
            << accuracy << ",";
        for (std::size_t i = 0; i < episode.classes.size(); ++i) {
          const mann::Index cls = episode.classes[i];
          out << (i > 0 ? " " : "") << images.character(store.character(cls)).name();
          if (store.quarter_turns(cls) > 0) out << "@" << 90 * store.quarter_turns(cls);
        }
        out << "\n";
      }
    }
  });
}

// --- the ConvNet with memory: training -------------------------------------------------------------

using mann_examples::format_duration;
using Model = mann::ConvNetWithMemory<float>;

mann::ConvNetWithMemoryOptions model_options(const Settings& s, int threads) {
  mann::ConvNetWithMemoryOptions o;
  o.encoder.embedding_size = s.embedding;
  o.encoder.dropout = s.dropout;
  o.encoder.hidden_relu = s.hidden_activation == "relu";
  o.encoder.init_stddev = s.init_stddev;
  o.encoder.query_init_stddev = s.query_init_stddev;
  o.adam_epsilon = s.adam_epsilon;
  o.memory_size = s.memory_size;
  o.memory.k = s.k;
  o.learning_rate = s.learning_rate;
  o.seed = s.seed;
  o.threads = threads;
  return o;
}

/// What a checkpoint must agree on to be resumed or evaluated with these settings.
mann::CheckpointMetadata model_metadata(const Settings& s) {
  return {{"model", "convnet"}, {"embedding", std::to_string(s.embedding)},
          {"memory_size", std::to_string(s.memory_size)}, {"k", std::to_string(s.k)},
          {"hidden_activation", s.hidden_activation}};
}

/// ", distorted (rotation ±R°, shift ±S px of 105[, scale 1±F, shear ±H])" for a run with per-sample
/// distortions, else "".
std::string distortion_text(const Settings& s) {
  if (s.distort_rotation == 0 && s.distort_shift == 0 && s.distort_scale == 0 && s.distort_shear == 0) return "";
  std::ostringstream text;
  text << ", distorted (rotation ±" << s.distort_rotation << "°, shift ±" << s.distort_shift << " px of 105";
  if (s.distort_scale != 0) text << ", scale 1±" << s.distort_scale;
  if (s.distort_shear != 0) text << ", shear ±" << s.distort_shear;
  text << ")";
  return text.str();
}

std::string checkpoint_path(const Settings& s) {
  return s.checkpoint.empty() ? s.out_dir + "/convnet.safetensors" : s.checkpoint;
}

/// --resume / --eval-only: the settings the model needs, from its checkpoint (see
/// examples/common/checkpoint_settings.hpp). The seed is the checkpoint's on --resume only (with
/// --eval-only it just picks the test episodes).
void resolve_from_checkpoint(Settings& s, const std::set<std::string>& given) {
  const std::string path = checkpoint_path(s);
  mann_examples::CheckpointSettings c(path, mann::read_checkpoint_metadata(path), given);
  c.resolve("embedding", "--embedding", s.embedding);
  c.resolve("memory_size", "--memory-size", s.memory_size);
  c.resolve("k", "--k", s.k);
  c.resolve("split", "--split", s.split);
  c.resolve("dropout", "--dropout", s.dropout);
  c.resolve("train_ways", "--train-ways", s.train_ways);
  c.resolve("episode_length", "--episode-length", s.episode_length);
  c.resolve_or_earlier("hidden_activation", "--hidden-activation", s.hidden_activation, std::string("relu"));
  if (s.resume) {
    c.resolve_or_earlier("adam_epsilon", "--adam-epsilon", s.adam_epsilon, 1e-8);
    c.default_from("learning_rate", "--learning-rate", s.learning_rate, 1e-4);  // 1e-4: the default before 3e-4
    c.default_from("final_learning_rate", "--final-learning-rate", s.final_learning_rate, 0.0);
    c.default_from("batch", "--batch", s.batch, 16);
    // A checkpoint without the fields was trained without distortions (before they existed).
    c.default_from("distort_rotation", "--distort-rotation", s.distort_rotation, 0.0);
    c.default_from("distort_shift", "--distort-shift", s.distort_shift, 0.0);
    c.default_from("distort_scale", "--distort-scale", s.distort_scale, 0.0);
    c.default_from("distort_shear", "--distort-shear", s.distort_shear, 0.0);
  }
  if (s.resume) c.resolve("seed", "--seed", s.seed);
  c.finish();
}

/// A quick held-out check during training: 5-way and 20-way 1-shot on eval_episodes episodes that
/// the final evaluation does not use.
std::pair<double, double> quick_evaluation(Model& model, const Settings& s, const mann::FewShotSampler<float>& test,
                                           int threads, const mann_examples::Ranks& ranks) {
  auto make = [&] { return mann::ConvNetMemoryClassifier<float>(model.encoder(), s.memory_size, model.options().memory); };
  double accuracy[2];
  const int ways[2] = {5, 20};
  for (int i = 0; i < 2; ++i) {
    mann::FewShotEvaluationOptions options;
    options.episode = {ways[i], 1, 1};
    options.episodes = s.eval_episodes;
    options.first_episode = 1ull << 40;
    options.threads = threads;
    accuracy[i] = mann_examples::evaluate_few_shot_over_ranks(ranks, test, make, options).mean();
  }
  return {accuracy[0], accuracy[1]};
}

/// Trains (or, with --eval-only, loads) the ConvNet with memory; returns the episodes trained.
long long train_convnet(Model& model, const Settings& s, const mann::FewShotImages<float>& train_store,
                        const mann::FewShotSampler<float>& test, int threads, const mann_examples::Ranks& ranks) {
  const std::string checkpoint = checkpoint_path(s);
  auto tensors = [&] {
    mann::ParameterList<float> list = model.parameters();
    const mann::ParameterList<float> state = model.optimizer().state();
    list.insert(list.end(), state.begin(), state.end());
    return list;
  };
  long long done = 0;
  double seconds_before = 0;  // training time of the runs this one resumes
  if (s.resume || s.eval_only) {
    const auto metadata = s.eval_only ? mann::load_checkpoint(checkpoint, model.parameters())
                                      : mann::load_checkpoint(checkpoint, tensors());
    mann_examples::check_checkpoint_settings(checkpoint, metadata, model_metadata(s));
    done = mann_examples::checkpoint_count(checkpoint, metadata, "episodes_done");
    if (metadata.count("training_seconds") > 0) {
      seconds_before = mann_examples::checkpoint_number(checkpoint, metadata, "training_seconds");
    }
    std::cerr << "loaded " << checkpoint << " (" << done << " episodes trained)\n";
  }
  if (s.eval_only || done >= s.episodes) return done;

  mann_examples::ConvNetRankTrainer<float> trainer(model, ranks);  // collective: after the checkpoint is loaded
  const std::string csv_path = s.out_dir + "/convnet_training.csv";
  std::optional<mann_examples::CsvLog> csv;  // rank 0's
  if (ranks.is_root()) {
    csv.emplace(csv_path, "episodes,seconds,loss,train_1st,train_2nd,test_5way_1shot,test_20way_1shot", s.resume ? done : -1);
  }
  const mann::FewShotSampler<float> sampler(train_store, s.seed);
  mann::FewShotTrainingOptions episode;
  episode.ways = s.train_ways;
  episode.length = s.episode_length;
  episode.offset_labels = true;  // the batch's episodes share the memory
  episode.max_rotation = mann::radians_from_degrees(s.distort_rotation);
  episode.max_translation = s.distort_shift;
  episode.max_scale = s.distort_scale;
  episode.max_shear = s.distort_shear;
  std::cerr << "training the ConvNet with memory for " << s.episodes << " episodes (" << s.batch << " per batch, "
            << s.train_ways << " classes x " << s.episode_length << " samples, " << train_store.classes()
            << " training classes" << distortion_text(s) << ", " << (ranks.size() > 1 ? std::to_string(ranks.size()) + " ranks x " : std::string())
            << threads << " thread" << (threads == 1 ? "" : "s") << "), "
            << mann_examples::learning_rate_text(s.learning_rate, s.final_learning_rate)
            << "; held-out check every "
            << s.eval_every << "\n";
  mann_examples::ProgressLine progress(s.episodes);
  const long long done_at_start = done;
  const auto start = Clock::now();
  mann::FewShotTrainingBatch<float> batch;
  std::vector<Model::Value> labels;
  mann::InstanceAccuracy running(mann::FewShotImages<float>::drawings_per_class);  // by showing, 1-based
  double running_loss = 0;
  long long running_steps = 0, steps = 0;
  while (done < s.episodes) {
    const int size = static_cast<int>(std::min<long long>(s.batch, s.episodes - done));
    // Every rank makes the whole batch (episode e is a function of the seed and e; its labels are
    // offset by its column, and every rank needs them all) and encodes its share of the columns.
    sampler.training_batch(static_cast<std::uint64_t>(done), size, episode, batch);
    const auto [first, count] = trainer.share(size);
    model.optimizer().set_learning_rate(
        mann_examples::cosine_learning_rate(s.learning_rate, s.final_learning_rate, done, s.episodes));
    model.clear_memory();
    for (Index t = 0; t < batch.length(); ++t) {
      const auto& step_labels = batch.labels[static_cast<std::size_t>(t)];
      labels.assign(step_labels.begin(), step_labels.end());
      const Model::StepResult r = trainer.train_step(batch.inputs[static_cast<std::size_t>(t)].middleCols(first, count), labels);
      ++steps;
      if (!std::isfinite(r.loss)) throw mann::ValueError("omniglot_fewshot: the training loss became " + std::to_string(r.loss));
      running_loss += r.loss;
      ++running_steps;
      const auto& predictions = model.memory_cache().predictions;
      for (int b = 0; b < size; ++b) {
        running.add(batch.shown[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)] + 1,
                    predictions[static_cast<std::size_t>(b)] == labels[static_cast<std::size_t>(b)]);
      }
    }
    done += size;
    auto detail = [&](std::ostream& line) {
      line << "loss " << std::setprecision(4) << running_loss / static_cast<double>(std::max(1LL, running_steps))
           << ", training accuracy by showing 1st/2nd/3rd/6th " << std::setprecision(1) << 100 * running.accuracy(1) << "/"
           << 100 * running.accuracy(2) << "/" << 100 * running.accuracy(3) << "/" << 100 * running.accuracy(6) << "%";
    };
    progress.update(done, done_at_start, detail);
    if (done % s.eval_every < size || done == s.episodes) {
      progress.update(done, done_at_start, detail, true);
      progress.finish();
      const auto [five, twenty] = quick_evaluation(model, s, test, threads, ranks);
      const double seconds = seconds_before + std::chrono::duration<double>(Clock::now() - start).count();
      std::ostringstream row;
      row << done << "," << seconds << "," << running_loss / static_cast<double>(std::max(1LL, running_steps)) << ","
          << running.accuracy(1) << "," << running.accuracy(2) << "," << five << "," << twenty;
      if (csv) csv->write_row(row.str());
      std::cerr << "  held-out after " << done << " episodes (" << format_duration(seconds) << "): 5-way 1-shot "
                << std::fixed << std::setprecision(1) << 100 * five << "%, 20-way 1-shot " << 100 * twenty << "% ("
                << s.eval_episodes << " episodes each)\n";
      mann::CheckpointMetadata metadata = model_metadata(s);
      metadata["episodes_done"] = std::to_string(done);
      metadata["training_seconds"] = std::to_string(seconds);
      metadata["seed"] = std::to_string(s.seed);
      metadata["split"] = s.split;
      metadata["dropout"] = mann_examples::number_text(s.dropout);
      metadata["train_ways"] = std::to_string(s.train_ways);
      metadata["episode_length"] = std::to_string(s.episode_length);
      metadata["adam_epsilon"] = mann_examples::number_text(s.adam_epsilon);
      metadata["learning_rate"] = mann_examples::number_text(s.learning_rate);
      metadata["final_learning_rate"] = mann_examples::number_text(s.final_learning_rate);
      metadata["batch"] = std::to_string(s.batch);
      metadata["init_stddev"] = mann_examples::number_text(s.init_stddev);
      metadata["query_init_stddev"] = mann_examples::number_text(s.query_init_stddev);
      metadata["distort_rotation"] = mann_examples::number_text(s.distort_rotation);
      metadata["distort_shift"] = mann_examples::number_text(s.distort_shift);
      metadata["distort_scale"] = mann_examples::number_text(s.distort_scale);
      metadata["distort_shear"] = mann_examples::number_text(s.distort_shear);
      if (ranks.is_root()) {  // the replicas are equal
        mann::save_checkpoint(checkpoint, tensors(), metadata);
        if (s.keep_checkpoints) {
          mann::save_checkpoint(mann_examples::kept_checkpoint_path(checkpoint, done), model.parameters(), metadata);
        }
      }
      running.clear();
      running_loss = 0;
      running_steps = 0;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cerr << "trained " << done - done_at_start << " episodes in " << format_duration(seconds) << "; checkpoint "
            << checkpoint << ", log " << csv_path << "\n";
  const std::string communication = trainer.communication_report(steps, seconds);
  if (!communication.empty()) std::cerr << communication << "\n";
  if (ranks.is_root()) mann_examples::plot_learning_curve(csv_path, s.out_dir + "/convnet_training.png",
                                     "Omniglot, ConvNet with memory: held-out 1-shot accuracy", "accuracy",
                                     {{6, "5-way 1-shot (held out)"},
                                      {7, "20-way 1-shot (held out)"},
                                      {5, "2nd showing (training episodes)", "lines"}});
  return done;
}

// --- running ----------------------------------------------------------------------------------------

/// The model under evaluation as one classifier type: the pixel nearest neighbour, or the trained
/// ConvNet's encoder with a memory of its own (one per thread).
class Classifier {
 public:
  Classifier(const Model* model, const Settings& s, mann::PixelDistance distance) : pixels_(distance) {
    if (model != nullptr) memory_.emplace(model->encoder(), s.memory_size, model->options().memory);
  }
  void operator()(const mann::MatrixF& support, const std::vector<int>& labels, int ways, const mann::MatrixF& queries,
                  std::vector<int>& predictions) {
    if (memory_) {
      (*memory_)(support, labels, ways, queries, predictions);
    } else {
      pixels_(support, labels, ways, queries, predictions);
    }
  }
  void sequential(const mann::MatrixF& support, const std::vector<int>& labels, int ways, const mann::MatrixF& queries,
                  const std::vector<int>& query_labels, std::vector<int>& predictions) {
    if (!memory_) throw mann::ValueError("--sequential needs --model convnet");  // main() checks it first
    memory_->sequential(support, labels, ways, queries, query_labels, predictions);
  }

 private:
  mann::PixelNearestNeighbour<float> pixels_;
  std::optional<mann::ConvNetMemoryClassifier<float>> memory_;
};

int run(const Settings& s, const mann_examples::Ranks& ranks) {
  const auto start = Clock::now();
  const int threads = s.threads > 0 ? s.threads : ranks.default_threads();  // per rank
  if (ranks.is_root()) mann_examples::ensure_writable_dir(s.out_dir);  // before anything is trained
  std::string dir = s.data_dir;
  if (dir.empty()) {  // rank 0 downloads if need be, then the others find it
    if (ranks.is_root()) dir = mann_examples::find_or_download_omniglot();
    ranks.barrier();
    if (!ranks.is_root()) dir = mann_examples::find_or_download_omniglot();
  }
  mann::OmniglotLoadOptions load;
  load.threads = threads;
  const mann::OmniglotImages images = mann::load_omniglot(dir, load);
  const mann::FewShotSplit split_kind =
      s.split == "vinyals" ? mann::FewShotSplit::vinyals_1200 : mann::FewShotSplit::background_evaluation;
  const mann::CharacterSplit split = mann::few_shot_split(images, split_kind);
  const mann::FewShotImages<float> test_store(images, split.test, s.test_rotations);
  std::cerr << "Omniglot from " << dir << ": " << images.size() << " characters; " << split.train.size()
            << " for training, " << split.test.size() << " held out (" << test_store.classes() << " test classes)\n";
  // Checked now, not when the evaluation after training reaches them.
  for (int ways : s.ways) {
    if (ways > test_store.classes()) {
      throw mann::ValueError("--ways " + std::to_string(ways) + " is more than the " + std::to_string(test_store.classes()) +
                             " held-out classes of --split " + s.split);
    }
  }

  const mann::FewShotSampler<float> sampler(test_store, s.seed);
  std::unique_ptr<Model> model;
  long long trained = -1;
  if (s.model == "convnet") {
    model = std::make_unique<Model>(model_options(s, threads));
    const mann::FewShotImages<float> train_store(images, split.train, true);
    if (s.train_ways > train_store.classes()) {
      throw mann::ValueError("--train-ways " + std::to_string(s.train_ways) + " is more than the " +
                             std::to_string(train_store.classes()) + " training classes of --split " + s.split);
    }
    trained = train_convnet(*model, s, train_store, sampler, threads, ranks);
  }
  const mann::PixelDistance distance = s.distance == "cosine" ? mann::PixelDistance::cosine : mann::PixelDistance::euclidean;
  const Model* trained_model = model.get();
  const Settings& settings = s;
  auto make_classifier = [&] {
    return Classifier(trained_model, settings, distance);
  };
  std::vector<Configuration> results;
  for (int ways : s.ways) {
    for (int shots : s.shots) {
      Configuration c{ways, shots, {}, 0};
      mann_examples::CountProgress progress(std::to_string(ways) + "-way " + std::to_string(shots) + "-shot", s.test_episodes);
      mann::FewShotEvaluationOptions options;
      options.episode = {ways, shots, s.queries, s.sequential};
      options.episodes = s.test_episodes;
      options.threads = threads;
      options.progress = [&](std::uint64_t done) { progress.update(done); };
      const auto begin = Clock::now();
      c.accuracy = mann_examples::evaluate_few_shot_over_ranks(ranks, sampler, make_classifier, options);
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

  print_table(std::cout, s, results, trained);
  if (have_lake) {
    print_lake(std::cout, s, lake, trained);
  } else {
    std::cout << "\nLake's runs skipped: " << runs_zip.string() << " not found\n";
  }
  const fs::path csv = fs::path(s.out_dir) / (s.model + ".csv");
  if (ranks.is_root()) {
    fs::create_directories(s.out_dir);
    write_csv(csv, s, results, have_lake ? &lake : nullptr, trained);
    write_episode_csv(fs::path(s.out_dir) / (s.model + "_episodes.csv"), s, results, sampler, test_store, images);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "\nresults: " << csv.string() << " (per episode: " << s.model << "_episodes.csv); wall time " << std::fixed << std::setprecision(1) << seconds << " s with "
            << (ranks.size() > 1 ? std::to_string(ranks.size()) + " ranks x " : std::string()) << threads << " thread"
            << (threads == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mann_examples::Ranks ranks(&argc, &argv);  // under mpirun: data-parallel training across the ranks
  ranks.quiet_other_ranks();
  Settings s;
  CLI::App app{"Few-shot Omniglot (Kaiser et al. 2017, Table 1; Lake et al.'s 20 one-shot runs) with mann"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--model", s.model, "knn (the pixel nearest-neighbour baseline) | convnet (the ConvNet with memory, trained here)")
      ->check(CLI::IsMember({"knn", "convnet"}))->capture_default_str();
  app.add_option("--ways", s.ways, "N: classes per episode (one or more, e.g. --ways 5 20)")
      ->check(CLI::Range(2, 1623))->expected(1, 16)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->capture_default_str();
  app.add_option("--shots", s.shots, "K: support drawings per class (one or more)")
      ->check(CLI::Range(1, 19))->expected(1, 16)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->capture_default_str();
  app.add_option("--queries", s.queries, "query drawings per class and episode (shots + queries <= 20)")->check(CLI::Range(1, 19))->capture_default_str();
  app.add_option("--test-episodes", s.test_episodes, "held-out episodes per (ways, shots)")->check(CLI::Range(2ULL, 100000000ULL))->capture_default_str();
  app.add_option("--split", s.split, "vinyals (1200/423 characters) | background (964/659, as Kaiser et al.'s code)")
      ->check(CLI::IsMember({"vinyals", "background"}))->capture_default_str();
  app.add_flag("--test-rotations", s.test_rotations, "add the 90-degree rotations of held-out characters as test classes");
  app.add_flag("--sequential", s.sequential,
               "convnet: the final table in Kaiser et al.'s reading: K rounds of one showing per class (each in a random "
               "order), then one round of queries, every showing predicted and then written to memory (needs --queries 1; "
               "the same classes and drawings; not the checks during training, nor Lake's runs)");
  app.add_option("--distance", s.distance, "pixel NN distance: euclidean | cosine")->check(CLI::IsMember({"euclidean", "cosine"}))->capture_default_str();
  app.add_option("--seed", s.seed, "seed of the episodes (--resume: the checkpoint's)")->check(mann_examples::seed_number())->capture_default_str();
  app.add_option("--threads", s.threads, "threads per rank (0: the cores, divided among the ranks on this machine)")->check(CLI::Range(0, 1024))->capture_default_str();
  app.add_option("--data-dir", s.data_dir, "Omniglot folder (default: $MANN_DATA_DIR, ./data/omniglot, else download); Lake's runs: all_runs.zip there");
  app.add_option("--out-dir", s.out_dir, "where the results CSV, training log, checkpoint and plot go")->capture_default_str();
  const char* convnet = "ConvNet training";
  app.add_option("--episodes", s.episodes, "convnet: training episodes (total, counting resumed ones)")
      ->check(CLI::Range(1LL, 1000000000000LL))->capture_default_str()->group(convnet);
  app.add_option("--batch", s.batch, "convnet: episodes per batch (sharing one memory; --resume: the checkpoint's unless given)")->check(CLI::Range(1, 4096))->capture_default_str()->group(convnet);
  app.add_option("--train-ways", s.train_ways, "convnet: classes per training episode")->check(CLI::Range(1, 4096))->capture_default_str()->group(convnet);
  app.add_option("--episode-length", s.episode_length, "convnet: samples per training episode (<= 20 per class)")
      ->check(CLI::Range(1, 100000))->capture_default_str()->group(convnet);
  app.add_option("--learning-rate", s.learning_rate, "convnet: Adam's learning rate (--resume: the checkpoint's unless given)")->check(mann_examples::positive_number())->capture_default_str()->group(convnet);
  app.add_option("--final-learning-rate", s.final_learning_rate, "convnet: if given, the learning rate falls as a cosine from --learning-rate at episode 0 to this at --episodes (--resume: the checkpoint's unless given)")->check(mann_examples::positive_number())->group(convnet);
  app.add_option("--embedding", s.embedding, "convnet: query size (the last fully connected layer)")->check(CLI::Range(1, 65536))->capture_default_str()->group(convnet);
  app.add_option("--dropout", s.dropout, "convnet: dropout rate before the last layer")->check(mann_examples::finite_number(0.0, 0.99))->capture_default_str()->group(convnet);
  app.add_option("--hidden-activation", s.hidden_activation,
                 "convnet: after the first fully connected layer: relu | none (linear, as the authors' code)")
      ->check(CLI::IsMember({"relu", "none"}))->capture_default_str()->group(convnet);
  app.add_option("--init-stddev", s.init_stddev,
                 "convnet: > 0: convolutions and first fully connected layer from a normal truncated at 2 sigma (authors: 0.1); 0: He / Glorot")
      ->check(mann_examples::finite_number(0.0, 10.0))->capture_default_str()->group(convnet);
  app.add_option("--query-init-stddev", s.query_init_stddev,
                 "convnet: > 0: the query layer from a normal truncated at 2 sigma (authors: 0.01); 0: Glorot")
      ->check(mann_examples::finite_number(0.0, 10.0))->capture_default_str()->group(convnet);
  app.add_option("--adam-epsilon", s.adam_epsilon, "convnet: Adam's epsilon (authors: 1e-4)")
      ->check(mann_examples::positive_number())->capture_default_str()->group(convnet);
  app.add_option("--memory-size", s.memory_size, "convnet: memory slots")->check(CLI::Range(1LL, 100000000LL))->capture_default_str()->group(convnet);
  app.add_option("--distort-rotation", s.distort_rotation,
                 "convnet: per-sample rotation of the training drawings, uniform in +-DEG degrees (0: none, as the authors' code; --resume: the checkpoint's unless given)")
      ->check(mann_examples::finite_number(0.0, 180.0))->capture_default_str()->group(convnet);
  app.add_option("--distort-shift", s.distort_shift,
                 "convnet: per-sample shift of the training drawings, uniform in +-PX pixels of the 105x105 original on each axis (0: none; --resume: as above)")
      ->check(mann_examples::finite_number(0.0, 52.0))->capture_default_str()->group(convnet);
  app.add_option("--distort-scale", s.distort_scale,
                 "convnet: per-sample scale of the training drawings, each axis by a factor uniform in 1 +- F (not in the papers; 0: none; --resume: as above)")
      ->check(mann_examples::finite_number(0.0, 0.9))->capture_default_str()->group(convnet);
  app.add_option("--distort-shear", s.distort_shear,
                 "convnet: per-sample shear of the training drawings, x += H * y with H uniform in +-H (not in the papers; 0: none; --resume: as above)")
      ->check(mann_examples::finite_number(0.0, 1.0))->capture_default_str()->group(convnet);
  app.add_option("-k,--k", s.k, "convnet: nearest neighbours of a query")->check(CLI::Range(1, 1024))->capture_default_str()->group(convnet);
  app.add_option("--eval-every", s.eval_every, "convnet: episodes between held-out checks, log lines and checkpoints")
      ->check(CLI::Range(1LL, 1000000000000LL))->capture_default_str()->group(convnet);
  app.add_option("--eval-episodes", s.eval_episodes, "convnet: episodes of each held-out check (5- and 20-way 1-shot)")
      ->check(CLI::Range(2ULL, 100000000ULL))->capture_default_str()->group(convnet);
  app.add_option("--checkpoint", s.checkpoint, "convnet: checkpoint file (default: <out-dir>/convnet.safetensors)")->group(convnet);
  app.add_flag("--resume", s.resume, "convnet: continue training from --checkpoint, with the model settings it holds")->group(convnet);
  app.add_flag("--eval-only", s.eval_only, "convnet: only evaluate --checkpoint, with the model settings it holds")->group(convnet);
  app.add_flag("--keep-checkpoints", s.keep_checkpoints, "convnet: also keep the weights of every periodic checkpoint, as <checkpoint>.episode-NNNNNNNNN.safetensors (for scripts/average-checkpoints.py)")->group(convnet);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "omniglot_fewshot: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (s.model == "convnet") {
    if (s.resume && s.eval_only) {
      std::cerr << "omniglot_fewshot: --resume and --eval-only exclude each other\n";
      return 2;
    }
    if (s.resume || s.eval_only) {
      try {
        resolve_from_checkpoint(s, mann_examples::given_options(app));
      } catch (const std::exception& e) {
        std::cerr << "omniglot_fewshot: " << e.what() << "\n";
        return 2;
      }
    }
    if (s.k > s.memory_size) {
      std::cerr << "omniglot_fewshot: --k " << s.k << " is more than --memory-size " << s.memory_size << "\n";
      return 2;
    }
    if ((s.episode_length + s.train_ways - 1) / s.train_ways > 20) {
      std::cerr << "omniglot_fewshot: --episode-length " << s.episode_length << " over --train-ways " << s.train_ways
                << " needs more than the 20 drawings of a class\n";
      return 2;
    }
  }
  if (s.sequential && (s.model != "convnet" || s.queries != 1)) {
    std::cerr << "omniglot_fewshot: --sequential needs --model convnet and --queries 1\n";
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
    return run(s, ranks);
  } catch (const std::exception& e) {
    std::cerr << "\n";
    return ranks.fail("omniglot_fewshot", e.what(), 1);
  }
}
