// Start-up (built-in components, malloc tuning) and the threads detkit starts (counts, caps,
// failed starts).
#include "detkit/core/runtime.h"

#include <ATen/Parallel.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/plugin.h"

namespace detkit {

namespace {
void register_builtins() {
  std::vector<ComponentInfo> components;
  detkit_host_context host{sizeof(detkit_host_context), detail::torch_identity(), &components};
  char error[1024] = {0};
  // libdetkit's own `detkit_components` section: the same records a plugin's macros make.
  if (detail::register_section_components(&host, error, sizeof(error)) != 0) {
    throw PluginError(std::string("registering libdetkit's built-in components failed: ") + error);
  }
  for (auto& info : components) {
    info.origin = "libdetkit";
    Registry::of(info.kind).add(std::move(info));
  }
}
/// Keeps freed tensor memory in the heap for the next allocation of the same size (what
/// PyTorch's CUDA caching allocator does for GPU memory): glibc serves blocks from 128 KiB up
/// by mmap and returns them on free, so every forward pass page-faults its activations in
/// afresh (at 800x1216 a ResNet-50 spends a quarter of its time in the kernel doing that).
/// Blocks up to 32 MiB (glibc's largest mmap threshold) now come from the heap, which is not
/// trimmed. DETKIT_MALLOC_TUNING=0 keeps glibc's defaults.
void tune_malloc() {
#if defined(__GLIBC__)
  const char* env = std::getenv("DETKIT_MALLOC_TUNING");
  if (env != nullptr && std::strcmp(env, "0") == 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
}

/// Prints `line` on stderr the first time it is seen (by `key`) in this process.
void warn_once(const std::string& key, const std::string& line) {
  static std::mutex mutex;
  static std::set<std::string> seen;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!seen.insert(key).second) return;
  }
  std::cerr << "warning: " << line << std::endl;
}

/// Starts still allowed by limit_thread_starts_for_testing (negative: no limit).
std::atomic<int> test_thread_starts{-1};

/// Whether the test limit refuses the next start (and counts the start when it does not).
bool test_limit_refuses() {
  int allowed = test_thread_starts.load();
  while (allowed >= 0) {
    if (allowed == 0) return true;
    if (test_thread_starts.compare_exchange_weak(allowed, allowed - 1)) return false;
  }
  return false;
}

/// A positive integer from an environment variable, or 0 when unset, empty or malformed.
int positive_env(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value <= 0 || value > 1 << 20) {
    warn_once(name, std::string(name) + "='" + text + "' is not a positive number; ignored");
    return 0;
  }
  return static_cast<int>(value);
}

/// How many threads the system lets this process start at once, up to `wanted`: each probe
/// thread waits until the others are started, so they count together against RLIMIT_NPROC or a
/// container's pid limit.
int startable_threads(int wanted) {
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::vector<std::thread> threads;
  for (int i = 0; i < wanted; ++i) {
    try {
      threads.emplace_back([&] {
        std::unique_lock<std::mutex> lock(mutex);
        released.wait(lock, [&] { return release; });
      });
    } catch (const std::system_error&) {
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
  for (auto& thread : threads)
    thread.join();
  return static_cast<int>(threads.size());
}

/// " (ulimit -u is 40)" when RLIMIT_NPROC is set, else "".
std::string process_limit_text() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NPROC, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "";
  return " (ulimit -u is " + std::to_string(limit.rlim_cur) + ")";
}

/// The intra-op threads to set: `requested` (capped) when the system lets that many threads
/// start. LibTorch's thread pools do not survive a refused thread: its pthreadpool (one thread
/// per core but the caller's) waits forever for a thread that never started, and
/// at::set_num_threads makes a new pool before the old one goes, so it needs twice that. Too
/// few threads for them is a clear error here instead of a hang there; fewer than requested
/// but enough for the pools lowers the count, with a warning.
int checked_intra_op_threads(int requested, const std::string& source) {
  int threads = thread_count(requested, "intra-op threads (" + source + ")");
  const int pool = 2 * (hardware_threads() - 1);
  const int wanted = std::max(threads - 1, pool);
  if (wanted <= 0) return threads;
  const int started = startable_threads(wanted);
  if (started >= wanted) return threads;
  if (started < pool) {
    throw Error("the system refuses new threads after " + std::to_string(started) +
                process_limit_text() + ", and LibTorch needs " + std::to_string(pool) +
                " for its thread pools on this " + std::to_string(hardware_threads()) +
                "-core machine; raise the process limit (ulimit -u, the container's pid limit)");
  }
  warn_once("probe " + source, "the system refuses new threads after " + std::to_string(started) +
                                   process_limit_text() + "; using " + std::to_string(started + 1) +
                                   " intra-op threads instead of " + std::to_string(threads));
  return started + 1;
}

}  // namespace

int hardware_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int max_threads() {
  if (const int cap = positive_env("DETKIT_MAX_THREADS")) return cap;
  return std::max(kMinThreadCap, kThreadsPerCore * hardware_threads());
}

int thread_count(int requested, const std::string& purpose) {
  if (requested <= 0) return hardware_threads();
  const int cap = max_threads();
  if (requested <= cap) return requested;
  const std::string why = positive_env("DETKIT_MAX_THREADS") > 0
                              ? "DETKIT_MAX_THREADS"
                              : "at most " + std::to_string(kThreadsPerCore) + " per core on " +
                                    std::to_string(hardware_threads()) +
                                    " cores; DETKIT_MAX_THREADS sets the cap";
  warn_once("cap " + purpose, purpose + ": " + std::to_string(requested) +
                                  " threads requested, using " + std::to_string(cap) + " (" + why +
                                  ")");
  return cap;
}

void set_intra_op_threads(int requested, const std::string& source) {
  at::set_num_threads(checked_intra_op_threads(requested, source));
}

void initialize_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    const int requested = positive_env("DETKIT_NUM_THREADS");
    at::set_num_threads(checked_intra_op_threads(requested, "DETKIT_NUM_THREADS"));
    tune_malloc();
    register_builtins();
  });
}

ThreadGroup::ThreadGroup(std::string purpose) : purpose_(std::move(purpose)) {}

ThreadGroup::~ThreadGroup() {
  join();
}

int ThreadGroup::start(int count, const std::function<void()>& body) {
  int started = 0;
  for (; started < count; ++started) {
    try {
      if (test_limit_refuses())
        throw std::system_error(EAGAIN, std::generic_category(), "thread limit (test)");
      threads_.emplace_back(body);
    } catch (const std::system_error& e) {
      warn_once("start " + purpose_,
                purpose_ + ": the system refused a new thread after " + std::to_string(started) +
                    " of " + std::to_string(count) + " (" + e.code().message() +
                    "; see ulimit -u or the container's pid limit); going on with fewer threads");
      break;
    }
  }
  return started;
}

void ThreadGroup::join() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void limit_thread_starts_for_testing(int allowed) {
  test_thread_starts = allowed;
}

}  // namespace detkit
