// `detkit dist-train --nproc N [--nnodes M --node-rank R --master-addr A --master-port P]
// CONFIG [train options...]`: MMDetection's dist_train.sh / torchrun. Runs N processes of this
// executable, `train CONFIG [train options...] --launcher pytorch [--threads T]`, with torchrun's
// RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (OMP_NUM_THREADS left
// alone), printing their output line by line as "[rank R] ...". Each rank has its own process
// group, stdin /dev/null, and SIGTERM when dist-train dies (PR_SET_PDEATHSIG): a terminal's Ctrl-C
// reaches dist-train alone, which passes SIGINT / SIGTERM / SIGHUP on once (in the terminal's
// group a rank would get SIGINT twice: train's first stops between iterations, its second ends
// it at once); a second SIGINT kills them. A rank that fails (status != 0, a signal) is reported,
// the others get SIGTERM, SIGKILL 30 s later (torchrun's way); the exit status is the first
// failure's (128 + signal), else 0. For tests: DETKIT_DIST_TRAIN_EXEC (program), _GRACE (s).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/file_io.h"
#include "detkit/core/process_util.h"
#include "detkit/core/runtime.h"

extern char** environ;

namespace detkit::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kUsage =
    "detkit dist-train --nproc N [--nnodes M] [--node-rank R] [--master-addr A] "
    "[--master-port P] [--threads-per-proc T] CONFIG [train options...]";
/// dist-train's options that take a value; recognised anywhere on the command line.
const char* const kOwnOptions[] = {"--nproc",       "--nnodes",      "--node-rank",
                                   "--master-addr", "--master-port", "--threads-per-proc"};
/// torchrun's variables, replaced in the ranks' environment.
const char* const kVariables[] = {"RANK",        "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                                  "MASTER_ADDR", "MASTER_PORT"};
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};

/// What dist-train runs on this machine.
struct Launch {
  int nproc = 1, first_rank = 0;
  std::vector<std::string> argv;  // the same for every rank, the executable first
  std::vector<std::string> env;   // without RANK and LOCAL_RANK
  double grace_s = 30;
};

/// One rank: its process (and process group) and the pipes of its stdout and stderr.
struct Rank {
  int rank = 0;
  pid_t pid = -1;                          // while it runs
  int pipes[2][2] = {{-1, -1}, {-1, -1}};  // stdout, stderr: {our read end, the child's end}
  std::string pending[2];                  // read, not printed yet (no newline yet)
};

/// Whether `arg` is `option` or `option=value`.
bool is_option(const std::string& arg, const std::string& option) {
  return arg == option || arg.rfind(option + "=", 0) == 0;
}

/// Throws Error "what: strerror(errno)" when a system call returned -1; else returns `result`.
int check(int result, const std::string& what) {
  if (result < 0) throw Error(what + ": " + std::strerror(errno));
  return result;
}

/// Splits the command line: dist-train's options (anywhere) and CONFIG into `own`, what follows
/// CONFIG into `train`. An unknown option before CONFIG is a UsageError.
void split_arguments(const std::vector<std::string>& args, std::vector<std::string>& own,
                     std::vector<std::string>& train) {
  bool config_seen = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const auto* known = std::find_if(std::begin(kOwnOptions), std::end(kOwnOptions),
                                     [&](const char* option) { return is_option(arg, option); });
    if (arg == "--help" || arg == "-h" || known != std::end(kOwnOptions)) {
      own.push_back(arg);
      if (known != std::end(kOwnOptions) && arg == *known && i + 1 < args.size())
        own.push_back(args[++i]);  // its value, unless given as --name=value
    } else if (config_seen) {
      train.push_back(arg);
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw UsageError("option '" + arg + "' before CONFIG: detkit train's options go after it");
    } else {
      own.push_back(arg);
      config_seen = true;
    }
  }
}

/// Refuses (UsageError) train arguments that `detkit train` would refuse, once here rather than
/// once per rank: train's parser checks them in this process behind --help (its text dropped).
void check_train_arguments(const std::string& config, const std::vector<std::string>& train) {
  if (std::any_of(train.begin(), train.end(), [](auto& a) { return is_option(a, "--launcher"); }))
    throw UsageError("--launcher: dist-train runs train with --launcher pytorch itself");
  std::vector<std::string> probe = {"--help", config};
  probe.insert(probe.end(), train.begin(), train.end());
  std::ostringstream dropped;
  struct Restore {  // runs before run_command_line's handler prints the usage
    std::streambuf* old;
    ~Restore() { std::cout.rdbuf(old), set_current_usage(kUsage); }
  } restore{std::cout.rdbuf(dropped.rdbuf())};
  try {
    run_train(probe);
  } catch (const UsageError& e) {
    throw UsageError(std::string("for detkit train: ") + e.what());
  }
}

/// The value of int option `name`; a UsageError when it is outside lo .. hi.
int int_option(const po::variables_map& vm, const std::string& name, int lo, int hi) {
  const int value = vm[name].as<int>();
  if (value < lo || value > hi)
    throw UsageError(fmt::format("--{} must be in {} .. {}, got {}", name, lo, hi, value));
  return value;
}

/// Parses the command line into a Launch; nullopt after --help.
std::optional<Launch> parse_launch(const std::vector<std::string>& args) {
  set_current_usage(kUsage);
  std::vector<std::string> own, train;
  split_arguments(args, own, train);
  po::options_description options("detkit dist-train");
  options.add_options()("help,h", "show this help")("config", po::value<std::string>()->required(),
                                                    "the training config")(
      "nproc", po::value<int>(), "processes (ranks) on this machine, >= 1 (required)")(
      "nnodes", po::value<int>()->default_value(1), "machines taking part")(
      "node-rank", po::value<int>()->default_value(0), "this machine's index, 0 .. nnodes-1")(
      "master-addr", po::value<std::string>()->default_value("127.0.0.1"),
      "address of the machine with node rank 0 (its rank 0 holds the rendezvous)")(
      "master-port", po::value<int>()->default_value(29500), "a free TCP port there")(
      "threads-per-proc", po::value<int>(),
      "intra-op threads of each rank, train's --threads (default: cores / nproc)");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(own, options, positional, vm, kUsage)) {
    std::cout << "\nWhat follows CONFIG goes to `detkit train` as it is, then --launcher pytorch. "
                 "Ctrl-C stops every rank between iterations, a second one kills them; a rank "
                 "that fails stops the others.\n\nexamples:\n  one machine, 4 ranks:  detkit "
                 "dist-train --nproc 4 CONFIG --work-dir w\n  two machines, 8 ranks each (start "
                 "both; 10.0.0.1 holds the rendezvous):\n    on 10.0.0.1:  detkit dist-train "
                 "--nproc 8 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 CONFIG\n    on "
                 "10.0.0.2:  detkit dist-train --nproc 8 --nnodes 2 --node-rank 1 --master-addr "
                 "10.0.0.1 CONFIG\n";
    return std::nullopt;
  }
  const std::string config = vm["config"].as<std::string>();
  check_train_arguments(config, train);
  if (!vm.count("nproc")) throw UsageError("missing --nproc N (processes on this machine)");
  Launch launch;
  launch.nproc = int_option(vm, "nproc", 1, 1024);
  const int nnodes = int_option(vm, "nnodes", 1, (1 << 20) / launch.nproc);
  launch.first_rank = int_option(vm, "node-rank", 0, nnodes - 1) * launch.nproc;
  const int port = int_option(vm, "master-port", 1, 65535);
  const bool user_threads =
      std::any_of(train.begin(), train.end(), [](auto& a) { return is_option(a, "--threads"); });
  if (user_threads && vm.count("threads-per-proc"))
    throw UsageError("give --threads-per-proc or train's --threads, not both");
  const int threads = vm.count("threads-per-proc") ? int_option(vm, "threads-per-proc", 1, 1 << 16)
                                                   : std::max(1, hardware_threads() / launch.nproc);
  require_input_file<UsageError>(config);
  const char* exe = std::getenv("DETKIT_DIST_TRAIN_EXEC");  // else this executable
  launch.argv = {exe != nullptr ? exe : "", "train", config};
  char path[4096];
  if (launch.argv[0].empty())
    launch.argv[0].assign(path, check(::readlink("/proc/self/exe", path, 4095), "/proc/self/exe"));
  check(::access(launch.argv[0].c_str(), X_OK), "cannot run " + launch.argv[0]);
  launch.argv.insert(launch.argv.end(), train.begin(), train.end());
  launch.argv.insert(launch.argv.end(), {"--launcher", "pytorch"});
  if (!user_threads) launch.argv.insert(launch.argv.end(), {"--threads", std::to_string(threads)});
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string item = *e, name = item.substr(0, item.find('='));
    if (std::find(std::begin(kVariables), std::end(kVariables), name) == std::end(kVariables))
      launch.env.push_back(item);
  }
  launch.env.insert(launch.env.end(), {"WORLD_SIZE=" + std::to_string(nnodes * launch.nproc),
                                       "LOCAL_WORLD_SIZE=" + std::to_string(launch.nproc),
                                       "MASTER_ADDR=" + vm["master-addr"].as<std::string>(),
                                       "MASTER_PORT=" + std::to_string(port)});
  if (const char* grace = std::getenv("DETKIT_DIST_TRAIN_GRACE")) launch.grace_s = std::atof(grace);
  return launch;
}

/// The write end of the self-pipe that the signal handler reports signal numbers through.
int g_signal_pipe = -1;

/// Signal handler: passes the signal's number on through the self-pipe (async-signal-safe).
extern "C" void on_signal(int signal_number) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signal_number);
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe, &byte, 1);
  errno = saved;
}

/// Runs the ranks and watches them: output, signals, exits. One at a time per process.
class Supervisor {
 public:
  /// Opens the self-pipe and /dev/null, installs the signal handlers.
  explicit Supervisor(const Launch& launch) : launch_(launch) {
    check(::pipe2(signal_pipe_, O_CLOEXEC | O_NONBLOCK), "cannot create a pipe");
    null_fd_ = check(::open("/dev/null", O_RDONLY | O_CLOEXEC), "cannot open /dev/null");
    g_signal_pipe = signal_pipe_[1];
    struct sigaction action {};
    action.sa_handler = on_signal;
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&handled_);
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      check(::sigaction(kSignals[i], &action, &old_actions_[i]), "sigaction");
      sigaddset(&handled_, kSignals[i]);
    }
  }
  /// Kills and reaps the ranks still running (after an error), restores the handlers, closes.
  ~Supervisor() {
    signal_all(SIGKILL);
    for (Rank& rank : ranks_) {
      if (rank.pid > 0) ::waitpid(rank.pid, nullptr, 0);
      for (int fd : {rank.pipes[0][0], rank.pipes[0][1], rank.pipes[1][0], rank.pipes[1][1]})
        if (fd >= 0) ::close(fd);
    }
    for (size_t i = 0; i < std::size(kSignals); ++i)
      ::sigaction(kSignals[i], &old_actions_[i], nullptr);
    g_signal_pipe = -1;
    for (int fd : {signal_pipe_[0], signal_pipe_[1], null_fd_})
      if (fd >= 0) ::close(fd);
  }

  /// Starts the ranks and prints their output until every one has ended; returns the status.
  int run() {
    for (int local = 0; local < launch_.nproc; ++local)
      start(local);
    while (std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.pid > 0; })) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          deadline_ ? *deadline_ - Clock::now() : std::chrono::seconds(1));  // 1 s: lost SIGCHLD
      if (left.count() <= 0) signal_all(SIGKILL);                            // grace period over
      poll_once(static_cast<int>(std::clamp<int64_t>(left.count(), 10, 1000)));
      reap();
    }
    return first_failure_.value_or(0);
  }

 private:
  /// Forks and execs local rank `local`: own process group, PR_SET_PDEATHSIG, default signal
  /// handling, stdin /dev/null, stdout and stderr into pipes, RANK and LOCAL_RANK set.
  void start(int local) {
    Rank& rank = ranks_.emplace_back();
    rank.rank = launch_.first_rank + local;
    std::vector<std::string> env = launch_.env;
    env.push_back("RANK=" + std::to_string(rank.rank));
    env.push_back("LOCAL_RANK=" + std::to_string(local));
    std::vector<char*> c_argv, c_env;  // made before fork: the child only makes system calls
    std::vector<std::string> argv = launch_.argv;
    for (auto [from, to] : {std::pair{&argv, &c_argv}, std::pair{&env, &c_env}}) {
      for (std::string& text : *from)
        to->push_back(text.data());
      to->push_back(nullptr);
    }
    const std::string exec_failed = "detkit dist-train: cannot run " + launch_.argv[0] + "\n";
    for (int* ends : rank.pipes)
      check(::pipe2(ends, O_CLOEXEC), "cannot create a pipe");
    sigset_t old_mask;  // kSignals blocked around fork: no handler of ours runs in the child
    if (const int e = ::pthread_sigmask(SIG_BLOCK, &handled_, &old_mask))
      throw Error(std::string("pthread_sigmask: ") + std::strerror(e));
    const pid_t parent = ::getpid(), pid = ::fork();
    if (pid == 0) {  // only async-signal-safe calls from here
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(125);
      ::setpgid(0, 0);
      for (int s : kSignals)
        ::signal(s, SIG_DFL);
      ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
      if (::dup2(null_fd_, 0) < 0 || ::dup2(rank.pipes[0][1], 1) < 0 ||
          ::dup2(rank.pipes[1][1], 2) < 0)
        ::_exit(126);
      ::execve(c_argv[0], c_argv.data(), c_env.data());
      [[maybe_unused]] const ssize_t n = ::write(2, exec_failed.data(), exec_failed.size());
      ::_exit(127);
    }
    const int fork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    for (int* ends : rank.pipes)
      ends[1] = (::close(ends[1]), -1);
    if (pid < 0) throw Error(fmt::format("rank {}: fork: {}", rank.rank, strerror(fork_error)));
    rank.pid = pid;
    ::setpgid(pid, pid);  // here too, as signal_all may come first (EACCES once it has exec'd)
    for (int* ends : rank.pipes)
      check(::fcntl(ends[0], F_SETFL, check(::fcntl(ends[0], F_GETFL), "fcntl") | O_NONBLOCK),
            "fcntl");
  }

  /// Sends `signal_number` to the process group of every running rank; with `stop`, the first
  /// time also starts the grace period.
  void signal_all(int signal_number, bool stop = false) {
    if (stop && !deadline_)
      deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(launch_.grace_s));
    for (const Rank& rank : ranks_) {
      if (rank.pid > 0 && ::kill(-rank.pid, signal_number) < 0 && errno != ESRCH)
        std::cerr << fmt::format("detkit dist-train: rank {}: kill: {}\n", rank.rank,
                                 strerror(errno));
    }
  }

  /// Waits up to `timeout_ms` for signals and output, and handles what came (see the file
  /// comment for the signals).
  void poll_once(int timeout_ms) {
    std::vector<pollfd> fds = {{signal_pipe_[0], POLLIN, 0}};
    for (const Rank& rank : ranks_) {
      for (const int* ends : rank.pipes)
        if (ends[0] >= 0) fds.push_back({ends[0], POLLIN, 0});
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) check(ready, "poll");
    if (ready <= 0) return;
    std::string signals;
    read_available(signal_pipe_[0], signals);
    for (const unsigned char signal_number : signals) {
      if (signal_number == SIGCHLD) continue;
      const bool again = signal_number == SIGINT && ++interrupts_ >= 2;
      std::cerr << "detkit dist-train: " << (again ? "second SIGINT: killing" : "passing ")
                << (again ? "" : signal_text(signal_number) + " on to") << " the ranks\n";
      signal_all(again ? SIGKILL : signal_number, true);
    }
    for (Rank& rank : ranks_)
      pump(rank);
  }

  /// Reads what rank's stdout and stderr have now (closing each at its end) and prints their
  /// complete lines, prefixed, to ours; with `all` (or past 1 MiB) the rest too.
  void pump(Rank& rank, bool all = false) {
    const std::string prefix = "[rank " + std::to_string(rank.rank) + "] ";
    for (int k = 0; k < 2; ++k) {
      std::string& pending = rank.pending[k];
      int& fd = rank.pipes[k][0];
      if (fd >= 0 && !read_available(fd, pending)) fd = (::close(fd), -1);
      std::ostream& out = k == 0 ? std::cout : std::cerr;
      size_t start = 0;
      for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1)
        out << prefix << std::string_view(pending).substr(start, end + 1 - start);
      pending.erase(0, start);
      if (!pending.empty() && (all || pending.size() > (1u << 20)))
        out << prefix << std::exchange(pending, {}) << "\n";
      out.flush();
    }
  }

  /// Reaps the ranks that ended, says how each failed, stops the others on the first failure.
  void reap() {
    for (Rank& rank : ranks_) {
      int status = 0;
      const pid_t done = rank.pid > 0 ? ::waitpid(rank.pid, &status, WNOHANG) : 0;
      if (done == 0 || (done < 0 && errno == EINTR)) continue;
      check(done, "waitpid");
      rank.pid = -1;
      pump(rank, true);  // its last lines before the verdict
      const int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      if (code == 0) continue;
      std::cerr << "detkit dist-train: rank " << rank.rank
                << (WIFSIGNALED(status) ? " was killed by " + signal_text(WTERMSIG(status))
                                        : " exited with status " + std::to_string(code))
                << "\n";
      if (first_failure_) continue;
      first_failure_ = code;
      if (deadline_) continue;  // stopping already
      std::cerr << "detkit dist-train: stopping the other ranks (SIGTERM, SIGKILL after "
                << launch_.grace_s << " s)\n";
      signal_all(SIGTERM, true);
    }
  }

  const Launch& launch_;
  std::vector<Rank> ranks_;
  int signal_pipe_[2] = {-1, -1}, null_fd_ = -1, interrupts_ = 0;
  struct sigaction old_actions_[std::size(kSignals)] = {};
  sigset_t handled_;                           // kSignals
  std::optional<Clock::time_point> deadline_;  // set when the ranks were told to stop
  std::optional<int> first_failure_;
};

}  // namespace

int run_dist_train(const std::vector<std::string>& args) {
  const std::optional<Launch> launch = parse_launch(args);
  if (!launch) return 0;
  return Supervisor(*launch).run();
}

}  // namespace detkit::cli
