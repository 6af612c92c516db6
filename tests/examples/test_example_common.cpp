// Tests for the examples' shared helpers (examples/common/): checked checkpoint fields, settings
// resolved from a checkpoint, the learning-rate schedule, the gradient-norm log, the output-folder
// probe and the CSV log (checked writes, cut back on resume).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "checkpoint_fields.hpp"
#include "checkpoint_settings.hpp"
#include "distributed.hpp"
#include "gradient_norms.hpp"
#include "lrua_formulation.hpp"
#include "output.hpp"
#include "schedule.hpp"
#include "mann/data/episodes.hpp"
#include "mann/optim/rmsprop.hpp"
#include "support/overflowing_model.hpp"
#include "support/test_files.hpp"

namespace {

namespace fs = std::filesystem;

struct CommonTempDir : mann_test::TempDir {
  CommonTempDir() : mann_test::TempDir("examples") {}
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CheckpointFields, CountAcceptsOnlyANonNegativeInteger) {
  const mann::CheckpointMetadata metadata{{"episodes_done", "3200"}, {"negative", "-998"}, {"word", "many"},
                                          {"trailing", "12abc"},      {"empty", ""},         {"space", " 12"},
                                          {"huge", "99999999999999999999"}};
  EXPECT_EQ(mann_examples::checkpoint_count("a.safetensors", metadata, "episodes_done"), 3200);
  const char* bad[] = {"negative", "word", "trailing", "empty", "space", "huge"};
  for (const char* field : bad) {
    const std::string message = mann_test::error_of<mann::FormatError>(
        [&] { mann_examples::checkpoint_count("a.safetensors", metadata, field); });
    EXPECT_TRUE(mann_test::contains(message, "checkpoint a.safetensors: mann::metadata_int: metadata \"" + std::string(field) +
                                      "\" is \""))
        << message;
    EXPECT_TRUE(mann_test::contains(message, "expected an integer in [0, ")) << message;
  }
  const std::string missing = mann_test::error_of<mann::FormatError>(
      [&] { mann_examples::checkpoint_count("a.safetensors", {}, "episodes_done"); });
  EXPECT_TRUE(mann_test::contains(missing, "checkpoint a.safetensors: mann::metadata_int: metadata has no \"episodes_done\""))
      << missing;
}

TEST(CheckpointFields, NumbersFlagsAndUnsigned) {
  const mann::CheckpointMetadata metadata{{"beta", "10"},  {"decay", "0.99"}, {"inf", "inf"},   {"nan", "nan"},
                                          {"flag", "true"}, {"yes", "yes"},   {"seed", "18446744073709551615"},
                                          {"minus", "-1"}};
  EXPECT_EQ(mann_examples::checkpoint_number("c", metadata, "beta"), 10.0);
  EXPECT_EQ(mann_examples::checkpoint_number("c", metadata, "decay"), 0.99);
  EXPECT_THROW(mann_examples::checkpoint_number("c", metadata, "inf"), mann::FormatError);
  EXPECT_THROW(mann_examples::checkpoint_number("c", metadata, "nan"), mann::FormatError);
  EXPECT_TRUE(mann_examples::checkpoint_flag("c", metadata, "flag"));
  EXPECT_THROW(mann_examples::checkpoint_flag("c", metadata, "yes"), mann::FormatError);
  EXPECT_EQ(mann_examples::checkpoint_unsigned("c", metadata, "seed"), 18446744073709551615ull);
  EXPECT_THROW(mann_examples::checkpoint_unsigned("c", metadata, "minus"), mann::FormatError);
  EXPECT_EQ(mann_examples::number_text(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(mann_examples::number_text(10), "10");
}

TEST(CheckpointSettings, TakesUnsetSettingsFromTheCheckpointAndRejectsConflicts) {
  const mann::CheckpointMetadata metadata{{"head.read_sharpness", "10"}, {"head.slots", "64"}, {"labels", "string"}};
  {
    // Not given: taken from the checkpoint.
    mann_examples::CheckpointSettings settings("m.safetensors", metadata, {});
    double sharpness = 1;
    int slots = 128;
    std::string labels = "onehot";
    settings.resolve("head.read_sharpness", "--read-sharpness", sharpness);
    settings.resolve("head.slots", "--memory-slots", slots);
    settings.resolve("labels", "--labels", labels);
    settings.finish();
    EXPECT_EQ(sharpness, 10);
    EXPECT_EQ(slots, 64);
    EXPECT_EQ(labels, "string");
  }
  {
    // Given with the same value: fine; with another: an error naming both values.
    mann_examples::CheckpointSettings settings("m.safetensors", metadata, {"--read-sharpness", "--memory-slots"});
    int slots = 64;
    settings.resolve("head.slots", "--memory-slots", slots);
    double sharpness = 1;
    const std::string message = mann_test::error_of<mann::ValueError>(
        [&] { settings.resolve("head.read_sharpness", "--read-sharpness", sharpness); });
    EXPECT_EQ(message,
              "--read-sharpness 1 differs from the checkpoint's head.read_sharpness = 10 (m.safetensors); leave "
              "--read-sharpness out to use the checkpoint's value");
  }
}

TEST(CheckpointSettings, AnOlderCheckpointNeedsTheMissingSettingsGiven) {
  const mann::CheckpointMetadata old{{"model", "mann"}};
  mann_examples::CheckpointSettings settings("old.safetensors", old, {"--memory-slots"});
  double sharpness = 1, decay = 0.99;
  int slots = 32;
  settings.resolve("head.read_sharpness", "--read-sharpness", sharpness);
  settings.resolve("head.slots", "--memory-slots", slots);  // given: trusted
  settings.resolve("head.usage_decay", "--usage-decay", decay);
  EXPECT_EQ(slots, 32);
  const std::string message = mann_test::error_of<mann::FormatError>([&] { settings.finish(); });
  EXPECT_EQ(message,
            "checkpoint old.safetensors has no metadata field head.read_sharpness, head.usage_decay (written by an "
            "older version?); give --read-sharpness, --usage-decay with the value(s) it was trained with");
  // A malformed field is an error too, not a silent default.
  mann_examples::CheckpointSettings bad("bad.safetensors", {{"head.slots", "-3"}}, {});
  EXPECT_THROW(bad.resolve("head.slots", "--memory-slots", slots), mann::FormatError);
}

// A field added later (head.key_strength): a checkpoint without it holds the value every earlier
// version used, and is compared with a given option like any other field.
TEST(CheckpointSettings, AFieldAddedLaterDefaultsToTheEarlierValue) {
  const mann::CheckpointMetadata old{{"head.read_sharpness", "10"}};
  {
    mann_examples::CheckpointSettings settings("old.safetensors", old, {});
    std::string strength = "learned";  // the binary's default, say
    settings.resolve_or_earlier("head.key_strength", "--key-strength", strength, std::string("fixed"));
    settings.finish();
    EXPECT_EQ(strength, "fixed");
  }
  {
    mann_examples::CheckpointSettings settings("old.safetensors", old, {"--key-strength"});
    std::string strength = "learned";
    EXPECT_EQ(mann_test::error_of<mann::ValueError>([&] {
                settings.resolve_or_earlier("head.key_strength", "--key-strength", strength, std::string("fixed"));
              }),
              "--key-strength learned differs from the checkpoint's head.key_strength = fixed (old.safetensors); "
              "leave --key-strength out to use the checkpoint's value");
  }
  {
    mann_examples::CheckpointSettings settings("new.safetensors", {{"head.key_strength", "learned"}}, {});
    std::string strength = "fixed";
    settings.resolve_or_earlier("head.key_strength", "--key-strength", strength, std::string("fixed"));
    EXPECT_EQ(strength, "learned");
  }
}

// eq. 6's n: checkpoints store the count (4 for the paper's n with 4 heads), the option's 0 means the
// heads' count, so `--least-used-slots 0` matches a stored 4 and a checkpoint without the field
// (trained with the paper's n) resolves to the heads' count.
TEST(LruaFormulation, LeastUsedSlotsZeroIsTheHeadsCount) {
  const mann::CheckpointMetadata base{{"head.read_sharpness", "60"}, {"head.epsilon", "0.01"}};
  auto resolved = [&](mann::CheckpointMetadata metadata, std::set<std::string> given, int option) {
    mann_examples::CheckpointSettings settings("m.safetensors", std::move(metadata), std::move(given));
    mann_examples::LruaFormulation formulation;
    formulation.least_used_slots = option;
    formulation.resolve(settings, 4);
    settings.finish();
    return formulation.least_used_slots;
  };
  auto stored = [&](const std::string& n) {
    auto metadata = base;
    metadata["head.least_used_slots"] = n;
    return metadata;
  };
  EXPECT_EQ(resolved(stored("4"), {"--least-used-slots"}, 0), 4);
  EXPECT_EQ(resolved(stored("4"), {}, 1), 4);
  EXPECT_EQ(resolved(stored("1"), {"--least-used-slots"}, 1), 1);
  EXPECT_EQ(resolved(base, {"--least-used-slots"}, 0), 4);
  EXPECT_EQ(resolved(base, {}, 0), 4);
  EXPECT_EQ(mann_test::error_of<mann::ValueError>([&] { resolved(stored("1"), {"--least-used-slots"}, 0); }),
            "--least-used-slots 0 means the heads' count: --least-used-slots 4 differs from the checkpoint's head.least_used_slots = 1 (m.safetensors); "
            "leave --least-used-slots out to use the checkpoint's value");
  EXPECT_THROW(resolved(base, {"--least-used-slots"}, 1), mann::ValueError);
}

// A setting a resumed run may change (the learning rate of a schedule): given, it stands; not given,
// the checkpoint's, or the earlier versions' value for a checkpoint without the field.
TEST(CheckpointSettings, DefaultFromTheCheckpointUnlessGiven) {
  const mann::CheckpointMetadata stored{{"learning_rate", "0.0003"}};
  auto resolved = [](const mann::CheckpointMetadata& metadata, std::set<std::string> given, double rate) {
    mann_examples::CheckpointSettings settings("a.safetensors", metadata, std::move(given));
    settings.default_from("learning_rate", "--learning-rate", rate, 1e-4);
    settings.finish();
    return rate;
  };
  EXPECT_EQ(resolved(stored, {}, 1e-3), 3e-4);
  EXPECT_EQ(resolved({}, {}, 1e-3), 1e-4);
  EXPECT_EQ(resolved(stored, {"--learning-rate"}, 5e-5), 5e-5);
}

// The cosine schedule, hand-computed for 3e-4 → 1e-5 over 1000 episodes:
// 1e-5 + 2.9e-4 · (1 + cos(π · done / 1000)) / 2.
TEST(LearningRateSchedule, CosineFromTheInitialToTheFinalRate) {
  using mann_examples::cosine_learning_rate;
  EXPECT_DOUBLE_EQ(cosine_learning_rate(3e-4, 1e-5, 0, 1000), 3e-4);
  EXPECT_NEAR(cosine_learning_rate(3e-4, 1e-5, 250, 1000), 2.5753048327204e-4, 1e-15);  // 1e-5 + 2.9e-4 · 0.8535534
  EXPECT_NEAR(cosine_learning_rate(3e-4, 1e-5, 500, 1000), 1.55e-4, 1e-15);
  EXPECT_NEAR(cosine_learning_rate(3e-4, 1e-5, 750, 1000), 5.246951672796e-5, 1e-15);
  EXPECT_DOUBLE_EQ(cosine_learning_rate(3e-4, 1e-5, 1000, 1000), 1e-5);
  EXPECT_DOUBLE_EQ(cosine_learning_rate(3e-4, 1e-5, 1200, 1000), 1e-5);  // past the end: the final rate
  EXPECT_DOUBLE_EQ(cosine_learning_rate(3e-4, 0, 500, 1000), 3e-4);       // no final rate: constant
  EXPECT_DOUBLE_EQ(cosine_learning_rate(3e-4, 1e-5, 500, 0), 3e-4);       // no length: constant
}

TEST(LearningRateSchedule, BannerTextStatesTheSchedule) {
  EXPECT_EQ(mann_examples::learning_rate_text(3e-4, 0), "learning rate 0.0003");
  EXPECT_EQ(mann_examples::learning_rate_text(3e-4, 1e-5), "learning rate 0.0003 falling as a cosine to 1e-05");
}

TEST(GradientNormSummary, CountsNonFiniteNormsApartFromTheSortedFiniteOnes) {
  using mann_examples::gradient_norm_summary;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  // Finite norms 1, 2, 3, 60: median = index 1 of 4, 99th percentile = index 2, one above the bound
  // 50; a NaN and an infinity, placed among them, are the two skipped steps.
  std::vector<double> norms = {3, nan, 1, 60, 2, inf};
  EXPECT_EQ(gradient_norm_summary(norms, 50),
            "gradient norm over 6 steps: median 2, 99th percentile 3, largest 60; 1 clipped to 50; 2 skipped (not finite)");
  // The case a training log got wrong when NaN went into std::sort: many norms above the bound
  // and one NaN step among them.
  norms.assign(200, 80.0);
  norms[37] = nan;
  for (int i = 0; i < 100; ++i) norms.push_back(10.0);
  EXPECT_EQ(gradient_norm_summary(norms, 50),
            "gradient norm over 300 steps: median 80, 99th percentile 80, largest 80; 199 clipped to 50; 1 skipped (not finite)");
  norms = {nan, nan};
  EXPECT_EQ(gradient_norm_summary(norms, 50), "gradient norm over 2 steps: none finite; 2 skipped (not finite)");
  norms = {4, 2};
  EXPECT_EQ(gradient_norm_summary(norms, 0), "gradient norm over 2 steps: median 2, 99th percentile 2, largest 4");
  norms.clear();
  EXPECT_EQ(gradient_norm_summary(norms, 50), "gradient norm: no steps");
}

TEST(ExampleOutput, WritableDirIsCreatedAndProbed) {
  CommonTempDir dir;
  const std::string out = dir.file("a/b");
  mann_examples::ensure_writable_dir(out);
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_TRUE(fs::is_empty(out));  // the probe is gone
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only folders";
  fs::permissions(out, fs::perms::owner_read | fs::perms::owner_exec);
  const std::string message = mann_test::error_of<mann::FileError>([&] { mann_examples::ensure_writable_dir(out); });
  EXPECT_TRUE(mann_test::contains(message, "the output folder " + out + " is not writable")) << message;
}

TEST(ExampleOutput, WritableDirRejectsAFileInTheWay) {
  CommonTempDir dir;
  std::ofstream(dir.file("file")) << "x";
  const std::string message =
      mann_test::error_of<mann::FileError>([&] { mann_examples::ensure_writable_dir(dir.file("file/sub")); });
  EXPECT_TRUE(mann_test::contains(message, "cannot create the output folder " + dir.file("file/sub"))) << message;
}

TEST(ExampleOutput, WriteFileWholeReplacesTheFileOrLeavesItAsItWas) {
  CommonTempDir dir;
  const std::string path = dir.file("table.csv");
  mann_examples::write_file_whole(path, [](std::ostream& out) { out << "a,b\n1,2\n"; });
  EXPECT_EQ(read_text(path), "a,b\n1,2\n");
  // A writer that fails halfway: the old file stays, and no temporary is left.
  EXPECT_THROW(mann_examples::write_file_whole(path,
                                               [](std::ostream& out) {
                                                 out << "half";
                                                 throw mann::ValueError("stop");
                                               }),
               mann::ValueError);
  EXPECT_EQ(read_text(path), "a,b\n1,2\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  // A folder that is not there: an error naming the file.
  const std::string missing = dir.file("no/such/dir/table.csv");
  const std::string message = mann_test::error_of<mann::FileError>(
      [&] { mann_examples::write_file_whole(missing, [](std::ostream& out) { out << "x"; }); });
  EXPECT_TRUE(mann_test::contains(message, "cannot write " + missing + ".tmp.")) << message;
  EXPECT_TRUE(mann_test::contains(message, "(for " + missing + ")")) << message;
}

TEST(CsvLog, AFailedWriteIsAnErrorNamingTheFile) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string message = mann_test::error_of<mann::FileError>([] { mann_examples::CsvLog log("/dev/full", "episodes,x"); });
  EXPECT_EQ(message, "cannot write to the log /dev/full (disk full or file gone?)");
}

TEST(CsvLog, ResumeCutsTheRowsAfterTheCheckpoint) {
  CommonTempDir dir;
  const std::string path = dir.file("log.csv");
  {
    mann_examples::CsvLog log(path, "episodes,loss");
    log.write_row("100,0.5");
    log.write_row("200,0.4");
    log.write_row("300,0.3");
  }
  // A kill in the middle of a row leaves it without its newline.
  std::ofstream(path, std::ios::app) << "40";
  {
    mann_examples::CsvLog log(path, "episodes,loss", 200);  // the checkpoint is at 200
    EXPECT_EQ(read_text(path), "episodes,loss\n100,0.5\n200,0.4\n");
    log.write_row("300,0.31");
  }
  EXPECT_EQ(read_text(path), "episodes,loss\n100,0.5\n200,0.4\n300,0.31\n");
  EXPECT_EQ(fs::directory_iterator(dir.path())->path().filename(), "log.csv");  // no temporary left
  // A fresh log (no resume) starts over; a resume without a log starts one.
  { mann_examples::CsvLog log(path, "episodes,loss"); }
  EXPECT_EQ(read_text(path), "episodes,loss\n");
  { mann_examples::CsvLog log(dir.file("new.csv"), "episodes,loss", 500); }
  EXPECT_EQ(read_text(dir.file("new.csv")), "episodes,loss\n");
}

TEST(CsvLog, ResumeRejectsAnotherHeaderOrABadRow) {
  CommonTempDir dir;
  const std::string path = dir.file("log.csv");
  std::ofstream(path) << "step,loss\n1,2\n";
  std::string message = mann_test::error_of<mann::FormatError>([&] { mann_examples::CsvLog log(path, "episodes,loss", 1); });
  EXPECT_TRUE(mann_test::contains(message, "the log " + path + " has the header \"step,loss\", expected \"episodes,loss\"")) << message;
  std::ofstream(path) << "episodes,loss\nx,2\n";
  message = mann_test::error_of<mann::FormatError>([&] { mann_examples::CsvLog log(path, "episodes,loss", 1); });
  EXPECT_TRUE(mann_test::contains(message, "episodes column is not a count: \"x,2\"")) << message;
}

// The examples' step (one process): the norm before clipping is reported; a gradient that
// overflowed skips the step when asked (weights and optimiser unchanged), else clipping refuses it.
TEST(RankTrainer, ReportsTheNormAndSkipsAnOverflowedStep) {
  int argc = 0;
  char** argv = nullptr;
  const mann_examples::Ranks ranks(&argc, &argv);
  mann_test::OverflowingModel model;
  model.w.value << 1, 2, 3;
  mann_examples::RankTrainer<mann_test::OverflowingModel> trainer(model, 2, ranks);
  model.overflow = true;  // the master's share only (thread 1 has its own replica)
  mann::RmsProp<double> optimizer(model.parameters());
  mann::SyntheticEpisodeOptions options;
  options.classes = 3;
  mann::SyntheticEpisodes<double> generator(options, 1);
  mann::EpisodeBatch<double> batch;
  generator.generate(batch, 4, 0);
  const mann::MatrixD start = model.w.value;
  double norm = 0;
  trainer.train_step(batch, 4, optimizer, mann::LabelEncoding::one_hot, nullptr, 0.5, &norm, true);
  EXPECT_TRUE(std::isinf(norm));
  EXPECT_EQ(model.w.value, start);
  EXPECT_EQ(optimizer.steps(), 0);
  EXPECT_THROW(trainer.train_step(batch, 4, optimizer, mann::LabelEncoding::one_hot, nullptr, 0.5), mann::ValueError);
  model.w.value = start;
  model.overflow = false;
  trainer.train_step(batch, 4, optimizer, mann::LabelEncoding::one_hot, nullptr, 0.5, &norm, true);
  EXPECT_NEAR(norm, std::sqrt(3.0), 1e-12);  // every share's gradient is 1 per element
  EXPECT_EQ(optimizer.steps(), 1);
  EXPECT_LT(model.w.value(0), start(0));
}

}  // namespace
