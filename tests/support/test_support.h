// Helpers shared by detkit's tests.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "detkit/error.h"

namespace detkit::testing {

/// A fresh empty folder under the system temp dir, removed when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// path() + "/" + name.
  std::string file(const std::string& name) const;

 private:
  std::string path_;
};

/// The message of the `Exception` that `call` throws ("" and a test failure when it throws
/// none).
template <class Exception = Error, class Call>
std::string error_of(Call&& call) {
  try {
    call();
  } catch (const Exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

/// Writes `text` to `path` (creating parent folders).
void write_file(const std::string& path, const std::string& text);
/// Reads a whole file.
std::string read_file(const std::string& path);

/// The result of a child process.
struct ProcessResult {
  int exit_code = -1;
  /// Terminated by a signal (crash) rather than exiting.
  bool signaled = false;
  std::string out;
  std::string err;
};

/// A child process that runs while the caller goes on; its output goes to files.
struct RunningProcess {
  pid_t pid = -1;
  std::string out_path, err_path;
  std::shared_ptr<TempDir> dir;
};

/// Starts `argv` as run_process does, without waiting for it.
RunningProcess start_process(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env = {});
/// Waits for a started process and collects its exit status and output.
ProcessResult wait_process(const RunningProcess& running);
/// Starts the detkit CLI as run_detkit does, without waiting for it.
RunningProcess start_detkit(const std::vector<std::string>& args,
                            const std::vector<std::string>& env = {});

/// Runs `argv` (argv[0] is the program) as a child process with extra environment variables
/// ("NAME=value"), capturing stdout and stderr.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env = {});
/// Runs the detkit CLI built in this tree with `args`. DETKIT_PLUGIN_PATH is cleared unless set
/// in `env`.
ProcessResult run_detkit(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {});

/// free_local_port() (detkit/core/distributed.h): a MASTER_PORT for the process groups of
/// distributed tests.
int free_port();

/// Path of a file under tests/data.
std::string data_path(const std::string& relative);

/// Registers libdetkit's built-ins and loads the in-tree plugins folder (once per process).
void load_in_tree_plugins();

}  // namespace detkit::testing
