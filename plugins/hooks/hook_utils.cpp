// MMCV's Hook helpers, hook_msgs and file helpers shared by the hooks plugin.
#include "hook_utils.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "detkit/engine/dist_utils.h"
#include "detkit/error.h"

namespace detkit::hooks {

namespace fs = std::filesystem;

bool every_n_epochs(const RunnerBase& runner, int64_t n) {
  return n > 0 && (runner.epoch() + 1) % n == 0;
}

bool every_n_iters(const RunnerBase& runner, int64_t n) {
  return n > 0 && (runner.iter() + 1) % n == 0;
}

bool every_n_inner_iters(const RunnerBase& runner, int64_t n) {
  return n > 0 && (runner.inner_iter() + 1) % n == 0;
}

bool end_of_epoch(const RunnerBase& runner) {
  return runner.inner_iter() + 1 == runner.iters_per_epoch();
}

bool is_last_epoch(const RunnerBase& runner) {
  return runner.epoch() + 1 == runner.max_epochs();
}

bool is_last_iter(const RunnerBase& runner) {
  return runner.iter() + 1 == total_iters(runner);
}

int64_t total_iters(const RunnerBase& runner) {
  if (runner.max_iters() > 0) return runner.max_iters();
  return runner.max_epochs() * runner.iters_per_epoch();
}

ConfigNode& hook_msgs(RunnerBase& runner) {
  ConfigNode& meta = runner.meta();
  ConfigNode* msgs = meta.find("hook_msgs");
  if (msgs == nullptr || !msgs->is_map()) return meta.set("hook_msgs", ConfigNode::make_map());
  return *msgs;
}

std::string resolve_out_dir(const std::string& out_dir, const std::string& work_dir) {
  if (out_dir.empty() || out_dir == work_dir) return work_dir;
  std::string trimmed = work_dir;
  while (trimmed.size() > 1 && trimmed.back() == '/')
    trimmed.pop_back();
  return join_path(out_dir, fs::path(trimmed).filename().string());
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string format_template(const std::string& tmpl, int64_t value) {
  const size_t at = tmpl.find("{}");
  if (at == std::string::npos) return tmpl;
  return tmpl.substr(0, at) + std::to_string(value) + tmpl.substr(at + 2);
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

void remove_file(const std::string& path) {
  if (!is_main_process()) return;  // rank 0 owns the work dir's files
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw Error("cannot remove '" + path + "': " + ec.message());
}

std::string format_fixed(double value, int decimals) {
  if (std::isnan(value)) return "nan";  // printf may print "-nan"; Python never does
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string format_exp(double value, int decimals) {
  if (std::isnan(value)) return "nan";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*e", decimals, value);
  return buffer;
}

}  // namespace detkit::hooks
