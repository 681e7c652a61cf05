// Helpers shared by the evaluators (internal to libdetkit): numpy's summation order, so means
// match numpy's to the last bit, and a small parallel-for over independent work items.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <vector>

#include "detkit/core/runtime.h"

namespace detkit::eval_utils {

/// numpy's pairwise summation of n values (blocks of 128 summed with 8 accumulators), in the
/// accumulator type T (float for float32 arrays, double for float64).
template <typename T, typename Get>
T pairwise_sum(Get&& get, size_t begin, size_t n) {
  if (n < 8) {
    T sum = T(0);
    for (size_t i = 0; i < n; ++i)
      sum += get(begin + i);
    return sum;
  }
  if (n <= 128) {
    T r[8];
    for (size_t j = 0; j < 8; ++j)
      r[j] = get(begin + j);
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (size_t j = 0; j < 8; ++j)
        r[j] += get(begin + i + j);
    }
    T sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i)
      sum += get(begin + i);
    return sum;
  }
  size_t half = n / 2;
  half -= half % 8;
  return pairwise_sum<T>(get, begin, half) + pairwise_sum<T>(get, begin + half, n - half);
}

/// numpy's np.sum of a contiguous 1-D array (pairwise over all values; 0 for none).
template <typename T>
T numpy_sum(const std::vector<T>& values) {
  auto get = [&values](size_t i) { return values[i]; };
  return pairwise_sum<T>(get, 0, values.size());
}

/// numpy's mean of a float64 array (nan-free, non-empty).
inline double numpy_mean(const std::vector<double>& values) {
  return numpy_sum(values) / static_cast<double>(values.size());
}

/// numpy's mean of a float32 array: float32 sum, divided in double, rounded to float32.
inline float numpy_mean(const std::vector<float>& values) {
  return static_cast<float>(static_cast<double>(numpy_sum(values)) /
                            static_cast<double>(values.size()));
}

/// Runs work(i) for i in [0, count) on up to `threads` threads (work items taken in order from
/// a shared counter; the calling thread works too). `threads` is capped at a multiple of the
/// cores, and threads the system refuses to start are done without (see ThreadGroup). The first
/// exception thrown by a work item is rethrown here.
template <typename Work>
void parallel_for(size_t count, int threads, Work&& work) {
  const size_t workers =
      std::min<size_t>(count, static_cast<size_t>(thread_count(threads, "evaluation")));
  if (workers <= 1) {
    for (size_t i = 0; i < count; ++i)
      work(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&] {
    for (size_t i = next++; i < count; i = next++) {
      try {
        work(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  ThreadGroup pool("evaluation");
  pool.start(static_cast<int>(workers - 1), run);
  run();
  pool.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace detkit::eval_utils
