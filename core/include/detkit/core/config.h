// Loading configs: YAML with file:line:column on every value, `_base_` inheritance, `_delete_`,
// `--cfg-options` overrides, and printing with sources (DESIGN.md §4, mmdet-semantics.md §2).
#pragma once

#include <string>
#include <vector>

#include "detkit/config_node.h"

namespace detkit {

/// Parses one YAML file into a ConfigNode (no `_base_` processing). Throws ConfigError with the
/// file, line and column of a syntax error or a duplicate key.
DETKIT_API ConfigNode parse_yaml_file(const std::string& path);
/// Parses YAML text; `origin` names it in marks and messages (e.g. "--cfg-options").
DETKIT_API ConfigNode parse_yaml_text(const std::string& text, const std::string& origin);

/// Loads a config file: resolves `_base_` recursively (paths relative to the declaring file,
/// cycles and missing files are errors, sibling bases must not share top-level keys), merges
/// maps recursively (lists and scalars replace, `_delete_: true` replaces a whole map), resolves
/// `plugins:` paths against the declaring file, then applies `cfg_options` ("a.b.0.c=value").
DETKIT_API ConfigNode load_config(const std::string& path,
                                  const std::vector<std::string>& cfg_options = {});

/// Merges `child` into `base` with MMDetection's rules; `path` is the dotted path of `base`.
DETKIT_API void merge_config(ConfigNode& base, const ConfigNode& child, const std::string& path);

/// Applies one `--cfg-options` item: KEY=VALUE, KEY dotted with digit segments indexing lists,
/// VALUE parsed as YAML (a scalar or a flow list/map). Throws ConfigError on bad syntax.
DETKIT_API void apply_cfg_option(ConfigNode& root, const std::string& option);

/// The merged config as YAML; with `show_sources`, each line ends with the file:line:col
/// (or "default" / "--cfg-options") its value came from.
DETKIT_API std::string format_config(const ConfigNode& root, bool show_sources);

/// The absolute plugin paths listed under `plugins:` (already resolved by load_config).
DETKIT_API std::vector<std::string> config_plugin_paths(const ConfigNode& root);

}  // namespace detkit
