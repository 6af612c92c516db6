// tests/support/omniglot_test_data.hpp: where tests that need the real Omniglot data find it, the way
// the examples do: $MANN_DATA_DIR (the folder or its omniglot/ subfolder), else data/omniglot in the
// source tree (where ./scripts/run-example.sh, run from the repository, downloads it). Without data
// such a test is skipped with one line saying how to get it; a MANN_DATA_DIR that is set but holds
// no data is a failure, not a skip (CI sets it, so a CI run cannot skip these tests).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace mann_test {

/// What the lookup found: the folder, or "" with `error` set when MANN_DATA_DIR is wrong, or "" and
/// no error when there is no data anywhere.
struct OmniglotTestData {
  std::string folder;
  std::string error;
};

/// `required` is a file that must be in the folder (both zips or folders are checked anyway).
inline OmniglotTestData find_test_omniglot(const std::string& required = "") {
  namespace fs = std::filesystem;
  auto holds = [&](const fs::path& dir) {
    std::error_code error;
    for (const char* set : {"images_background", "images_evaluation"}) {
      const std::string name = set;
      if (!fs::is_directory(dir / name, error) && !fs::is_regular_file(dir / (name + ".zip"), error)) return false;
    }
    return required.empty() || fs::exists(dir / required, error);
  };
  const char* env = std::getenv("MANN_DATA_DIR");
  if (env != nullptr && env[0] != '\0') {
    const fs::path root = env;
    if (holds(root)) return {root.string(), ""};
    if (holds(root / "omniglot")) return {(root / "omniglot").string(), ""};
    return {"", "MANN_DATA_DIR is " + root.string() + ", which holds no Omniglot data (images_background(.zip), " +
                    "images_evaluation(.zip)" + (required.empty() ? std::string() : ", " + required) +
                    ") either itself or in omniglot/"};
  }
  const fs::path local = fs::path(MANN_SOURCE_DIR) / "data" / "omniglot";
  if (holds(local)) return {local.string(), ""};
  return {};
}

inline const char* const kNoOmniglotData =
    "no Omniglot data: set MANN_DATA_DIR to a folder holding images_background.zip and images_evaluation.zip "
    "(Lake's runs need all_runs.zip too; all three are in github.com/brendenlake/omniglot, python/), or run "
    "./scripts/run-example.sh once (it downloads the two image zips to data/omniglot)";

}  // namespace mann_test

/// Declares `std::string dir` holding the real data's folder (with the file `required` in it, "" for
/// none beyond the two sets), or skips the test (no data) or fails it (MANN_DATA_DIR set but wrong).
/// Use at the top of a TEST body or a fixture's SetUp.
#define MANN_OMNIGLOT_DIR_OR_SKIP(dir, required)                                         \
  std::string dir;                                                                  \
  do {                                                                              \
    const mann_test::OmniglotTestData found_ = mann_test::find_test_omniglot(required); \
    if (!found_.error.empty()) FAIL() << found_.error;                              \
    if (found_.folder.empty()) GTEST_SKIP() << mann_test::kNoOmniglotData;             \
    dir = found_.folder;                                                               \
  } while (false)
