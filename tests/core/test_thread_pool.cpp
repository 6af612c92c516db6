// Tests for mann/core/thread_pool.hpp: every task runs once, task 0 on the calling thread, the pool
// is reused across runs, an exception is rethrown after every task has finished, bad sizes are errors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mann/core/thread_pool.hpp"

namespace {

TEST(ThreadPool, RunsEveryTaskOnceAndIsReused) {
  mann::ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  const std::thread::id caller = std::this_thread::get_id();
  for (int round = 0; round < 50; ++round) {
    const int tasks = 1 + round % 3;
    std::vector<std::atomic<int>> runs(3);
    std::thread::id first;
    auto task = [&](int i) {
      runs[static_cast<std::size_t>(i)].fetch_add(1);
      if (i == 0) first = std::this_thread::get_id();
    };
    pool.run(tasks, task);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(runs[static_cast<std::size_t>(i)].load(), i < tasks ? 1 : 0);
    EXPECT_EQ(first, caller);
  }
}

TEST(ThreadPool, RethrowsAfterEveryTaskFinished) {
  mann::ThreadPool pool(2);
  std::atomic<int> finished{0};
  auto task = [&](int i) {
    if (i == 1) throw std::runtime_error("task 1 failed");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    finished.fetch_add(1);
  };
  EXPECT_THROW(pool.run(2, task), std::runtime_error);
  EXPECT_EQ(finished.load(), 1);
  auto fine = [&](int) { finished.fetch_add(1); };
  pool.run(2, fine);  // still usable
  EXPECT_EQ(finished.load(), 3);
}

TEST(ThreadPool, BadSizesAreErrors) {
  EXPECT_THROW(mann::ThreadPool(0), mann::ValueError);
  mann::ThreadPool pool(2);
  auto task = [](int) {};
  EXPECT_THROW(pool.run(0, task), mann::ValueError);
  EXPECT_THROW(pool.run(3, task), mann::ValueError);
}

}  // namespace
