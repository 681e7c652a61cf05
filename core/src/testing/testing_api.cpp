// detkit/testing.h: the host API for plugins' own unit tests, a thin layer over the plugin
// manager and the YAML reader (built as the static library DetKit::testing).
#include "detkit/testing.h"

#include <filesystem>

#include "detkit/core/config.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"

namespace detkit::testing {

namespace fs = std::filesystem;

namespace {

/// The normalised absolute form of `path`.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  return fs::absolute(path, ec).lexically_normal().string();
}

/// Whether the plugin manager's record is about `requested`: the file itself, or a file directly
/// inside the folder `requested`.
bool record_matches(const PluginRecord& record, const std::string& requested, bool is_folder) {
  if (!is_folder) return record.path == requested;
  return fs::path(record.path).parent_path().lexically_normal() ==
         fs::path(requested).lexically_normal();
}

}  // namespace

bool LoadReport::ok() const {
  if (plugins.empty()) return false;
  for (const auto& plugin : plugins) {
    if (!plugin.loaded() || !plugin.warnings.empty()) return false;
  }
  return true;
}

std::string LoadReport::str() const {
  if (plugins.empty()) return "no plugin file found\n";
  std::string out;
  for (const auto& plugin : plugins) {
    out += plugin.status + " " + plugin.path;
    if (!plugin.reason.empty()) out += ": " + plugin.reason;
    out += "\n";
    for (const auto& warning : plugin.warnings)
      out += "  warning: " + warning + "\n";
  }
  return out;
}

LoadReport load_plugins(const std::vector<std::string>& paths) {
  initialize_runtime();
  PluginSearch search;
  search.command_line = paths;
  search.use_environment = false;
  search.use_default_folders = false;
  PluginManager& manager = PluginManager::instance();
  manager.load(search);
  LoadReport report;
  for (const auto& path : paths) {
    std::error_code ec;
    const bool is_folder = fs::is_directory(path, ec);
    const std::string requested = absolute_path(path);
    for (const auto& record : manager.records()) {
      if (!record_matches(record, requested, is_folder)) continue;
      report.plugins.push_back(
          {record.path, plugin_status_name(record.status), record.reason, record.warnings()});
    }
  }
  return report;
}

ConfigNode parse_yaml(const std::string& text, const std::string& origin) {
  return parse_yaml_text(text, origin);
}

}  // namespace detkit::testing
