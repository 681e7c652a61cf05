// Prints a merged config as block YAML, optionally with the source of every value.
#include <algorithm>

#include "detkit/core/config.h"

namespace detkit {

namespace {

struct Line {
  std::string text;
  std::string source;
};

bool is_block(const ConfigNode& node) {
  if (node.is_map()) return node.size() > 0;
  if (node.is_list()) {
    return std::any_of(node.items().begin(), node.items().end(),
                       [](const ConfigNode& item) { return is_block(item); });
  }
  return false;
}

std::string source_of(const ConfigNode& value, const SourceMark& key_mark) {
  if (value.mark().in_file() || !value.mark().origin.empty()) return value.mark().str();
  return key_mark.str();
}

class Printer {
 public:
  std::vector<Line> lines;

  void map(const ConfigNode& node, size_t indent) {
    for (const auto& entry : node.entries()) {
      const std::string prefix = std::string(indent, ' ') + entry.key + ":";
      if (is_block(entry.value)) {
        lines.push_back({prefix, entry.key_mark.str()});
        if (entry.value.is_map())
          map(entry.value, indent + 2);
        else
          list(entry.value, indent + 2);
      } else {
        lines.push_back(
            {prefix + " " + entry.value.to_flow(), source_of(entry.value, entry.key_mark)});
      }
    }
  }

  void list(const ConfigNode& node, size_t indent) {
    for (const auto& item : node.items()) {
      const size_t first = lines.size();
      if (item.is_map() && item.size() > 0) {
        map(item, indent + 2);
      } else if (is_block(item)) {
        lines.push_back({std::string(indent + 2, ' ') + "-", item.mark().str()});
        list(item, indent + 4);
      } else {
        lines.push_back({std::string(indent + 2, ' ') + item.to_flow(), item.mark().str()});
      }
      lines[first].text.replace(indent, 2, "- ");
    }
  }
};

}  // namespace

std::string format_config(const ConfigNode& root, bool show_sources) {
  Printer printer;
  if (root.is_map())
    printer.map(root, 0);
  else
    printer.lines.push_back({root.to_flow(), root.mark().str()});
  size_t width = 0;
  for (const auto& line : printer.lines)
    width = std::max(width, line.text.size());
  width = std::min<size_t>(width, 72);
  std::string out;
  for (const auto& line : printer.lines) {
    out += line.text;
    if (show_sources && !line.source.empty()) {
      out += std::string(line.text.size() < width ? width - line.text.size() : 0, ' ');
      out += "  # " + line.source;
    }
    out += "\n";
  }
  return out;
}

}  // namespace detkit
