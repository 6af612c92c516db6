// Tests for mann/io/checkpoint.hpp: safetensors checkpoints (round trips, the byte layout Python
// expects, a real LSTM + optimiser checkpoint, truncation and corruption, hand-made bad files, and
// failed saves).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "mann/core/parameter.hpp"
#include "mann/core/random.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/nn/linear.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/optim/rmsprop.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#define MANN_TEST_POSIX 1
#endif

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A fresh directory under the system temp directory, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
#ifdef MANN_TEST_POSIX
    const long pid = static_cast<long>(::getpid());
#else
    const long pid = 0;
#endif
    path_ = fs::temp_directory_path() /
            ("mann_test_checkpoint_" + std::to_string(pid) + "_" + std::to_string(ticks) + "_" +
             std::to_string(counter.fetch_add(1)));
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

  /// Names of the entries in the directory.
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.insert(entry.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes, std::size_t length) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(length));
  ASSERT_TRUE(out.good()) << path;
}

void write_bytes(const std::string& path, const Bytes& bytes) { write_bytes(path, bytes, bytes.size()); }

void append_le(Bytes& out, std::uint64_t value, int bytes) {
  for (int k = 0; k < bytes; ++k) out.push_back(static_cast<unsigned char>(value >> (8 * k)));
}

std::uint64_t read_le(const Bytes& in, std::size_t at, int bytes) {
  std::uint64_t value = 0;
  for (int k = 0; k < bytes; ++k) value |= static_cast<std::uint64_t>(in.at(at + k)) << (8 * k);
  return value;
}

Bytes f32_bytes(std::initializer_list<float> values) {
  Bytes out;
  for (float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    append_le(out, bits, 4);
  }
  return out;
}

Bytes f64_bytes(std::initializer_list<double> values) {
  Bytes out;
  for (double v : values) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    append_le(out, bits, 8);
  }
  return out;
}

/// A checkpoint file: 8-byte header length (`length`, or the header's size), header, data.
Bytes assemble(const std::string& header, const Bytes& data, std::uint64_t length) {
  Bytes out;
  append_le(out, length, 8);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes assemble(const std::string& header, const Bytes& data) { return assemble(header, data, header.size()); }

template <class Scalar>
std::vector<mann::Matrix<Scalar>> snapshot(const mann::ParameterList<Scalar>& list) {
  std::vector<mann::Matrix<Scalar>> values;
  for (const auto& p : list) values.push_back(p.parameter->value);
  return values;
}

template <class Scalar>
void restore(const mann::ParameterList<Scalar>& list, const std::vector<mann::Matrix<Scalar>>& values) {
  for (std::size_t k = 0; k < list.size(); ++k) list[k].parameter->value = values[k];
}

/// True if every tensor of `list` equals `values` exactly (shape and every entry).
template <class Scalar>
bool same_values(const mann::ParameterList<Scalar>& list, const std::vector<mann::Matrix<Scalar>>& values) {
  if (list.size() != values.size()) return false;
  for (std::size_t k = 0; k < list.size(); ++k) {
    const auto& v = list[k].parameter->value;
    if (v.rows() != values[k].rows() || v.cols() != values[k].cols() || !(v.array() == values[k].array()).all()) {
      return false;
    }
  }
  return true;
}

/// Runs `action`, expecting an exception of type E whose message contains `substring`.
template <class E, class Action>
void expect_error(Action&& action, const std::string& substring) {
  try {
    action();
    ADD_FAILURE() << "no exception; expected one containing: " << substring;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << substring;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type; message: " << e.what();
  }
}

/// Loads `path` into `list` expecting E with `substring`, and checks nothing in `list` changed.
template <class E, class Scalar>
void expect_load_error(const std::string& path, const mann::ParameterList<Scalar>& list,
                       const std::string& substring) {
  const auto before = snapshot(list);
  expect_error<E>([&] { mann::load_checkpoint(path, list); }, substring);
  EXPECT_TRUE(same_values(list, before)) << "a failed load changed the model";
}

template <class Scalar>
mann::Matrix<Scalar> random_matrix(mann::Index rows, mann::Index cols, mann::Rng& rng) {
  mann::Matrix<Scalar> m(rows, cols);
  for (mann::Index j = 0; j < cols; ++j)
    for (mann::Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.normal(0.0, 3.0));
  return m;
}

/// Parameters of the given shapes holding random values, and a list naming them "t0", "t1", ...
template <class Scalar>
struct Tensors {
  std::vector<std::unique_ptr<mann::Parameter<Scalar>>> storage;
  mann::ParameterList<Scalar> list;

  void add(const std::string& name, const mann::Matrix<Scalar>& value) {
    storage.push_back(std::make_unique<mann::Parameter<Scalar>>());
    storage.back()->value = value;
    list.push_back({name, storage.back().get()});
  }
  void add_zeros(const std::string& name, mann::Index rows, mann::Index cols) {
    add(name, mann::Matrix<Scalar>::Zero(rows, cols));
  }
};

/// A small real model: LSTM controller, linear output layer, RMSProp with non-zero state.
struct RealModel {
  mann::Rng rng;
  mann::Lstm<float> lstm;
  mann::Linear<float> output;
  mann::ParameterList<float> parameters;
  std::unique_ptr<mann::RmsProp<float>> optimizer;
  mann::ParameterList<float> checkpointed;  // parameters, then optimiser state

  explicit RealModel(std::uint64_t seed, int steps = 3) : rng(seed), lstm(5, 8, rng), output(8, 3, rng) {
    lstm.parameters(parameters, "lstm");
    output.parameters(parameters, "output");
    optimizer = std::make_unique<mann::RmsProp<float>>(parameters, mann::RmsProp<float>::Options{1e-2, 0.95, 0.9, 1e-8});
    for (int s = 0; s < steps; ++s) {
      for (const auto& p : parameters) p.parameter->grad = random_matrix<float>(p.parameter->value.rows(), p.parameter->value.cols(), rng);
      optimizer->step();
    }
    checkpointed = parameters;
    const mann::ParameterList<float> state = optimizer->state();
    checkpointed.insert(checkpointed.end(), state.begin(), state.end());
  }
  RealModel(const RealModel&) = delete;
  RealModel& operator=(const RealModel&) = delete;
};

const mann::CheckpointMetadata real_metadata = {{"model", "lstm(5, 8) + linear(8, 3)"}, {"optimizer", "rmsprop"}};

// ---------------------------------------------------------------------------------------------
// Round trips

template <class Scalar>
class CheckpointRoundTrip : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
struct ScalarNames {  // test names say the type; also spares clang's -Wpedantic an empty macro argument
  template <class Scalar>
  static std::string GetName(int) {
    return std::is_same<Scalar, float>::value ? "float" : "double";
  }
};
TYPED_TEST_SUITE(CheckpointRoundTrip, Scalars, ScalarNames);

TYPED_TEST(CheckpointRoundTrip, ValuesShapesAndMetadataSurvive) {
  using Scalar = TypeParam;
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  mann::Rng rng(1);
  Tensors<Scalar> saved, loaded;
  const std::vector<std::pair<mann::Index, mann::Index>> shapes = {{4, 7}, {7, 4}, {1, 1}, {1, 9}, {9, 1},
                                                                   {0, 3}, {3, 0}, {0, 0}, {33, 17}};
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const std::string name = "layer" + std::to_string(k) + ".weight";
    saved.add(name, random_matrix<Scalar>(shapes[k].first, shapes[k].second, rng));
    loaded.add_zeros(name, shapes[k].first, shapes[k].second);
  }
  const mann::CheckpointMetadata metadata = {{"hidden_size", "200"}, {"note", "quotes \" and \\ and ünïcode"},
                                             {"", "empty key"}};
  mann::save_checkpoint(path, saved.list, metadata);
  EXPECT_EQ(mann::load_checkpoint(path, loaded.list), metadata);
  EXPECT_TRUE(same_values(loaded.list, snapshot(saved.list)));
  EXPECT_EQ(mann::read_checkpoint_metadata(path), metadata);

  const auto infos = mann::list_checkpoint_tensors(path);
  ASSERT_EQ(infos.size(), shapes.size());
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    EXPECT_EQ(infos[k].name, saved.list[k].name);  // in the order saved
    EXPECT_EQ(infos[k].dtype, (std::is_same_v<Scalar, float> ? "F32" : "F64"));
    EXPECT_EQ(infos[k].rows, shapes[k].first);
    EXPECT_EQ(infos[k].cols, shapes[k].second);
  }
  EXPECT_EQ(dir.entries(), std::set<std::string>{"model.ckpt"});  // no temporary file left
}

TYPED_TEST(CheckpointRoundTrip, ExtremeFiniteValuesAreExact) {
  using Scalar = TypeParam;
  using limits = std::numeric_limits<Scalar>;
  TempDir dir;
  Tensors<Scalar> saved, loaded;
  mann::Matrix<Scalar> m(2, 3);
  m << limits::max(), limits::lowest(), limits::min(), limits::denorm_min(), Scalar(-0.0), limits::epsilon();
  saved.add("extremes", m);
  loaded.add_zeros("extremes", 2, 3);
  mann::save_checkpoint(dir.file("x.ckpt"), saved.list);
  mann::load_checkpoint(dir.file("x.ckpt"), loaded.list);
  EXPECT_TRUE(same_values(loaded.list, snapshot(saved.list)));
  EXPECT_TRUE(std::signbit(loaded.list[0].parameter->value(1,1)));  // -0 stays -0
}

TEST(Checkpoint, EmptyListAndNoMetadataRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("empty.ckpt");
  mann::save_checkpoint(path, mann::ParameterList<float>{});
  EXPECT_TRUE(mann::load_checkpoint(path, mann::ParameterList<float>{}).empty());
  EXPECT_TRUE(mann::list_checkpoint_tensors(path).empty());
  const Bytes bytes = read_bytes(path);
  ASSERT_EQ(bytes.size(), 16u);  // length + "{}" padded to 8
  EXPECT_EQ(read_le(bytes, 0, 8), 8u);
  EXPECT_EQ(std::string(bytes.begin() + 8, bytes.end()), "{}      ");
}

TEST(Checkpoint, SavingOverwritesAnExistingCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  mann::Rng rng(2);
  Tensors<float> first, second, loaded;
  first.add("a", random_matrix<float>(3, 3, rng));
  second.add("a", random_matrix<float>(3, 3, rng));
  loaded.add_zeros("a", 3, 3);
  mann::save_checkpoint(path, first.list, {{"version", "1"}});
  mann::save_checkpoint(path, second.list, {{"version", "2"}});
  EXPECT_EQ(mann::load_checkpoint(path, loaded.list).at("version"), "2");
  EXPECT_TRUE(same_values(loaded.list, snapshot(second.list)));
  EXPECT_EQ(dir.entries(), std::set<std::string>{"model.ckpt"});
}

TEST(Checkpoint, FloatFileLoadsIntoDoubleAndBack) {
  TempDir dir;
  mann::Rng rng(3);
  Tensors<float> saved_f, loaded_f;
  Tensors<double> saved_d, loaded_d;
  saved_f.add("w", random_matrix<float>(4, 5, rng));
  saved_d.add("w", random_matrix<double>(4, 5, rng));
  loaded_f.add_zeros("w", 4, 5);
  loaded_d.add_zeros("w", 4, 5);

  mann::save_checkpoint(dir.file("f32.ckpt"), saved_f.list);
  mann::load_checkpoint(dir.file("f32.ckpt"), loaded_d.list);
  EXPECT_TRUE(loaded_d.list[0].parameter->value == saved_f.list[0].parameter->value.cast<double>());

  mann::save_checkpoint(dir.file("f64.ckpt"), saved_d.list);
  mann::load_checkpoint(dir.file("f64.ckpt"), loaded_f.list);
  EXPECT_TRUE(loaded_f.list[0].parameter->value == saved_d.list[0].parameter->value.cast<float>());
}

TEST(Checkpoint, ExtraTensorsInTheFileAreIgnored) {
  TempDir dir;
  mann::Rng rng(4);
  Tensors<float> saved, loaded;
  saved.add("a", random_matrix<float>(2, 2, rng));
  saved.add("b", random_matrix<float>(3, 1, rng));
  saved.add("c", random_matrix<float>(1, 4, rng));
  loaded.add_zeros("c", 1, 4);
  loaded.add_zeros("a", 2, 2);  // a different order from the file's
  mann::save_checkpoint(dir.file("x.ckpt"), saved.list);
  mann::load_checkpoint(dir.file("x.ckpt"), loaded.list);
  EXPECT_TRUE(loaded.list[0].parameter->value == saved.list[2].parameter->value);
  EXPECT_TRUE(loaded.list[1].parameter->value == saved.list[0].parameter->value);
}

// ---------------------------------------------------------------------------------------------
// The byte layout that Python's safetensors / numpy read

TEST(Checkpoint, FileLayoutIsSafetensorsWithRowMajorLittleEndianData) {
  TempDir dir;
  const std::string path = dir.file("layout.ckpt");
  Tensors<float> tensors;
  mann::MatrixF m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  tensors.add("m", m);
  Tensors<double> doubles;
  mann::MatrixD v(3, 1);
  v << 0.5, -1.25, 8;
  doubles.add("v", v);
  mann::save_checkpoint(path, tensors.list, {{"hidden", "8"}});
  mann::save_checkpoint(dir.file("doubles.ckpt"), doubles.list);

  const Bytes bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  const std::uint64_t n = read_le(bytes, 0, 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 6 * 4);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_first_not_of(' ', header.find_last_of('}') + 1), std::string::npos);  // space padding
  const nlohmann::json json = nlohmann::json::parse(header);
  EXPECT_EQ(json.size(), 2u);
  EXPECT_EQ(json.at("__metadata__"), nlohmann::json({{"hidden", "8"}}));
  EXPECT_EQ(json.at("m").at("dtype"), "F32");
  EXPECT_EQ(json.at("m").at("shape"), nlohmann::json({2, 3}));
  EXPECT_EQ(json.at("m").at("data_offsets"), nlohmann::json({0, 24}));
  // Row-major (C order): 1 2 3 4 5 6, each little-endian; 1.0f is 00 00 80 3f.
  const Bytes expected = f32_bytes({1, 2, 3, 4, 5, 6});
  EXPECT_EQ(Bytes(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n), bytes.end()), expected);
  EXPECT_EQ(Bytes(expected.begin(), expected.begin() + 4), (Bytes{0x00, 0x00, 0x80, 0x3f}));

  const Bytes dbytes = read_bytes(dir.file("doubles.ckpt"));
  const std::uint64_t dn = read_le(dbytes, 0, 8);
  EXPECT_EQ(dn % 8, 0u);
  const nlohmann::json djson = nlohmann::json::parse(dbytes.begin() + 8, dbytes.begin() + 8 + static_cast<std::ptrdiff_t>(dn));
  EXPECT_FALSE(djson.contains("__metadata__"));
  EXPECT_EQ(djson.at("v").at("dtype"), "F64");
  EXPECT_EQ(djson.at("v").at("shape"), nlohmann::json({3, 1}));
  EXPECT_EQ(Bytes(dbytes.begin() + 8 + static_cast<std::ptrdiff_t>(dn), dbytes.end()), f64_bytes({0.5, -1.25, 8}));
}

TEST(Checkpoint, ReadsFilesWrittenByOthers) {
  // As Python's safetensors may write them: unpadded header, 1-D and 0-D shapes, keys in any
  // order, tensors stored in a different order from the header's, mixed dtypes.
  TempDir dir;
  const std::string path = dir.file("python.safetensors");
  const std::string header =
      R"({"bias":{"dtype":"F64","shape":[3],"data_offsets":[8,32]},)"
      R"("scale":{"data_offsets":[0,8],"shape":[],"dtype":"F64"},)"
      R"("weight":{"shape":[2,2],"dtype":"F32","data_offsets":[32,48]},"__metadata__":{"format":"pt"}})";
  Bytes data = f64_bytes({2.5, 1, 2, 3});
  const Bytes w = f32_bytes({1, 2, 3, 4});
  data.insert(data.end(), w.begin(), w.end());
  write_bytes(path, assemble(header, data));

  Tensors<float> model;
  model.add_zeros("weight", 2, 2);
  model.add_zeros("bias", 3, 1);
  model.add_zeros("scale", 1, 1);
  EXPECT_EQ(mann::load_checkpoint(path, model.list), (mann::CheckpointMetadata{{"format", "pt"}}));
  mann::MatrixF weight(2, 2);
  weight << 1, 2, 3, 4;
  EXPECT_TRUE(model.list[0].parameter->value == weight);
  EXPECT_TRUE(model.list[1].parameter->value == mann::MatrixF(mann::Vector<float>::LinSpaced(3, 1, 3)));
  EXPECT_EQ(model.list[2].parameter->value(0, 0), 2.5f);

  const auto infos = mann::list_checkpoint_tensors(path);  // in data order
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].name, "scale");
  EXPECT_EQ(infos[1].name, "bias");
  EXPECT_EQ(infos[1].rows, 3);
  EXPECT_EQ(infos[1].cols, 1);
  EXPECT_EQ(infos[2].name, "weight");
  EXPECT_EQ(infos[2].dtype, "F32");
}

// ---------------------------------------------------------------------------------------------
// A real checkpoint: LSTM + linear parameters and RMSProp state

TEST(Checkpoint, RealModelAndOptimizerStateRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("real.ckpt");
  RealModel trained(10), fresh(20, 0);
  ASSERT_EQ(trained.checkpointed.size(), 12u);  // 4 parameters, mean square and velocity of each
  ASSERT_FALSE(same_values(fresh.checkpointed, snapshot(trained.checkpointed)));
  mann::save_checkpoint(path, trained.checkpointed, real_metadata);
  EXPECT_EQ(mann::load_checkpoint(path, fresh.checkpointed), real_metadata);
  EXPECT_TRUE(same_values(fresh.checkpointed, snapshot(trained.checkpointed)));

  // The reloaded optimiser continues exactly as the original would.
  for (auto* model : {&trained, &fresh}) {
    mann::Rng grads(77);
    for (const auto& p : model->parameters) {
      p.parameter->grad = random_matrix<float>(p.parameter->value.rows(), p.parameter->value.cols(), grads);
    }
    model->optimizer->step();
  }
  EXPECT_TRUE(same_values(fresh.checkpointed, snapshot(trained.checkpointed)));
  const auto names = mann::list_checkpoint_tensors(path);
  EXPECT_EQ(names[0].name, "lstm.weight");
  EXPECT_EQ(names[4].name, "rmsprop.mean_square.lstm.weight");
}

TEST(Checkpoint, EveryTruncationFailsAndLeavesTheModelUnchanged) {
  TempDir dir;
  const std::string path = dir.file("real.ckpt"), cut = dir.file("cut.ckpt");
  RealModel trained(10), fresh(20);
  mann::save_checkpoint(path, trained.checkpointed, real_metadata);
  const Bytes bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 4000u);
  ASSERT_LT(bytes.size(), 12000u);
  const auto before = snapshot(fresh.checkpointed);
  int wrong = 0;
  for (std::size_t length = 0; length < bytes.size() && wrong < 5; ++length) {
    write_bytes(cut, bytes, length);
    try {
      mann::load_checkpoint(cut, fresh.checkpointed);
      ADD_FAILURE() << "a file truncated to " << length << " bytes loaded";
      ++wrong;
    } catch (const mann::FormatError& e) {
      if (std::string(e.what()).find(cut) == std::string::npos) {
        ADD_FAILURE() << "message does not name the file: " << e.what();
        ++wrong;
      }
    }
    if (!same_values(fresh.checkpointed, before)) {
      ADD_FAILURE() << "truncation to " << length << " bytes changed the model";
      restore(fresh.checkpointed, before);
      ++wrong;
    }
  }
  // Metadata and listing read the header only, but check it against the file size too.
  write_bytes(cut, bytes, bytes.size() - 1);
  EXPECT_THROW(mann::read_checkpoint_metadata(cut), mann::FormatError);
  EXPECT_THROW(mann::list_checkpoint_tensors(cut), mann::FormatError);
}

TEST(Checkpoint, CorruptHeaderBytesFailCleanlyOrLoadTheSameValues) {
  TempDir dir;
  const std::string path = dir.file("real.ckpt"), bad = dir.file("bad.ckpt");
  RealModel trained(10), fresh(20);
  mann::save_checkpoint(path, trained.checkpointed, real_metadata);
  const Bytes bytes = read_bytes(path);
  const auto saved = snapshot(trained.checkpointed), before = snapshot(fresh.checkpointed);
  const std::size_t header_end = 8 + static_cast<std::size_t>(read_le(bytes, 0, 8));
  const unsigned char replacements[] = {0x00, '{', '"', '9', 0xFF, ' ', ',', '0'};
  int loaded = 0, failed = 0, wrong = 0;
  for (std::size_t at = 0; at < header_end && wrong < 5; ++at) {
    for (unsigned char value : replacements) {
      if (bytes[at] == value) continue;
      Bytes corrupt = bytes;
      corrupt[at] = value;
      write_bytes(bad, corrupt);
      try {
        mann::load_checkpoint(bad, fresh.checkpointed);
        ++loaded;
        if (!same_values(fresh.checkpointed, saved)) {
          ADD_FAILURE() << "byte " << at << " set to " << int(value) << " loaded different values";
          ++wrong;
        }
      } catch (const mann::Error&) {
        ++failed;
        if (!same_values(fresh.checkpointed, before)) {
          ADD_FAILURE() << "byte " << at << " set to " << int(value) << " failed but changed the model";
          ++wrong;
        }
      }
      restore(fresh.checkpointed, before);
    }
  }
  EXPECT_GT(failed, 1000);
  EXPECT_GT(loaded, 0);  // e.g. the padding spaces, the metadata strings
}

// ---------------------------------------------------------------------------------------------
// Hand-made bad files: each is refused with the right type and a message saying what is wrong

class CheckpointBadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    model.add_zeros("a", 2, 2);
    model.add(std::string("b"), mann::MatrixF::Constant(1, 2, 7.0f));
  }
  /// Writes a file with this header and data (default: a valid 2×2 "a" then 1×2 "b", F32).
  std::string file(const std::string& header, const Bytes& data = f32_bytes({1, 2, 3, 4, 5, 6})) {
    const std::string path = dir.file("bad" + std::to_string(count++) + ".ckpt");
    write_bytes(path, assemble(header, data));
    return path;
  }
  static std::string entry(const std::string& name, const std::string& body) { return "\"" + name + "\":{" + body + "}"; }
  static std::string valid_a() { return entry("a", R"("dtype":"F32","shape":[2,2],"data_offsets":[0,16])"); }
  static std::string valid_b() { return entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[16,24])"); }
  void expect_format(const std::string& path, const std::string& substring) {
    expect_load_error<mann::FormatError>(path, model.list, substring);
  }

  TempDir dir;
  Tensors<float> model;
  int count = 0;
};

TEST_F(CheckpointBadFile, TheValidBaseFileLoads) {
  mann::load_checkpoint(file("{" + valid_a() + "," + valid_b() + "}"), model.list);
  EXPECT_EQ(model.list[0].parameter->value(1, 0), 3.0f);
  EXPECT_EQ(model.list[1].parameter->value(0, 1), 6.0f);
}

TEST_F(CheckpointBadFile, FileTooShortOrMissing) {
  const std::string path = dir.file("short.ckpt");
  write_bytes(path, Bytes{1, 0, 0});
  expect_format(path, "file has 3 bytes, expected at least 8");
  expect_load_error<mann::FileError>(dir.file("no_such_file.ckpt"), model.list, "cannot open");
  expect_load_error<mann::FileError>(dir.path().string(), model.list, "is a directory");
  expect_error<mann::FileError>([&] { mann::read_checkpoint_metadata(dir.file("none")); }, "none");
}

TEST_F(CheckpointBadFile, HeaderLengthBeyondTheFileOrAbsurd) {
  const std::string header = "{" + valid_a() + "," + valid_b() + "}";
  const std::string path = dir.file("huge_length.ckpt");
  write_bytes(path, assemble(header, f32_bytes({1, 2, 3, 4, 5, 6}), std::uint64_t{1} << 63));
  expect_format(path, "header length is 9223372036854775808 bytes");
  write_bytes(path, assemble(header, f32_bytes({1, 2, 3, 4, 5, 6}), ~std::uint64_t{0}));
  expect_format(path, "header length is 18446744073709551615 bytes");
  write_bytes(path, assemble(header, {}, header.size() + 1));
  expect_format(path, "truncated file?");
  // Above the 16 MiB limit, in a (sparse) file long enough to hold it.
  write_bytes(path, assemble(header, {}, 16777217));
  fs::resize_file(path, 16777217 + 8 + 64);
  expect_format(path, "header length is 16777217 bytes, expected at most 16777216");
}

TEST_F(CheckpointBadFile, HeaderNotJsonOrNotAnObject) {
  expect_format(file("{\"a\":", {}), "header is not valid JSON");
  expect_format(file("", {}), "header is not valid JSON");
  // nlohmann::json alone would stop at the NUL and accept these.
  expect_format(file(std::string("{}\0\0", 4), {}), "header is not valid JSON (a NUL byte at header offset 2)");
  expect_format(file(std::string("{}\0 {\"x\": 1}", 13), {}), "a NUL byte");
  expect_format(file("{\"a\xff\":1}", {}), "header is not valid JSON");  // not UTF-8
  expect_format(file("[1, 2]", {}), "header is a JSON array, expected an object");
  expect_format(file("\"text\"", {}), "header is a JSON string, expected an object");
}

TEST_F(CheckpointBadFile, EntryFieldsMissingOrOfTheWrongType) {
  expect_format(file("{\"a\":5," + valid_b() + "}"), "tensor \"a\" is a JSON number, expected an object");
  expect_format(file("{" + entry("a", R"("shape":[2,2],"data_offsets":[0,16])") + "," + valid_b() + "}"),
                "tensor \"a\" has no \"dtype\"");
  expect_format(file("{" + entry("a", R"("dtype":"F32","data_offsets":[0,16])") + "," + valid_b() + "}"),
                "tensor \"a\" has no \"shape\"");
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":[2,2])") + "," + valid_b() + "}"),
                "tensor \"a\" has no \"data_offsets\"");
  expect_format(file("{" + entry("a", R"("dtype":32,"shape":[2,2],"data_offsets":[0,16])") + "," + valid_b() + "}"),
                "tensor \"a\" has a dtype that is a JSON number");
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":"2x2","data_offsets":[0,16])") + "," + valid_b() + "}"),
                "tensor \"a\" has a shape that is a JSON string");
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":[2,2],"data_offsets":[0])") + "," + valid_b() + "}"),
                "tensor \"a\" has data_offsets that are a JSON array of 1 elements, expected an array [begin, end]");
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":[2,2],"data_offsets":{"begin":0})") + "," + valid_b() + "}"),
                "data_offsets that are a JSON object");
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":[2,2],"data_offsets":[0,"16"])") + "," + valid_b() + "}"),
                "data_offsets[1] is a JSON string, expected a non-negative integer");
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":[2,2],"data_offsets":[[[[0]]],16])") + "," +
                     valid_b() + "}"),
                "data_offsets[0] is a JSON array");
}

TEST_F(CheckpointBadFile, UnknownDtype) {
  expect_format(file("{" + entry("a", R"("dtype":"BF16","shape":[2,2],"data_offsets":[0,8])") + "," +
                         entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[8,16])") + "}",
                     f32_bytes({1, 2, 3, 4})),
                "tensor \"a\" has dtype \"BF16\", expected \"F32\" or \"F64\"");
  expect_format(file("{" + entry("a", R"("dtype":"f32","shape":[2,2],"data_offsets":[0,16])") + "," + valid_b() + "}"),
                "has dtype \"f32\"");
}

TEST_F(CheckpointBadFile, BadShapes) {
  const auto with_shape = [&](const std::string& shape) {
    return file("{" + entry("a", R"("dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,16])") + "," + valid_b() + "}");
  };
  expect_format(with_shape("[2,-2]"), "tensor \"a\" shape[1] is -2, expected a non-negative integer");
  expect_format(with_shape("[2.0,2]"), "tensor \"a\" shape[0] is 2.0, expected a non-negative integer");
  expect_format(with_shape("[1,2,2]"), "tensor \"a\" has a shape of 3 dimensions, expected [rows, cols] or [rows]");
  expect_format(with_shape("[2,null]"), "shape[1] is a JSON null");
  expect_format(with_shape("[4]"), "tensor \"a\" has shape 4 x 1, the model expects 2 x 2");
  expect_format(with_shape("[2,3]"), "tensor \"a\" has data_offsets [0, 16] (16 bytes), expected 2 x 3 x 4 = 24 bytes");
  expect_format(with_shape("[9223372036854775808,0]"), "shape[0] is 9223372036854775808, expected at most");
  expect_format(with_shape("[4294967296,4294967296]"),
                "has shape 4294967296 x 4294967296, expected its non-zero dimensions times 4 bytes to be at most "
                "2^63 - 1 bytes");
  expect_format(with_shape("[18446744073709551616,1]"), "expected a non-negative integer below 2^64");
}

TEST_F(CheckpointBadFile, HeadersNestedDeeperThanEightFailBeforeParsing) {
  const std::string nine = "{\"a\":" + std::string(8, '[') + std::string(8, ']') + "}";
  expect_format(file(nine, {}), "header nests objects and arrays more than 8 deep (at header offset 12), expected at most 8");
  // brackets inside strings, escaped quotes included, do not nest
  const std::string strings = "{\"__metadata__\":{\"k\":\"\\\"[[[[[[[[[[{{{{{{{{\"}," + valid_a() + "," + valid_b() + "}";
  EXPECT_EQ(mann::load_checkpoint(file(strings), model.list).at("k"), "\"[[[[[[[[[[{{{{{{{{");
  // 15 MiB of '[': refused at the ninth, without building millions of nested arrays
  const auto start = std::chrono::steady_clock::now();
  expect_format(file(std::string(15u << 20, '['), {}), "more than 8 deep (at header offset 8)");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  // a 99.6 MB checkpoint whose header claims nearly all of it: refused from the length alone
  const std::string path = dir.file("deep_99mb.ckpt");
  write_bytes(path, assemble(std::string(4096, '['), {}, 99600000 - 8));
  fs::resize_file(path, 99600000);
  expect_format(path, "header length is 99599992 bytes, expected at most 16777216");
}

TEST_F(CheckpointBadFile, EmptyTensorsWithAHugeDimensionLoadAtOnceOrAreRefused) {
  // [2^60, 0]: 2^60 x 4 bytes fits 2^63 - 1, so it is a valid empty tensor, and loads at once
  Tensors<float> empty;
  empty.add_zeros("e", mann::Index{1} << 60, 0);
  const std::string valid =
      file(R"({"e":{"dtype":"F32","shape":[1152921504606846976,0],"data_offsets":[0,0]}})", {});
  mann::load_checkpoint(valid, empty.list);
  EXPECT_EQ(empty.list[0].parameter->value.rows(), mann::Index{1} << 60);
  // [2^63 - 1, 0]: its non-zero dimension times 4 bytes overflows; refused, not walked row by row
  Tensors<float> huge;
  huge.add_zeros("e", std::numeric_limits<mann::Index>::max(), 0);
  expect_load_error<mann::FormatError>(
      file(R"({"e":{"dtype":"F32","shape":[9223372036854775807,0],"data_offsets":[0,0]}})", {}), huge.list,
      "tensor \"e\" has shape 9223372036854775807 x 0, expected its non-zero dimensions times 4 bytes to be at "
      "most 2^63 - 1 bytes");
  expect_format(file(R"({"e":{"dtype":"F64","shape":[0,2305843009213693952],"data_offsets":[0,0]}})", {}),
                "has shape 0 x 2305843009213693952, expected its non-zero dimensions times 8 bytes");
}

TEST_F(CheckpointBadFile, WrongShapeForTheModel) {
  expect_format(file("{" + entry("a", R"("dtype":"F32","shape":[1,4],"data_offsets":[0,16])") + "," + valid_b() + "}"),
                ": tensor \"a\" has shape 1 x 4, the model expects 2 x 2");
}

TEST_F(CheckpointBadFile, MissingTensor) {
  expect_format(file("{" + valid_a() + "," + entry("c", R"("dtype":"F32","shape":[1,2],"data_offsets":[16,24])") + "}"),
                "tensor \"b\" is missing: the file has 2 tensors, none of that name");
}

TEST_F(CheckpointBadFile, OffsetsOutOfRangeReversedOverlappingOrLeavingGaps) {
  expect_format(file("{" + valid_a() + "," + entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[24,32])") + "}"),
                "tensor \"b\" has data_offsets [24, 32] out of range: the data section has 24 bytes");
  expect_format(file("{" + valid_a() + "," + entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[24,16])") + "}"),
                "tensor \"b\" has data_offsets [24, 16], expected begin <= end");
  expect_format(file("{" + valid_a() + "," +
                     entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[18446744073709551608,0])") + "}"),
                "expected begin <= end");
  expect_format(file("{" + valid_a() + "," +
                     entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[18446744073709551608,18446744073709551615])") + "}"),
                "(7 bytes), expected 1 x 2 x 4 = 8 bytes");
  expect_format(file("{" + valid_a() + "," + entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[8,16])") + "}",
                     f32_bytes({1, 2, 3, 4})),
                "tensor \"b\" at bytes [8, 16) overlaps tensor \"a\" at bytes [0, 16)");
  expect_format(file("{" + valid_a() + "," + entry("b", R"("dtype":"F32","shape":[1,2],"data_offsets":[20,28])") + "}",
                     f32_bytes({1, 2, 3, 4, 5, 6, 7})),
                "bytes [16, 20) of the data section belong to no tensor");
  expect_format(file("{" + valid_a() + "," + valid_b() + "}", f32_bytes({1, 2, 3, 4, 5, 6, 7})),
                "data section has 28 bytes, the tensors cover 24");
  // A repeated key in the JSON: the last one wins, which leaves the first one's bytes uncovered.
  expect_format(file("{" + valid_a() + "," + valid_b() + "," +
                     entry("a", R"("dtype":"F32","shape":[2,2],"data_offsets":[24,40])") + "}",
                     f32_bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})),
                "bytes [0, 16) of the data section belong to no tensor");
}

TEST_F(CheckpointBadFile, BadMetadata) {
  expect_format(file("{\"__metadata__\":[\"x\"]," + valid_a() + "," + valid_b() + "}"),
                "__metadata__ is a JSON array, expected an object of strings");
  expect_format(file("{\"__metadata__\":{\"layers\":3}," + valid_a() + "," + valid_b() + "}"),
                "__metadata__ entry \"layers\" is a JSON number, expected a string");
  expect_error<mann::FormatError>(
      [&] { mann::read_checkpoint_metadata(file("{\"__metadata__\":{\"a\":null}," + valid_a() + "," + valid_b() + "}")); },
      "mann::read_checkpoint_metadata: ");
}

TEST_F(CheckpointBadFile, NonFiniteOrOutOfRangeValues) {
  expect_format(file("{" + valid_a() + "," + valid_b() + "}",
                     f32_bytes({1, 2, 3, std::numeric_limits<float>::quiet_NaN(), 5, 6})),
                "tensor \"a\" has value nan at (1, 1), expected a finite F32 value");
  expect_format(file("{" + valid_a() + "," + valid_b() + "}",
                     f32_bytes({1, 2, 3, 4, 5, -std::numeric_limits<float>::infinity()})),
                "tensor \"b\" has value -inf at (0, 1)");
  // F64 data beyond float's range cannot load into a float model; it can into a double one.
  const std::string path = file("{" + entry("a", R"("dtype":"F64","shape":[2,2],"data_offsets":[0,32])") + "," +
                                    entry("b", R"("dtype":"F64","shape":[1,2],"data_offsets":[32,48])") + "}",
                                f64_bytes({1, 2, 3, 4, 1e300, 6}));
  expect_format(path, "tensor \"b\" has value 1e+300 at (0, 0), expected a finite F32 value");
  Tensors<double> doubles;
  doubles.add_zeros("b", 1, 2);
  mann::load_checkpoint(path, doubles.list);
  EXPECT_EQ(doubles.list[0].parameter->value(0, 0), 1e300);
}

TEST_F(CheckpointBadFile, AFailureInTheLastTensorLeavesTheFirstUntouched) {
  // "a" decodes fine, "b" holds a NaN: nothing may be assigned.
  const std::string path = file("{" + valid_a() + "," + valid_b() + "}",
                                f32_bytes({1, 2, 3, 4, 5, std::numeric_limits<float>::quiet_NaN()}));
  expect_format(path, "tensor \"b\"");
  EXPECT_TRUE(model.list[0].parameter->value.isZero());
}

TEST_F(CheckpointBadFile, RequestErrors) {
  const std::string path = file("{" + valid_a() + "," + valid_b() + "}");
  mann::ParameterList<float> repeated = {model.list[0], model.list[0]};
  expect_error<mann::ValueError>([&] { mann::load_checkpoint(path, repeated); }, "tensor name \"a\" appears more than once");
  mann::ParameterList<float> null = {{"a", nullptr}};
  expect_error<mann::ValueError>([&] { mann::load_checkpoint(path, null); }, "null parameter");
}

// ---------------------------------------------------------------------------------------------
// Saving: refused inputs, and I/O failures that must leave nothing behind

TEST(CheckpointSave, RefusesRepeatedReservedNullOrNonUtf8Names) {
  TempDir dir;
  const std::string path = dir.file("x.ckpt");
  Tensors<float> t;
  t.add_zeros("w", 2, 2);
  t.add_zeros("w", 1, 1);
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(path, t.list); },
                                 "x.ckpt: tensor name \"w\" appears more than once, expected unique names");
  Tensors<float> reserved;
  reserved.add_zeros("__metadata__", 1, 1);
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(path, reserved.list); }, "reserves for metadata");
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(path, mann::ParameterList<float>{{"p", nullptr}}); },
                                 "null parameter");
  Tensors<float> latin1;
  latin1.add_zeros("caf\xe9", 1, 1);
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(path, latin1.list); }, "not valid UTF-8");
  expect_error<mann::ValueError>(
      [&] { mann::save_checkpoint(path, mann::ParameterList<float>{}, {{"k", "\xff"}}); }, "not valid UTF-8");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CheckpointSave, RefusesNonFiniteValuesNamingTheTensorAndKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("x.ckpt");
  Tensors<double> t;
  t.add_zeros("ok", 2, 2);
  t.add_zeros("rmsprop.velocity.w", 2, 3);
  mann::save_checkpoint(path, t.list);
  const Bytes old = read_bytes(path);
  t.list[1].parameter->value(1, 2) = std::numeric_limits<double>::infinity();
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(path, t.list); },
                                 "tensor \"rmsprop.velocity.w\" has value inf at (1, 2), expected finite values");
  t.list[1].parameter->value(1, 2) = std::nan("");
  EXPECT_THROW(mann::save_checkpoint(path, t.list), mann::ValueError);
  EXPECT_EQ(read_bytes(path), old);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"x.ckpt"});
}

TEST(CheckpointSave, IntoAMissingDirectoryThrowsFileErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = (dir.path() / "no_such_dir" / "x.ckpt").string();
  Tensors<float> t;
  t.add_zeros("w", 2, 2);
  expect_error<mann::FileError>([&] { mann::save_checkpoint(path, t.list); },
                                "mann::save_checkpoint: " + path + ": cannot create the temporary file");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CheckpointSave, OntoADirectoryThrowsFileErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("a_directory");
  fs::create_directory(path);
  fs::create_directory(dir.file("a_directory/inside"));  // non-empty: rename cannot replace it
  Tensors<float> t;
  t.add_zeros("w", 2, 2);
  expect_error<mann::FileError>([&] { mann::save_checkpoint(path, t.list); }, "cannot rename");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"a_directory"});
  EXPECT_TRUE(fs::is_directory(path));
}

TEST(CheckpointSave, EmptyMatricesWithAHugeDimensionSaveAtOnceOrAreRefused) {
  TempDir dir;
  const std::string path = dir.file("empty.ckpt");
  Tensors<float> t;
  t.add_zeros("wide", 0, mann::Index{1} << 60);
  t.add_zeros("tall", mann::Index{1} << 60, 0);
  t.add("x", mann::MatrixF::Constant(1, 2, 3.0f));
  mann::save_checkpoint(path, t.list);
  Tensors<float> back;
  back.add_zeros("wide", 0, mann::Index{1} << 60);
  back.add_zeros("tall", mann::Index{1} << 60, 0);
  back.add_zeros("x", 1, 2);
  mann::load_checkpoint(path, back.list);
  EXPECT_EQ(back.list[2].parameter->value(0, 1), 3.0f);
  const Bytes old = read_bytes(path);
  Tensors<double> wider;
  wider.add_zeros("w", 0, mann::Index{1} << 62);  // 2^62 x 8 bytes: more than 2^63 - 1
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(path, wider.list); },
                                 "tensor \"w\" has shape 0 x 4611686018427387904, expected its non-zero dimensions "
                                 "times 8 bytes to be at most 2^63 - 1 bytes");
  EXPECT_EQ(read_bytes(path), old);
}

TEST(CheckpointSave, ManyTensorsSaveInLinearTime) {
  // 100 000 tiny tensors: the header was once built by a linear key search per tensor (27 s here)
  TempDir dir;
  const std::string path = dir.file("many.ckpt");
  Tensors<float> t;
  for (int i = 0; i < 100000; ++i) t.add("t" + std::to_string(i), mann::MatrixF::Constant(1, 1, float(i)));
  const auto start = std::chrono::steady_clock::now();
  mann::save_checkpoint(path, t.list, {{"count", "100000"}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20.0);  // 0.3 s in Release, a few under the sanitizers (34 s when quadratic)
  EXPECT_EQ(mann::read_checkpoint_metadata(path).at("count"), "100000");
  EXPECT_EQ(fs::file_size(path) % 4, 0u);
  // and a header that would be above 16 MiB is refused before anything is written
  Tensors<float> long_names;
  const std::string stem(200, 'n');
  for (int i = 0; i < 90000; ++i) long_names.add(stem + std::to_string(i), mann::MatrixF::Zero(1, 1));
  expect_error<mann::ValueError>([&] { mann::save_checkpoint(dir.file("long.ckpt"), long_names.list); },
                                 "expected at most 16777216 (the limit load_checkpoint enforces)");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"many.ckpt"});
}

TEST(CheckpointMetadata, CheckedIntegerAndNumberFields) {
  const mann::CheckpointMetadata m = {{"episodes_done", "1200"}, {"negative", "-998"}, {"spaced", " 12"},
                                      {"plus", "+12"}, {"trailing", "12x"}, {"empty", ""}, {"word", "many"},
                                      {"huge", "99999999999999999999"}, {"rate", "1e-3"}, {"half", "0.5"},
                                      {"nan", "nan"}, {"inf", "inf"}, {"overflow", "1e999"}, {"comma", "0,5"}};
  EXPECT_EQ(mann::metadata_int(m, "episodes_done", 0, 1000000), 1200);
  EXPECT_EQ(mann::metadata_int(m, "negative", -1000, 0), -998);
  const auto expect_int_error = [&](const std::string& key, const std::string& text) {
    expect_error<mann::FormatError>([&] { mann::metadata_int(m, key, 0, 1000000); }, text);
  };
  expect_int_error("negative", "mann::metadata_int: metadata \"negative\" is \"-998\", expected an integer in [0, 1000000]");
  expect_int_error("missing", "mann::metadata_int: metadata has no \"missing\", expected an integer in [0, 1000000]");
  for (const char* key : {"spaced", "plus", "trailing", "empty", "word", "huge", "half"}) {
    expect_int_error(key, std::string("metadata \"") + key + "\" is \"" + m.at(key) + "\"");
  }
  EXPECT_THROW(mann::metadata_int(m, "episodes_done", 0, 1000), mann::FormatError);
  EXPECT_THROW(mann::metadata_int(m, "episodes_done", 5, 1), mann::ValueError);

  EXPECT_EQ(mann::metadata_double(m, "rate", 0, 1), 1e-3);
  EXPECT_EQ(mann::metadata_double(m, "half", 0, 1), 0.5);
  EXPECT_EQ(mann::metadata_double(m, "episodes_done", 0, 1e6), 1200.0);
  for (const char* key : {"nan", "inf", "overflow", "comma", "trailing", "spaced", "empty", "word"}) {
    expect_error<mann::FormatError>([&] { mann::metadata_double(m, key, -1e300, 1e300); },
                                    std::string("mann::metadata_double: metadata \"") + key + "\" is \"");
  }
  expect_error<mann::FormatError>([&] { mann::metadata_double(m, "half", 0.6, 1); },
                                  "metadata \"half\" is \"0.5\", expected a finite number in [0.6, 1]");
  expect_error<mann::FormatError>([&] { mann::metadata_double(m, "absent", 0, 1); }, "metadata has no \"absent\"");
}

#ifdef MANN_TEST_POSIX
TEST(CheckpointSave, StaleTemporariesOfDeadSavesAreRemoved) {
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  const pid_t child = fork();  // a process id that is surely dead once reaped
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const std::string token = ".0123456789abcdef";
  const auto temporary = [&](const std::string& target, long pid, const std::string& rest) {
    const std::string name = target + ".tmp." + std::to_string(pid) + rest;
    write_bytes(dir.file(name), Bytes{1, 2, 3});
    return name;
  };
  const std::string stale = temporary("model.ckpt", child, token);
  const std::string own = temporary("model.ckpt", static_cast<long>(getpid()), token);  // maybe a save in progress
  const std::string parent = temporary("model.ckpt", static_cast<long>(getppid()), token);  // alive
  const std::string other = temporary("other.ckpt", child, token);           // another checkpoint's
  const std::string short_token = temporary("model.ckpt", child, ".0123");  // not our name pattern
  const std::string group = temporary("model.ckpt", 0, token);              // kill(0) would mean a group
  EXPECT_EQ(mann::remove_stale_checkpoint_temporaries(path), 1u);
  EXPECT_EQ(dir.entries(), (std::set<std::string>{own, parent, other, short_token, group}));
  EXPECT_EQ(mann::remove_stale_checkpoint_temporaries(path), 0u);
  // save_checkpoint removes them first
  const std::string again = temporary("model.ckpt", child, ".fedcba9876543210");
  Tensors<float> t;
  t.add_zeros("w", 1, 1);
  mann::save_checkpoint(path, t.list);
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"model.ckpt", own, parent, other, short_token, group}));
  EXPECT_EQ(mann::remove_stale_checkpoint_temporaries(dir.file("no_such_dir/model.ckpt")), 0u);
}

TEST(CheckpointSave, AWriteFailingHalfwayKeepsTheExistingCheckpoint) {
  // A file-size limit makes the write fail partway (EFBIG), as a full disk would.
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  RealModel small(1, 1);
  mann::save_checkpoint(path, small.parameters, {{"version", "old"}});
  const Bytes old = read_bytes(path);
  mann::Rng rng(5);
  Tensors<float> big;
  big.add("w", random_matrix<float>(100, 100, rng));  // 40 KB

  rlimit saved_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
  void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  rlimit limit = saved_limit;
  limit.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::string message;
  bool file_error = false;
  try {  // no test output until the limit is lifted: the test log may be a file too
    mann::save_checkpoint(path, big.list, {{"version", "new"}});
  } catch (const mann::FileError& e) {
    file_error = true;
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved_limit);
  signal(SIGXFSZ, saved_handler);

  EXPECT_TRUE(file_error) << message;
  EXPECT_NE(message.find("model.ckpt.tmp."), std::string::npos) << message;  // names the temporary file
  EXPECT_EQ(read_bytes(path), old);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"model.ckpt"});
  RealModel other(2, 1);
  EXPECT_EQ(mann::load_checkpoint(path, other.parameters).at("version"), "old");
  EXPECT_TRUE(same_values(other.parameters, snapshot(small.parameters)));
}
#endif

}  // namespace
