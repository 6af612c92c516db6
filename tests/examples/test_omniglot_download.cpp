// Tests for examples/common/omniglot_download.hpp: the examples' download of the two Omniglot zips
// (curl on file:// URLs of zips this test builds itself; no network, no real data needed), its
// failures, and find_or_download_omniglot() on top of the library's lookup.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "omniglot_download.hpp"
#include "support/test_files.hpp"

namespace {

namespace fs = std::filesystem;

using mann_test::CwdGuard;
using mann_test::EnvGuard;
using mann_test::TempDir;

// A white 105 × 105 grey PNG with one ink pixel that tells drawing `d` apart.
std::vector<unsigned char> drawing_png(int d) {
  std::vector<std::uint8_t> gray(105 * 105, 255);
  gray[static_cast<std::size_t>(10 + d) * 105 + 20] = 0;
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = 105;
  image.height = 105;
  image.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  EXPECT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, gray.data(), 105, nullptr), 0) << image.message;
  std::vector<unsigned char> bytes(size);
  EXPECT_NE(png_image_write_to_memory(&image, bytes.data(), &size, 0, gray.data(), 105, nullptr), 0) << image.message;
  bytes.resize(size);
  return bytes;
}

// <dir>/<set>.zip in the official layout: one alphabet with one character of 20 drawings.
void make_set_zip(const fs::path& dir, const std::string& set) {
  std::vector<std::vector<unsigned char>> drawings;
  for (int d = 0; d < 20; ++d) drawings.push_back(drawing_png(d));
  int error = 0;
  zip_t* archive = zip_open((dir / (set + ".zip")).c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(archive, nullptr);
  for (int d = 0; d < 20; ++d) {
    char name[96];
    std::snprintf(name, sizeof name, "%s/Alphabet/character01/0001_%02d.png", set.c_str(), d + 1);
    const auto& bytes = drawings[static_cast<std::size_t>(d)];
    zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
    ASSERT_GE(zip_file_add(archive, name, source, ZIP_FL_ENC_UTF_8), 0);
  }
  ASSERT_EQ(zip_close(archive), 0);  // the drawings are read here, while still alive
}

// A folder holding both zips, to serve by file:// URL.
void make_server(const fs::path& dir) {
  make_set_zip(dir, "images_background");
  make_set_zip(dir, "images_evaluation");
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

using mann_test::contains;

mann_examples::OmniglotDownloadOptions curl_from(const fs::path& server) {
  mann_examples::OmniglotDownloadOptions options;
  options.base_url = "file://" + fs::weakly_canonical(server).string() + "/";
  options.tool = "curl";
  options.progress = false;
  return options;
}

TEST(OmniglotDownload, FileUrlWithCurlDownloadsBothZips) {
  if (mann_examples::detail::find_tool("curl").empty()) GTEST_SKIP() << "curl not installed";
  TempDir server("server"), dir("target");
  make_server(server.path());
  const fs::path target = dir.path() / "data" / "omniglot";
  mann_examples::download_omniglot(target.string(), curl_from(server.path()));
  EXPECT_EQ(names_in(target), (std::vector<std::string>{"images_background.zip", "images_evaluation.zip"}));
  for (const char* zip : {"images_background.zip", "images_evaluation.zip"}) {
    EXPECT_EQ(fs::file_size(target / zip), fs::file_size(server.path() / zip)) << zip;
  }
  EXPECT_TRUE(mann::has_omniglot(target.string()));
  mann::OmniglotLoadOptions load;
  load.use_cache = false;
  load.progress = false;
  EXPECT_EQ(mann::load_omniglot(target.string(), load).size(), 2);  // one character from each zip
}

TEST(OmniglotDownload, FindOrDownloadFetchesIntoDataOmniglotOnlyWhenNothingIsFound) {
  if (mann_examples::detail::find_tool("curl").empty()) GTEST_SKIP() << "curl not installed";
  TempDir server("findserver"), fresh("findfresh");
  make_server(server.path());
  const auto options = curl_from(server.path());
  CwdGuard cwd(fresh.path());
  {
    // MANN_DATA_DIR set but empty of data: an error, never a download over the user's setting.
    EnvGuard env("MANN_DATA_DIR", fresh.str().c_str());
    const std::string message = mann_test::error_of<mann::FileError>([&] { mann_examples::find_or_download_omniglot(options); });
    EXPECT_TRUE(contains(message, "MANN_DATA_DIR is " + fresh.str())) << message;
    EXPECT_TRUE(names_in(fresh.path()).empty());
  }
  EnvGuard unset("MANN_DATA_DIR", nullptr);
  EXPECT_EQ(mann_examples::find_or_download_omniglot(options), "data/omniglot");
  EXPECT_EQ(names_in("data/omniglot"), (std::vector<std::string>{"images_background.zip", "images_evaluation.zip"}));
  // Found now: no second download (a URL that would fail proves it).
  auto broken = options;
  broken.base_url = "file:///nonexistent-mann-omniglot/";
  EXPECT_EQ(mann_examples::find_or_download_omniglot(broken), "data/omniglot");
}

TEST(OmniglotDownload, FailuresAreClearAndLeaveNothingBehind) {
  TempDir dir("fail");
  const fs::path target = dir.path() / "omniglot";
  mann_examples::OmniglotDownloadOptions options;
  options.progress = false;
  // A tool that does not exist.
  options.tool = "no-such-download-tool";
  std::string message = mann_test::error_of<mann::FileError>([&] { mann_examples::download_omniglot(target.string(), options); });
  EXPECT_TRUE(contains(message, "no-such-download-tool found in PATH")) << message;
  EXPECT_TRUE(contains(message, "images_background.zip")) << message;
  // No tool at all.
  {
    EnvGuard path("PATH", "");
    options.tool = "";
    message = mann_test::error_of<mann::FileError>([&] { mann_examples::download_omniglot(target.string(), options); });
    EXPECT_TRUE(contains(message, "neither curl nor wget")) << message;
  }
  EXPECT_TRUE(names_in(target).empty());
  if (mann_examples::detail::find_tool("curl").empty()) GTEST_SKIP() << "curl not installed";
  // A URL that does not resolve (no network needed: a missing file:// path).
  options.tool = "curl";
  options.base_url = "file:///nonexistent-mann-omniglot/";
  message = mann_test::error_of<mann::FileError>([&] { mann_examples::download_omniglot(target.string(), options); });
  EXPECT_TRUE(contains(message, "failed (exit status")) << message;
  EXPECT_TRUE(contains(message, "file:///nonexistent-mann-omniglot/images_background.zip")) << message;
  EXPECT_TRUE(names_in(target).empty());
  // A partial download: the served file is a truncated zip.
  TempDir server("truncated");
  make_server(server.path());
  const fs::path zip = server.path() / "images_background.zip";
  fs::resize_file(zip, fs::file_size(zip) / 2);
  options.base_url = "file://" + server.str() + "/";
  message = mann_test::error_of<mann::FormatError>([&] { mann_examples::download_omniglot(target.string(), options); });
  EXPECT_TRUE(contains(message, "is not a readable zip")) << message;
  EXPECT_TRUE(names_in(target).empty());
}

}  // namespace
