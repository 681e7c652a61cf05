// Pieces shared by the `detkit benchmark` subcommands: timing, temporary folders, and running
// the Python reference (Debian's /usr/bin/python3) whose numbers are printed beside ours.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace detkit::cli {

/// Debian's Python, which has python3-torch / python3-torchvision (not the first python3 on PATH).
constexpr const char* kReferencePython = "/usr/bin/python3";

/// Seconds elapsed since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

/// A fresh folder under the system temp dir (named after `stem` and the process), removed with
/// everything in it when the object goes.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& stem);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// `text` quoted for the shell ('...').
std::string shell_quote(const std::string& text);

/// What a child command printed and how it ended.
struct CommandOutput {
  /// The exit status; -1 when it could not run or was killed by a signal.
  int status = -1;
  /// stdout and stderr together.
  std::string output;
};

/// Runs `argv` (the program first; each argument quoted for the shell) and waits for it.
CommandOutput run_command(const std::vector<std::string>& argv);

/// The result of a reference run.
struct ReferenceOutput {
  /// Whether the interpreter ran and exited with 0.
  bool ok = false;
  /// What follows "DETKIT_REFERENCE " on each line that starts with it, in order.
  std::vector<std::string> results;
  /// Everything the script printed (stdout and stderr), for error messages.
  std::string output;
};

/// Runs `script` with kReferencePython and `args` (shell-quoted); the script reports its
/// numbers by printing lines "DETKIT_REFERENCE ...".
ReferenceOutput run_python_reference(const std::string& script,
                                     const std::vector<std::string>& args = {});

/// Why a reference run gave no numbers, in a few words: the last line it printed (e.g.
/// "ModuleNotFoundError: No module named 'pycocotools'"), or that it printed nothing.
std::string reference_failure_reason(const ReferenceOutput& out);

/// The line a benchmark prints where it could not measure the reference on this machine:
/// "reference not available (REASON)". (Never a number measured elsewhere.)
std::string reference_not_available(const std::string& reason);

}  // namespace detkit::cli
