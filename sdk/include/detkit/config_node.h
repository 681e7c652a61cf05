// ConfigNode: the SDK-owned value tree a config is parsed into. Plugins see configs only through
// this type (and the validated ComponentConfig view), never through yaml-cpp, so yaml-cpp's ABI
// stays out of the SDK. Every node remembers the file, line and column it was written at.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// Where a config value was written: file plus 1-based line and column. A mark without a file
/// is a value made in code (a default) or on the command line (`origin` says which).
struct DETKIT_API SourceMark {
  std::shared_ptr<const std::string> file;
  int line = 0;
  int column = 0;
  /// Used when `file` is null: "default", "--cfg-options", ...
  std::string origin;

  /// True when the value comes from a file.
  bool in_file() const { return file != nullptr; }
  /// "path/to/file.yaml:12:5", or the origin ("default") for values not read from a file.
  std::string str() const;
};

struct ConfigEntry;

/// A config value: null, bool, integer, real, string, list or (insertion-ordered) map.
class DETKIT_API ConfigNode {
 public:
  /// The kind of value a node holds.
  enum class Type { null, boolean, integer, real, string, list, map };

  /// A null node.
  ConfigNode();
  ConfigNode(bool value);
  ConfigNode(int value);
  ConfigNode(int64_t value);
  ConfigNode(double value);
  ConfigNode(const char* value);
  ConfigNode(std::string value);
  ConfigNode(const ConfigNode&);
  ConfigNode(ConfigNode&&) noexcept;
  ConfigNode& operator=(const ConfigNode&);
  ConfigNode& operator=(ConfigNode&&) noexcept;
  ~ConfigNode();

  /// An empty list node.
  static ConfigNode make_list();
  /// An empty map node.
  static ConfigNode make_map();
  /// A component's config map: `{type: <type>}` plus `entries` in order, e.g.
  /// `ConfigNode::typed("L1Loss", {{"loss_weight", ConfigNode(1.0)}})`.
  static ConfigNode typed(const std::string& type,
                          std::vector<std::pair<std::string, ConfigNode>> entries = {});

  Type type() const { return type_; }
  /// "null", "bool", "int", "float", "string", "list" or "map".
  const char* type_name() const;
  /// The name of a type, as type_name() spells it.
  static const char* type_name(Type type);
  bool is_null() const { return type_ == Type::null; }
  bool is_bool() const { return type_ == Type::boolean; }
  bool is_int() const { return type_ == Type::integer; }
  bool is_real() const { return type_ == Type::real; }
  /// An int or a float.
  bool is_number() const { return type_ == Type::integer || type_ == Type::real; }
  bool is_string() const { return type_ == Type::string; }
  bool is_list() const { return type_ == Type::list; }
  bool is_map() const { return type_ == Type::map; }
  bool is_scalar() const { return !is_list() && !is_map(); }

  /// Scalar accessors; they throw ConfigError (naming this node's location) on a type mismatch.
  bool as_bool() const;
  int64_t as_int() const;
  /// An int or a float, as double.
  double as_double() const;
  const std::string& as_string() const;

  /// List access (throws ConfigError if this is not a list).
  const std::vector<ConfigNode>& items() const;
  std::vector<ConfigNode>& items();
  /// Appends to a list (a null node becomes a list first).
  ConfigNode& push_back(ConfigNode value);

  /// Map access (throws ConfigError if this is not a map).
  const std::vector<ConfigEntry>& entries() const;
  std::vector<ConfigEntry>& entries();
  /// The value of `key`, or nullptr. Null for non-maps.
  const ConfigNode* find(std::string_view key) const;
  ConfigNode* find(std::string_view key);
  /// The entry of `key`, or nullptr.
  const ConfigEntry* find_entry(std::string_view key) const;
  /// The value of `key`; throws ConfigError naming this map's location when it is missing.
  const ConfigNode& at(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  /// Sets `key` (replacing its value in place, or appending). A null node becomes a map first.
  ConfigNode& set(const std::string& key, ConfigNode value, SourceMark key_mark = {});
  /// Removes `key`; returns whether it was there.
  bool erase(std::string_view key);
  /// Number of list items or map entries; 0 for scalars.
  size_t size() const;

  const SourceMark& mark() const { return mark_; }
  void set_mark(SourceMark mark) { mark_ = std::move(mark); }
  /// Sets the mark of this node and of every descendant that has no file location.
  void set_mark_recursive(const SourceMark& mark);

  /// The value in YAML flow style: `{type: FocalLoss, gamma: 2.0}`, `[1, 2]`, `'text'`.
  std::string to_flow() const;
  /// Value equality (marks are ignored; an int never equals a float).
  bool operator==(const ConfigNode& other) const;
  bool operator!=(const ConfigNode& other) const { return !(*this == other); }

 private:
  Type type_ = Type::null;
  bool bool_ = false;
  int64_t int_ = 0;
  double real_ = 0.0;
  std::string string_;
  std::vector<ConfigNode> list_;
  std::vector<ConfigEntry> map_;
  SourceMark mark_;
};

/// One key of a map node, with the location of the key itself.
struct DETKIT_API ConfigEntry {
  std::string key;
  SourceMark key_mark;
  ConfigNode value;
};

/// Conversion between ConfigNode and C++ values; specialised for the parameter types the SDK
/// supports: bool, int, int64_t, double, float, std::string, std::vector<T>, std::optional<T>
/// (null <-> nullopt) and ConfigNode itself.
template <class T, class Enable = void>
struct ConfigValue;

template <>
struct ConfigValue<bool> {
  static bool from(const ConfigNode& node) { return node.as_bool(); }
  static ConfigNode to(bool value) { return ConfigNode(value); }
};
template <>
struct ConfigValue<int64_t> {
  static int64_t from(const ConfigNode& node) { return node.as_int(); }
  static ConfigNode to(int64_t value) { return ConfigNode(value); }
};
template <>
struct ConfigValue<int> {
  static int from(const ConfigNode& node) { return static_cast<int>(node.as_int()); }
  static ConfigNode to(int value) { return ConfigNode(value); }
};
template <>
struct ConfigValue<double> {
  static double from(const ConfigNode& node) { return node.as_double(); }
  static ConfigNode to(double value) { return ConfigNode(value); }
};
template <>
struct ConfigValue<float> {
  static float from(const ConfigNode& node) { return static_cast<float>(node.as_double()); }
  static ConfigNode to(float value) { return ConfigNode(static_cast<double>(value)); }
};
template <>
struct ConfigValue<std::string> {
  static std::string from(const ConfigNode& node) { return node.as_string(); }
  static ConfigNode to(const std::string& value) { return ConfigNode(value); }
};
template <>
struct ConfigValue<ConfigNode> {
  static ConfigNode from(const ConfigNode& node) { return node; }
  static ConfigNode to(const ConfigNode& value) { return value; }
};
template <class T>
struct ConfigValue<std::vector<T>> {
  static std::vector<T> from(const ConfigNode& node) {
    std::vector<T> out;
    for (const auto& item : node.items())
      out.push_back(ConfigValue<T>::from(item));
    return out;
  }
  static ConfigNode to(const std::vector<T>& values) {
    ConfigNode out = ConfigNode::make_list();
    for (const auto& v : values)
      out.push_back(ConfigValue<T>::to(v));
    return out;
  }
};
template <class T>
struct ConfigValue<std::optional<T>> {
  static std::optional<T> from(const ConfigNode& node) {
    if (node.is_null()) return std::nullopt;
    return ConfigValue<T>::from(node);
  }
  static ConfigNode to(const std::optional<T>& value) {
    return value ? ConfigValue<T>::to(*value) : ConfigNode();
  }
};

}  // namespace detkit
