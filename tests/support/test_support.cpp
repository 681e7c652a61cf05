// Helpers shared by detkit's tests.
#include "test_support.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "detkit/core/distributed.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"

extern char** environ;

namespace detkit::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device device;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path candidate =
        fs::temp_directory_path() / ("detkit-test-" + std::to_string(device()));
    std::error_code ec;
    if (fs::create_directory(candidate, ec)) {
      path_ = candidate.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::file(const std::string& name) const {
  return path_ + "/" + name;
}

void write_file(const std::string& path, const std::string& text) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

namespace {
std::string drain(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0)
    out.append(buffer, static_cast<size_t>(n));
  return out;
}
}  // namespace

RunningProcess start_process(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env) {
  // Capture into temp files (simpler than multiplexing two pipes).
  RunningProcess running;
  running.dir = std::make_shared<TempDir>();
  running.out_path = running.dir->file("stdout");
  running.err_path = running.dir->file("stderr");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, running.out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, running.err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string item = *e;
    const std::string name = item.substr(0, item.find('='));
    bool overridden = false;
    for (const auto& extra : env)
      overridden |= extra.substr(0, extra.find('=')) == name;
    if (!overridden) environment.push_back(item);
  }
  for (const auto& extra : env)
    environment.push_back(extra);
  std::vector<char*> c_argv, c_env;
  for (const auto& a : argv)
    c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  for (const auto& e : environment)
    c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);
  const int rc =
      posix_spawn(&running.pid, argv[0].c_str(), &actions, nullptr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + argv[0]);
  return running;
}

ProcessResult wait_process(const RunningProcess& running) {
  int status = 0;
  waitpid(running.pid, &status, 0);
  ProcessResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.exit_code = 128 + WTERMSIG(status);
  }
  const int out_fd = ::open(running.out_path.c_str(), O_RDONLY),
            err_fd = ::open(running.err_path.c_str(), O_RDONLY);
  result.out = drain(out_fd);
  result.err = drain(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return result;
}

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env) {
  return wait_process(start_process(argv, env));
}

namespace {
/// The environment run_detkit gives: DETKIT_PLUGIN_PATH cleared unless `env` sets it.
std::vector<std::string> detkit_environment(const std::vector<std::string>& env) {
  std::vector<std::string> environment = {"DETKIT_PLUGIN_PATH="};
  for (const auto& e : env) {
    if (e.rfind("DETKIT_PLUGIN_PATH=", 0) == 0) environment.clear();
  }
  environment.insert(environment.end(), env.begin(), env.end());
  return environment;
}
}  // namespace

RunningProcess start_detkit(const std::vector<std::string>& args,
                            const std::vector<std::string>& env) {
  std::vector<std::string> argv = {DETKIT_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return start_process(argv, detkit_environment(env));
}

ProcessResult run_detkit(const std::vector<std::string>& args,
                         const std::vector<std::string>& env) {
  return wait_process(start_detkit(args, env));
}

std::string data_path(const std::string& relative) {
  return std::string(DETKIT_TEST_DATA_DIR) + "/" + relative;
}

void load_in_tree_plugins() {
  initialize_runtime();
  static bool loaded = false;
  if (loaded) return;
  loaded = true;
  PluginSearch search;
  search.command_line = {DETKIT_PLUGIN_DIR};
  search.use_environment = false;
  search.use_default_folders = false;
  PluginManager::instance().load(search);
}

int free_port() {
  return free_local_port();
}

}  // namespace detkit::testing
