// mann/mpi/communicator.hpp: the little of MPI that mann's distributed parts use: MPI's lifetime,
// a communicator with typed collectives that throw mann::MpiError instead of aborting, and
// run_or_abort, which turns one rank's exception into MPI_Abort so the other ranks never hang.
// Opt-in (mann/mpi.hpp): needs an MPI implementation (Open MPI from Debian: libopenmpi-dev); link
// MPI::MPI_CXX (find_package(MPI)). Only the thread that created the Environment calls MPI.
#pragma once

// The C API only: Open MPI's and MPICH's deprecated C++ bindings do not compile warning-free.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <type_traits>

#include "mann/core/error.hpp"

namespace mann {

/// An MPI call failed (the message names the call and MPI's error string).
class MpiError : public Error {
 public:
  using Error::Error;
};

namespace mpi {

namespace detail {
inline void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw MpiError(mann::detail::concat("mann::mpi: ", call, " failed: ", std::string(text, static_cast<std::size_t>(length))));
}

template <class T>
MPI_Datatype datatype() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, std::int64_t>) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
  else if constexpr (std::is_same_v<T, char>) return MPI_CHAR;
  else static_assert(!sizeof(T), "mann::mpi: no MPI datatype for this type");
}

// MPI counts are int: the chunks of a long buffer.
constexpr std::size_t kMaxChunk = static_cast<std::size_t>(INT_MAX) / 2;
}  // namespace detail

/// MPI's lifetime: initialises MPI (MPI_THREAD_FUNNELED: other threads compute, only this one calls
/// MPI) unless it already is, and finalises it at destruction if this object initialised it. Make
/// one at the top of main(). Without mpirun the process is a world of one rank.
class Environment {
 public:
  Environment(int* argc = nullptr, char*** argv = nullptr) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owner_ = true;
  }
  ~Environment() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owner_ && !finalised) MPI_Finalize();
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owner_ = false;
};

/// A communicator (by default MPI_COMM_WORLD; it does not own the handle) with the collectives
/// mann uses. Every rank of the communicator must make the same calls in the same order.
class Communicator {
 public:
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    // Errors come back as codes (mann::MpiError), not as MPI's default abort without a message.
    detail::check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm handle() const { return comm_; }

  /// In place: data[i] ← the sum of data[i] over all ranks (one MPI_Allreduce per 1 GiB or so).
  template <class T>
  void allreduce_sum(T* data, std::size_t count) const { allreduce(data, count, MPI_SUM); }
  template <class T>
  void allreduce_min(T* data, std::size_t count) const { allreduce(data, count, MPI_MIN); }
  template <class T>
  void allreduce_max(T* data, std::size_t count) const { allreduce(data, count, MPI_MAX); }

  /// Every rank sends `count` values; `received` (size() × count values, rank-major) gets them all.
  template <class T>
  void allgather(const T* sent, std::size_t count, T* received) const {
    check_count(count, "MPI_Allgather");
    detail::check(MPI_Allgather(sent, static_cast<int>(count), detail::datatype<T>(), received, static_cast<int>(count),
                                detail::datatype<T>(), comm_),
                  "MPI_Allgather");
  }

  /// data (count values) from `root` to every rank.
  template <class T>
  void broadcast(T* data, std::size_t count, int root = 0) const {
    for (std::size_t done = 0; done < count; done += detail::kMaxChunk) {
      const std::size_t n = std::min(detail::kMaxChunk, count - done);
      detail::check(MPI_Bcast(data + done, static_cast<int>(n), detail::datatype<T>(), root, comm_), "MPI_Bcast");
    }
  }

  void barrier() const { detail::check(MPI_Barrier(comm_), "MPI_Barrier"); }

  /// Ends every rank of the job: prints "mann (rank r of n): message" on stderr, then MPI_Abort.
  [[noreturn]] void abort(const std::string& message, int code = 1) const {
    std::fprintf(stderr, "mann (rank %d of %d): %s\n", rank_, size_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  template <class T>
  void allreduce(T* data, std::size_t count, MPI_Op op) const {
    for (std::size_t done = 0; done < count; done += detail::kMaxChunk) {
      const std::size_t n = std::min(detail::kMaxChunk, count - done);
      detail::check(MPI_Allreduce(MPI_IN_PLACE, data + done, static_cast<int>(n), detail::datatype<T>(), op, comm_),
                    "MPI_Allreduce");
    }
  }
  static void check_count(std::size_t count, const char* call) {
    if (count > detail::kMaxChunk) {
      throw MpiError(mann::detail::concat("mann::mpi: ", call, " of ", count, " values per rank is more than ",
                                          detail::kMaxChunk, " (MPI counts are int)"));
    }
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

/// Runs fn() and returns its result; if it throws, prints the exception with this rank's number and
/// calls MPI_Abort, so that a rank with bad input ends the job instead of leaving the others waiting
/// in a collective forever.
template <class F>
auto run_or_abort(const Communicator& comm, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    comm.abort(e.what());
  } catch (...) {
    comm.abort("unknown exception");
  }
}

}  // namespace mpi
}  // namespace mann
