// The Omniglot example: Santoro et al. 2016's one-shot classification (section 4.1, Tables 1–2).
// Trains a MANN (or a baseline) on episodes of the 1200 training characters, shows its progress,
// evaluates on the 423 held-out characters every --eval-every episodes (CSV log + checkpoint), and
// ends with the paper's table: accuracy by instance with 95% confidence intervals, and a PNG of the
// learning curve drawn by gnuplot.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "mann/data/augment.hpp"
#include "mann/data/omniglot.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/memory/ntm_head.hpp"
#include "mann/models/controller_only.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/data/episodes.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/rmsprop.hpp"

#include "../common/checkpoint_fields.hpp"
#include "../common/checkpoint_settings.hpp"
#include "../common/distributed.hpp"
#include "../common/gradient_norms.hpp"
#include "../common/lrua_formulation.hpp"
#include "../common/omniglot_download.hpp"
#include "../common/options.hpp"
#include "../common/output.hpp"
#include "../common/plot.hpp"
#include "../common/progress.hpp"
#include "../common/schedule.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const int kInstances[] = {1, 2, 3, 4, 5, 10};

struct Settings {
  std::string model = "mann";
  std::string controller = "lstm";
  std::string labels = "onehot";
  int classes = 5;
  int episode_length = 0;       // 0: 10 x the episode's classes
  bool random_classes = false;  // training episodes draw their class count from 1..classes
  long long episodes = 100000;
  int batch = 16;
  int slots = 128, width = 40, heads = 4;
  int controller_size = 200;
  double usage_decay = 0.99;
  mann_examples::LruaFormulation formulation;  // LruaHead's defaults (β = 10, ε = 1e-2)
  double learning_rate = 1e-4;
  double final_learning_rate = 0;  // 0: constant --learning-rate
  double clip_norm = 0;            // 0: no gradient clipping
  long long max_skipped_steps = 0;  // steps whose gradient overflowed that may be skipped (per run)
  std::string init_from;           // warm start: the weights of this checkpoint
  bool persistent_memory = false;
  bool curriculum = false;
  int curriculum_max = 0;
  long long curriculum_every = 10000;
  int threads = 0;
  unsigned long long seed = 1;
  std::string checkpoint;
  bool resume = false;
  bool eval_only = false;
  bool keep_checkpoints = false;   // also keep each periodic checkpoint's weights (kept_checkpoint_path)
  long long eval_every = 5000;
  int eval_episodes = 320;
  int test_episodes = 1000;
  std::string data_dir;
  std::string out_dir = "out/omniglot";
  bool augment = true;
  // Ranges of the training episodes' per-sample augmentation (held-out episodes keep the paper's):
  // Santoro et al.'s ±π/16 (11.25°) and ±10 pixels of the 105 × 105 original by default.
  double augment_rotation = 11.25;  // degrees
  double augment_shift = 10;        // pixels
  int alphabet_limit = 0;
};

// --- the paper's rows ---------------------------------------------------------------------------

struct PaperRow {
  std::string name;
  std::vector<double> values;  // at instances 1, 2, 3, 4, 5, 10 (NaN where the paper gives none)
};

PaperRow paper_row(const Settings& s) {
  const double na = std::nan("");
  const bool string_labels = s.labels == "string";
  const std::string m = s.model == "mann" && s.controller == "ff" ? "mann-ff" : s.model;
  if (!string_labels && s.classes == 5) {
    if (m == "mann") return {"Table 1, MANN (LSTM, LRUA)", {36.4, 82.8, 91.0, 92.6, 94.9, 98.1}};
    if (m == "lstm") return {"Table 1, LSTM", {24.4, 49.5, 55.3, 61.0, 63.6, 62.5}};
    if (m == "ff") return {"Table 1, feed-forward", {24.4, 19.6, 21.1, 19.9, 22.8, 19.5}};
  }
  if (string_labels && s.classes == 5) {
    if (m == "knn") return {"Table 2, kNN raw pixels, 5 classes", {na, 36.7, 41.9, 45.7, 48.1, 57.0}};
    if (m == "lstm") return {"Table 2, LSTM, 5 classes", {na, 9.0, 14.2, 16.9, 21.8, 25.5}};
    if (m == "mann-ff") return {"Table 2, MANN (feed-forward), 5 classes", {na, 8.0, 16.2, 25.2, 30.9, 46.8}};
    if (m == "mann") return {"Table 2, MANN (LSTM), 5 classes", {na, 69.5, 80.4, 87.9, 88.4, 93.1}};
  }
  if (string_labels && s.classes == 15) {
    if (m == "knn") return {"Table 2, kNN raw pixels, 15 classes", {na, 18.7, 23.3, 26.5, 29.1, 37.0}};
    if (m == "lstm") return {"Table 2, LSTM, 15 classes", {na, 2.2, 2.9, 4.3, 5.6, 12.7}};
    if (m == "mann-ff") return {"Table 2, MANN (feed-forward, LRUA), 15 classes", {na, 12.8, 22.3, 28.8, 32.2, 43.4}};
    if (m == "mann") return {"Table 2, MANN (LSTM, LRUA), 15 classes", {na, 62.6, 79.3, 86.6, 88.7, 95.3}};
    if (m == "ntm") return {"Table 2, MANN (LSTM, NTM access), 15 classes", {na, 35.4, 61.2, 71.7, 77.7, 88.4}};
  }
  return {"(no matching row in the paper)", {na, na, na, na, na, na}};
}

// --- reporting --------------------------------------------------------------------------------

using mann_examples::format_duration;

void print_table(std::ostream& out, const mann::InstanceAccuracy& accuracy, const Settings& s, long long episodes) {
  const PaperRow paper = paper_row(s);
  out << "\nHeld-out classes, " << episodes << " test episodes, " << s.classes << " classes, "
      << (s.labels == "string" ? "string" : "one-hot") << " labels, model " << s.model
      << (s.model == "mann" ? " (" + s.controller + ")" : std::string()) << "\n";
  out << "accuracy (%) by instance, ± 95% confidence interval\n\n";
  out << "| " << std::left << std::setw(48) << "model" << std::right;
  for (int k : kInstances) out << " | " << std::setw(10) << (std::to_string(k) + (k == 1 ? "st" : k == 2 ? "nd" : k == 3 ? "rd" : "th"));
  out << " |\n|" << std::string(50, '-');
  for (std::size_t i = 0; i < std::size(kInstances); ++i) out << "|" << std::string(12, '-');
  out << "|\n| " << std::left << std::setw(48) << ("ours: " + s.model) << std::right;
  for (int k : kInstances) {
    std::ostringstream cell;
    cell << std::fixed << std::setprecision(1) << 100 * accuracy.accuracy(k) << "±" << std::setprecision(1)
         << 100 * accuracy.confidence95(k);
    out << " | " << std::setw(11) << cell.str();  // "±" is two bytes, one column
  }
  out << " |\n| " << std::left << std::setw(48) << ("paper: " + paper.name) << std::right;
  for (double v : paper.values) {
    std::ostringstream cell;
    if (std::isnan(v)) cell << "-"; else cell << std::fixed << std::setprecision(1) << v;
    out << " | " << std::setw(10) << cell.str();
  }
  out << " |\n";
}

/// The rest of the status line (examples/common/progress.hpp): the loss and training accuracy.
auto training_detail(double loss, const mann::InstanceAccuracy& acc) {
  return [loss, &acc](std::ostream& line) {
    line << "loss " << std::setprecision(3) << loss << ", train acc 1st/2nd/5th/10th " << std::setprecision(1)
         << 100 * acc.accuracy(1) << "/" << 100 * acc.accuracy(2) << "/" << 100 * acc.accuracy(5) << "/"
         << 100 * acc.accuracy(10) << "%";
  };
}

/// The final table at full precision, one row per instance 1..10 (e.g. to pool several test sets).
void write_test_csv(const std::string& path, const mann::InstanceAccuracy& accuracy, const Settings& s,
                    long long episodes) {
  mann_examples::write_file_whole(path, [&](std::ostream& out) {
    out << "model,classes,labels,episodes,seed,instance,correct,total,accuracy,ci95\n";
    for (int k = 1; k <= accuracy.max_instance(); ++k) {
      out << s.model << "," << s.classes << "," << s.labels << "," << episodes << "," << s.seed << "," << k << ","
          << std::setprecision(12) << accuracy.correct_count(k) << "," << accuracy.count(k) << ","
          << std::setprecision(8) << accuracy.accuracy(k) << "," << accuracy.confidence95(k) << "\n";
    }
  });
}

// --- data ----------------------------------------------------------------------------------------

/// The episodes of `classes` classes: held-out ones with the paper's per-sample augmentation,
/// `training` ones with --augment-rotation / --augment-shift (the same by default).
mann::OmniglotEpisodeOptions episode_options(const Settings& s, int classes, bool training) {
  mann::OmniglotEpisodeOptions o;
  o.classes = classes;
  o.length = s.episode_length > 0 ? s.episode_length : 10 * classes;
  o.encoding = s.labels == "string" ? mann::LabelEncoding::string : mann::LabelEncoding::one_hot;
  if (o.encoding == mann::LabelEncoding::one_hot) {
    if (s.curriculum) o.one_hot_size = s.curriculum_max;
    if (s.random_classes) o.one_hot_size = s.classes;
  }
  o.image_size = 20;
  o.augment = s.augment;
  if (training) {
    o.max_rotation = mann::radians_from_degrees(s.augment_rotation);
    o.max_translation = s.augment_shift;
  }
  return o;
}

/// The class count of held-out episodes after `episodes_done` training episodes: --classes, or
/// the curriculum's current maximum.
int classes_at(const Settings& s, long long episodes_done) {
  if (!s.curriculum) return s.classes;
  return mann::curriculum_classes(static_cast<std::uint64_t>(episodes_done), s.classes,
                                  static_cast<std::uint64_t>(s.curriculum_every), s.curriculum_max);
}

/// The class count of the training batch that starts after `episodes_done` episodes: classes_at,
/// or with --random-classes (figure 2's "up to fifteen classes") uniform over 1..--classes, drawn
/// from (seed, episodes_done) so that a resumed run sees the same batches.
int training_classes_at(const Settings& s, long long episodes_done) {
  if (!s.random_classes) return classes_at(s, episodes_done);
  mann::Rng rng(mann::episode_seed(s.seed ^ 0x9e3779b97f4a7c15ULL, static_cast<std::uint64_t>(episodes_done)));
  return 1 + static_cast<int>(rng.below(static_cast<std::uint64_t>(s.classes)));
}

// --- the kNN baseline ------------------------------------------------------------------------------

/// 1-nearest-neighbour on raw pixels with unlimited memory: at step t, the label of the closest
/// earlier sample of the episode (Euclidean distance); a random label before any sample is stored.
void knn_evaluate(const mann::EpisodeBatch<float>& batch, mann::LabelEncoding encoding, int classes, mann::Rng& rng,
                  mann::InstanceAccuracy& accuracy) {
  const mann::Index T = batch.length(), B = batch.batch();
  for (mann::Index b = 0; b < B; ++b) {
    for (mann::Index t = 0; t < T; ++t) {
      const int truth = mann::predicted_label(batch.targets[t], b, encoding);
      int guess;
      if (t == 0) {
        guess = static_cast<int>(rng.below(encoding == mann::LabelEncoding::string ? 3125 : static_cast<std::uint64_t>(classes)));
      } else {
        mann::Index best = 0;
        float best_distance = INFINITY;
        for (mann::Index u = 0; u < t; ++u) {
          const float d = (batch.inputs[t].col(b) - batch.inputs[u].col(b)).squaredNorm();
          if (d < best_distance) {
            best_distance = d;
            best = u;
          }
        }
        guess = mann::predicted_label(batch.targets[best], b, encoding);
      }
      accuracy.add(batch.instance[t][static_cast<std::size_t>(b)], guess == truth);
    }
  }
}

// --- training ------------------------------------------------------------------------------------

struct LogRow {
  long long episodes;
  double seconds;
  double train_loss;
  mann::InstanceAccuracy train, test;
};

std::string csv_header() {
  std::ostringstream out;
  out << "episodes,seconds,train_loss";
  for (int k : kInstances) out << ",train_acc_" << k;
  for (int k : kInstances) out << ",test_acc_" << k;
  return out.str();
}

std::string csv_row(const LogRow& r) {
  std::ostringstream out;
  out << r.episodes << "," << std::fixed << std::setprecision(1) << r.seconds << "," << std::setprecision(5) << r.train_loss;
  for (int k : kInstances) out << "," << r.train.accuracy(k);
  for (int k : kInstances) out << "," << r.test.accuracy(k);
  return out.str();
}

std::string checkpoint_path(const Settings& s) {
  return s.checkpoint.empty() ? s.out_dir + "/" + s.model + ".safetensors" : s.checkpoint;
}

/// The settings a checkpoint must be resumed or evaluated with: the model's own metadata (with the
/// head's settings) and this example's episode settings.
mann::CheckpointMetadata settings_metadata(mann::CheckpointMetadata metadata, const Settings& s) {
  metadata["labels"] = s.labels;
  metadata["classes"] = std::to_string(s.classes);
  metadata["episode_length"] = std::to_string(s.episode_length);
  metadata["random_classes"] = s.random_classes ? "true" : "false";
  metadata["controller"] = s.controller;
  metadata["curriculum"] = s.curriculum ? "true" : "false";
  metadata["curriculum_max"] = std::to_string(s.curriculum_max);
  metadata["curriculum_every"] = std::to_string(s.curriculum_every);
  return metadata;
}

/// The checkpoint's metadata: settings_metadata() and the run's state, which --resume takes unless
/// given anew (resolve_from_checkpoint): the episode count, seed, learning-rate schedule, clipping
/// bound and batch size.
mann::CheckpointMetadata checkpoint_metadata(const mann::CheckpointMetadata& model_metadata, const Settings& s,
                                             long long done) {
  mann::CheckpointMetadata metadata = settings_metadata(model_metadata, s);
  metadata["episodes_done"] = std::to_string(done);
  metadata["seed"] = std::to_string(s.seed);
  metadata["learning_rate"] = mann_examples::number_text(s.learning_rate);
  metadata["final_learning_rate"] = mann_examples::number_text(s.final_learning_rate);
  metadata["clip_norm"] = mann_examples::number_text(s.clip_norm);
  metadata["batch"] = std::to_string(s.batch);
  metadata["augment"] = s.augment ? "true" : "false";
  metadata["augment_rotation"] = mann_examples::number_text(s.augment_rotation);
  metadata["augment_shift"] = mann_examples::number_text(s.augment_shift);
  return metadata;
}

/// The learning rate after `done` episodes: --learning-rate, or with --final-learning-rate a cosine
/// from --learning-rate at 0 to --final-learning-rate at --episodes.
double learning_rate_at(const Settings& s, long long done) {
  return mann_examples::cosine_learning_rate(s.learning_rate, s.final_learning_rate, done, s.episodes);
}

/// --eval-only with string labels: the 25 outputs serve any class count, so the test episodes'
/// --classes and --episode-length are the user's choice (e.g. the 15-class model on 5-class
/// episodes); left out, they are the checkpoint's. One-hot outputs fix the class count.
bool test_episodes_free(const Settings& s) { return s.eval_only && s.labels == "string"; }

/// --resume / --eval-only: the settings the model needs, from its checkpoint (see
/// examples/common/checkpoint_settings.hpp). The seed is the checkpoint's on --resume only (with
/// --eval-only it just picks the test episodes).
void resolve_from_checkpoint(Settings& s, const std::set<std::string>& given) {
  const std::string path = checkpoint_path(s);
  mann_examples::CheckpointSettings c(path, mann::read_checkpoint_metadata(path), given);
  c.resolve("labels", "--labels", s.labels);
  if (test_episodes_free(s)) {
    c.default_from("classes", "--classes", s.classes, s.classes);
    c.default_from("episode_length", "--episode-length", s.episode_length, 0);
  } else {
    c.resolve("classes", "--classes", s.classes);
    c.resolve_or_earlier("episode_length", "--episode-length", s.episode_length, 0);
  }
  c.resolve_or_earlier("random_classes", "--random-classes", s.random_classes, false);
  c.resolve("controller_output_size", "--controller-size", s.controller_size);
  c.resolve("curriculum", "--curriculum", s.curriculum);
  if (s.curriculum) {
    c.resolve("curriculum_max", "--curriculum-max", s.curriculum_max);
    c.resolve("curriculum_every", "--curriculum-every", s.curriculum_every);
  }
  // An explicit test class count replaces the curriculum's last stage.
  if (test_episodes_free(s) && given.count("--classes") > 0) s.curriculum = false;
  if (s.resume) {
    c.resolve("seed", "--seed", s.seed);
    // The schedule goes on as trained unless given anew; a checkpoint without the fields was trained
    // with the options' defaults, or with values the command line must give again.
    c.default_from("learning_rate", "--learning-rate", s.learning_rate, 1e-4);
    c.default_from("final_learning_rate", "--final-learning-rate", s.final_learning_rate, 0.0);
    c.default_from("clip_norm", "--clip-norm", s.clip_norm, 0.0);
    c.default_from("batch", "--batch", s.batch, 16);
    // Fields added later: the earlier checkpoints were trained with augmentation, at the paper's ranges.
    c.default_from("augment", "--no-augment", s.augment, true);
    c.default_from("augment_rotation", "--augment-rotation", s.augment_rotation, 11.25);
    c.default_from("augment_shift", "--augment-shift", s.augment_shift, 10.0);
  }
  if (s.model == "mann" || s.model == "ntm") {
    c.resolve("persistent_memory", "--persistent-memory", s.persistent_memory);
    c.resolve("head.slots", "--memory-slots", s.slots);
    c.resolve("head.width", "--memory-width", s.width);
    c.resolve("head.heads", "--heads", s.heads);
  }
  if (s.model == "mann") {
    c.resolve("controller", "--controller", s.controller);
    c.resolve("head.usage_decay", "--usage-decay", s.usage_decay);
    s.formulation.resolve(c, s.heads);
  }
  c.finish();
}

template <class Model>
int run_model(Model& model, const Settings& s, const mann::OmniglotImages& images, const mann::CharacterSplit& split,
              const mann_examples::Ranks& ranks) {
  const int threads = s.threads > 0 ? s.threads : ranks.default_threads();
  const mann::LabelEncoding encoding = s.labels == "string" ? mann::LabelEncoding::string : mann::LabelEncoding::one_hot;
  mann_examples::RankTrainer<Model> trainer(model, threads, ranks);
  mann::RmsProp<float>::Options rmsprop;
  rmsprop.learning_rate = s.learning_rate;
  auto parameters = model.parameters();
  mann::RmsProp<float> optimizer(parameters, rmsprop);
  const std::string checkpoint = checkpoint_path(s);

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
    auto expected = settings_metadata(model.metadata(), s);
    if (test_episodes_free(s)) {
      for (const char* field : {"classes", "episode_length", "curriculum", "curriculum_max", "curriculum_every"}) {
        expected.erase(field);
      }
    }
    mann_examples::check_checkpoint_settings(checkpoint, metadata, expected);
    done = mann_examples::checkpoint_count(checkpoint, metadata, "episodes_done");
    std::cerr << "loaded " << checkpoint << " (" << done << " episodes trained)\n";
  } else if (!s.init_from.empty()) {
    mann::load_checkpoint(s.init_from, parameters);  // names and shapes must match this model's
    std::cerr << "initialised the weights from " << s.init_from << " (optimiser and episode count start afresh)\n";
  }

  mann::EpisodeBatch<float> batch;
  const std::string csv_path = s.out_dir + "/" + s.model + ".csv";
  auto evaluate = [&](int episodes, std::uint64_t seed_offset) {
    mann::InstanceAccuracy accuracy;
    mann::OmniglotEpisodes<float> test(images, split.test, episode_options(s, classes_at(s, done), false), s.seed * 7919 + 17);
    for (int e = 0; e < episodes; e += s.batch) {
      const int size = std::min(s.batch, episodes - e);
      const auto [first, count] = trainer.share(size);  // this rank's episodes of the batch
      test.generate(batch, count, seed_offset + static_cast<std::uint64_t>(e + first), trainer.pool());
      trainer.evaluate(batch, size, encoding, &accuracy);
    }
    return accuracy;
  };

  if (!s.eval_only && done < s.episodes) {
    std::optional<mann_examples::CsvLog> csv;  // rank 0's
    if (ranks.is_root()) csv.emplace(csv_path, csv_header(), s.resume ? done : -1);
    std::cerr << "training " << s.model << " for " << s.episodes << " episodes (" << s.batch << " per batch, "
              << (ranks.size() > 1 ? std::to_string(ranks.size()) + " ranks x " : std::string()) << threads
              << " threads), " << mann_examples::learning_rate_text(s.learning_rate, s.final_learning_rate)
              << (!s.augment ? ", no augmentation"
                  : ", augmentation rotation ±" + mann_examples::number_text(s.augment_rotation) + "°, shift ±" +
                        mann_examples::number_text(s.augment_shift) + " px")
              << "; evaluating on held-out classes every " << s.eval_every << "\n";
    mann_examples::ProgressLine progress(s.episodes);
    const long long done_at_start = done;
    const auto start = Clock::now();
    mann::InstanceAccuracy running;
    std::vector<double> grad_norms;  // of the steps since the last log line
    long long skipped_steps = 0;
    grad_norms.reserve(static_cast<std::size_t>(s.eval_every / s.batch + 2));
    double running_loss = 0;
    int running_steps = 0;
    int current_classes = -1;
    long long steps = 0;
    std::unique_ptr<mann::OmniglotEpisodes<float>> train;
    while (done < s.episodes) {
      const int classes = training_classes_at(s, done);
      if (classes != current_classes) {
        const mann::OmniglotEpisodeOptions options = episode_options(s, classes, true);
        if (train) train->set_classes(options.classes, options.length);
        else train = std::make_unique<mann::OmniglotEpisodes<float>>(images, split.train, options, s.seed);
        current_classes = classes;
      }
      const int size = static_cast<int>(std::min<long long>(s.batch, s.episodes - done));
      const auto [first, count] = trainer.share(size);  // this rank's episodes of the batch
      train->generate(batch, count, static_cast<std::uint64_t>(done + first), trainer.pool());
      optimizer.set_learning_rate(learning_rate_at(s, done));
      double grad_norm = 0;
      const float loss = trainer.train_step(batch, size, optimizer, encoding, &running, s.clip_norm, &grad_norm,
                                            /*skip_nonfinite=*/true);
      if (!std::isfinite(grad_norm)) {  // the step was skipped: weights and optimiser as they were
        std::ostringstream what;
        what << "the float32 gradient of the batch at episodes " << done << "-" << done + size - 1 << " overflowed (norm "
             << grad_norm << "; the loss " << loss << " is finite)";
        if (++skipped_steps > s.max_skipped_steps) {
          throw mann::ValueError(what.str() + "; --max-skipped-steps N skips up to N such steps (" +
                                 std::to_string(s.max_skipped_steps) + " given)");
        }
        progress.finish();
        std::cerr << "  skipped the step: " << what.str() << "; " << skipped_steps << " of at most " << s.max_skipped_steps
                  << " skipped\n";
      }
      grad_norms.push_back(grad_norm);
      ++steps;
      running_loss += loss;
      ++running_steps;
      done += size;
      progress.update(done, done_at_start, training_detail(running_loss / running_steps, running));
      if (done % s.eval_every < size || done == s.episodes) {
        progress.update(done, done_at_start, training_detail(running_loss / running_steps, running), true);
        progress.finish();
        LogRow row{done, std::chrono::duration<double>(Clock::now() - start).count(), running_loss / running_steps,
                   running, evaluate(s.eval_episodes, 1u << 30)};
        if (csv) csv->write_row(csv_row(row));
        std::cerr << "  held-out after " << done << " episodes: 1st/2nd/5th/10th "
                  << std::fixed << std::setprecision(1) << 100 * row.test.accuracy(1) << "/" << 100 * row.test.accuracy(2)
                  << "/" << 100 * row.test.accuracy(5) << "/" << 100 * row.test.accuracy(10) << "%\n"
                  << "  " << mann_examples::gradient_norm_summary(grad_norms, s.clip_norm) << "\n";
        if (ranks.is_root()) {  // the replicas are equal: one rank writes (atomically)
          const auto metadata = checkpoint_metadata(model.metadata(), s, done);
          mann::save_checkpoint(checkpoint, checkpoint_tensors(), metadata);
          if (s.keep_checkpoints) mann::save_checkpoint(mann_examples::kept_checkpoint_path(checkpoint, done), parameters, metadata);
        }
        running.clear();
        grad_norms.clear();
        running_loss = 0;
        running_steps = 0;
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cerr << "trained " << done - done_at_start << " episodes in " << format_duration(seconds) << "; checkpoint "
              << checkpoint << ", log " << csv_path << "\n";
    const std::string communication = trainer.communication_report(steps, seconds);
    if (!communication.empty()) std::cerr << communication << "\n";
    if (ranks.is_root()) mann_examples::plot_learning_curve(csv_path, s.out_dir + "/" + s.model + ".png",
                                       "Omniglot, " + s.model + " (held-out classes)", "accuracy by instance",
                                       {{10, "1st instance"}, {11, "2nd instance"}, {14, "5th instance"},
                                        {15, "10th instance"}});
  }
  const mann::InstanceAccuracy final_accuracy = evaluate(s.test_episodes, 1u << 31);
  print_table(std::cout, final_accuracy, s, s.test_episodes);
  if (ranks.is_root()) {
    const std::string test_csv = s.out_dir + "/" + s.model + "_test.csv";
    write_test_csv(test_csv, final_accuracy, s, s.test_episodes);
    std::cerr << "test table: " << test_csv << "\n";
  }
  for (int k : kInstances) {
    if (std::isnan(final_accuracy.accuracy(k)) && final_accuracy.count(k) > 0) return 2;  // never a silent NaN
  }
  return 0;
}

int run_knn(const Settings& s, const mann::OmniglotImages& images, const mann::CharacterSplit& split) {
  const mann::LabelEncoding encoding = s.labels == "string" ? mann::LabelEncoding::string : mann::LabelEncoding::one_hot;
  mann::OmniglotEpisodes<float> test(images, split.test, episode_options(s, s.classes, false), s.seed * 7919 + 17);
  mann::EpisodeBatch<float> batch;
  mann::InstanceAccuracy accuracy;
  mann::Rng rng(s.seed);
  mann::ThreadPool pool(2);
  for (int e = 0; e < s.test_episodes; e += s.batch) {
    test.generate(batch, std::min(s.batch, s.test_episodes - e), (1u << 31) + static_cast<std::uint64_t>(e), pool);
    knn_evaluate(batch, encoding, s.classes, rng, accuracy);
  }
  print_table(std::cout, accuracy, s, s.test_episodes);
  return 0;
}

int run(const Settings& s, const mann_examples::Ranks& ranks) {
  if (s.model != "knn" && ranks.is_root()) mann_examples::ensure_writable_dir(s.out_dir);  // before anything is trained
  std::string dir = s.data_dir;
  if (dir.empty()) {  // rank 0 downloads if need be, then the others find it
    if (ranks.is_root()) dir = mann_examples::find_or_download_omniglot();
    ranks.barrier();
    if (!ranks.is_root()) dir = mann_examples::find_or_download_omniglot();
  }
  mann::OmniglotLoadOptions load;
  load.alphabet_limit = s.alphabet_limit;
  const mann::OmniglotImages images = mann::load_omniglot(dir, load);
  // The paper's split is 1200 of 1623; a subset (--alphabets) keeps the same proportion.
  const mann::Index train_count = s.alphabet_limit > 0 ? images.size() * 1200 / 1623 : 1200;
  const mann::CharacterSplit split = mann::split_characters(images, train_count);
  std::cerr << "Omniglot from " << dir << ": " << images.size() << " characters, " << split.train.size()
            << " for training, " << split.test.size() << " held out\n";
  // Episodes draw distinct characters: check now, not at the first evaluation after training.
  const int needed = s.curriculum ? s.curriculum_max : s.classes;
  const std::string option = s.curriculum ? "--curriculum-max" : "--classes";
  if (static_cast<mann::Index>(needed) > std::min<mann::Index>(split.train.size(), split.test.size())) {
    throw mann::ValueError(option + " " + std::to_string(needed) + " needs that many characters per episode, but there are " +
                           std::to_string(split.train.size()) + " training and " + std::to_string(split.test.size()) +
                           " held-out characters" + (s.alphabet_limit > 0 ? " (with --alphabets " + std::to_string(s.alphabet_limit) + ")" : ""));
  }
  if (s.model == "knn") return run_knn(s, images, split);

  mann::MannConfig config;
  config.input_size = 400;
  const int label_classes = s.curriculum ? s.curriculum_max : s.classes;
  config.label_size = s.labels == "string" ? 25 : label_classes;
  config.output = s.labels == "string" ? mann::OutputKind::string : mann::OutputKind::one_hot;
  config.persistent_memory = s.persistent_memory;
  mann::Rng rng(s.seed);
  if (s.model == "lstm" || s.model == "ff") {
    if (s.model == "lstm") {
      using Model = mann::ControllerOnly<float, mann::Lstm<float>>;
      Model model(config, mann::Lstm<float>(Model::controller_input_size(config), s.controller_size, rng), rng);
      return run_model(model, s, images, split, ranks);
    }
    using Model = mann::ControllerOnly<float, mann::FeedForward<float>>;
    Model model(config, mann::FeedForward<float>(Model::controller_input_size(config), {s.controller_size}, rng), rng);
    return run_model(model, s, images, split, ranks);
  }
  if (s.model == "ntm") {
    mann::NtmHead<float>::Options o;
    o.slots = s.slots;
    o.width = s.width;
    o.heads = s.heads;
    mann::NtmHead<float> head(o);
    using Model = mann::Mann<float, mann::Lstm<float>, mann::NtmHead<float>>;
    Model model(config, mann::Lstm<float>(Model::controller_input_size(config, head), s.controller_size, rng), head, rng);
    return run_model(model, s, images, split, ranks);
  }
  mann::LruaHead<float>::Options o;
  o.slots = s.slots;
  o.width = s.width;
  o.heads = s.heads;
  o.usage_decay = s.usage_decay;
  s.formulation.apply(o);
  mann::LruaHead<float> head(o);
  if (s.controller == "ff") {
    using Model = mann::Mann<float, mann::FeedForward<float>, mann::LruaHead<float>>;
    Model model(config, mann::FeedForward<float>(Model::controller_input_size(config, head), {s.controller_size}, rng),
                head, rng);
    return run_model(model, s, images, split, ranks);
  }
  using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
  Model model(config, mann::Lstm<float>(Model::controller_input_size(config, head), s.controller_size, rng), head, rng);
  return run_model(model, s, images, split, ranks);
}

}  // namespace

int main(int argc, char** argv) {
  mann_examples::Ranks ranks(&argc, &argv);  // under mpirun: data-parallel training across the ranks
  ranks.quiet_other_ranks();
  Settings s;
  CLI::App app{"Omniglot one-shot classification (Santoro et al. 2016, Tables 1-2) with mann"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // later ones override
  app.add_option("--model", s.model, "mann | ntm | lstm | ff | knn")->check(CLI::IsMember({"mann", "ntm", "lstm", "ff", "knn"}))->capture_default_str();
  app.add_option("--controller", s.controller, "controller of --model mann: lstm | ff")->check(CLI::IsMember({"lstm", "ff"}))->capture_default_str();
  app.add_option("--labels", s.labels, "onehot | string (five characters over a-e)")->check(CLI::IsMember({"onehot", "string"}))->capture_default_str();
  app.add_option("--classes", s.classes, "classes per episode (episode length 10 x classes); with --curriculum, the start")->check(CLI::Range(2, 3125))->capture_default_str();
  app.add_option("--episode-length", s.episode_length, "samples per episode (0: 10 x classes; figure 2 of the paper: 100 for up to 15 classes)")->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_flag("--random-classes", s.random_classes, "training episodes have 1..--classes classes, drawn per batch (figure 2: 'up to fifteen'); held-out ones --classes");
  app.add_option("--episodes", s.episodes, "training episodes in all (the paper: 100000)")->check(CLI::Range(0LL, 1000000000LL))->capture_default_str();
  app.add_option("--batch", s.batch, "episodes per minibatch (--resume: the checkpoint's unless given)")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--memory-slots", s.slots, "memory slots N")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--memory-width", s.width, "memory slot width W")->check(CLI::Range(1, 1 << 16))->capture_default_str();
  app.add_option("--heads", s.heads, "read heads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--controller-size", s.controller_size, "LSTM hidden units / feed-forward width")->check(CLI::Range(1, 1 << 16))->capture_default_str();
  app.add_option("--usage-decay", s.usage_decay, "LRUA usage decay gamma")->check(mann_examples::finite_number(0.0, 1.0))->capture_default_str();
  s.formulation.add_options(app);
  app.add_option("--learning-rate", s.learning_rate, "RMSProp learning rate (decay 0.95, momentum 0.9; --resume: the checkpoint's unless given)")->check(mann_examples::positive_number())->capture_default_str();
  app.add_option("--final-learning-rate", s.final_learning_rate, "if given: the learning rate falls as a cosine from --learning-rate at episode 0 to this at --episodes (--resume: the checkpoint's unless given)")->check(mann_examples::positive_number());
  app.add_option("--max-skipped-steps", s.max_skipped_steps, "skip up to this many steps whose float32 gradient overflowed (Inf/NaN; each is reported) instead of stopping at the first")
      ->check(CLI::Range(0LL, 1000000000LL))->capture_default_str();
  app.add_option("--clip-norm", s.clip_norm, "if given: clip the gradients' global L2 norm to this before each step (--resume: the checkpoint's unless given)")->check(mann_examples::positive_number());
  app.add_option("--init-from", s.init_from, "warm start: the weights of this checkpoint (same model sizes; fresh optimiser, episode count 0)");
  app.add_flag("--persistent-memory", s.persistent_memory, "keep the memory across episodes (section 4.2.1)");
  app.add_flag("--curriculum", s.curriculum, "section 4.2.2: start at --classes, +1 every --curriculum-every episodes, up to --curriculum-max");
  app.add_option("--curriculum-max", s.curriculum_max, "largest class count of the curriculum")->check(CLI::Range(2, 3125));
  app.add_option("--curriculum-every", s.curriculum_every, "episodes per curriculum step")->check(CLI::Range(1LL, 1000000000LL))->capture_default_str();
  app.add_option("--threads", s.threads, "threads the batch is split across (0: all cores)")->check(CLI::Range(0, 1024))->capture_default_str();
  app.add_option("--seed", s.seed, "seed of weights and episodes (--resume: the checkpoint's)")->check(mann_examples::seed_number())->capture_default_str();
  app.add_option("--checkpoint", s.checkpoint, "checkpoint file (default: <out-dir>/<model>.safetensors)");
  app.add_flag("--resume", s.resume, "continue training from --checkpoint, with the model settings it holds");
  app.add_flag("--eval-only", s.eval_only, "only evaluate --checkpoint on held-out classes, with the model settings it holds (string labels: any --classes and --episode-length)");
  app.add_flag("--keep-checkpoints", s.keep_checkpoints, "also keep the weights of every periodic checkpoint, as <checkpoint>.episode-NNNNNNNNN.safetensors (for scripts/average-checkpoints.py)");
  app.add_option("--eval-every", s.eval_every, "episodes between held-out evaluations, log lines and checkpoints")->check(CLI::Range(1LL, 1000000000LL))->capture_default_str();
  app.add_option("--eval-episodes", s.eval_episodes, "held-out episodes per periodic evaluation")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--test-episodes", s.test_episodes, "held-out episodes of the final table")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--data-dir", s.data_dir, "Omniglot folder (default: $MANN_DATA_DIR, ./data/omniglot, else download)");
  app.add_option("--out-dir", s.out_dir, "where logs, checkpoints and plots go")->capture_default_str();
  app.add_option("--alphabets", s.alphabet_limit, "use only the first N alphabets of each set (0: all; for quick runs)")->check(CLI::Range(0, 50))->capture_default_str();
  bool no_augment = false;
  app.add_flag("--no-augment", no_augment, "no per-sample rotation/translation (training and held-out episodes)");
  app.add_option("--augment-rotation", s.augment_rotation, "training episodes: per-sample rotation uniform in +-this many degrees (held-out episodes: the paper's 11.25; --resume: the checkpoint's unless given)")->check(mann_examples::finite_number(0.0, 180.0))->capture_default_str();
  app.add_option("--augment-shift", s.augment_shift, "training episodes: per-sample shifts uniform in +-this many pixels of the 105 x 105 original (held-out episodes: the paper's 10; --resume: the checkpoint's unless given)")->check(mann_examples::finite_number(0.0, 52.0))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "omniglot: " << e.what() << " (see --help)\n";
    return 2;
  }
  s.augment = !no_augment;
  if (s.resume && s.eval_only) {
    std::cerr << "omniglot: --resume and --eval-only exclude each other\n";
    return 2;
  }
  if (!s.init_from.empty() && (s.resume || s.eval_only || s.model == "knn")) {
    std::cerr << "omniglot: --init-from starts a new training run; it excludes --resume, --eval-only and --model knn\n";
    return 2;
  }
  if (s.random_classes && s.curriculum) {
    std::cerr << "omniglot: --random-classes and --curriculum exclude each other\n";
    return 2;
  }
  if ((s.resume || s.eval_only) && s.model != "knn") {
    try {
      resolve_from_checkpoint(s, mann_examples::given_options(app));
    } catch (const std::exception& e) {
      std::cerr << "omniglot: " << e.what() << "\n";
      return 2;
    }
  }
  if (s.heads > s.slots) {
    std::cerr << "omniglot: --heads " << s.heads << " is more than --memory-slots " << s.slots << "\n";
    return 2;
  }
  if (s.curriculum && s.curriculum_max == 0) s.curriculum_max = s.classes + 10;
  if (s.curriculum && s.curriculum_max < s.classes) {
    std::cerr << "omniglot: --curriculum-max " << s.curriculum_max << " is below --classes " << s.classes << "\n";
    return 2;
  }
  try {
    return run(s, ranks);
  } catch (const std::exception& e) {
    std::cerr << "\n";
    return ranks.fail("omniglot", e.what(), 1);
  }
}
