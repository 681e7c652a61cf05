// Plugin discovery and loading (DESIGN.md §3): every plugin file found is LOADED, REJECTED (with
// a one-line reason) or SHADOWED; a bad plugin never takes the host down, and only a config that
// uses a missing type fails. A component whose type is already registered (by the built-ins or
// by a plugin found earlier) is skipped with a warning; the rest of its plugin still loads.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "detkit/kind.h"

namespace detkit {

struct ComponentInfo;

/// What happened to one plugin file.
enum class PluginStatus { loaded, rejected, shadowed };

/// "LOADED", "REJECTED" or "SHADOWED".
DETKIT_API const char* plugin_status_name(PluginStatus status);

/// A component a loaded plugin declared but the host did not register, because another file
/// registered the same kind and type first (the first registration wins).
struct DETKIT_API SkippedComponent {
  Kind kind = Kind::backbone;
  std::string type;
  /// The file whose registration won ("libdetkit" for a built-in).
  std::string registered_by;
};

/// One plugin file the loader considered.
struct DETKIT_API PluginRecord {
  /// Absolute, normalised path.
  std::string path;
  /// Plugin name: the file name between "libdetkit-" and ".so".
  std::string name;
  /// Where it was found: "--plugin", "config", "DETKIT_PLUGIN_PATH", "plugin folder".
  std::string source;
  PluginStatus status = PluginStatus::rejected;
  /// Why it was rejected or shadowed.
  std::string reason;
  std::string version;
  std::string description;
  /// The components it registered (loaded plugins only).
  std::vector<std::pair<Kind, std::string>> components;
  /// The components it declared that were skipped as conflicts (loaded plugins only).
  std::vector<SkippedComponent> skipped;
  /// The out-of-process scan that judged it before it was loaded: "scanned" (a scan process ran
  /// now), "cached" (the verdict of an earlier scan of the unchanged file), or "" (no scan: it
  /// was rejected before, or DETKIT_PLUGIN_SCAN=0).
  std::string scan;

  /// One warning line per skipped component: "plugin P: loss type 'FocalLoss' skipped: already
  /// registered by Q (the first registration wins)".
  std::vector<std::string> warnings() const;
};

/// Where to look for plugins, in order.
struct DETKIT_API PluginSearch {
  /// `--plugin PATH` items (files, or folders to scan), in order.
  std::vector<std::string> command_line;
  /// The config's `plugins:` (absolute paths, resolved by load_config).
  std::vector<std::string> config;
  /// Read DETKIT_PLUGIN_PATH (colon-separated folders or files).
  bool use_environment = true;
  /// Scan the plugin folders found relative to the executable.
  bool use_default_folders = true;
};

/// The process-wide plugin loader. Plugins are loaded with RTLD_NOW | RTLD_LOCAL |
/// RTLD_NODELETE and never unloaded. Before a file is opened in this process it must be a
/// regular file holding a shared object for this machine with a `dkplug` section, and (unless
/// DETKIT_PLUGIN_SCAN=0) have been loaded once in a scan process that survived: a plugin that
/// crashes, aborts, exits or hangs while loading is REJECTED without ever running here.
class DETKIT_API PluginManager {
 public:
  static PluginManager& instance();

  /// Discovers and loads plugins. May be called more than once; files already considered are
  /// skipped. Returns the warnings of the files loaded by this call (components skipped as
  /// conflicts), one line each, for the caller to print: every command that loads plugins shows
  /// them.
  std::vector<std::string> load(const PluginSearch& search);
  /// Loads one plugin file (for tests and tools); returns its record.
  PluginRecord load_file(const std::string& path, const std::string& source);
  /// Every file considered so far, in discovery order.
  const std::vector<PluginRecord>& records() const { return records_; }
  /// Throws PluginError if a plugin named on the command line or in the config was rejected
  /// or is missing (MMDetection's custom_imports without allow_failed_imports).
  void require_requested_loaded() const;
  /// The default plugin folders next to the executable: <exe>/../lib/detkit/plugins (install
  /// tree) and <exe>/../plugins (build tree), those that exist.
  static std::vector<std::string> default_folders();

 private:
  PluginManager() = default;
  void consider_path(const std::string& path, const std::string& source, bool requested);
  void scan_folder(const std::string& folder, const std::string& source);
  void load_candidate(PluginRecord& record);

  std::vector<PluginRecord> records_;
  std::vector<std::string> seen_files_;
};

/// Why `info` cannot be registered ("" if it can): a kind unknown to this detkit, an empty type
/// name, no factory, no base class, a parameter named 'type'. Registry::add and the plugin loader
/// (before it registers anything of a plugin) use it.
DETKIT_API std::string component_problem(const ComponentInfo& info);

/// For "unknown type" errors: the plugins that were rejected (which may have provided the
/// type), as "\n  note: ..." lines; "" when none were.
DETKIT_API std::string rejected_plugins_note();

}  // namespace detkit
