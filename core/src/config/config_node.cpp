// ConfigNode: value tree with source marks.
#include "detkit/config_node.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "detkit/core/text.h"
#include "detkit/error.h"
#include "yaml_scalar.h"

namespace detkit {

std::string SourceMark::str() const {
  if (!file) return origin.empty() ? std::string("<unknown>") : origin;
  std::string out = *file;
  if (line > 0) out += ":" + std::to_string(line);
  if (column > 0) out += ":" + std::to_string(column);
  return out;
}

ConfigNode::ConfigNode() = default;
ConfigNode::ConfigNode(bool value) : type_(Type::boolean), bool_(value) {}
ConfigNode::ConfigNode(int value) : type_(Type::integer), int_(value) {}
ConfigNode::ConfigNode(int64_t value) : type_(Type::integer), int_(value) {}
ConfigNode::ConfigNode(double value) : type_(Type::real), real_(value) {}
ConfigNode::ConfigNode(const char* value) : type_(Type::string), string_(value) {}
ConfigNode::ConfigNode(std::string value) : type_(Type::string), string_(std::move(value)) {}
ConfigNode::ConfigNode(const ConfigNode&) = default;
ConfigNode::ConfigNode(ConfigNode&&) noexcept = default;
ConfigNode& ConfigNode::operator=(const ConfigNode&) = default;
ConfigNode& ConfigNode::operator=(ConfigNode&&) noexcept = default;
ConfigNode::~ConfigNode() = default;

ConfigNode ConfigNode::make_list() {
  ConfigNode node;
  node.type_ = Type::list;
  return node;
}

ConfigNode ConfigNode::make_map() {
  ConfigNode node;
  node.type_ = Type::map;
  return node;
}

ConfigNode ConfigNode::typed(const std::string& type,
                             std::vector<std::pair<std::string, ConfigNode>> entries) {
  ConfigNode node = make_map();
  node.set("type", ConfigNode(type));
  for (auto& [key, value] : entries)
    node.set(key, std::move(value));
  return node;
}

const char* ConfigNode::type_name(Type type) {
  switch (type) {
    case Type::null:
      return "null";
    case Type::boolean:
      return "bool";
    case Type::integer:
      return "int";
    case Type::real:
      return "float";
    case Type::string:
      return "string";
    case Type::list:
      return "list";
    case Type::map:
      return "map";
  }
  return "?";
}

const char* ConfigNode::type_name() const {
  return type_name(type_);
}

namespace {
[[noreturn]] void type_mismatch(const ConfigNode& node, const char* expected) {
  throw ConfigError(located_message(
      node.mark(), "",
      std::string("expected ") + expected + ", got " + node.type_name() + " " + node.to_flow()));
}
}  // namespace

bool ConfigNode::as_bool() const {
  if (type_ != Type::boolean) type_mismatch(*this, "a bool");
  return bool_;
}

int64_t ConfigNode::as_int() const {
  if (type_ != Type::integer) type_mismatch(*this, "an int");
  return int_;
}

double ConfigNode::as_double() const {
  if (type_ == Type::integer) return static_cast<double>(int_);
  if (type_ != Type::real) type_mismatch(*this, "a number");
  return real_;
}

const std::string& ConfigNode::as_string() const {
  if (type_ != Type::string) type_mismatch(*this, "a string");
  return string_;
}

const std::vector<ConfigNode>& ConfigNode::items() const {
  if (type_ != Type::list) type_mismatch(*this, "a list");
  return list_;
}

std::vector<ConfigNode>& ConfigNode::items() {
  if (type_ != Type::list) type_mismatch(*this, "a list");
  return list_;
}

ConfigNode& ConfigNode::push_back(ConfigNode value) {
  if (type_ == Type::null) type_ = Type::list;
  items().push_back(std::move(value));
  return list_.back();
}

const std::vector<ConfigEntry>& ConfigNode::entries() const {
  if (type_ != Type::map) type_mismatch(*this, "a map");
  return map_;
}

std::vector<ConfigEntry>& ConfigNode::entries() {
  if (type_ != Type::map) type_mismatch(*this, "a map");
  return map_;
}

const ConfigEntry* ConfigNode::find_entry(std::string_view key) const {
  if (type_ != Type::map) return nullptr;
  for (const auto& entry : map_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

const ConfigNode* ConfigNode::find(std::string_view key) const {
  const ConfigEntry* entry = find_entry(key);
  return entry ? &entry->value : nullptr;
}

ConfigNode* ConfigNode::find(std::string_view key) {
  return const_cast<ConfigNode*>(static_cast<const ConfigNode*>(this)->find(key));
}

const ConfigNode& ConfigNode::at(std::string_view key) const {
  const ConfigNode* value = find(key);
  if (value == nullptr) {
    std::vector<std::string> keys;
    if (type_ == Type::map) {
      for (const auto& entry : map_)
        keys.push_back(entry.key);
    }
    throw ConfigError(located_message(
        mark_, "", "missing key '" + std::string(key) + "'" + did_you_mean(key, keys)));
  }
  return *value;
}

ConfigNode& ConfigNode::set(const std::string& key, ConfigNode value, SourceMark key_mark) {
  if (type_ == Type::null) type_ = Type::map;
  if (type_ != Type::map) type_mismatch(*this, "a map");
  for (auto& entry : map_) {
    if (entry.key == key) {
      entry.value = std::move(value);
      if (key_mark.in_file() || !key_mark.origin.empty()) entry.key_mark = std::move(key_mark);
      return entry.value;
    }
  }
  map_.push_back(ConfigEntry{key, std::move(key_mark), std::move(value)});
  return map_.back().value;
}

bool ConfigNode::erase(std::string_view key) {
  if (type_ != Type::map) return false;
  for (auto it = map_.begin(); it != map_.end(); ++it) {
    if (it->key == key) {
      map_.erase(it);
      return true;
    }
  }
  return false;
}

size_t ConfigNode::size() const {
  if (type_ == Type::list) return list_.size();
  if (type_ == Type::map) return map_.size();
  return 0;
}

void ConfigNode::set_mark_recursive(const SourceMark& mark) {
  if (!mark_.in_file()) mark_ = mark;
  for (auto& item : list_)
    item.set_mark_recursive(mark);
  for (auto& entry : map_) {
    if (!entry.key_mark.in_file()) entry.key_mark = mark;
    entry.value.set_mark_recursive(mark);
  }
}

namespace {

/// Whether a string must be quoted to read back as the same string, in block or flow context.
bool needs_quotes(const std::string& text) {
  if (text.empty()) return true;
  // Indicators anywhere (flow context: , [ ] { }; ": " and " #"), and leading or trailing
  // spaces, which YAML strips.
  static const char* const specials = ":{}[],#&*!|>'\"%@`";
  if (text.find_first_of(specials) != std::string::npos) return true;
  if (text.front() == ' ' || text.back() == ' ' || text.front() == '-' || text.front() == '?')
    return true;
  if (text == "<<" || text.compare(0, 3, "...") == 0) return true;  // merge key, document end
  // Words YAML 1.1 readers would take for a bool.
  static const char* const words[] = {"yes", "no", "on", "off", "Yes", "No", "On", "Off"};
  for (const char* word : words) {
    if (text == word) return true;
  }
  return !yaml::plain_scalar_is_string(text);  // null, a bool or a number when plain
}

/// Whether a string holds a character only a double-quoted YAML scalar can write (a line
/// break, a tab or another control character).
bool needs_escapes(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

/// `text` as a YAML scalar that reads back as the same string: plain when that is safe, else
/// single-quoted, or double-quoted with escapes when it holds control characters.
std::string quote_string(const std::string& text) {
  if (needs_escapes(text)) return json_quote(text);  // JSON strings are YAML scalars
  if (!needs_quotes(text)) return text;
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else
      out += c;
  }
  return out + "'";
}

std::string format_real(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  // Use the shortest representation that round-trips.
  for (int precision = 1; precision <= 17; ++precision) {
    char candidate[64];
    std::snprintf(candidate, sizeof(candidate), "%.*g", precision, value);
    if (std::strtod(candidate, nullptr) == value) {
      std::snprintf(buffer, sizeof(buffer), "%s", candidate);
      break;
    }
  }
  std::string out = buffer;
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
  return out;
}

}  // namespace

std::string ConfigNode::to_flow() const {
  switch (type_) {
    case Type::null:
      return "null";
    case Type::boolean:
      return bool_ ? "true" : "false";
    case Type::integer:
      return std::to_string(int_);
    case Type::real:
      return format_real(real_);
    case Type::string:
      return quote_string(string_);
    case Type::list: {
      std::string out = "[";
      for (size_t i = 0; i < list_.size(); ++i) {
        if (i) out += ", ";
        out += list_[i].to_flow();
      }
      return out + "]";
    }
    case Type::map: {
      std::string out = "{";
      for (size_t i = 0; i < map_.size(); ++i) {
        if (i) out += ", ";
        out += quote_string(map_[i].key) + ": " + map_[i].value.to_flow();
      }
      return out + "}";
    }
  }
  return "?";
}

bool ConfigNode::operator==(const ConfigNode& other) const {
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::null:
      return true;
    case Type::boolean:
      return bool_ == other.bool_;
    case Type::integer:
      return int_ == other.int_;
    case Type::real:
      return real_ == other.real_;
    case Type::string:
      return string_ == other.string_;
    case Type::list:
      return list_ == other.list_;
    case Type::map: {
      if (map_.size() != other.map_.size()) return false;
      for (size_t i = 0; i < map_.size(); ++i) {
        if (map_[i].key != other.map_[i].key || map_[i].value != other.map_[i].value) return false;
      }
      return true;
    }
  }
  return false;
}

}  // namespace detkit
