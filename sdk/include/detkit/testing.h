// The host API for a plugin's own unit tests: load plugin files the way the `detkit` host does
// (with libdetkit's built-in components registered first), then build components from YAML
// through the registry, exactly as a config would build them.
//
//   #include <detkit/testing.h>
//
//   TEST(MyBackbone, Builds) {
//     const auto report = detkit::testing::load_plugins({MY_PLUGIN_FILE});
//     ASSERT_TRUE(report.ok()) << report.str();
//     auto backbone = detkit::testing::build_from_yaml<detkit::BackboneBase>(
//         "{type: MyBackbone, depth: 18}");
//     ...
//   }
//
// Link the test with DetKit::testing (find_package(DetKit) provides it); see the "Testing your
// plugin" section of the plugin template's README.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/registry.h"
#include "detkit/version.h"

namespace detkit::testing {

/// What happened to one plugin file (what `detkit plugins list` shows for it).
struct PluginLoadResult {
  /// Absolute path of the file.
  std::string path;
  /// "LOADED", "REJECTED" or "SHADOWED".
  std::string status;
  /// Why it was rejected or shadowed; "" when loaded.
  std::string reason;
  /// Components of a loaded plugin that were skipped because their type was registered before
  /// (by the built-ins or an earlier plugin), one warning line each.
  std::vector<std::string> warnings;

  bool loaded() const { return status == "LOADED"; }
};

/// The outcome of load_plugins(): one entry per plugin file found under the given paths.
struct LoadReport {
  std::vector<PluginLoadResult> plugins;

  /// True when at least one file was found, every file loaded, and nothing was skipped.
  bool ok() const;
  /// One line per file ("LOADED path", "REJECTED path: reason") and per warning, for test
  /// failure messages.
  std::string str() const;
};

/// Registers libdetkit's built-in components (once per process), then loads each path in order
/// as `detkit --plugin PATH` would: a plugin file, or a folder whose libdetkit-*.so files are
/// loaded in name order. DETKIT_PLUGIN_PATH and detkit's own plugin folder are not scanned; to
/// test against the installed official plugins, add DETKIT_PLUGIN_INSTALL_DIR (set by
/// find_package(DetKit)) to `paths`. Plugins are never unloaded: loading a file again reports it
/// again and does nothing else.
LoadReport load_plugins(const std::vector<std::string>& paths);

/// Parses YAML text into a ConfigNode; values remember `origin`:line:column. Throws ConfigError
/// on a syntax error.
ConfigNode parse_yaml(const std::string& text, const std::string& origin = "<yaml>");

/// Builds the component a YAML map names (`{type: FocalLoss, gamma: 1.5}`) in the registry of
/// the kind whose base class is Base: validated against its schema, defaults filled in, its
/// factory called. `path` is the dotted config path used in error messages. Throws ConfigError
/// as `detkit config check` would report it.
template <class Base>
std::shared_ptr<Base> build_from_yaml(const std::string& yaml_text,
                                      const std::string& path = "test") {
  return detkit::build<Base>(parse_yaml(yaml_text), path);
}

}  // namespace detkit::testing
