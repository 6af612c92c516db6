// mann/data/omniglot_lake_runs.hpp: reads Lake et al.'s twenty 20-way one-shot classification runs
// (all_runs.zip of github.com/brendenlake/omniglot: runNN/training/classNN.png,
// runNN/test/itemNN.png, runNN/class_labels.txt) into LakeRun (mann/data/omniglot_fewshot.hpp),
// the images downscaled by area averaging as the few-shot store does (28 × 28 by default).
//
// The run PNGs are like the rest of Omniglot: 105 × 105, 1 bit, 1 = white background, 0 = ink (checked
// on the real file: each is pixel-identical to an images_evaluation drawing); any bit depth or colour
// type is accepted, grey < 128 is ink. Opt-in; links libpng and libzip like mann/data/omniglot.hpp.
#pragma once

#include <zip.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/data/augment.hpp"
#include "mann/data/omniglot_files.hpp"
#include "mann/data/omniglot_fewshot.hpp"

namespace mann {

namespace detail {
namespace lake_runs {

inline std::string two_digits(int i) {
  char text[16];
  std::snprintf(text, sizeof text, "%02d", i);
  return text;
}

// Reads entry `name` of `archive` whole. \throws FormatError naming the zip and entry when it is missing or corrupt.
inline void read_entry(const omniglot::ZipArchive& archive, const std::string& name, const char* where,
                       std::vector<unsigned char>& out) {
  const zip_int64_t index = zip_name_locate(archive.get(), name.c_str(), 0);
  if (index < 0) throw FormatError(detail::concat(where, ": ", archive.path(), ": no entry ", name));
  archive.read(static_cast<zip_uint64_t>(index), name, where, out);
}

}  // namespace lake_runs
}  // namespace detail

/// Reads the 20 runs from `path`: all_runs.zip itself, or a folder holding it. `image_size` is the
/// side of the downscaled images (28; 105 keeps them as they are).
/// class_labels.txt must have 20 lines "runNN/test/itemMM.png runNN/training/classKK.png" naming
/// every test item of its run once (blank lines and CR line ends are accepted).
/// \throws FileError when the zip cannot be opened; FormatError, naming the zip and the entry (and
/// line), when an entry is missing, corrupt, not a 105 × 105 PNG, or class_labels.txt is malformed;
/// ValueError for an image_size < 1.
template <class Scalar = float>
std::vector<LakeRun<Scalar>> load_lake_runs(const std::string& path, int image_size = 28) {
  namespace fs = std::filesystem;
  namespace om = detail::omniglot;
  const char* where = "mann::load_lake_runs";
  check_value(image_size >= 1, where, "image_size", image_size, ">= 1");
  std::error_code error;
  const fs::path zip_path = fs::is_directory(path, error) ? fs::path(path) / "all_runs.zip" : fs::path(path);
  if (!fs::is_regular_file(zip_path, error)) {
    throw FileError(detail::concat(where, ": ", zip_path.string(), " does not exist or is not a file"));
  }
  const om::ZipArchive archive(zip_path, where);
  constexpr int runs = 20, items = 20, side = OmniglotImages::image_size;
  ImageAugmenter augmenter(side, image_size);
  std::vector<unsigned char> bytes, gray;
  std::vector<std::uint8_t> packed(OmniglotImages::bytes_per_image);
  std::vector<float> full(static_cast<std::size_t>(side) * side);
  const Index pixels = static_cast<Index>(image_size) * image_size;

  // Decodes entry `name` into column `column` of `out`.
  auto load_image = [&](const std::string& name, Matrix<Scalar>& out, Index column) {
    detail::lake_runs::read_entry(archive, name, where, bytes);
    om::decode_png(bytes.data(), bytes.size(), archive.path() + ":" + name, where, gray, packed.data());
    for (int i = 0; i < side * side; ++i) full[static_cast<std::size_t>(i)] = static_cast<float>((packed[static_cast<std::size_t>(i >> 3)] >> (i & 7)) & 1u);
    augmenter.downscale(full.data(), out.col(column).data());
  };

  std::vector<LakeRun<Scalar>> result(runs);
  for (int r = 0; r < runs; ++r) {
    LakeRun<Scalar>& run = result[static_cast<std::size_t>(r)];
    run.name = "run" + detail::lake_runs::two_digits(r + 1);
    run.training.resize(pixels, items);
    run.test.resize(pixels, items);
    for (int i = 0; i < items; ++i) {
      load_image(run.name + "/training/class" + detail::lake_runs::two_digits(i + 1) + ".png", run.training, i);
      load_image(run.name + "/test/item" + detail::lake_runs::two_digits(i + 1) + ".png", run.test, i);
    }

    const std::string labels_name = run.name + "/class_labels.txt";
    detail::lake_runs::read_entry(archive, labels_name, where, bytes);
    const std::string file = archive.path() + ":" + labels_name;
    run.answers.assign(items, -1);
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    std::string line;
    int line_number = 0, answered = 0;
    // Parses "<run>/<folder>/<stem>NN.png" into NN (1–20); -1 if it does not match.
    auto number = [&](const std::string& field, const std::string& folder, const std::string& stem) {
      const std::string prefix = run.name + "/" + folder + "/" + stem;
      if (field.size() != prefix.size() + 6 || field.compare(0, prefix.size(), prefix) != 0 ||
          field.compare(prefix.size() + 2, 4, ".png") != 0) {
        return -1;
      }
      const char a = field[prefix.size()], b = field[prefix.size() + 1];
      if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
      const int n = (a - '0') * 10 + (b - '0');
      return n >= 1 && n <= items ? n : -1;
    };
    while (std::getline(in, line)) {
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::istringstream fields(line);
      std::string test, training, extra;
      if (!(fields >> test)) continue;  // blank line
      const bool two = static_cast<bool>(fields >> training) && !(fields >> extra);
      const int item = two ? number(test, "test", "item") : -1;
      const int cls = two ? number(training, "training", "class") : -1;
      if (item < 0 || cls < 0) {
        throw FormatError(detail::concat(where, ": ", file, " line ", line_number, ": \"", line, "\", expected \"",
                                         run.name, "/test/itemNN.png ", run.name, "/training/classNN.png\" with NN in 01-20"));
      }
      int& answer = run.answers[static_cast<std::size_t>(item - 1)];
      if (answer >= 0) {
        throw FormatError(detail::concat(where, ": ", file, " line ", line_number, ": ", test, " is listed twice"));
      }
      answer = cls - 1;
      ++answered;
    }
    if (answered != items) {
      throw FormatError(detail::concat(where, ": ", file, ": ", answered, " test items listed, expected ", items));
    }
  }
  return result;
}

/// Errors on Lake et al.'s 20-way one-shot runs.
struct LakeRunsResult {
  std::vector<int> errors;  ///< wrong test items of each run (of 20)
  /// Wrong test items over all runs.
  int wrong() const {
    int sum = 0;
    for (int e : errors) sum += e;
    return sum;
  }
  /// Test items over all runs (20 per run).
  int items() const { return 20 * static_cast<int>(errors.size()); }
  /// Mean error rate over all runs (the measure Lake et al. report), in [0, 1].
  double error_rate() const {
    if (errors.empty()) return std::nan("");
    return static_cast<double>(wrong()) / static_cast<double>(items());
  }
};

/// Classifies each run's 20 test drawings given its 20 training drawings (support labels 0 … 19, one
/// shot each, in class order) with `classifier` (a classifier as described at the top of this file).
/// \throws ValueError for a classifier that returns the wrong number of predictions.
template <class Scalar, class Classifier>
LakeRunsResult evaluate_lake_runs(const std::vector<LakeRun<Scalar>>& runs, Classifier&& classifier) {
  LakeRunsResult result;
  std::vector<int> labels, predictions;
  for (const LakeRun<Scalar>& run : runs) {
    labels.resize(static_cast<std::size_t>(run.training.cols()));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i);
    classifier(run.training, labels, static_cast<int>(labels.size()), run.test, predictions);
    if (predictions.size() != run.answers.size()) {
      throw ValueError(detail::concat("mann::evaluate_lake_runs: the classifier returned ", predictions.size(),
                                      " predictions for ", run.name, ", expected ", run.answers.size()));
    }
    int wrong = 0;
    for (std::size_t j = 0; j < predictions.size(); ++j) wrong += predictions[j] == run.answers[j] ? 0 : 1;
    result.errors.push_back(wrong);
  }
  return result;
}

}  // namespace mann
