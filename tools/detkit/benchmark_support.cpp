// Timing, temporary folders and the Python reference runs of the benchmark subcommands.
#include "benchmark_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "detkit/error.h"

namespace detkit::cli {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandOutput run_command(const std::vector<std::string>& argv) {
  std::string command;
  for (const auto& arg : argv)
    command += (command.empty() ? "" : " ") + shell_quote(arg);
  command += " 2>&1";
  CommandOutput out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) out.status = WEXITSTATUS(status);
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ScopedTempDir::ScopedTempDir(const std::string& stem) {
  const fs::path path = fs::temp_directory_path() / (stem + "-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!fs::create_directories(path, ec))
    throw Error("cannot create the temporary folder " + path.string() + ": " + ec.message());
  path_ = path.string();
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

ReferenceOutput run_python_reference(const std::string& script,
                                     const std::vector<std::string>& args) {
  ScopedTempDir dir("detkit-reference");
  const std::string script_path = dir.path() + "/reference.py";
  std::ofstream(script_path) << script;
  std::vector<std::string> argv = {kReferencePython, script_path};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandOutput run = run_command(argv);
  ReferenceOutput out;
  out.output = run.output;
  out.ok = run.status == 0;
  std::istringstream lines(out.output);
  const std::string marker = "DETKIT_REFERENCE ";
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(marker, 0) == 0) out.results.push_back(line.substr(marker.size()));
  }
  return out;
}

std::string reference_failure_reason(const ReferenceOutput& out) {
  std::istringstream lines(out.output);
  std::string last;
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  if (last.empty()) return std::string(kReferencePython) + " printed nothing";
  return last.substr(last.find_first_not_of(" \t"));
}

std::string reference_not_available(const std::string& reason) {
  return "reference not available (" + reason + ")";
}

}  // namespace detkit::cli
