// The scan process: fork, run the trial load in the child, read its outcome through a pipe with
// a time limit, and turn a child that died into a reason.
#include "plugin_scan.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "detkit/core/process_util.h"
#include "detkit/error.h"

namespace detkit::plugin_detail {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

/// The most bytes kept of the child's outcome message and of its stderr.
constexpr size_t kMaxResult = 64 * 1024;
constexpr size_t kMaxStderr = 8 * 1024;

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

/// The last lines the child wrote to stderr, as "; it printed: a / b" (one line), or "".
std::string stderr_tail(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    for (char& c : line) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    if (line.find_first_not_of(' ') != std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  if (lines.empty()) return "";
  std::string out;
  for (size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : " / ") + lines[i];
  if (out.size() > 300) out = "..." + out.substr(out.size() - 297);
  return "; it printed: " + out;
}

/// "0.5" or "20": seconds as the user wrote them.
std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", seconds);
  return text;
}

/// The child's side: never returns.
[[noreturn]] void run_child(const std::function<ScanOutcome()>& trial, pid_t parent, int result_fd,
                            int error_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a hung scan never outlives detkit
  if (::getppid() != parent) ::_exit(125);
  // Default dispositions and no blocked signals, so that a crash shows as its signal.
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPIPE, SIGTERM, SIGINT})
    ::signal(s, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);  // whatever a plugin prints is not `plugins list` output
  }
  ::dup2(error_fd, STDERR_FILENO);
  ScanOutcome outcome;
  try {
    outcome = trial();
  } catch (const std::exception& e) {
    outcome = {false, std::string("loading it threw: ") + e.what(), true, 0};
  } catch (...) {
    outcome = {false, "loading it threw a non-standard exception", true, 0};
  }
  write_all(result_fd, std::string(outcome.ok ? "1" : "0") + (outcome.cacheable ? "1" : "0") +
                           "\n" + outcome.reason);
  ::_exit(0);  // no atexit handlers, no static destructors, no stdio flush of the host's buffers
}

ScanStats& mutable_stats() {
  static ScanStats stats;
  return stats;
}

}  // namespace

ScanSettings ScanSettings::from_environment() {
  ScanSettings settings;
  if (const char* scan = std::getenv("DETKIT_PLUGIN_SCAN")) {
    const std::string value = scan;
    settings.enabled = !(value == "0" || value == "off" || value == "false" || value == "no");
  }
  if (const char* timeout = std::getenv("DETKIT_PLUGIN_SCAN_TIMEOUT")) {
    char* end = nullptr;
    const double seconds = std::strtod(timeout, &end);
    if (end == timeout || *end != '\0' || !std::isfinite(seconds) || seconds <= 0 ||
        seconds > 86400) {
      throw PluginError(std::string("DETKIT_PLUGIN_SCAN_TIMEOUT='") + timeout +
                        "': expected a number of seconds > 0 (e.g. 20 or 0.5)");
    }
    settings.timeout_s = seconds;
  }
  std::string folder;
  const char* cache_dir = std::getenv("DETKIT_CACHE_DIR");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (cache_dir != nullptr && *cache_dir != '\0') {
    folder = cache_dir;
  } else if (xdg != nullptr && *xdg == '/') {  // the XDG spec ignores relative values
    folder = std::string(xdg) + "/detkit";
  } else if (home != nullptr && *home != '\0') {
    folder = std::string(home) + "/.cache/detkit";
  }
  if (!folder.empty()) settings.cache_file = folder + "/plugin-scan.cache";
  return settings;
}

ScanOutcome run_in_scan_process(const std::function<ScanOutcome()>& trial, double timeout_s) {
  int result_pipe[2] = {-1, -1}, error_pipe[2] = {-1, -1};
  if (::pipe2(result_pipe, O_CLOEXEC) != 0) {
    return {false, std::string("cannot start the scan process: ") + std::strerror(errno), false, 0};
  }
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(result_pipe[0]);
    ::close(result_pipe[1]);
    return {false, std::string("cannot start the scan process: ") + std::strerror(error), false, 0};
  }
  // A host that ignores SIGCHLD would have the child reaped without its status: restore the
  // default for the time of the scan.
  struct sigaction old_child {};
  ::sigaction(SIGCHLD, nullptr, &old_child);
  const bool child_ignored = old_child.sa_handler == SIG_IGN || (old_child.sa_flags & SA_NOCLDWAIT);
  if (child_ignored) {
    struct sigaction default_child {};
    default_child.sa_handler = SIG_DFL;
    ::sigaction(SIGCHLD, &default_child, nullptr);
  }
  struct RestoreChildSignal {
    bool active;
    const struct sigaction* old;
    ~RestoreChildSignal() {
      if (active) ::sigaction(SIGCHLD, old, nullptr);
    }
  } restore{child_ignored, &old_child};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) run_child(trial, parent, result_pipe[1], error_pipe[1]);
  const int fork_error = errno;
  ::close(result_pipe[1]);
  ::close(error_pipe[1]);
  if (pid < 0) {
    ::close(result_pipe[0]);
    ::close(error_pipe[0]);
    return {false, std::string("cannot start the scan process: ") + std::strerror(fork_error),
            false, 0};
  }
  for (int fd : {result_pipe[0], error_pipe[0]})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string result, errors;
  bool result_open = true, errors_open = true, timed_out = false;
  int status = 0;
  const auto deadline =
      Clock::now() + std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6));
  while (true) {
    const pid_t waited = ::waitpid(pid, &status, WNOHANG);
    // ECHILD: the host ignores SIGCHLD, so the child was reaped without a status; its outcome
    // (if it wrote one) still decides.
    if (waited == pid || (waited < 0 && errno == ECHILD)) {
      if (waited < 0) status = 0;
      if (result_open) read_available(result_pipe[0], result, kMaxResult, true);
      if (errors_open) read_available(error_pipe[0], errors, kMaxStderr, false);
      break;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t count = 0;
    if (result_open) fds[count++] = {result_pipe[0], POLLIN, 0};
    if (errors_open) fds[count++] = {error_pipe[0], POLLIN, 0};
    // With both pipes closed only the exit is left to wait for: check often.
    ::poll(fds, count, static_cast<int>(std::min<int64_t>(left, count == 0 ? 1 : 50)));
    if (result_open) result_open = read_available(result_pipe[0], result, kMaxResult, true);
    if (errors_open) errors_open = read_available(error_pipe[0], errors, kMaxStderr, false);
  }
  ::close(result_pipe[0]);
  ::close(error_pipe[0]);
  const std::string printed = stderr_tail(errors);
  if (timed_out) {
    return {false,
            "timed out after " + seconds_text(timeout_s) +
                " s while loading in the scan process (DETKIT_PLUGIN_SCAN_TIMEOUT)" + printed,
            true, timeout_s};
  }
  if (WIFSIGNALED(status)) {
    const int signal_number = WTERMSIG(status);
    const char* what = signal_number == SIGABRT ? "aborted" : "crashed";
    return {false,
            std::string(what) + " while loading in the scan process (" +
                signal_text(signal_number) + ")" + printed,
            true, 0};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    return {false,
            "exited with status " + std::to_string(WEXITSTATUS(status)) +
                " while loading in the scan process (a static initialiser or the registration "
                "called exit())" +
                printed,
            true, 0};
  }
  if (result.size() < 3 || result[2] != '\n' || (result[0] != '0' && result[0] != '1') ||
      (result[1] != '0' && result[1] != '1')) {
    return {false,
            "exited with status 0 while loading in the scan process, before the scan finished "
            "(a static initialiser or the registration called exit(0))" +
                printed,
            true, 0};
  }
  return {result[0] == '1', result.substr(3), result[1] == '1', 0};
}

std::optional<ScanOutcome> scan_plugin(const std::string& path,
                                       const std::function<ScanOutcome()>& trial,
                                       ScanSource* source) {
  static std::map<std::string, std::unique_ptr<ScanCache>> caches;  // by cache file
  const ScanSettings settings = ScanSettings::from_environment();
  ScanStats& stats = mutable_stats();
  stats.used = true;
  stats.enabled = settings.enabled;
  stats.cache_file = settings.cache_file;
  if (source != nullptr) *source = ScanSource::off;
  if (!settings.enabled) return std::nullopt;
  ScanCache* cache = nullptr;
  ScanKey key;
  std::error_code ec;
  struct stat info {};
  key.path = fs::canonical(path, ec).string();
  if (!settings.cache_file.empty() && !ec && ::stat(key.path.c_str(), &info) == 0) {
    key.size = static_cast<uint64_t>(info.st_size);
    key.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
    auto& slot = caches[settings.cache_file];
    if (!slot) slot = std::make_unique<ScanCache>(settings.cache_file);
    cache = slot.get();
    if (auto hit = cache->find(key)) {
      // A time-out under a smaller limit than today's is tried again.
      if (!(hit->timed_out_after > 0 && settings.timeout_s > hit->timed_out_after)) {
        ++stats.cached;
        if (source != nullptr) *source = ScanSource::cache;
        return hit;
      }
    }
  }
  ScanOutcome outcome = run_in_scan_process(trial, settings.timeout_s);
  ++stats.scanned;
  if (source != nullptr) *source = ScanSource::child;
  if (cache != nullptr && outcome.cacheable) cache->store(key, outcome);
  return outcome;
}

const ScanStats& scan_stats() {
  return mutable_stats();
}

}  // namespace detkit::plugin_detail
