// mann/core/thread_pool.hpp: a fixed pool of worker threads that runs one indexed task per thread
// and waits for all of them; no allocation per run (the task is passed as a pointer, not copied).
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "mann/core/error.hpp"

namespace mann {

/// run(n, task) calls task(i) for i in [0, n) with n ≤ size(): task 0 on the calling thread, the
/// others on the pool's workers; it returns when all are done and rethrows the first exception.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    check_value(threads >= 1, "mann::ThreadPool", "threads", threads, ">= 1");
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& w : workers_) w.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  template <class Task>
  void run(int tasks, Task& task) {
    check_value(tasks >= 1 && tasks <= size(), "mann::ThreadPool::run", "tasks", tasks, "in [1, size()]");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      context_ = &task;
      invoke_ = [](void* context, int i) { (*static_cast<Task*>(context))(i); };
      tasks_ = tasks;
      pending_ = tasks - 1;
      error_ = nullptr;
      ++generation_;
    }
    start_.notify_all();
    std::exception_ptr local_error;
    try {
      task(0);
    } catch (...) {
      local_error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    if (local_error) std::rethrow_exception(local_error);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int index) {
    unsigned long long seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index >= tasks_) continue;
      void* context = context_;
      auto invoke = invoke_;
      lock.unlock();
      std::exception_ptr error;
      try {
        invoke(context, index);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error && !error_) error_ = error;
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  void* context_ = nullptr;
  void (*invoke_)(void*, int) = nullptr;
  int tasks_ = 0;
  int pending_ = 0;
  unsigned long long generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace mann
