// Tests for mann/kv/key_value_memory_io.hpp: save/load round trips (exact and LSH search), and
// all-or-nothing failures.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "knn/knn_test_support.hpp"
#include "mann/kv/key_value_memory_io.hpp"

namespace {

using mann::Index;

std::string temp_path(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(MANN_TEST_DATA_DIR) / "kv";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

template <class Scalar>
void train(mann::KeyValueMemory<Scalar>& memory, int steps, std::uint64_t seed) {
  mann::Rng rng(seed);
  typename mann::KeyValueMemory<Scalar>::Cache cache;
  for (int s = 0; s < steps; ++s) {
    const mann::Matrix<Scalar> x = knn_test::clustered_columns<Scalar>(memory.key_size(), 8, 6, 0.3, rng);
    std::vector<std::int64_t> labels(8);
    for (auto& l : labels) l = static_cast<std::int64_t>(rng.below(1000003)) * 3;  // large values too
    memory.query(x, cache);
    memory.update(cache, labels);
  }
}

template <class Scalar>
void expect_same_state(const mann::KeyValueMemory<Scalar>& a, const mann::KeyValueMemory<Scalar>& b) {
  EXPECT_EQ(a.keys(), b.keys());
  EXPECT_EQ(a.values(), b.values());
  EXPECT_EQ(a.ages(), b.ages());
  EXPECT_EQ(a.clock(), b.clock());
  EXPECT_EQ(a.written(), b.written());
}

TEST(KeyValueMemoryIo, RoundTripKeepsKeysValuesAgesAndBehaviour) {
  for (auto method : {mann::KnnMethod::exact, mann::KnnMethod::lsh}) {
    mann::KeyValueMemoryOptions options;
    options.k = 5;
    options.age_noise = 0;
    options.method = method;
    mann::KeyValueMemory<float> memory(100, 12, options);
    train(memory, 20, 1);  // 160 writes into 100 slots: full, some overwritten
    const std::string path = temp_path(method == mann::KnnMethod::exact ? "exact.safetensors" : "lsh.safetensors");
    mann::save_key_value_memory(path, memory);
    mann::KeyValueMemory<float> loaded(100, 12, options);
    const auto metadata = mann::load_key_value_memory(path, loaded);
    EXPECT_EQ(metadata.at("clock"), std::to_string(memory.clock()));
    expect_same_state(memory, loaded);
    for (Index s = 0; s < 100; ++s) {
      if (memory.value(s) >= 0) {
        EXPECT_EQ(loaded.most_recent_slot(memory.value(s)), memory.most_recent_slot(memory.value(s)));
      }
    }
    // the same future: full memory, no age noise, so the writes are deterministic
    train(memory, 5, 2);
    train(loaded, 5, 2);
    expect_same_state(memory, loaded);
  }
}

TEST(KeyValueMemoryIo, PartlyFilledDoubleMemory) {
  mann::KeyValueMemoryOptions options;
  options.k = 3;
  options.age_noise = 0;
  mann::KeyValueMemory<double> memory(50, 4, options);
  train(memory, 2, 3);  // 16 of 50 written
  const std::string path = temp_path("partial.safetensors");
  mann::save_key_value_memory(path, memory);
  mann::KeyValueMemory<double> loaded(50, 4, options);
  mann::load_key_value_memory(path, loaded);
  expect_same_state(memory, loaded);
  EXPECT_EQ(loaded.written(), 16);
  const auto listed = mann::list_checkpoint_tensors(path);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].dtype, "F64");
}

TEST(KeyValueMemoryIo, FailuresLeaveTheMemoryUnchanged) {
  mann::KeyValueMemoryOptions options;
  options.k = 2;
  mann::KeyValueMemory<float> small(20, 6, options), other(21, 6, options);
  train(small, 2, 4);
  train(other, 2, 5);
  const std::string path = temp_path("small.safetensors");
  mann::save_key_value_memory(path, small);
  const auto keys = other.keys().eval();
  const auto values = other.values();
  EXPECT_THROW(mann::load_key_value_memory(path, other), mann::FormatError);  // 20 slots, not 21
  EXPECT_EQ(other.keys(), keys);
  EXPECT_EQ(other.values(), values);
  EXPECT_THROW(mann::load_key_value_memory(temp_path("missing.safetensors"), other), mann::FileError);

  // a checkpoint of something else, and one with a fractional value
  mann::Parameter<double> k, v, a;
  k.value = mann::MatrixD::Zero(6, 20);
  v.value = mann::MatrixD::Constant(20, 1, 1.0);
  a.value = mann::MatrixD::Zero(20, 1);
  const mann::ParameterList<double> tensors = {{"kv.keys", &k}, {"kv.values", &v}, {"kv.ages", &a}};
  const std::string foreign = temp_path("foreign.safetensors");
  mann::save_checkpoint(foreign, tensors, {{"format", "something"}});
  mann::KeyValueMemory<float> target(20, 6, options);
  train(target, 1, 6);
  const auto before = target.values();
  EXPECT_THROW(mann::load_key_value_memory(foreign, target), mann::FormatError);
  v.value(3, 0) = 0.5;
  mann::save_checkpoint(foreign, tensors, {{"format", "mann.KeyValueMemory"}});
  EXPECT_THROW(mann::load_key_value_memory(foreign, target), mann::FormatError);
  EXPECT_EQ(target.values(), before);
}

// Writes a KeyValueMemory checkpoint by hand: 20 slots of 6-d keys, slot s holds (e_0, value s,
// age s) unless changed by `edit`.
template <class Edit>
std::string hand_file(const std::string& name, Edit&& edit) {
  mann::Parameter<double> k, v, a;
  k.value = mann::MatrixD::Zero(6, 20);
  k.value.row(0).setOnes();
  v.value.resize(20, 1);
  a.value.resize(20, 1);
  for (Index s = 0; s < 20; ++s) v.value(s, 0) = a.value(s, 0) = static_cast<double>(s);
  mann::CheckpointMetadata metadata = {{"format", "mann.KeyValueMemory"}, {"clock", "19"}};
  edit(k.value, v.value, a.value, metadata);
  const std::string path = temp_path(name);
  mann::save_checkpoint(path, mann::ParameterList<double>{{"kv.keys", &k}, {"kv.values", &v}, {"kv.ages", &a}},
                        metadata);
  return path;
}

void expect_load_format_error(const std::string& path, const std::string& text) {
  mann::KeyValueMemoryOptions options;
  options.k = 2;
  mann::KeyValueMemory<float> memory(20, 6, options);
  train(memory, 1, 8);
  const auto values = memory.values();
  try {
    mann::load_key_value_memory(path, memory);
    ADD_FAILURE() << "no throw: " << text;
  } catch (const mann::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
  EXPECT_EQ(memory.values(), values);
}

TEST(KeyValueMemoryIo, LoadRefusesLongKeysValuesBeyond2To53AndBadClocks) {
  const auto none = [](mann::MatrixD&, mann::MatrixD&, mann::MatrixD&, mann::CheckpointMetadata&) {};
  mann::KeyValueMemoryOptions options;
  options.k = 2;
  mann::KeyValueMemory<float> memory(20, 6, options);
  mann::load_key_value_memory(hand_file("hand.safetensors", none), memory);
  EXPECT_EQ(memory.clock(), 19);
  EXPECT_EQ(memory.value(7), 7);

  // keys are normalised queries: never longer than 1 (+ 1e-3); shorter (a near-zero query) loads
  expect_load_format_error(
      hand_file("long_key.safetensors", [](mann::MatrixD& k, mann::MatrixD&, mann::MatrixD&, mann::CheckpointMetadata&) {
        k(1, 3) = 0.05;  // norm 1.00125
      }),
      "slot 3 has a key of norm 1.00125, expected at most 1 + 0.001");
  mann::load_key_value_memory(
      hand_file("short_and_empty.safetensors",
                [](mann::MatrixD& k, mann::MatrixD& v, mann::MatrixD&, mann::CheckpointMetadata&) {
                  k.col(4).setZero();  // a zero query's key
                  k(0, 5) = 0.5;
                  k(0, 6) = 7;  // an empty slot's key is not used
                  v(6, 0) = -1;
                }),
      memory);
  EXPECT_EQ(memory.value(6), mann::KeyValueMemory<float>::kEmpty);
  EXPECT_EQ(memory.keys()(0, 5), 0.5f);

  // values and ages are F64 in the file: exact integers only up to 2^53
  expect_load_format_error(
      hand_file("big_value.safetensors", [](mann::MatrixD&, mann::MatrixD& v, mann::MatrixD&, mann::CheckpointMetadata&) {
        v(11, 0) = 0x1p53 + 2;
      }),
      "slot 11 has value 9.0072e+15 and age 11, expected an integer value in [-1, 2^53]");
  expect_load_format_error(
      hand_file("big_age.safetensors", [](mann::MatrixD&, mann::MatrixD&, mann::MatrixD& a, mann::CheckpointMetadata&) {
        a(12, 0) = 0x1p60;
      }),
      "slot 12 has value 12 and age 1.15292e+18");
  expect_load_format_error(
      hand_file("bad_clock.safetensors", [](mann::MatrixD&, mann::MatrixD&, mann::MatrixD&, mann::CheckpointMetadata& m) {
        m["clock"] = "19x";
      }),
      "metadata \"clock\" is \"19x\", expected an integer in [0, 9007199254740992]");
  expect_load_format_error(
      hand_file("negative_clock.safetensors",
                [](mann::MatrixD&, mann::MatrixD&, mann::MatrixD&, mann::CheckpointMetadata& m) { m["clock"] = "-998"; }),
      "metadata \"clock\" is \"-998\"");
  expect_load_format_error(
      hand_file("young_clock.safetensors",
                [](mann::MatrixD&, mann::MatrixD&, mann::MatrixD&, mann::CheckpointMetadata& m) { m["clock"] = "18"; }),
      "clock is 18, expected -1 or >= 19 (the largest age)");
}

TEST(KeyValueMemoryIo, SaveRefusesValuesThatF64WouldRound) {
  mann::KeyValueMemoryOptions options;
  options.k = 1;
  mann::KeyValueMemory<double> memory(4, 2, options);
  mann::KeyValueMemory<double>::Cache cache;
  memory.query(mann::MatrixD::Ones(2, 2), cache);
  memory.update(cache, {(std::int64_t{1} << 53) + 1, 3});
  const std::string path = temp_path("rounded.safetensors");
  std::filesystem::remove(path);
  try {
    mann::save_key_value_memory(path, memory);
    ADD_FAILURE() << "no throw";
  } catch (const mann::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("has value 9007199254740993 and age 0, expected both at most 2^53"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
