// Tests for mann/data/omniglot_lake_runs.hpp: Lake's 20 one-shot runs from the real all_runs.zip
// (sizes, polarity, answers, pixel identity with the evaluation drawings) and the errors on small
// synthetic zips built here with libzip (missing, corrupt or truncated entries, bad class_labels.txt).
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zip.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "mann/data/omniglot.hpp"
#include "mann/data/omniglot_lake_runs.hpp"
#include "support/omniglot_test_data.hpp"
#include "support/test_files.hpp"

namespace lake_runs_test {  // named: shares a unity translation unit with the other data tests

namespace fs = std::filesystem;

using mann_test::contains;

// A temporary folder of its own.
struct TempDir : mann_test::TempDir {
  TempDir() : mann_test::TempDir("lake") {}
};

std::string two(int i) {
  char text[16];
  std::snprintf(text, sizeof text, "%02d", i);
  return text;
}

// A white 105 × 105 PNG with ink (0) at a spot encoding `id` (1-bit grey like Lake's files).
std::string png_bytes(int id, int width = 105) {
  const int height = 105;
  std::vector<std::uint8_t> gray(static_cast<std::size_t>(width) * height, 255);
  for (int k = 0; k < 10; ++k) gray[static_cast<std::size_t>(10 + id % 80) * width + 10 + k] = 0;
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  EXPECT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, gray.data(), width, nullptr), 0);
  std::string bytes(size, '\0');
  EXPECT_NE(png_image_write_to_memory(&image, bytes.data(), &size, 0, gray.data(), width, nullptr), 0);
  bytes.resize(size);
  return bytes;
}

// name → contents of a complete synthetic all_runs: test item j of every run belongs to class 21 − j.
std::map<std::string, std::string> make_synthetic_entries() {
  std::map<std::string, std::string> entries;
  for (int r = 1; r <= 20; ++r) {
    const std::string run = "run" + two(r);
    std::string labels;
    for (int i = 1; i <= 20; ++i) {
      entries[run + "/training/class" + two(i) + ".png"] = png_bytes(i);
      entries[run + "/test/item" + two(i) + ".png"] = png_bytes(21 - i);
      labels += run + "/test/item" + two(i) + ".png " + run + "/training/class" + two(21 - i) + ".png\n";
    }
    entries[run + "/class_labels.txt"] = labels;
  }
  return entries;
}

std::map<std::string, std::string> synthetic_entries() {
  static const std::map<std::string, std::string> entries = make_synthetic_entries();
  return entries;
}

void write_zip(const fs::path& path, const std::map<std::string, std::string>& entries) {
  int code = 0;
  zip_t* archive = zip_open(path.string().c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(archive, nullptr) << code;
  for (const auto& [name, data] : entries) {
    zip_source_t* source = zip_source_buffer(archive, data.data(), data.size(), 0);
    ASSERT_NE(source, nullptr);
    ASSERT_GE(zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8), 0) << zip_strerror(archive);
  }
  ASSERT_EQ(zip_close(archive), 0) << zip_strerror(archive);  // the buffers must live until here
}

// Runs load_lake_runs and returns the message of the expected exception type ("" if none was thrown).
template <class E>
std::string error_of(const std::string& path) {
  try {
    mann::load_lake_runs<float>(path);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "";
}


TEST(LakeRunsRealData, TwentyRunsOfTwentyInkOnWhite) {
  MANN_OMNIGLOT_DIR_OR_SKIP(dir, "all_runs.zip");
  const auto runs = mann::load_lake_runs<float>(dir);  // a folder holding all_runs.zip
  ASSERT_EQ(runs.size(), 20u);
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const auto& run = runs[r];
    EXPECT_EQ(run.name, "run" + two(static_cast<int>(r) + 1));
    ASSERT_EQ(run.training.rows(), 784);
    ASSERT_EQ(run.training.cols(), 20);
    ASSERT_EQ(run.test.cols(), 20);
    // Every class is the answer of exactly one test item (20-way one-shot: one test item per class).
    std::vector<int> sorted = run.answers;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 20; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
    // Ink = 1 is the minority and the border is background: the polarity is right.
    for (const auto* m : {&run.training, &run.test}) {
      for (mann::Index j = 0; j < 20; ++j) {
        const double ink = m->col(j).sum() / 784.0;
        EXPECT_GT(ink, 0.005) << run.name << " column " << j;
        EXPECT_LT(ink, 0.3) << run.name << " column " << j;
        EXPECT_EQ(m->col(j)(0), 0.0f);
        EXPECT_GE(m->col(j).minCoeff(), 0.0f);
        EXPECT_LE(m->col(j).maxCoeff(), 1.0f);
      }
    }
  }
  // run01, item01 → class08 (the first line of run01/class_labels.txt).
  EXPECT_EQ(runs[0].answers[0], 7);
  EXPECT_EQ(runs[0].answers[1], 8);
  // Same as a path to the zip itself.
  const auto again = mann::load_lake_runs<float>((fs::path(dir) / "all_runs.zip").string());
  EXPECT_EQ(again[19].test, runs[19].test);
}

TEST(LakeRunsRealData, Run01ImagesAreAtlanteanDrawingsDownscaledTheSameWay) {
  // The data README: runs 1–2 come from images_evaluation/Atlantean, pixel for pixel.
  MANN_OMNIGLOT_DIR_OR_SKIP(dir, "all_runs.zip");
  mann::OmniglotLoadOptions options;
  options.alphabets = {"Atlantean"};
  options.use_cache = false;
  options.progress = false;
  const mann::OmniglotImages images = mann::load_omniglot(dir, options);
  ASSERT_EQ(images.size(), 26);
  std::vector<mann::Index> all;
  for (mann::Index c = 0; c < images.size(); ++c) all.push_back(c);
  const mann::FewShotImages<float> store(images, all, false);
  const auto runs = mann::load_lake_runs<float>(dir);
  auto found = [&](const Eigen::Ref<const mann::MatrixF>& column) {
    for (mann::Index c = 0; c < store.classes(); ++c) {
      for (int d = 0; d < 20; ++d) {
        if (store.image(c, d) == column) return c;
      }
    }
    return mann::Index{-1};
  };
  for (mann::Index j = 0; j < 20; ++j) {
    const mann::Index training = found(runs[0].training.col(j));
    EXPECT_GE(training, 0) << "run01 class " << j + 1;
  }
  // A test item and its answer's training image are drawings of the same character.
  for (std::size_t j = 0; j < 20; ++j) {
    const mann::Index test = found(runs[0].test.col(static_cast<mann::Index>(j)));
    const mann::Index answer = found(runs[0].training.col(runs[0].answers[j]));
    ASSERT_GE(test, 0);
    EXPECT_EQ(test, answer) << "run01 item " << j + 1;
  }
}

TEST(LakeRunsSynthetic, ReadsAWellFormedZip) {
  TempDir dir;
  write_zip(dir.path() / "all_runs.zip", synthetic_entries());
  const auto runs = mann::load_lake_runs<double>(dir.path().string(), 105);
  ASSERT_EQ(runs.size(), 20u);
  EXPECT_EQ(runs[3].training.rows(), 105 * 105);
  for (std::size_t j = 0; j < 20; ++j) EXPECT_EQ(runs[3].answers[j], 19 - static_cast<int>(j));
  // Class 5's image (id 5): ink at row 15, columns 10–19.
  EXPECT_EQ(runs[3].training.col(4).sum(), 10.0);
  EXPECT_EQ(runs[3].training(15 * 105 + 10, 4), 1.0);
  EXPECT_EQ(runs[3].test.col(15), runs[3].training.col(4));  // item 16 is class 5
}

TEST(LakeRunsSynthetic, ClearErrorsNamingTheFile) {
  TempDir dir;
  const fs::path zip = dir.path() / "all_runs.zip";
  // Missing zip (a folder without it, or a wrong path).
  EXPECT_TRUE(contains(error_of<mann::FileError>(dir.path().string()), zip.string()));
  EXPECT_TRUE(contains(error_of<mann::FileError>((dir.path() / "nope.zip").string()), "nope.zip"));
  EXPECT_THROW(mann::load_lake_runs<float>(dir.path().string(), 0), mann::ValueError);

  auto expect_format_error = [&](const std::map<std::string, std::string>& entries, const std::vector<std::string>& parts) {
    write_zip(zip, entries);
    const std::string message = error_of<mann::FormatError>(zip.string());
    ASSERT_FALSE(message.empty());
    EXPECT_FALSE(contains(message, "wrong exception type")) << message;
    for (const std::string& part : parts) EXPECT_TRUE(contains(message, part)) << message << "\n  lacks: " << part;
  };
  auto entries = synthetic_entries();
  entries.erase("run07/test/item13.png");
  expect_format_error(entries, {zip.string(), "no entry run07/test/item13.png"});

  entries = synthetic_entries();
  entries.erase("run20/class_labels.txt");
  expect_format_error(entries, {"no entry run20/class_labels.txt"});

  entries = synthetic_entries();
  entries["run02/training/class03.png"] = "not a png at all";
  expect_format_error(entries, {"run02/training/class03.png", "not a readable PNG"});

  entries = synthetic_entries();
  entries["run02/training/class03.png"] = png_bytes(3).substr(0, 60);  // truncated PNG
  expect_format_error(entries, {"run02/training/class03.png"});

  entries = synthetic_entries();
  entries["run05/test/item01.png"] = png_bytes(3, 104);
  expect_format_error(entries, {"run05/test/item01.png", "104 x 105"});

  entries = synthetic_entries();
  entries["run04/class_labels.txt"].insert(0, "run04/test/item01.png run04/training/class33.png\n");
  expect_format_error(entries, {"run04/class_labels.txt line 1", "class33"});

  entries = synthetic_entries();
  entries["run04/class_labels.txt"] += "run04/test/item05.png run04/training/class01.png\n";
  expect_format_error(entries, {"run04/class_labels.txt line 21", "listed twice"});

  entries = synthetic_entries();
  entries["run09/class_labels.txt"].resize(entries["run09/class_labels.txt"].size() / 2);  // truncated text
  expect_format_error(entries, {"run09/class_labels.txt"});

  entries = synthetic_entries();
  entries["run09/class_labels.txt"] = "run09/test/item01.png\n";
  expect_format_error(entries, {"run09/class_labels.txt line 1"});

  entries = synthetic_entries();
  entries["run10/class_labels.txt"] = "run11/test/item01.png run11/training/class01.png\n";
  expect_format_error(entries, {"run10/class_labels.txt line 1", "run11/test/item01.png"});

  // CRLF line ends and blank lines are fine.
  entries = synthetic_entries();
  std::string crlf;
  for (char ch : entries["run06/class_labels.txt"]) crlf += ch == '\n' ? std::string("\r\n\n") : std::string(1, ch);
  entries["run06/class_labels.txt"] = crlf;
  write_zip(zip, entries);
  EXPECT_NO_THROW(mann::load_lake_runs<float>(zip.string()));

  // A truncated or damaged zip file.
  write_zip(zip, synthetic_entries());
  std::string bytes;
  {
    std::ifstream in(zip, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  {
    std::ofstream out(zip, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  const std::string truncated = error_of<mann::FormatError>(zip.string());
  EXPECT_TRUE(contains(truncated, zip.string())) << truncated;
  EXPECT_FALSE(contains(truncated, "wrong exception type")) << truncated;
  // A flipped byte inside the stored data of an entry: the CRC check names the entry.
  const std::string target = "run01/training/class01.png";
  std::string damaged = bytes;
  const std::size_t at = damaged.find(target);  // the local header's name; the data follow it
  ASSERT_NE(at, std::string::npos);
  damaged[at + target.size() + 40] = static_cast<char>(damaged[at + target.size() + 40] ^ 0x5a);
  {
    std::ofstream out(zip, std::ios::binary | std::ios::trunc);
    out.write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
  }
  const std::string corrupt = error_of<mann::FormatError>(zip.string());
  EXPECT_TRUE(contains(corrupt, zip.string())) << corrupt;
  EXPECT_TRUE(contains(corrupt, target)) << corrupt;
}

}  // namespace lake_runs_test
