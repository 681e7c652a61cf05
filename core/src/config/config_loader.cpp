// `_base_` inheritance, merging, `_delete_`, `plugins:` path resolution and `--cfg-options`.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <unordered_map>

#include "detkit/core/config.h"
#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit {

namespace fs = std::filesystem;

namespace {

/// The position of every key of a map node, so that merging n keys into a map of m keys costs
/// O(n + m) rather than O(n * m) (ConfigNode::find scans its entries). Built for one merge; the
/// map must change only through set() while it is in use.
class KeyIndex {
 public:
  explicit KeyIndex(const ConfigNode& map) {
    const auto& entries = map.entries();
    positions_.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i)
      positions_.emplace(entries[i].key, i);
  }

  /// The value of `key` in `map`, or nullptr.
  ConfigNode* find(ConfigNode& map, const std::string& key) const {
    const auto found = positions_.find(key);
    return found == positions_.end() ? nullptr : &map.entries()[found->second].value;
  }

  /// ConfigNode::set with the index: replaces the value of `key` in place, or appends it.
  void set(ConfigNode& map, const std::string& key, ConfigNode value, const SourceMark& key_mark) {
    auto& entries = map.entries();
    const auto [found, added] = positions_.emplace(key, entries.size());
    if (added) {
      entries.push_back(ConfigEntry{key, key_mark, std::move(value)});
      return;
    }
    ConfigEntry& entry = entries[found->second];
    entry.value = std::move(value);
    if (key_mark.in_file() || !key_mark.origin.empty()) entry.key_mark = key_mark;
  }

 private:
  std::unordered_map<std::string, size_t> positions_;
};

const SourceMark& mark_or(const ConfigNode& node, const SourceMark& fallback) {
  return node.mark().in_file() ? node.mark() : fallback;
}

/// Whether a map asks to replace its base (`_delete_: true`); a non-bool `_delete_` is an error.
bool takes_delete(const ConfigNode& map, const std::string& path) {
  const ConfigNode* flag = map.find("_delete_");
  if (flag == nullptr) return false;
  if (!flag->is_bool()) {
    throw ConfigError(located_message(flag->mark(), child_path(path, "_delete_"),
                                      "_delete_ must be true or false, got " + flag->to_flow()));
  }
  return flag->as_bool();
}

/// Removes every `_delete_` key below (and in) `node`.
void strip_delete(ConfigNode& node, const std::string& path) {
  if (node.is_map()) {
    takes_delete(node, path);  // validates the flag
    node.erase("_delete_");
    for (auto& entry : node.entries())
      strip_delete(entry.value, child_path(path, entry.key));
  } else if (node.is_list()) {
    for (size_t i = 0; i < node.size(); ++i)
      strip_delete(node.items()[i], index_path(path, i));
  }
}

/// Rewrites the entries of a top-level `plugins:` list to absolute paths (relative to `dir`).
void resolve_plugin_paths(ConfigNode& root, const fs::path& dir) {
  ConfigNode* plugins = root.find("plugins");
  if (plugins == nullptr || plugins->is_null()) return;
  if (plugins->is_string()) {
    ConfigNode list = ConfigNode::make_list();
    list.set_mark(plugins->mark());
    list.push_back(*plugins);
    *plugins = list;
  }
  if (!plugins->is_list()) {
    throw ConfigError(located_message(
        plugins->mark(), "plugins",
        "expected a list of plugin files, got " + std::string(plugins->type_name())));
  }
  for (size_t i = 0; i < plugins->size(); ++i) {
    ConfigNode& item = plugins->items()[i];
    if (!item.is_string()) {
      throw ConfigError(located_message(item.mark(), index_path("plugins", i),
                                        "expected a plugin file path, got " + item.to_flow()));
    }
    fs::path p(item.as_string());
    if (p.is_relative()) p = dir / p;
    const SourceMark mark = item.mark();
    item = ConfigNode(p.lexically_normal().string());
    item.set_mark(mark);
  }
}

std::vector<std::string> base_list(const ConfigNode& root) {
  const ConfigNode* bases = root.find("_base_");
  std::vector<std::string> out;
  if (bases == nullptr || bases->is_null()) return out;
  if (bases->is_string()) return {bases->as_string()};
  if (!bases->is_list()) {
    throw ConfigError(located_message(bases->mark(), "_base_",
                                      "_base_ must be a file name or a list of file names, got " +
                                          std::string(bases->type_name())));
  }
  for (size_t i = 0; i < bases->size(); ++i) {
    const ConfigNode& item = bases->items()[i];
    if (!item.is_string()) {
      throw ConfigError(located_message(item.mark(), index_path("_base_", i),
                                        "expected a file name, got " + item.to_flow()));
    }
    out.push_back(item.as_string());
  }
  return out;
}

ConfigNode load_recursive(const fs::path& path, std::vector<fs::path>& chain) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(path, ec);
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
    std::string cycle;
    for (const auto& p : chain)
      cycle += p.string() + " -> ";
    throw ConfigError("cycle in _base_: " + cycle + canonical.string());
  }
  ConfigNode root = parse_yaml_file(path.string());
  if (root.is_null()) {
    const SourceMark mark = root.mark();
    root = ConfigNode::make_map();
    root.set_mark(mark);
  }
  if (!root.is_map()) {
    throw ConfigError(located_message(
        root.mark(), "",
        "a config file must be a map of keys, got " + std::string(root.type_name())));
  }
  // Top-level keys starting with '_' (but _base_) are the file's own variables, e.g. YAML
  // anchors: they are resolved by the parser and are not config keys.
  auto& entries = root.entries();
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [](const ConfigEntry& e) {
                                 return !e.key.empty() && e.key[0] == '_' && e.key != "_base_";
                               }),
                entries.end());
  const fs::path dir = path.parent_path();
  resolve_plugin_paths(root, dir);
  const std::vector<std::string> bases = base_list(root);
  const ConfigNode* bases_node = root.find("_base_");
  if (bases.empty()) {
    root.erase("_base_");
    strip_delete(root, "");
    return root;
  }
  chain.push_back(canonical);
  ConfigNode merged = ConfigNode::make_map();
  merged.set_mark(root.mark());
  std::unordered_map<std::string, std::string> key_origin;  // key -> base file
  for (size_t i = 0; i < bases.size(); ++i) {
    const fs::path base_path = (dir / bases[i]).lexically_normal();
    const SourceMark& item_mark = bases_node->is_list()
                                      ? mark_or(bases_node->items()[i], bases_node->mark())
                                      : bases_node->mark();
    if (!fs::exists(base_path, ec)) {
      throw ConfigError(located_message(
          item_mark, "_base_",
          "base file '" + bases[i] + "' not found (looked for " + base_path.string() + ")"));
    }
    ConfigNode base = load_recursive(base_path, chain);
    for (auto& entry : base.entries()) {
      const auto [previous, added] = key_origin.emplace(entry.key, base_path.string());
      if (!added) {
        throw ConfigError(located_message(item_mark, "_base_",
                                          "duplicate key '" + entry.key +
                                              "' among base files: it is set in both " +
                                              previous->second + " and " + base_path.string() +
                                              " (keys of sibling _base_ files must be disjoint)"));
      }
      merged.entries().push_back(std::move(entry));  // keys are disjoint: no lookup needed
    }
  }
  chain.pop_back();
  root.erase("_base_");
  merge_config(merged, root, "");
  return merged;
}

/// Sets the mark of `node` and of all its descendants.
void remark(ConfigNode& node, const SourceMark& mark) {
  node.set_mark(mark);
  if (node.is_list()) {
    for (auto& item : node.items())
      remark(item, mark);
  } else if (node.is_map()) {
    for (auto& entry : node.entries()) {
      entry.key_mark = mark;
      remark(entry.value, mark);
    }
  }
}

bool is_index(const std::string& segment) {
  return !segment.empty() && std::all_of(segment.begin(), segment.end(),
                                         [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

void merge_config(ConfigNode& base, const ConfigNode& child, const std::string& path) {
  if (base.is_null()) {  // as ConfigNode::set would: a null base becomes a map
    const SourceMark mark = base.mark();
    base = ConfigNode::make_map();
    base.set_mark(mark);
  }
  KeyIndex index(base);
  for (const auto& entry : child.entries()) {
    const std::string key_path = child_path(path, entry.key);
    if (entry.key == "_delete_") continue;
    ConfigNode* existing = index.find(base, entry.key);
    if (entry.value.is_map()) {
      const bool replace = takes_delete(entry.value, key_path);
      if (existing == nullptr || replace) {
        ConfigNode value = entry.value;
        strip_delete(value, key_path);
        index.set(base, entry.key, std::move(value), entry.key_mark);
      } else if (existing->is_map()) {
        merge_config(*existing, entry.value, key_path);
      } else {
        // MMDetection's message (mmcv Config._merge_a_into_b), with locations.
        throw ConfigError(located_message(
            mark_or(entry.value, entry.key_mark), key_path,
            entry.key + " is a dict in the child config but is of type " + existing->type_name() +
                " in the base config (" + existing->mark().str() +
                "), so it cannot inherit from it. You may set `_delete_: true` to ignore the "
                "base config."));
      }
    } else {
      ConfigNode value = entry.value;
      strip_delete(value, key_path);
      index.set(base, entry.key, std::move(value), entry.key_mark);
    }
  }
}

ConfigNode load_config(const std::string& path, const std::vector<std::string>& cfg_options) {
  std::vector<fs::path> chain;
  ConfigNode root = load_recursive(fs::path(path), chain);
  for (const auto& option : cfg_options)
    apply_cfg_option(root, option);
  return root;
}

void apply_cfg_option(ConfigNode& root, const std::string& option) {
  const std::string origin = "--cfg-options " + option;
  const size_t eq = option.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("bad --cfg-options item '" + option +
                      "': expected KEY=VALUE, e.g. optimizer.lr=0.01 or "
                      "data.train.pipeline.0.type=LoadImageFromFile");
  }
  const std::string key = option.substr(0, eq);
  const std::string text = option.substr(eq + 1);
  std::vector<std::string> segments;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    segments.push_back(
        key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  for (const auto& segment : segments) {
    if (segment.empty())
      throw ConfigError("bad --cfg-options item '" + option + "': empty key segment in '" + key +
                        "'");
  }
  ConfigNode value;
  try {
    value = parse_yaml_text(text, origin);
  } catch (const ConfigError& e) {
    throw ConfigError("bad --cfg-options item '" + option + "': the value is not valid YAML (" +
                      e.what() + ")");
  }
  SourceMark mark;
  mark.origin = "--cfg-options";
  remark(value, mark);

  ConfigNode* node = &root;
  std::string path;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = segments[i];
    const bool last = i + 1 == segments.size();
    if (node->is_list()) {
      if (!is_index(segment)) {
        throw ConfigError("bad --cfg-options item '" + option + "': " + path +
                          " is a list; index it with a number, not '" + segment + "'");
      }
      size_t index = 0;
      const auto parsed = std::from_chars(segment.data(), segment.data() + segment.size(), index);
      if (parsed.ec != std::errc() || index >= node->size()) {
        throw ConfigError("bad --cfg-options item '" + option + "': index " + segment +
                          " is out of range for " + path + " (" + std::to_string(node->size()) +
                          " elements)");
      }
      path = index_path(path, index);
      if (last) {
        node->items()[index] = value;
        return;
      }
      node = &node->items()[index];
      continue;
    }
    if (!node->is_map()) {
      if (!node->is_null()) {
        throw ConfigError("bad --cfg-options item '" + option +
                          "': " + (path.empty() ? std::string("the config") : path) + " is " +
                          node->type_name() + ", not a map: it has no key '" + segment + "'");
      }
      *node = ConfigNode::make_map();
      node->set_mark(mark);
    }
    path = child_path(path, segment);
    if (last) {
      node->set(segment, value, mark);
      return;
    }
    ConfigNode* next = node->find(segment);
    if (next == nullptr) {
      ConfigNode fresh = ConfigNode::make_map();
      fresh.set_mark(mark);
      next = &node->set(segment, std::move(fresh), mark);
    }
    node = next;
  }
}

std::vector<std::string> config_plugin_paths(const ConfigNode& root) {
  std::vector<std::string> out;
  const ConfigNode* plugins = root.find("plugins");
  if (plugins == nullptr || !plugins->is_list()) return out;
  for (const auto& item : plugins->items()) {
    if (item.is_string()) out.push_back(item.as_string());
  }
  return out;
}

}  // namespace detkit
