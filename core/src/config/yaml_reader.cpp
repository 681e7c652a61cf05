// YAML -> ConfigNode, with marks and YAML 1.2 core-schema scalar typing.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "detkit/core/config.h"
#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit {

namespace {

/// Resolves a plain scalar by the YAML 1.2 core schema (as yaml-cpp leaves typing to us).
ConfigNode resolve_plain_scalar(const std::string& text) {
  static const std::regex int_pattern(R"([-+]?[0-9]+)");
  static const std::regex hex_pattern(R"(0x[0-9a-fA-F]+)");
  static const std::regex oct_pattern(R"(0o[0-7]+)");
  static const std::regex float_pattern(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    return ConfigNode();
  if (text == "true" || text == "True" || text == "TRUE") return ConfigNode(true);
  if (text == "false" || text == "False" || text == "FALSE") return ConfigNode(false);
  if (std::regex_match(text, int_pattern)) {
    errno = 0;
    const long long value = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) return ConfigNode(std::strtod(text.c_str(), nullptr));
    return ConfigNode(static_cast<int64_t>(value));
  }
  if (std::regex_match(text, hex_pattern))
    return ConfigNode(static_cast<int64_t>(std::strtoll(text.c_str() + 2, nullptr, 16)));
  if (std::regex_match(text, oct_pattern))
    return ConfigNode(static_cast<int64_t>(std::strtoll(text.c_str() + 2, nullptr, 8)));
  if (std::regex_match(text, float_pattern)) return ConfigNode(std::strtod(text.c_str(), nullptr));
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf")
    return ConfigNode(HUGE_VAL);
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") return ConfigNode(-HUGE_VAL);
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return ConfigNode(std::nan(""));
  return ConfigNode(text);
}

/// Applies a YAML merge key: keys of the merged map(s) that `target` does not set yet.
void merge_key(ConfigNode& target, const ConfigNode& source) {
  if (source.is_list()) {
    for (const auto& item : source.items())
      merge_key(target, item);
    return;
  }
  if (!source.is_map()) {
    throw ConfigError(
        located_message(source.mark(), "", "a merge key (<<) needs a map or a list of maps"));
  }
  for (const auto& entry : source.entries()) {
    if (!target.contains(entry.key)) target.set(entry.key, entry.value, entry.key_mark);
  }
}

class Converter {
 public:
  explicit Converter(std::shared_ptr<const std::string> file) : file_(std::move(file)) {}

  SourceMark mark(const YAML::Mark& m) const {
    SourceMark out;
    out.file = file_;
    out.line = m.line + 1;
    out.column = m.column + 1;
    return out;
  }

  ConfigNode convert(const YAML::Node& node) {
    ConfigNode out;
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        break;
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        const std::string& text = node.Scalar();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") {
          out = ConfigNode(text);  // quoted or explicitly a string
        } else if (tag == "tag:yaml.org,2002:float") {
          out = ConfigNode(std::strtod(text.c_str(), nullptr));
        } else {
          out = resolve_plain_scalar(text);
        }
        break;
      }
      case YAML::NodeType::Sequence:
        out = ConfigNode::make_list();
        for (const auto& item : node)
          out.push_back(convert(item));
        break;
      case YAML::NodeType::Map: {
        out = ConfigNode::make_map();
        std::vector<ConfigNode> merges;  // YAML merge keys (<<: *anchor), applied after
        for (const auto& pair : node) {
          if (!pair.first.IsScalar()) {
            throw ConfigError(
                located_message(mark(pair.first.Mark()), "", "map keys must be plain strings"));
          }
          const std::string key = pair.first.Scalar();
          if (key == "<<" && pair.first.Tag() == "?") {
            merges.push_back(convert(pair.second));
            continue;
          }
          if (const ConfigEntry* previous = out.find_entry(key)) {
            throw ConfigError(located_message(
                mark(pair.first.Mark()), "",
                "duplicate key '" + key + "' (first written at " + previous->key_mark.str() + ")"));
          }
          out.set(key, convert(pair.second), mark(pair.first.Mark()));
        }
        for (const ConfigNode& merge : merges)
          merge_key(out, merge);
        break;
      }
    }
    out.set_mark(mark(node.Mark()));
    return out;
  }

 private:
  std::shared_ptr<const std::string> file_;
};

ConfigNode parse(const std::string& text, const std::shared_ptr<const std::string>& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    SourceMark mark;
    mark.file = name;
    mark.line = e.mark.line + 1;
    mark.column = e.mark.column + 1;
    throw ConfigError(located_message(mark, "", "YAML syntax error: " + e.msg));
  }
  Converter converter(name);
  try {
    return converter.convert(root);
  } catch (const YAML::Exception& e) {
    SourceMark mark;
    mark.file = name;
    mark.line = e.mark.line + 1;
    mark.column = e.mark.column + 1;
    throw ConfigError(located_message(mark, "", "YAML error: " + e.msg));
  }
}

}  // namespace

ConfigNode parse_yaml_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ConfigError("config file '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw ConfigError("config path '" + path + "' is a directory");
  const std::string extension = fs::path(path).extension().string();
  if (extension != ".yaml" && extension != ".yml" && extension != ".json") {
    throw ConfigError("config file '" + path + "': only .yaml, .yml and .json files are supported");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), std::make_shared<const std::string>(path));
}

ConfigNode parse_yaml_text(const std::string& text, const std::string& origin) {
  return parse(text, std::make_shared<const std::string>(origin));
}

}  // namespace detkit
