// mann/io/checkpoint.hpp: checkpoints in the safetensors format: save and load named tensors
// (parameters and optimiser state) plus string metadata (the model configuration), in files
// that Python reads with `safetensors` or by hand with numpy.
//
// File layout (the safetensors format):
//   8 bytes   N, the length of the header, unsigned little-endian
//   N bytes   JSON header, one entry per tensor and an optional metadata object:
//               {"__metadata__": {"key": "value", ...},
//                "<name>": {"dtype": "F32" | "F64", "shape": [rows, cols], "data_offsets": [begin, end]},
//                ...}
//             padded with spaces so that N is a multiple of 8 (the data then starts 8-aligned)
//   the rest  the data section: each tensor's values, row-major (C order, as numpy expects) and
//             little-endian, at bytes [begin, end) counted from the start of the data section.
//             The tensors tile the data section exactly: no gaps, no overlaps, nothing after.
//
// Needs nlohmann-json; not part of the umbrella header mann.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <locale>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "mann/core/error.hpp"
#include "mann/core/parameter.hpp"
#include "mann/core/types.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>  // kill
#include <unistd.h>  // getpid, fsync
#define MANN_CHECKPOINT_POSIX 1
#endif

namespace mann {

/// The `__metadata__` of a checkpoint: string keys to string values (e.g. the model configuration).
using CheckpointMetadata = std::map<std::string, std::string>;

/// One tensor of a checkpoint file, as its header describes it.
struct CheckpointTensorInfo {
  std::string name;   ///< e.g. "controller.weight"
  std::string dtype;  ///< "F32" or "F64"
  Index rows = 0;
  Index cols = 0;     ///< 1 for a 1-D tensor of shape [rows]; a 0-D tensor [] is 1 × 1
};

namespace detail {

// NOTE: values are written and read through their IEEE-754 bit patterns, assembled byte by byte
// with shifts, so the file is little-endian whatever the host's byte order (no swap needed).
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4, "checkpoints need IEEE-754 binary32 float");
static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8, "checkpoints need IEEE-754 binary64 double");

/// Headers larger than this are refused as corrupt: ours take about 70 bytes per tensor plus the
/// metadata strings, so 16 MiB holds some 200 000 tensors. The parsed header costs up to about 20
/// times its size in memory, so the bound matters (the reference implementation allows 100 MB).
inline constexpr std::uint64_t checkpoint_max_header_bytes = std::uint64_t{16} << 20;
/// Headers nesting objects and arrays deeper than this are refused before parsing. Ours nest 3
/// deep: the header object, a tensor entry or __metadata__, and a shape or data_offsets array.
inline constexpr int checkpoint_max_header_depth = 8;
inline constexpr const char* checkpoint_metadata_key = "__metadata__";

template <class Scalar>
struct CheckpointDtype;
template <>
struct CheckpointDtype<float> {
  static constexpr const char* name = "F32";
};
template <>
struct CheckpointDtype<double> {
  static constexpr const char* name = "F64";
};

/// A validated header entry. rows·cols·element_bytes == end − begin ≤ data section size.
struct CheckpointEntry {
  std::string name;
  std::string dtype;
  std::uint64_t element_bytes = 0;  // 4 (F32) or 8 (F64)
  std::uint64_t rows = 0, cols = 0;
  std::uint64_t begin = 0, end = 0;
};

/// A validated header: entries sorted by data offset, tiling [0, data_size) exactly.
struct CheckpointHeader {
  std::vector<CheckpointEntry> entries;
  CheckpointMetadata metadata;
  std::uint64_t data_start = 0;  // file offset of the data section, 8 + N
  std::uint64_t data_size = 0;
};

inline void store_little_endian(std::uint64_t value, int bytes, unsigned char* out) {
  for (int k = 0; k < bytes; ++k) out[k] = static_cast<unsigned char>((value >> (8 * k)) & 0xFFu);
}

inline std::uint64_t load_little_endian(const unsigned char* in, int bytes) {
  std::uint64_t value = 0;
  for (int k = 0; k < bytes; ++k) value |= static_cast<std::uint64_t>(in[k]) << (8 * k);
  return value;
}

template <class Scalar>
void encode_little_endian(Scalar value, unsigned char* out) {
  if constexpr (sizeof(Scalar) == 4) {
    std::uint32_t bits;
    std::memcpy(&bits, &value, 4);
    store_little_endian(bits, 4, out);
  } else {
    std::uint64_t bits;
    std::memcpy(&bits, &value, 8);
    store_little_endian(bits, 8, out);
  }
}

inline double decode_little_endian(const unsigned char* in, std::uint64_t element_bytes) {
  if (element_bytes == 4) {
    const auto bits = static_cast<std::uint32_t>(load_little_endian(in, 4));
    float value;
    std::memcpy(&value, &bits, 4);
    return value;
  }
  const std::uint64_t bits = load_little_endian(in, 8);
  double value;
  std::memcpy(&value, &bits, 8);
  return value;
}

/// out = a · b unless that overflows 64 bits.
inline bool checked_multiply(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

/// bytes = the size of a rows × cols tensor of element_bytes each, unless the product of its
/// non-zero dimensions and the element size exceeds the largest Index (2^63 − 1).
/// NOTE: a zero dimension does not excuse the other one (numpy checks the same): an empty tensor of
/// shape [2^63 − 1, 0] is refused, not accepted and then walked row by row.
inline bool checkpoint_tensor_bytes(std::uint64_t rows, std::uint64_t cols, std::uint64_t element_bytes,
                                    std::uint64_t& bytes) {
  std::uint64_t extent = element_bytes;
  if ((rows != 0 && !checked_multiply(extent, rows, extent)) || (cols != 0 && !checked_multiply(extent, cols, extent)) ||
      extent > static_cast<std::uint64_t>(std::numeric_limits<Index>::max())) {
    return false;
  }
  bytes = rows == 0 || cols == 0 ? 0 : extent;
  return true;
}

inline std::string quoted(const std::string& text) { return "\"" + text + "\""; }

inline std::string error_text(int error_number) {
  return error_number != 0 ? std::error_code(error_number, std::generic_category()).message()
                           : std::string("unknown error");
}

[[noreturn]] inline void throw_checkpoint_format(const char* where, const std::string& path,
                                                 const std::string& what) {
  throw FormatError(concat(where, ": ", path, ": ", what));
}

[[noreturn]] inline void throw_checkpoint_file(const char* where, const std::string& path, const std::string& what) {
  throw FileError(concat(where, ": ", path, ": ", what));
}

/// A non-negative JSON integer, else FormatError naming `what`.
inline std::uint64_t checkpoint_json_uint(const nlohmann::json& value, const char* where, const std::string& path,
                                          const std::string& what) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) {
    const auto signed_value = value.get<std::int64_t>();
    if (signed_value >= 0) return static_cast<std::uint64_t>(signed_value);
    throw_checkpoint_format(where, path, concat(what, " is ", signed_value, ", expected a non-negative integer"));
  }
  if (value.is_number_float()) {
    throw_checkpoint_format(where, path,
                            concat(what, " is ", value.dump(), ", expected a non-negative integer below 2^64"));
  }
  throw_checkpoint_format(where, path, concat(what, " is a JSON ", value.type_name(), ", expected a non-negative integer"));
}

/// Validates one tensor entry of the header against a data section of `data_size` bytes.
inline CheckpointEntry parse_checkpoint_entry(const std::string& name, const nlohmann::json& json,
                                              std::uint64_t data_size, const char* where, const std::string& path) {
  const std::string tensor = "tensor " + quoted(name);
  if (!json.is_object()) {
    throw_checkpoint_format(where, path, concat(tensor, " is a JSON ", json.type_name(),
                                                ", expected an object with dtype, shape and data_offsets"));
  }
  const auto field = [&](const char* key) -> const nlohmann::json& {
    const auto it = json.find(key);
    if (it == json.end()) throw_checkpoint_format(where, path, concat(tensor, " has no \"", key, "\""));
    return *it;
  };
  CheckpointEntry entry;
  entry.name = name;

  const nlohmann::json& dtype = field("dtype");
  if (!dtype.is_string()) {
    throw_checkpoint_format(where, path, concat(tensor, " has a dtype that is a JSON ", dtype.type_name(),
                                                ", expected the string \"F32\" or \"F64\""));
  }
  entry.dtype = dtype.get<std::string>();
  if (entry.dtype == "F32") {
    entry.element_bytes = 4;
  } else if (entry.dtype == "F64") {
    entry.element_bytes = 8;
  } else {
    throw_checkpoint_format(where, path, concat(tensor, " has dtype ", quoted(entry.dtype),
                                                ", expected \"F32\" or \"F64\""));
  }

  const nlohmann::json& shape = field("shape");
  if (!shape.is_array()) {
    throw_checkpoint_format(where, path, concat(tensor, " has a shape that is a JSON ", shape.type_name(),
                                                ", expected an array [rows, cols]"));
  }
  if (shape.size() > 2) {
    throw_checkpoint_format(where, path, concat(tensor, " has a shape of ", shape.size(),
                                                " dimensions, expected [rows, cols] or [rows]"));
  }
  std::uint64_t dims[2] = {1, 1};  // [] is a scalar (1 × 1), [n] a column (n × 1)
  for (std::size_t k = 0; k < shape.size(); ++k) {
    dims[k] = checkpoint_json_uint(shape[k], where, path, concat(tensor, " shape[", k, "]"));
    if (dims[k] > static_cast<std::uint64_t>(std::numeric_limits<Index>::max())) {
      throw_checkpoint_format(where, path, concat(tensor, " shape[", k, "] is ", dims[k], ", expected at most ",
                                                  std::numeric_limits<Index>::max()));
    }
  }
  entry.rows = dims[0];
  entry.cols = dims[1];

  const nlohmann::json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    // NOTE: never dump() untrusted JSON into a message: dumping is recursive in the nesting depth.
    throw_checkpoint_format(where, path, concat(tensor, " has data_offsets that are a JSON ", offsets.type_name(),
                                                offsets.is_array() ? concat(" of ", offsets.size(), " elements") : "",
                                                ", expected an array [begin, end]"));
  }
  entry.begin = checkpoint_json_uint(offsets[0], where, path, tensor + " data_offsets[0]");
  entry.end = checkpoint_json_uint(offsets[1], where, path, tensor + " data_offsets[1]");
  if (entry.begin > entry.end) {
    throw_checkpoint_format(where, path, concat(tensor, " has data_offsets [", entry.begin, ", ", entry.end,
                                                "], expected begin <= end"));
  }
  std::uint64_t bytes = 0;
  if (!checkpoint_tensor_bytes(entry.rows, entry.cols, entry.element_bytes, bytes)) {
    throw_checkpoint_format(where, path, concat(tensor, " has shape ", entry.rows, " x ", entry.cols,
                                                ", expected its non-zero dimensions times ", entry.element_bytes,
                                                " bytes to be at most 2^63 - 1 bytes"));
  }
  if (entry.end - entry.begin != bytes) {
    throw_checkpoint_format(where, path, concat(tensor, " has data_offsets [", entry.begin, ", ", entry.end, "] (",
                                                entry.end - entry.begin, " bytes), expected ", entry.rows, " x ",
                                                entry.cols, " x ", entry.element_bytes, " = ", bytes,
                                                " bytes for its dtype ", entry.dtype, " and shape"));
  }
  if (entry.end > data_size) {
    throw_checkpoint_format(where, path, concat(tensor, " has data_offsets [", entry.begin, ", ", entry.end,
                                                "] out of range: the data section has ", data_size,
                                                " bytes (truncated file?)"));
  }
  return entry;
}

/// Opens `path` for binary reading; returns its size in bytes. \throws FileError.
inline std::uint64_t open_checkpoint(std::ifstream& in, const std::string& path, const char* where) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw_checkpoint_file(where, path, "is a directory, expected a file");
  errno = 0;
  in.open(path, std::ios::binary);
  if (!in) throw_checkpoint_file(where, path, "cannot open for reading: " + error_text(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (!in || size < 0) throw_checkpoint_file(where, path, "cannot determine the file size");
  return static_cast<std::uint64_t>(size);
}

/// Reads `length` bytes at file offset `offset` into `out`. \throws FileError on a short read.
inline void read_checkpoint_bytes(std::ifstream& in, std::uint64_t offset, std::uint64_t length,
                                  std::vector<unsigned char>& out, const char* where, const std::string& path) {
  if (length > static_cast<std::uint64_t>(std::numeric_limits<std::streamsize>::max()) ||
      length > std::numeric_limits<std::size_t>::max()) {
    throw_checkpoint_format(where, path, concat("cannot read ", length, " bytes at once on this platform"));
  }
  out.resize(static_cast<std::size_t>(length));
  if (length == 0) return;
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset), std::ios::beg);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(length));
  if (!in || static_cast<std::uint64_t>(in.gcount()) != length) {
    throw_checkpoint_file(where, path, concat("cannot read ", length, " bytes at offset ", offset,
                                              " (the file changed while being read?)"));
  }
}

/// Refuses a header nesting objects and arrays deeper than checkpoint_max_header_depth, by one
/// pass over its brackets outside strings, before the JSON parser allocates anything.
inline void check_checkpoint_header_depth(const std::vector<unsigned char>& bytes, const char* where,
                                          const std::string& path) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    const unsigned char c = bytes[at];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > checkpoint_max_header_depth) {
        throw_checkpoint_format(where, path, concat("header nests objects and arrays more than ",
                                                    checkpoint_max_header_depth, " deep (at header offset ", at,
                                                    "), expected at most ", checkpoint_max_header_depth));
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;  // unbalanced brackets are the parser's to report
    }
  }
}

/// Reads and validates the whole header of an open checkpoint of `file_size` bytes.
/// \throws FormatError for anything malformed, FileError if reading fails.
inline CheckpointHeader read_checkpoint_header(std::ifstream& in, std::uint64_t file_size, const char* where,
                                               const std::string& path) {
  if (file_size < 8) {
    throw_checkpoint_format(where, path, concat("file has ", file_size,
                                                " bytes, expected at least 8 (the header length)"));
  }
  std::vector<unsigned char> bytes;
  read_checkpoint_bytes(in, 0, 8, bytes, where, path);
  const std::uint64_t header_length = load_little_endian(bytes.data(), 8);
  if (header_length > file_size - 8) {
    throw_checkpoint_format(where, path, concat("header length is ", header_length, " bytes, but only ",
                                                file_size - 8, " bytes follow the length field (truncated file?)"));
  }
  if (header_length > checkpoint_max_header_bytes) {
    throw_checkpoint_format(where, path, concat("header length is ", header_length, " bytes, expected at most ",
                                                checkpoint_max_header_bytes));
  }
  read_checkpoint_bytes(in, 8, header_length, bytes, where, path);

  // NOTE: nlohmann::json stops parsing at a NUL byte and ignores the rest; JSON text never holds
  // one (not even in strings), so refuse it rather than accept "{...}\0<anything>".
  const auto nul = std::find(bytes.begin(), bytes.end(), static_cast<unsigned char>(0));
  if (nul != bytes.end()) {
    throw_checkpoint_format(where, path, concat("header is not valid JSON (a NUL byte at header offset ",
                                                nul - bytes.begin(), ")"));
  }
  check_checkpoint_header_depth(bytes, where, path);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw_checkpoint_format(where, path, concat("header is not valid JSON (", e.what(), ")"));
  }
  if (!json.is_object()) {
    throw_checkpoint_format(where, path, concat("header is a JSON ", json.type_name(), ", expected an object"));
  }

  CheckpointHeader header;
  header.data_start = 8 + header_length;
  header.data_size = file_size - header.data_start;
  for (const auto& item : json.items()) {
    if (item.key() == checkpoint_metadata_key) {
      if (!item.value().is_object()) {
        throw_checkpoint_format(where, path, concat(checkpoint_metadata_key, " is a JSON ", item.value().type_name(),
                                                    ", expected an object of strings"));
      }
      for (const auto& meta : item.value().items()) {
        if (!meta.value().is_string()) {
          throw_checkpoint_format(where, path, concat(checkpoint_metadata_key, " entry ", quoted(meta.key()), " is a JSON ",
                                                      meta.value().type_name(), ", expected a string"));
        }
        header.metadata[meta.key()] = meta.value().get<std::string>();
      }
      continue;
    }
    header.entries.push_back(parse_checkpoint_entry(item.key(), item.value(), header.data_size, where, path));
  }

  // The tensors must tile the data section: sorted by offset, each begins where the previous ends.
  std::sort(header.entries.begin(), header.entries.end(), [](const CheckpointEntry& a, const CheckpointEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const CheckpointEntry* previous = nullptr;
  for (const CheckpointEntry& entry : header.entries) {
    if (entry.begin < covered) {
      throw_checkpoint_format(where, path, concat("tensor ", quoted(entry.name), " at bytes [", entry.begin, ", ",
                                                  entry.end, ") overlaps tensor ", quoted(previous->name),
                                                  " at bytes [", previous->begin, ", ", previous->end, ")"));
    }
    if (entry.begin > covered) {
      throw_checkpoint_format(where, path, concat("bytes [", covered, ", ", entry.begin,
                                                  ") of the data section belong to no tensor, expected tensor ",
                                                  quoted(entry.name), " to start at ", covered));
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != header.data_size) {
    throw_checkpoint_format(where, path, concat("data section has ", header.data_size, " bytes, the tensors cover ",
                                                covered, " (trailing bytes after the last tensor)"));
  }
  return header;
}

/// Decodes `entry` (row-major, little-endian) into a column-major rows × cols matrix.
/// \throws FormatError for a NaN/Inf value or one out of range of Scalar.
template <class Scalar>
Matrix<Scalar> decode_checkpoint_tensor(std::ifstream& in, const CheckpointHeader& header,
                                        const CheckpointEntry& entry, const char* where, const std::string& path) {
  std::vector<unsigned char> bytes;
  read_checkpoint_bytes(in, header.data_start + entry.begin, entry.end - entry.begin, bytes, where, path);
  const auto rows = static_cast<Index>(entry.rows), cols = static_cast<Index>(entry.cols);
  Matrix<Scalar> matrix(rows, cols);
  if (matrix.size() == 0) return matrix;  // NOTE: rows may be huge when cols is 0: no loop
  const unsigned char* cursor = bytes.data();
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j, cursor += entry.element_bytes) {
      const double value = decode_little_endian(cursor, entry.element_bytes);
      // NOTE: check before the cast: a double beyond float's range cast to float is undefined.
      if (!std::isfinite(value) || std::fabs(value) > static_cast<double>(std::numeric_limits<Scalar>::max())) {
        throw_checkpoint_format(where, path, concat("tensor ", quoted(entry.name), " has value ", value, " at (", i,
                                                    ", ", j, "), expected a finite ", CheckpointDtype<Scalar>::name,
                                                    " value"));
      }
      matrix(i, j) = static_cast<Scalar>(value);
    }
  }
  return matrix;
}

/// Checks a request/save list: no null parameter, no reserved or repeated name. \throws ValueError.
template <class Scalar>
void check_checkpoint_names(const ParameterList<Scalar>& tensors, const char* where, const std::string& path) {
  std::set<std::string> seen;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const std::string& name = tensors[k].name;
    if (tensors[k].parameter == nullptr) {
      throw ValueError(concat(where, ": ", path, ": tensors[", k, "] (", quoted(name),
                              ") has a null parameter, expected a pointer to a Parameter"));
    }
    if (name == checkpoint_metadata_key) {
      throw ValueError(concat(where, ": ", path, ": tensors[", k, "] is named ", quoted(name),
                              ", a name the format reserves for metadata"));
    }
    if (!seen.insert(name).second) {
      throw ValueError(concat(where, ": ", path, ": tensor name ", quoted(name),
                              " appears more than once, expected unique names"));
    }
  }
}

/// The temporary file of a save: closed and removed on destruction unless committed.
class CheckpointTempFile {
 public:
  CheckpointTempFile() = default;
  CheckpointTempFile(const CheckpointTempFile&) = delete;
  CheckpointTempFile& operator=(const CheckpointTempFile&) = delete;
  ~CheckpointTempFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!path_.empty() && !committed_) std::remove(path_.c_str());
  }

  /// Creates a new file `target + ".tmp.<pid>.<token>"` (exclusively, never reusing a name).
  void create(const std::string& target, const char* where) {
    static std::atomic<std::uint64_t> counter{0};
    int error_number = 0;
    for (int attempt = 0; attempt < 16; ++attempt) {
      std::uint64_t token = static_cast<std::uint64_t>(
          std::chrono::steady_clock::now().time_since_epoch().count());
      token ^= (counter.fetch_add(1) + 1) * 0x9E3779B97F4A7C15ull;
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(token));
#ifdef MANN_CHECKPOINT_POSIX
      const std::string candidate = concat(target, ".tmp.", static_cast<long>(::getpid()), ".", hex);
#else
      const std::string candidate = concat(target, ".tmp.", hex);
#endif
      errno = 0;
      file_ = std::fopen(candidate.c_str(), "wbx");  // "x": fail if it exists (C11)
      if (file_ != nullptr) {
        path_ = candidate;
        return;
      }
      error_number = errno;
      if (error_number != EEXIST) {
        throw_checkpoint_file(where, target, concat("cannot create the temporary file ", candidate, ": ",
                                                    error_text(error_number)));
      }
    }
    throw_checkpoint_file(where, target, "cannot create a temporary file: " + error_text(error_number));
  }

  void write(const void* data, std::size_t size, const char* where, const std::string& target) {
    if (size == 0) return;
    errno = 0;
    if (std::fwrite(data, 1, size, file_) != size) {
      throw_checkpoint_file(where, target, concat("cannot write ", size, " bytes to ", path_, ": ",
                                                  error_text(errno)));
    }
  }

  /// Flushes to disk, closes, and renames over `target` (atomically on POSIX).
  void commit(const char* where, const std::string& target) {
    errno = 0;
    if (std::fflush(file_) != 0) {
      throw_checkpoint_file(where, target, concat("cannot flush ", path_, ": ", error_text(errno)));
    }
#ifdef MANN_CHECKPOINT_POSIX
    if (::fsync(::fileno(file_)) != 0) {
      throw_checkpoint_file(where, target, concat("cannot sync ", path_, " to disk: ", error_text(errno)));
    }
#endif
    std::FILE* file = file_;
    file_ = nullptr;
    errno = 0;
    if (std::fclose(file) != 0) {
      throw_checkpoint_file(where, target, concat("cannot close ", path_, ": ", error_text(errno)));
    }
    std::error_code ec;
    std::filesystem::rename(path_, target, ec);
    if (ec) {
      throw_checkpoint_file(where, target, concat("cannot rename ", path_, " to it: ", ec.message()));
    }
    committed_ = true;
  }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
  bool committed_ = false;
};

}  // namespace detail

/// Removes the temporary files that saves of `path` killed before their rename left behind:
/// `path + ".tmp.<pid>.<16 hex digits>"` in the same directory, whose process <pid> no longer
/// exists (kill(pid, 0) fails with ESRCH). Files of this process and of live or unknown processes
/// stay. Returns how many were removed; errors (an unreadable directory, a file that cannot be
/// removed) are ignored, since a leftover harms nothing. save_checkpoint calls it first.
/// NOTE: a process id only means something within one PID namespace: do not share a checkpoint
/// directory between containers that save to the same path. Without POSIX the temporary names
/// hold no process id and nothing is removed.
inline std::size_t remove_stale_checkpoint_temporaries(const std::string& path) {
#ifdef MANN_CHECKPOINT_POSIX
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  if (prefix == ".tmp.") return 0;
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // <pid>.<token>
    const std::size_t dot = rest.find('.');
    if (dot == std::string::npos || rest.size() - dot - 1 != 16 ||
        rest.find_first_not_of("0123456789abcdef", dot + 1) != std::string::npos) {
      continue;
    }
    long pid = 0;
    const auto [stop, error] = std::from_chars(rest.data(), rest.data() + dot, pid);
    if (error != std::errc() || stop != rest.data() + dot || pid <= 0 ||
        pid > static_cast<long>(std::numeric_limits<pid_t>::max()) || pid == static_cast<long>(::getpid())) {
      continue;  // NOTE: pid 0 or negative would make kill() signal process groups
    }
    errno = 0;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to tell
    std::error_code remove_ec;
    if (fs::remove(it->path(), remove_ec)) ++removed;
  }
  return removed;
#else
  (void)path;
  return 0;
#endif
}

/// Writes `tensors` (their `parameter->value` only) and `metadata` to `path` as a safetensors file:
/// dtype F32 for float, F64 for double; a rows × cols matrix is stored with shape [rows, cols] in
/// row-major order, so numpy sees the same matrix. Tensors are written in list order. The file is
/// first written to `path + ".tmp.<pid>.<token>"` in the same directory, flushed, and then renamed
/// over `path`, so `path` is either the old file or the complete new one, never half-written.
/// Temporary files of earlier saves of `path` whose process is gone are removed first
/// (remove_stale_checkpoint_temporaries). Time and memory are linear in the number of tensors.
/// \throws ValueError for a repeated name, the reserved name "__metadata__", a null parameter, a
///         NaN/Inf value (naming the tensor and entry), a name/metadata that is not UTF-8, an empty
///         matrix whose other dimension times the element size exceeds 2^63 - 1 bytes, or a header
///         above 16 MiB (load_checkpoint would refuse it); nothing is written then.
/// \throws FileError if the temporary file cannot be created, written, flushed or renamed; the
///         temporary file is removed and an existing `path` is left as it was.
template <class Scalar>
void save_checkpoint(const std::string& path, const ParameterList<Scalar>& tensors,
                     const CheckpointMetadata& metadata = {}) {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "mann::save_checkpoint: Scalar must be float or double");
  const char* where = "mann::save_checkpoint";
  detail::check_checkpoint_names(tensors, where, path);
  for (const auto& tensor : tensors) {
    const Matrix<Scalar>& value = tensor.parameter->value;
    std::uint64_t bytes = 0;
    if (!detail::checkpoint_tensor_bytes(static_cast<std::uint64_t>(value.rows()),
                                         static_cast<std::uint64_t>(value.cols()), sizeof(Scalar), bytes)) {
      throw ValueError(detail::concat(where, ": ", path, ": tensor ", detail::quoted(tensor.name), " has shape ",
                                      value.rows(), " x ", value.cols(), ", expected its non-zero dimensions times ",
                                      sizeof(Scalar), " bytes to be at most 2^63 - 1 bytes"));
    }
    // NOTE: Eigen's reductions walk the outer dimension even when the inner one is 0, so an empty
    // matrix is skipped before allFinite().
    if (value.size() == 0 || value.allFinite()) continue;
    for (Index j = 0; j < value.cols(); ++j) {
      for (Index i = 0; i < value.rows(); ++i) {
        if (!std::isfinite(value(i, j))) {
          throw ValueError(detail::concat(where, ": ", path, ": tensor ", detail::quoted(tensor.name), " has value ",
                                          value(i, j), " at (", i, ", ", j, "), expected finite values"));
        }
      }
    }
  }

  // Header: metadata first, then the tensors in list order, each right after the previous one.
  // NOTE: written as text entry by entry (nlohmann only escapes the strings): inserting into an
  // ordered_json object searches its keys linearly, which made a save quadratic in the tensors.
  std::string text = "{";
  try {
    if (!metadata.empty()) {
      text += detail::quoted(detail::checkpoint_metadata_key);
      text += ':';
      text += nlohmann::json(metadata).dump();
    }
    std::uint64_t offset = 0;
    for (const auto& tensor : tensors) {
      const Matrix<Scalar>& value = tensor.parameter->value;
      const auto bytes = static_cast<std::uint64_t>(value.size()) * sizeof(Scalar);
      if (text.size() > 1) text += ',';
      text += nlohmann::json(tensor.name).dump();
      // NOTE: std::to_string, not a stream: a global locale could group digits ("1,024").
      text += ":{\"dtype\":\"";
      text += detail::CheckpointDtype<Scalar>::name;
      text += "\",\"shape\":[" + std::to_string(value.rows()) + ',' + std::to_string(value.cols());
      text += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(offset + bytes) + "]}";
      offset += bytes;
    }
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(detail::concat(where, ": ", path, ": a tensor name or metadata string is not valid UTF-8 (",
                                    e.what(), ")"));
  }
  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-aligned
  if (text.size() > detail::checkpoint_max_header_bytes) {
    throw ValueError(detail::concat(where, ": ", path, ": the header of ", tensors.size(), " tensors is ",
                                    text.size(), " bytes, expected at most ", detail::checkpoint_max_header_bytes,
                                    " (the limit load_checkpoint enforces)"));
  }

  remove_stale_checkpoint_temporaries(path);
  detail::CheckpointTempFile file;
  file.create(path, where);
  unsigned char length[8];
  detail::store_little_endian(text.size(), 8, length);
  file.write(length, 8, where, path);
  file.write(text.data(), text.size(), where, path);
  std::vector<unsigned char> buffer;
  for (const auto& tensor : tensors) {
    const Matrix<Scalar>& value = tensor.parameter->value;
    if (value.size() == 0) continue;  // NOTE: rows may be huge when cols is 0: no loop
    buffer.resize(static_cast<std::size_t>(value.size()) * sizeof(Scalar));
    unsigned char* cursor = buffer.data();
    for (Index i = 0; i < value.rows(); ++i) {  // row-major (C order)
      for (Index j = 0; j < value.cols(); ++j, cursor += sizeof(Scalar)) detail::encode_little_endian(value(i, j), cursor);
    }
    file.write(buffer.data(), buffer.size(), where, path);
  }
  file.commit(where, path);
}

/// Reads every tensor of `tensors` from the checkpoint at `path` into its `parameter->value`, and
/// returns the file's metadata (empty if it has none). Each named tensor must be in the file with
/// the parameter's exact shape (a 1-D [n] tensor counts as n × 1); F32 and F64 data load into float
/// or double parameters alike, converted. Tensors in the file that are not asked for are ignored
/// (but their header entries are validated too).
/// All or nothing: the whole header is validated and every requested tensor decoded into a
/// temporary before any parameter is assigned, so after an exception `tensors` are unchanged.
/// \throws FileError if the file cannot be opened or read.
/// \throws FormatError if the file is malformed (too short, header length beyond the file or
///         above 16 MiB or nesting deeper than 8, invalid JSON, an entry without a valid dtype/shape/data_offsets, sizes that
///         do not match, offsets out of range, overlapping or leaving gaps, a bad __metadata__), if a
///         requested tensor is missing or has another shape, or if a value is NaN/Inf or out of
///         range of Scalar. The message names the file, the tensor, and what was expected vs found.
/// \throws ValueError for a null parameter or a repeated name in `tensors`.
template <class Scalar>
CheckpointMetadata load_checkpoint(const std::string& path, const ParameterList<Scalar>& tensors) {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "mann::load_checkpoint: Scalar must be float or double");
  const char* where = "mann::load_checkpoint";
  detail::check_checkpoint_names(tensors, where, path);
  std::ifstream in;
  const std::uint64_t file_size = detail::open_checkpoint(in, path, where);
  detail::CheckpointHeader header = detail::read_checkpoint_header(in, file_size, where, path);
  std::map<std::string, const detail::CheckpointEntry*> by_name;
  for (const auto& entry : header.entries) by_name[entry.name] = &entry;

  std::vector<Matrix<Scalar>> decoded(tensors.size());
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const std::string& name = tensors[k].name;
    const Matrix<Scalar>& target = tensors[k].parameter->value;
    const auto found = by_name.find(name);
    if (found == by_name.end()) {
      detail::throw_checkpoint_format(where, path, detail::concat("tensor ", detail::quoted(name),
                                                                  " is missing: the file has ", header.entries.size(),
                                                                  " tensors, none of that name"));
    }
    const detail::CheckpointEntry& entry = *found->second;
    if (entry.rows != static_cast<std::uint64_t>(target.rows()) ||
        entry.cols != static_cast<std::uint64_t>(target.cols())) {
      detail::throw_checkpoint_format(where, path, detail::concat("tensor ", detail::quoted(name), " has shape ",
                                                                  entry.rows, " x ", entry.cols,
                                                                  ", the model expects ", target.rows(), " x ",
                                                                  target.cols()));
    }
    decoded[k] = detail::decode_checkpoint_tensor<Scalar>(in, header, entry, where, path);
  }
  // Commit: same shapes, so these assignments neither allocate nor throw.
  for (std::size_t k = 0; k < tensors.size(); ++k) tensors[k].parameter->value = decoded[k];
  return std::move(header.metadata);
}

/// The metadata of the checkpoint at `path` (empty if it has none), reading only the header, which
/// is fully validated against the file size as load_checkpoint does.
/// \throws FileError if the file cannot be opened or read; FormatError if the header is malformed.
inline CheckpointMetadata read_checkpoint_metadata(const std::string& path) {
  const char* where = "mann::read_checkpoint_metadata";
  std::ifstream in;
  const std::uint64_t file_size = detail::open_checkpoint(in, path, where);
  return detail::read_checkpoint_header(in, file_size, where, path).metadata;
}

/// The metadata field `key` as an integer in [min, max]: an optional '-' and decimal digits,
/// nothing else (no spaces, '+' or trailing characters).
/// \throws FormatError naming the field if it is missing, not such an integer, or out of range;
///         ValueError if min > max.
inline std::int64_t metadata_int(const CheckpointMetadata& metadata, const std::string& key, std::int64_t min,
                                 std::int64_t max) {
  const char* where = "mann::metadata_int";
  const std::string expected = detail::concat("an integer in [", min, ", ", max, "]");
  if (min > max) check_value(false, where, "min", min, detail::concat("<= max (", max, ")").c_str());
  const auto found = metadata.find(key);
  if (found == metadata.end()) {
    throw FormatError(detail::concat(where, ": metadata has no ", detail::quoted(key), ", expected ", expected));
  }
  const std::string& text = found->second;
  std::int64_t value = 0;
  const auto [stop, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || stop != text.data() + text.size() || value < min || value > max) {
    throw FormatError(detail::concat(where, ": metadata ", detail::quoted(key), " is ", detail::quoted(text),
                                     ", expected ", expected));
  }
  return value;
}

/// The metadata field `key` as a finite number in [min, max], read in the classic "C" locale
/// (e.g. "0.001", "1e-3"); nothing may follow the number.
/// \throws FormatError naming the field if it is missing, not such a number, or out of range;
///         ValueError if min > max.
inline double metadata_double(const CheckpointMetadata& metadata, const std::string& key, double min, double max) {
  const char* where = "mann::metadata_double";
  const std::string expected = detail::concat("a finite number in [", min, ", ", max, "]");
  if (!(min <= max)) check_value(false, where, "min", min, detail::concat("<= max (", max, ")").c_str());
  const auto found = metadata.find(key);
  if (found == metadata.end()) {
    throw FormatError(detail::concat(where, ": metadata has no ", detail::quoted(key), ", expected ", expected));
  }
  const std::string& text = found->second;
  // NOTE: a stream in the classic locale, as std::from_chars for double is missing from older
  // standard libraries and strtod follows the global locale's decimal point.
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  double value = 0;
  in >> std::noskipws >> value;
  const bool whole = !in.fail() && in.peek() == std::char_traits<char>::eof();
  if (!whole || !std::isfinite(value) || value < min || value > max) {
    throw FormatError(detail::concat(where, ": metadata ", detail::quoted(key), " is ", detail::quoted(text),
                                     ", expected ", expected));
  }
  return value;
}

/// The tensors of the checkpoint at `path` in the order of their data in the file (for files saved
/// by save_checkpoint: the order they were saved in), reading only the validated header.
/// \throws FileError if the file cannot be opened or read; FormatError if the header is malformed.
inline std::vector<CheckpointTensorInfo> list_checkpoint_tensors(const std::string& path) {
  const char* where = "mann::list_checkpoint_tensors";
  std::ifstream in;
  const std::uint64_t file_size = detail::open_checkpoint(in, path, where);
  const detail::CheckpointHeader header = detail::read_checkpoint_header(in, file_size, where, path);
  std::vector<CheckpointTensorInfo> list;
  list.reserve(header.entries.size());
  for (const auto& entry : header.entries) {
    list.push_back({entry.name, entry.dtype, static_cast<Index>(entry.rows), static_cast<Index>(entry.cols)});
  }
  return list;
}

}  // namespace mann

#undef MANN_CHECKPOINT_POSIX
