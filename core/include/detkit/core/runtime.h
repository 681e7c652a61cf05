// Process start-up for the host and for tests, and the threads detkit starts: how many (capped
// at a multiple of the cores) and what happens when the system refuses one.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// Registers libdetkit's built-in components (through the same section mechanism plugins use)
/// and sets LibTorch's intra-op threads to the number of cores (Debian's LibTorch defaults to
/// 1; DETKIT_NUM_THREADS overrides, capped by thread_count()), and tunes glibc's malloc to keep
/// freed tensor memory for reuse instead of returning it to the system on every free
/// (DETKIT_MALLOC_TUNING=0: glibc's defaults). Idempotent.
DETKIT_API void initialize_runtime();

/// Number of hardware threads this process may run on (its CPU affinity; at least 1).
DETKIT_API int hardware_threads();

/// The most threads detkit starts for one purpose (loader workers, evaluation, data synth,
/// LibTorch's intra-op pool): kThreadsPerCore x hardware_threads(), at least kMinThreadCap.
/// DETKIT_MAX_THREADS (a positive number) replaces it. More threads than that only add
/// switching and memory: `--threads 5000` used to turn 0.1 s into minutes.
DETKIT_API int max_threads();
constexpr int kThreadsPerCore = 4;
constexpr int kMinThreadCap = 8;

/// The number of threads to use for `purpose` ("evaluation", "loader workers", ...):
/// hardware_threads() for requested <= 0, else `requested` capped at max_threads(). Capping
/// prints one warning line per purpose and process on stderr.
DETKIT_API int thread_count(int requested, const std::string& purpose);

/// Sets LibTorch's (process-wide) intra-op threads: at::set_num_threads(thread_count(...)).
/// `source` names where the number came from ("--threads", "DETKIT_NUM_THREADS").
DETKIT_API void set_intra_op_threads(int requested, const std::string& source);

/// Threads for one purpose that are joined on destruction (never std::terminate), and whose
/// start may fail: when the system refuses a thread (RLIMIT_NPROC, a container's pid limit),
/// start() stops there, warns once on stderr and returns how many it started, so callers go on
/// with fewer threads (each caller also works itself, or loads in its own thread).
class DETKIT_API ThreadGroup {
 public:
  /// `purpose` names the threads in the warning ("evaluation", "loader workers").
  explicit ThreadGroup(std::string purpose);
  /// Joins the threads still running.
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  /// Starts up to `count` threads running `body`; returns how many started.
  int start(int count, const std::function<void()>& body);
  /// Waits for every thread to finish.
  void join();
  /// Threads started and not yet joined.
  size_t size() const { return threads_.size(); }
  bool empty() const { return threads_.empty(); }

 private:
  std::string purpose_;
  std::vector<std::thread> threads_;
};

/// For tests: after `allowed` more successful starts, ThreadGroup::start behaves as if the
/// system refused every further thread (EAGAIN); a negative value removes the limit.
DETKIT_API void limit_thread_starts_for_testing(int allowed);

}  // namespace detkit
