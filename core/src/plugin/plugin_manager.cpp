// Plugin discovery, the order of the checks (file, scan process, in-process open) and
// registration.
#include <dlfcn.h>
#include <sys/stat.h>
#include <boost/dll/runtime_symbol_info.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/text.h"
#include "detkit/plugin.h"
#include "elf_check.h"
#include "plugin_open.h"
#include "plugin_scan.h"

namespace detkit {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "libdetkit-";
constexpr const char* kSuffix = ".so";

/// The plugin name of a file name, or "" if it is not named like a plugin.
std::string plugin_name_of(const std::string& file_name) {
  const std::string prefix = kPrefix, suffix = kSuffix;
  if (file_name.size() <= prefix.size() + suffix.size()) return {};
  if (file_name.compare(0, prefix.size(), prefix) != 0) return {};
  if (file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0) return {};
  return file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
}
/// Why `path` cannot be a plugin file before it is even opened ("" if it may be one): it does
/// not exist, is a symlink loop or a broken symlink, cannot be accessed, or is not a regular
/// file (a FIFO would block the reader forever, a device would be read from).
std::string path_problem(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISREG(info.st_mode)) return {};
    const char* type = S_ISFIFO(info.st_mode)   ? "a FIFO"
                       : S_ISSOCK(info.st_mode) ? "a socket"
                       : S_ISCHR(info.st_mode)  ? "a character device"
                       : S_ISBLK(info.st_mode)  ? "a block device"
                                                : "not a plain file";
    return std::string("not a regular file (") + type + "); only regular files can be plugins";
  }
  const int error = errno;
  if (error == ELOOP)
    return "symlink loop: the path cannot be resolved (too many levels of symbolic links)";
  if (error == ENOENT) {
    std::error_code ec;
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      const std::string target = fs::read_symlink(path, ec).string();
      return "broken symlink: it points to '" + target + "', which does not exist";
    }
    return "file not found";
  }
  if (error == EACCES) return "cannot access the file: permission denied";
  if (error == ENOTDIR) return "file not found (a folder on its path is a file)";
  return std::string("cannot access the file: ") + std::strerror(error);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return a == b;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
}  // namespace

std::vector<std::string> PluginRecord::warnings() const {
  std::vector<std::string> out;
  for (const auto& skip : skipped) {
    out.push_back("plugin " + path + ": " + kind_name(skip.kind) + " type '" + skip.type +
                  "' skipped: already registered by " + skip.registered_by +
                  " (the first registration wins)");
  }
  return out;
}

const char* plugin_status_name(PluginStatus status) {
  switch (status) {
    case PluginStatus::loaded:
      return "LOADED";
    case PluginStatus::rejected:
      return "REJECTED";
    case PluginStatus::shadowed:
      return "SHADOWED";
  }
  return "?";
}

PluginManager& PluginManager::instance() {
  static auto* manager = new PluginManager();  // never destroyed (plugins are never unloaded)
  return *manager;
}

std::vector<std::string> PluginManager::default_folders() {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path exe_dir = fs::path(boost::dll::program_location(ec).string()).parent_path();
  if (ec) return out;
  for (const fs::path& candidate :
       {exe_dir / ".." / "lib" / "detkit" / "plugins", exe_dir / ".." / "plugins"}) {
    if (fs::is_directory(candidate, ec)) out.push_back(candidate.lexically_normal().string());
  }
  return out;
}

std::vector<std::string> PluginManager::load(const PluginSearch& search) {
  const size_t first_new = records_.size();
  for (const auto& path : search.command_line)
    consider_path(path, "--plugin", true);
  for (const auto& path : search.config)
    consider_path(path, "config", true);
  if (search.use_environment) {
    if (const char* env = std::getenv("DETKIT_PLUGIN_PATH")) {
      std::string value = env;
      size_t start = 0;
      while (start <= value.size()) {
        const size_t colon = value.find(':', start);
        const std::string item =
            value.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (!item.empty()) consider_path(item, "DETKIT_PLUGIN_PATH", false);
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    }
  }
  if (search.use_default_folders) {
    for (const auto& folder : default_folders())
      scan_folder(folder, "plugin folder");
  }
  std::vector<std::string> warnings;
  for (size_t i = first_new; i < records_.size(); ++i) {
    for (auto& line : records_[i].warnings())
      warnings.push_back(std::move(line));
  }
  return warnings;
}

PluginRecord PluginManager::load_file(const std::string& path, const std::string& source) {
  const size_t before = records_.size();
  consider_path(path, source, true);
  if (records_.size() == before) {
    for (const auto& record : records_) {
      if (same_file(record.path, path)) return record;
    }
  }
  return records_.back();
}

void PluginManager::consider_path(const std::string& path, const std::string& source,
                                  bool requested) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    scan_folder(path, source);
    return;
  }
  PluginRecord record;
  record.path = fs::absolute(path, ec).lexically_normal().string();
  record.source = source;
  record.name = plugin_name_of(fs::path(path).filename().string());
  // A path that names nothing is reported only when asked for; a folder entry that cannot be
  // followed (symlink loop, broken symlink) or is no regular file is always reported.
  const std::string problem = path_problem(path);
  if (!problem.empty()) {
    record.reason = problem;
    if (requested || problem != "file not found") records_.push_back(record);
    return;
  }
  for (const auto& seen : seen_files_) {
    if (same_file(seen, record.path)) return;  // the same file reached twice
  }
  seen_files_.push_back(record.path);
  if (record.name.empty()) {
    record.reason = "not named like a plugin (plugin files are named libdetkit-<name>.so)";
    records_.push_back(record);
    return;
  }
  for (const auto& other : records_) {
    if (other.name != record.name || other.status == PluginStatus::shadowed) continue;
    record.status = PluginStatus::shadowed;
    record.reason = "shadowed by " + other.path;
    if (requested && (other.source == "--plugin" || other.source == "config")) {
      record.status = PluginStatus::rejected;
      record.reason = "plugin name '" + record.name + "' is also requested as " + other.path +
                      " (two requested plugins cannot share a name)";
    }
    records_.push_back(record);
    return;
  }
  load_candidate(record);
  records_.push_back(record);
}

void PluginManager::scan_folder(const std::string& folder, const std::string& source) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string file_name = entry.path().filename().string();
    if (!plugin_name_of(file_name).empty() && !entry.is_directory(ec))
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files)
    consider_path(file, source, false);
}

void PluginManager::load_candidate(PluginRecord& record) {
  record.status = PluginStatus::rejected;
  // 1. Before anything of the file runs here: a regular file holding a shared object for this
  //    machine with our section, so that random .so files never run their static initialisers.
  record.reason = plugin_detail::check_plugin_file(record.path);
  if (!record.reason.empty()) return;
  // 2. A new or changed file is loaded first in a scan process: static initialisers that crash,
  //    abort, exit or hang cannot be caught here.
  plugin_detail::ScanSource source = plugin_detail::ScanSource::off;
  const std::optional<plugin_detail::ScanOutcome> verdict = plugin_detail::scan_plugin(
      record.path,
      [&record] {
        std::vector<ComponentInfo> scratch;
        PluginRecord copy = record;
        return plugin_detail::open_plugin(copy, scratch);
      },
      &source);
  record.scan = source == plugin_detail::ScanSource::child   ? "scanned"
                : source == plugin_detail::ScanSource::cache ? "cached"
                                                             : "";
  if (verdict && !verdict->ok) {
    record.reason = verdict->reason;
    return;
  }
  // 3. The same checks in this process, then registration: all of the plugin or nothing.
  std::vector<ComponentInfo> components;
  const plugin_detail::ScanOutcome outcome = plugin_detail::open_plugin(record, components);
  if (!outcome.ok) {
    record.reason = outcome.reason;
    return;
  }
  // A type registered before (built-ins, plugins found earlier) wins; this plugin's component is
  // skipped and reported, its other components register.
  for (auto& info : components) {
    info.origin = record.path;
    if (const ComponentInfo* existing = Registry::of(info.kind).find(info.type)) {
      record.skipped.push_back({info.kind, info.type, existing->origin});
      continue;
    }
    record.components.emplace_back(info.kind, info.type);
    Registry::of(info.kind).add(std::move(info));
  }
  record.status = PluginStatus::loaded;
  record.reason.clear();
}

void PluginManager::require_requested_loaded() const {
  std::vector<std::string> problems;
  for (const auto& record : records_) {
    if ((record.source == "--plugin" || record.source == "config") &&
        record.status != PluginStatus::loaded) {
      problems.push_back(record.path + ": " + record.reason);
    }
  }
  if (problems.empty()) return;
  throw PluginError("requested plugin" + std::string(problems.size() > 1 ? "s" : "") +
                    " could not be loaded:\n  " + join(problems, "\n  "));
}

std::string rejected_plugins_note() {
  std::string out;
  for (const auto& record : PluginManager::instance().records()) {
    if (record.status != PluginStatus::rejected) continue;
    out += "\n  note: plugin " + record.path + " was rejected: " + record.reason;
  }
  return out;
}

}  // namespace detkit
