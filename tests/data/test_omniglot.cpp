// Tests for mann/data/omniglot.hpp (with omniglot_files.hpp, omniglot_listing.hpp, omniglot_cache.hpp)
// and mann/data/omniglot_images.hpp: the loader on a subset of the real data (skipped without it, see
// tests/support/omniglot_test_data.hpp) and on small fixture trees (folders and zips), its errors, the
// cache, finding the data.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "mann/data/omniglot.hpp"
#include "support/omniglot_test_data.hpp"
#include "support/test_files.hpp"

namespace {

namespace fs = std::filesystem;


#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// ---- helpers ----------------------------------------------------------------------------------

using mann_test::CwdGuard;
using mann_test::EnvGuard;
using mann_test::TempDir;
using mann_test::contains;
using mann_test::error_of;

std::vector<unsigned char> encode_png(const std::vector<std::uint8_t>& gray, int width, int height) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  EXPECT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, gray.data(), width, nullptr), 0) << image.message;
  std::vector<unsigned char> bytes(size);
  EXPECT_NE(png_image_write_to_memory(&image, bytes.data(), &size, 0, gray.data(), width, nullptr), 0) << image.message;
  bytes.resize(size);
  return bytes;
}

// A 105 × 105 drawing of fixture character `id`, drawing `d`: white, with ink (0) at (10 + id, 10 + d)
// and at (60, 60 + id).
std::vector<unsigned char> fixture_png(int id, int d, int width = 105, int height = 105) {
  std::vector<std::uint8_t> gray(static_cast<std::size_t>(width) * height, 255);
  gray[static_cast<std::size_t>(10 + id) * width + 10 + d] = 0;
  gray[static_cast<std::size_t>(60) * width + 60 + id] = 0;
  return encode_png(gray, width, height);
}

std::vector<unsigned char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::vector<unsigned char>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string drawing_name(int id, int d) {
  char name[32];
  std::snprintf(name, sizeof name, "%04d_%02d.png", 900 - id, d + 1);  // ids unrelated to folder order
  return name;
}

struct FixtureCharacter {
  std::string set, alphabet, character;
  int id;
};

// Background: alphabets "beta" (2 characters), "Alpha", "_under"; evaluation: "Gamma" (2 characters).
// C-locale order: Alpha, _under, beta (uppercase < '_' < lowercase).
std::vector<FixtureCharacter> fixture_characters() {
  return {{"images_background", "beta", "character01", 0},  {"images_background", "beta", "character02", 1},
          {"images_background", "Alpha", "character01", 2}, {"images_background", "_under", "character01", 3},
          {"images_evaluation", "Gamma", "character02", 4}, {"images_evaluation", "Gamma", "character01", 5}};
}

// Writes the fixture as folders, or a set as a zip (with directory entries, stored or deflated).
void make_fixture(const fs::path& dir, bool evaluation_as_zip = false, bool store = false) {
  std::map<std::string, std::vector<std::pair<std::string, std::vector<unsigned char>>>> files;  // set → (path, bytes)
  for (const FixtureCharacter& c : fixture_characters()) {
    for (int d = 0; d < 20; ++d) {
      files[c.set].push_back({c.set + "/" + c.alphabet + "/" + c.character + "/" + drawing_name(c.id, d), fixture_png(c.id, d)});
    }
  }
  // Things the loader ignores: hidden folders, non-PNG files, files beside the alphabets.
  files["images_background"].push_back({"images_background/.hidden/character01/0001_01.png", fixture_png(0, 0)});
  files["images_background"].push_back({"images_background/beta/character01/notes.txt", {'h', 'i'}});
  files["images_background"].push_back({"images_background/README", {'x'}});
  for (const auto& [set, entries] : files) {
    if (set == "images_evaluation" && evaluation_as_zip) {
      int error = 0;
      zip_t* archive = zip_open((dir / (set + ".zip")).c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
      ASSERT_NE(archive, nullptr);
      std::vector<std::string> dirs;
      for (const auto& [path, bytes] : entries) {
        for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
          const std::string folder = path.substr(0, slash + 1);
          if (std::find(dirs.begin(), dirs.end(), folder) == dirs.end()) {
            dirs.push_back(folder);
            zip_dir_add(archive, folder.c_str(), ZIP_FL_ENC_UTF_8);
          }
        }
        zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
        const zip_int64_t index = zip_file_add(archive, path.c_str(), source, ZIP_FL_ENC_UTF_8);
        ASSERT_GE(index, 0);
        if (store) zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
      }
      ASSERT_EQ(zip_close(archive), 0);
    } else {
      for (const auto& [path, bytes] : entries) write_bytes(dir / path, bytes);
    }
  }
}

mann::OmniglotLoadOptions quiet(bool use_cache = false) {
  mann::OmniglotLoadOptions options;
  options.use_cache = use_cache;
  options.progress = false;
  return options;
}


std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// ---- real data --------------------------------------------------------------------------------

TEST(OmniglotRealData, FirstAlphabetsOfEachZipInFolderOrder) {
  MANN_OMNIGLOT_DIR_OR_SKIP(kRealData, "");
  mann::OmniglotLoadOptions options = quiet();
  options.alphabet_limit = 2;
  const mann::OmniglotImages images = mann::load_omniglot(kRealData, options);
  // Alphabet_of_the_Magi (20) and Anglo-Saxon_Futhorc (29); Angelic (20) and Atemayar_Qelisayer (26).
  ASSERT_EQ(images.size(), 20 + 29 + 20 + 26);
  const auto& c = images.characters();
  EXPECT_EQ(c[0].set, "images_background");
  EXPECT_EQ(c[0].name(), "Alphabet_of_the_Magi/character01");
  EXPECT_EQ(c[19].name(), "Alphabet_of_the_Magi/character20");
  // Folder-name order, not id order: Futhorc's ids (0296–) are below the Magi's (0709–).
  EXPECT_EQ(c[20].name(), "Anglo-Saxon_Futhorc/character01");
  EXPECT_EQ(c[20].drawings.front(), "0296_01.png");
  EXPECT_EQ(c[0].drawings.front(), "0709_01.png");
  EXPECT_EQ(c[0].drawings.back(), "0709_20.png");
  EXPECT_EQ(c[49].set, "images_evaluation");
  EXPECT_EQ(c[49].name(), "Angelic/character01");
  EXPECT_EQ(c[94].name(), "Atemayar_Qelisayer/character26");
  for (std::size_t i = 1; i < c.size(); ++i) {
    if (c[i].set == c[i - 1].set) {
      EXPECT_LT(std::make_pair(c[i - 1].alphabet, c[i - 1].character), std::make_pair(c[i].alphabet, c[i].character));
    }
  }
  long ink = 0;
  for (mann::Index k = 0; k < images.size(); ++k) {
    for (int d = 0; d < 20; ++d) {
      const int n = images.ink(k, d);
      ASSERT_GT(n, 0) << c[static_cast<std::size_t>(k)].name() << " " << d;
      ASSERT_LT(n, 11025 / 3);
      ink += n;
    }
  }
  const double fraction = static_cast<double>(ink) / (static_cast<double>(images.size()) * 20 * 11025);
  EXPECT_GT(fraction, 0.03);
  EXPECT_LT(fraction, 0.15);
  const mann::MatrixF image = images.image(0, 0);
  EXPECT_EQ(image.rows(), 105);
  EXPECT_EQ(image.cols(), 105);
  EXPECT_EQ(image.sum(), images.ink(0, 0));
  // The border of a drawing is background (ink = 1 is the minority).
  EXPECT_EQ(image.row(0).sum() + image.row(104).sum(), 0.0f);
}

TEST(OmniglotRealData, BrailleDuplicateDrawingsAreIdentical) {
  MANN_OMNIGLOT_DIR_OR_SKIP(kRealData, "");
  mann::OmniglotLoadOptions options = quiet();
  options.alphabets = {"Braille"};
  const mann::OmniglotImages images = mann::load_omniglot(kRealData, options);
  ASSERT_EQ(images.size(), 26);
  const mann::Index c = images.find("Braille", "character01");
  ASSERT_EQ(c, 0);
  EXPECT_EQ(images.find("Braille", "character99"), -1);
  const auto& drawings = images.character(c).drawings;
  ASSERT_EQ(drawings[2], "0192_03.png");
  ASSERT_EQ(drawings[18], "0192_19.png");
  EXPECT_EQ(std::memcmp(images.packed(c, 2), images.packed(c, 18), mann::OmniglotImages::bytes_per_image), 0);
  EXPECT_EQ(images.image(c, 2), images.image(c, 18));
  EXPECT_NE(images.image(c, 0), images.image(c, 2));
}

TEST(OmniglotRealData, FullLoadCountsOrderSplitAndCache) {
  if (kSanitized) GTEST_SKIP() << "the full 32,460-PNG load is left to the Release build";
  MANN_OMNIGLOT_DIR_OR_SKIP(kRealData, "");
  TempDir cache("full-cache");
  mann::OmniglotLoadOptions options = quiet(true);
  options.cache_dir = cache.str();
  const mann::OmniglotImages images = mann::load_omniglot(kRealData, options);
  ASSERT_EQ(images.size(), 1623);
  const mann::CharacterSplit by_set = mann::split_by_set(images);
  EXPECT_EQ(by_set.train.size(), 964u);
  EXPECT_EQ(by_set.test.size(), 659u);
  EXPECT_EQ(images.character(963).name(), "Tifinagh/character55");
  EXPECT_EQ(images.character(964).name(), "Angelic/character01");
  EXPECT_EQ(images.character(1199).name(), "Gurmukhi/character41");
  EXPECT_EQ(images.character(1622).name(), "ULOG/character26");
  const mann::CharacterSplit split = mann::split_characters(images);
  EXPECT_EQ(split.train.size(), 1200u);
  EXPECT_EQ(split.test.size(), 423u);
  EXPECT_EQ(split.test.front(), 1200);
  // The second load comes from the cache and is identical.
  EXPECT_TRUE(fs::exists(mann::omniglot_cache_path(kRealData, options)));
  const mann::OmniglotImages cached = mann::load_omniglot(kRealData, options);
  EXPECT_EQ(cached.characters(), images.characters());
  EXPECT_TRUE(cached.packed_data() == images.packed_data());
}

TEST(OmniglotImages, SplitsAreDisjointAndCoverEverything) {
  std::vector<mann::OmniglotCharacter> characters;
  for (int i = 0; i < 10; ++i) {
    mann::OmniglotCharacter c{i < 6 ? "images_background" : "images_evaluation", "A", "character" + std::to_string(i), {}};
    for (int d = 0; d < 20; ++d) c.drawings.push_back(std::to_string(d) + ".png");
    characters.push_back(c);
  }
  const mann::OmniglotImages images(characters);
  const mann::CharacterSplit split = mann::split_characters(images, 7);
  EXPECT_EQ(split.train, (std::vector<mann::Index>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(split.test, (std::vector<mann::Index>{7, 8, 9}));
  const mann::CharacterSplit by_set = mann::split_by_set(images);
  EXPECT_EQ(by_set.train.size(), 6u);
  EXPECT_EQ(by_set.test.front(), 6);
  EXPECT_THROW(mann::split_characters(images), mann::ValueError);  // 1200 > 10
  EXPECT_THROW(mann::split_characters(images, -1), mann::ValueError);
  EXPECT_THROW(images.character(10), mann::ValueError);
  EXPECT_THROW(images.image(0, 20), mann::ValueError);
  characters[3].drawings.pop_back();
  EXPECT_THROW(mann::OmniglotImages{characters}, mann::ValueError);
}

// ---- fixtures ---------------------------------------------------------------------------------

void expect_fixture_images(const mann::OmniglotImages& images) {
  ASSERT_EQ(images.size(), 6);
  const std::vector<std::string> order = {"Alpha/character01", "_under/character01", "beta/character01",
                                          "beta/character02",  "Gamma/character01",  "Gamma/character02"};
  for (std::size_t i = 0; i < order.size(); ++i) {
    const mann::OmniglotCharacter& c = images.characters()[i];
    EXPECT_EQ(c.name(), order[i]);
    EXPECT_EQ(c.set, i < 4 ? "images_background" : "images_evaluation");
    int id = -1;
    for (const FixtureCharacter& f : fixture_characters()) {
      if (f.alphabet == c.alphabet && f.character == c.character) id = f.id;
    }
    ASSERT_GE(id, 0);
    ASSERT_EQ(c.drawings.size(), 20u);
    for (int d = 0; d < 20; ++d) {
      EXPECT_EQ(c.drawings[static_cast<std::size_t>(d)], drawing_name(id, d));
      const mann::Index k = static_cast<mann::Index>(i);
      EXPECT_EQ(images.ink(k, d), 2) << c.name() << " " << d;
      EXPECT_TRUE(images.pixel(k, d, 10 + id, 10 + d));
      EXPECT_TRUE(images.pixel(k, d, 60, 60 + id));
    }
  }
}

TEST(OmniglotFixture, FoldersLoadInCLocaleOrderIgnoringHiddenAndOtherFiles) {
  TempDir dir("folders");
  make_fixture(dir.path());
  expect_fixture_images(mann::load_omniglot(dir.str(), quiet()));
  mann::OmniglotLoadOptions one_thread = quiet();
  one_thread.threads = 1;
  expect_fixture_images(mann::load_omniglot(dir.str(), one_thread));
}

TEST(OmniglotFixture, ZipsLoadLikeFoldersAndFoldersWin) {
  for (bool store : {false, true}) {
    TempDir zipped("zip");
    make_fixture(zipped.path(), true, store);
    ASSERT_TRUE(fs::exists(zipped.path() / "images_evaluation.zip"));
    ASSERT_FALSE(fs::exists(zipped.path() / "images_evaluation"));
    expect_fixture_images(mann::load_omniglot(zipped.str(), quiet()));
  }
  // With both the folder and a broken zip present, the folder is read.
  TempDir both("both");
  make_fixture(both.path());
  write_bytes(both.path() / "images_evaluation.zip", {'n', 'o', 't'});
  expect_fixture_images(mann::load_omniglot(both.str(), quiet()));
  EXPECT_TRUE(mann::has_omniglot(both.str()));
}

TEST(OmniglotFixture, AlphabetFilterAndLimit) {
  TempDir dir("filter");
  make_fixture(dir.path(), true);
  mann::OmniglotLoadOptions options = quiet();
  options.alphabets = {"beta", "Gamma"};
  mann::OmniglotImages images = mann::load_omniglot(dir.str(), options);
  ASSERT_EQ(images.size(), 4);
  EXPECT_EQ(images.character(0).name(), "beta/character01");
  EXPECT_EQ(images.character(2).name(), "Gamma/character01");
  options.alphabets.clear();
  options.alphabet_limit = 1;
  images = mann::load_omniglot(dir.str(), options);
  ASSERT_EQ(images.size(), 3);  // Alpha (1) and Gamma (2)
  EXPECT_EQ(images.character(0).name(), "Alpha/character01");
  EXPECT_EQ(images.character(1).name(), "Gamma/character01");
  options.alphabets = {"Klingon"};
  options.alphabet_limit = 0;
  const std::string message = error_of<mann::ValueError>([&] { mann::load_omniglot(dir.str(), options); });
  EXPECT_TRUE(contains(message, "Klingon")) << message;
  options.alphabets.clear();
  options.alphabet_limit = -1;
  EXPECT_THROW(mann::load_omniglot(dir.str(), options), mann::ValueError);
}

// ---- errors -----------------------------------------------------------------------------------

TEST(OmniglotErrors, MissingFoldersAreFileErrors) {
  TempDir dir("missing");
  std::string message = error_of<mann::FileError>([&] { mann::load_omniglot((dir.path() / "nope").string(), quiet()); });
  EXPECT_TRUE(contains(message, "nope")) << message;
  make_fixture(dir.path());
  fs::remove_all(dir.path() / "images_evaluation");
  EXPECT_FALSE(mann::has_omniglot(dir.str()));
  message = error_of<mann::FileError>([&] { mann::load_omniglot(dir.str(), quiet()); });
  EXPECT_TRUE(contains(message, "images_evaluation.zip")) << message;
  EXPECT_TRUE(contains(message, "mann::load_omniglot")) << message;
}

TEST(OmniglotErrors, BadPngsNameTheFile) {
  const fs::path relative = fs::path("images_background") / "beta" / "character02" / drawing_name(1, 7);
  const std::vector<unsigned char> good = fixture_png(1, 7);
  std::vector<unsigned char> crc_broken = good;
  const auto idat = std::search(crc_broken.begin(), crc_broken.end(), std::begin("IDAT"), std::end("IDAT") - 1);
  ASSERT_NE(idat, crc_broken.end());
  idat[6] = static_cast<unsigned char>(idat[6] ^ 0x55);
  std::vector<std::uint8_t> white(104 * 105, 255);
  white[50] = 0;
  struct Case {
    const char* what;
    std::vector<unsigned char> bytes;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"garbage", {'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'}, "not a readable PNG"},
      {"empty", {}, "not a readable PNG"},
      {"truncated", std::vector<unsigned char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2)), "corrupt PNG"},
      {"crc", crc_broken, "corrupt PNG"},
      {"wrong size", encode_png(white, 104, 105), "104 x 105 pixels, expected 105 x 105"},
  };
  for (const Case& c : cases) {
    TempDir dir("badpng");
    make_fixture(dir.path());
    write_bytes(dir.path() / relative, c.bytes);
    const std::string message = error_of<mann::FormatError>([&] { mann::load_omniglot(dir.str(), quiet()); });
    EXPECT_TRUE(contains(message, (dir.path() / relative).string())) << c.what << ": " << message;
    EXPECT_TRUE(contains(message, c.expected)) << c.what << ": " << message;
  }
}

TEST(OmniglotErrors, WrongDrawingCountsAndEmptyAlphabets) {
  TempDir dir("count");
  make_fixture(dir.path());
  fs::remove(dir.path() / "images_background" / "Alpha" / "character01" / drawing_name(2, 4));
  std::string message = error_of<mann::FormatError>([&] { mann::load_omniglot(dir.str(), quiet()); });
  EXPECT_TRUE(contains(message, "Alpha/character01: 19 PNG drawings, expected 20")) << message;
  TempDir empty("emptyalphabet");
  make_fixture(empty.path());
  fs::create_directories(empty.path() / "images_background" / "Empty");
  message = error_of<mann::FormatError>([&] { mann::load_omniglot(empty.str(), quiet()); });
  EXPECT_TRUE(contains(message, "Empty: no character folders")) << message;
  TempDir none("noalphabets");
  make_fixture(none.path());
  fs::remove_all(none.path() / "images_evaluation");
  fs::create_directories(none.path() / "images_evaluation");
  message = error_of<mann::FormatError>([&] { mann::load_omniglot(none.str(), quiet()); });
  EXPECT_TRUE(contains(message, "holds no alphabet folders")) << message;
}

TEST(OmniglotErrors, CorruptZipEntryAndNotAZip) {
  TempDir dir("badzip");
  make_fixture(dir.path(), true, /*store=*/true);
  // Flip a byte inside one stored PNG: the zip's CRC-32 no longer matches.
  const fs::path zip_path = dir.path() / "images_evaluation.zip";
  std::vector<unsigned char> zip_bytes = read_bytes(zip_path);
  const std::vector<unsigned char> png = fixture_png(5, 3);
  const auto where = std::search(zip_bytes.begin(), zip_bytes.end(), png.begin(), png.end());
  ASSERT_NE(where, zip_bytes.end());
  where[static_cast<std::ptrdiff_t>(png.size() / 2)] ^= 0x01;
  write_bytes(zip_path, zip_bytes);
  std::string message = error_of<mann::FormatError>([&] { mann::load_omniglot(dir.str(), quiet()); });
  EXPECT_TRUE(contains(message, zip_path.string() + ":images_evaluation/Gamma/character01/" + drawing_name(5, 3))) << message;
  write_bytes(zip_path, {'P', 'K', 3, 4, 'j', 'u', 'n', 'k'});
  message = error_of<mann::FormatError>([&] { mann::load_omniglot(dir.str(), quiet()); });
  EXPECT_TRUE(contains(message, "cannot open zip " + zip_path.string())) << message;
}

// ---- cache ------------------------------------------------------------------------------------

struct CacheFixture {
  TempDir data{"cachedata"};
  TempDir cache{"cache"};
  mann::OmniglotLoadOptions options;
  CacheFixture() {
    make_fixture(data.path(), true);
    options.cache_dir = cache.str();
    options.progress = true;  // the stderr report tells whether the PNGs were decoded
  }
  std::string path() const { return mann::omniglot_cache_path(data.str(), options); }
  // Loads and returns what was reported on stderr.
  std::string load(mann::OmniglotImages& images) const {
    testing::internal::CaptureStderr();
    try {
      images = mann::load_omniglot(data.str(), options);
    } catch (...) {
      testing::internal::GetCapturedStderr();
      throw;
    }
    return testing::internal::GetCapturedStderr();
  }
  std::vector<std::string> cache_files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(cache.path())) names.push_back(entry.path().filename().string());
    return names;
  }
};

TEST(OmniglotCache, RoundTripSkipsDecodingAndLeavesNoTemporaryFiles) {
  CacheFixture f;
  mann::OmniglotImages first, second;
  const std::string report = f.load(first);
  EXPECT_TRUE(contains(report, "decoding 120 PNGs")) << report;
  EXPECT_TRUE(contains(report, "cache written to " + f.path())) << report;
  expect_fixture_images(first);
  EXPECT_EQ(f.cache_files(), std::vector<std::string>{fs::path(f.path()).filename().string()});
  EXPECT_EQ(f.load(second), "");  // silent: read from the cache
  EXPECT_EQ(second.characters(), first.characters());
  EXPECT_TRUE(second.packed_data() == first.packed_data());
  // Another selection is another cache file.
  mann::OmniglotLoadOptions other = f.options;
  other.alphabet_limit = 1;
  EXPECT_NE(mann::omniglot_cache_path(f.data.str(), other), f.path());
  EXPECT_EQ(fs::path(f.path()).parent_path(), f.cache.path());
}

TEST(OmniglotCache, ChangedSourceMakesTheCacheStale) {
  CacheFixture f;
  mann::OmniglotImages images;
  f.load(images);
  // Rewrite one PNG of the folder set with other pixels.
  const fs::path file = f.data.path() / "images_background" / "beta" / "character01" / drawing_name(0, 0);
  const auto written = fs::last_write_time(file);
  write_bytes(file, fixture_png(0, 5));
  fs::last_write_time(file, written + std::chrono::seconds(2));  // an edit made later, whatever the clock's tick
  const std::string report = f.load(images);
  EXPECT_TRUE(contains(report, "stale or corrupt (made from other files or another selection)")) << report;
  const mann::Index c = images.find("beta", "character01");
  EXPECT_TRUE(images.pixel(c, 0, 10, 15));
  EXPECT_FALSE(images.pixel(c, 0, 10, 10));
  EXPECT_EQ(f.load(images), "");
  // A changed zip entry too.
  TempDir replacement("replacement");
  make_fixture(replacement.path(), true);
  fs::copy_file(replacement.path() / "images_evaluation.zip", f.data.path() / "images_evaluation.zip",
                fs::copy_options::overwrite_existing);
  EXPECT_EQ(f.load(images), "");  // identical content: still valid
  std::vector<unsigned char> png = fixture_png(4, 0);
  zip_t* archive = zip_open((f.data.path() / "images_evaluation.zip").c_str(), 0, nullptr);
  ASSERT_NE(archive, nullptr);
  const zip_int64_t index = zip_name_locate(archive, ("images_evaluation/Gamma/character01/" + drawing_name(5, 0)).c_str(), 0);
  ASSERT_GE(index, 0);
  ASSERT_EQ(zip_file_replace(archive, static_cast<zip_uint64_t>(index), zip_source_buffer(archive, png.data(), png.size(), 0), 0), 0);
  ASSERT_EQ(zip_close(archive), 0);
  EXPECT_TRUE(contains(f.load(images), "made from other files")) ;
  EXPECT_TRUE(images.pixel(images.find("Gamma", "character01"), 0, 14, 10));
}

TEST(OmniglotCache, CorruptOrTruncatedCacheIsRebuilt) {
  CacheFixture f;
  mann::OmniglotImages reference, images;
  f.load(reference);
  const std::vector<unsigned char> good = read_bytes(f.path());
  struct Damage {
    std::size_t offset;
    std::size_t truncate_to;  // 0: keep the size
    const char* reason;
  };
  const std::vector<Damage> damages = {
      {good.size() - 3, 0, "checksum mismatch"},  // a bitmap byte
      {60, 0, "checksum mismatch"},               // a name byte
      {0, 0, "bad magic"},
      {8, 0, "other format version"},
      {0, good.size() - 10, "truncated payload"},
      {0, 20, "truncated header"},
  };
  for (const Damage& d : damages) {
    std::vector<unsigned char> bad = good;
    if (d.truncate_to > 0) {
      bad.resize(d.truncate_to);
    } else {
      bad[d.offset] ^= 0x10;
    }
    write_bytes(f.path(), bad);
    const std::string report = f.load(images);
    EXPECT_TRUE(contains(report, std::string("stale or corrupt (") + d.reason + ")")) << d.reason << ": " << report;
    EXPECT_TRUE(images.packed_data() == reference.packed_data());
    EXPECT_EQ(read_bytes(f.path()), good) << d.reason;  // rewritten
  }
  std::vector<unsigned char> longer = good;
  longer.push_back(0);
  write_bytes(f.path(), longer);
  EXPECT_TRUE(contains(f.load(images), "trailing bytes"));
}

TEST(OmniglotCache, UnwritableCacheWarnsAndStillLoads) {
  CacheFixture f;
  write_bytes(f.cache.path() / "file", {'x'});
  f.options.cache_dir = (f.cache.path() / "file" / "sub").string();  // cannot be created
  mann::OmniglotImages images;
  const std::string report = f.load(images);
  EXPECT_TRUE(contains(report, "warning: cache not written")) << report;
  expect_fixture_images(images);
  f.options.use_cache = false;
  EXPECT_FALSE(contains(f.load(images), "warning"));
}

TEST(OmniglotCache, DefaultCacheDirIsTheUserCacheNotTheDataDir) {
  TempDir data("defaultcache"), xdg("xdg"), home("home");
  make_fixture(data.path());
  const mann::OmniglotLoadOptions options = quiet(true);
  {
    EnvGuard env("XDG_CACHE_HOME", xdg.str().c_str());
    const std::string path = mann::omniglot_cache_path(data.str(), options);
    EXPECT_EQ(fs::path(path).parent_path(), xdg.path() / "mann");
    mann::load_omniglot(data.str(), options);
    EXPECT_TRUE(fs::exists(path));
    EXPECT_EQ(listing(data.path()), (std::vector<std::string>{"images_background", "images_evaluation"}));
    // The file name depends on the data folder.
    EXPECT_NE(mann::omniglot_cache_path(xdg.str(), options), path);
  }
  EnvGuard no_xdg("XDG_CACHE_HOME", nullptr);
  EnvGuard env_home("HOME", home.str().c_str());
  EXPECT_EQ(fs::path(mann::omniglot_cache_path(data.str(), options)).parent_path(), home.path() / ".cache" / "mann");
}

// ---- finding ----------------------------------------------------------------------------------

TEST(OmniglotFind, DataDirFromEnvironmentOrLocalFolder) {
  TempDir root("findenv");
  make_fixture(root.path() / "omniglot", true);
  {
    const std::string dir = (root.path() / "omniglot").string();
    EnvGuard env("MANN_DATA_DIR", dir.c_str());
    EXPECT_EQ(mann::find_omniglot_dir(), dir);
  }
  {
    EnvGuard env("MANN_DATA_DIR", root.str().c_str());  // the parent of omniglot/
    EXPECT_EQ(mann::find_omniglot_dir(), root.str() + "/omniglot");
  }
  TempDir empty("findempty");
  {
    EnvGuard env("MANN_DATA_DIR", empty.str().c_str());
    const std::string message = error_of<mann::FileError>([] { mann::find_omniglot_dir(); });
    EXPECT_TRUE(contains(message, "MANN_DATA_DIR is " + empty.str())) << message;
  }
  EnvGuard unset("MANN_DATA_DIR", nullptr);
  {
    CwdGuard cwd(empty.path());
    const std::string message = error_of<mann::FileError>([] { mann::find_omniglot_dir(); });
    EXPECT_TRUE(contains(message, "no Omniglot data")) << message;
    EXPECT_TRUE(contains(message, "set MANN_DATA_DIR")) << message;
    EXPECT_TRUE(fs::is_empty(empty.path())) << "nothing is downloaded or created";
  }
  TempDir local("findlocal");
  make_fixture(local.path() / "data" / "omniglot", true);
  CwdGuard cwd(local.path());
  EXPECT_EQ(mann::find_omniglot_dir(), "data/omniglot");
}

}  // namespace
