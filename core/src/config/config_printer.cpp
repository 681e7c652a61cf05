// Prints a merged config as block YAML, optionally with the source of every value. Keys and
// strings are quoted (ConfigNode::to_flow) so that the printed config loads back to equal values.
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

/// `text` with control characters (a line break in a file name) written as \xNN, so that a
/// source comment stays on its line.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static const char* const hex = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 15];
    } else {
      out += c;
    }
  }
  return out;
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
      // Keys are quoted like values when needed: a key may hold ": ", "#" or a line break.
      const std::string prefix = std::string(indent, ' ') + ConfigNode(entry.key).to_flow() + ":";
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
      out += "  # " + printable(line.source);
    }
    out += "\n";
  }
  return out;
}

}  // namespace detkit
