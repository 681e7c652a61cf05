// Python-compatible JSON lines for MMCV's `.log.json`.
#include "json_log.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "detkit/engine/dist_utils.h"
#include "detkit/error.h"
#include "detkit/modeling/init.h"

namespace detkit::hooks {

namespace {

/// Appends "\uXXXX".
void append_unicode_escape(std::string& out, unsigned code) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "\\u%04x", code);
  out += buffer;
}

/// The code point of the UTF-8 sequence at text[i] (advancing i); invalid bytes map to
/// U+FFFD, as Python decodes with errors="replace".
unsigned next_code_point(const std::string& text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned c = byte(i);
  int extra = 0;
  unsigned code = 0;
  if (c < 0x80) {
    ++i;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    extra = 1;
    code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    extra = 2;
    code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    extra = 3;
    code = c & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + extra >= text.size()) {
    i = text.size();
    return 0xFFFD;
  }
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  i += extra + 1;
  return code;
}

/// json.dumps of a string (ensure_ascii=True).
std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned code = next_code_point(text, i);
    switch (code) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        // Python escapes everything outside ' '..'~' (DEL included).
        if (code < 0x20 || (code >= 0x7F && code < 0x10000)) {
          append_unicode_escape(out, code);
        } else if (code >= 0x10000) {
          const unsigned v = code - 0x10000;
          append_unicode_escape(out, 0xD800 | (v >> 10));
          append_unicode_escape(out, 0xDC00 | (v & 0x3FF));
        } else {
          out += static_cast<char>(code);
        }
    }
  }
  return out + "\"";
}

/// json.dumps of a float: Python's repr, NaN / Infinity / -Infinity for the others.
std::string json_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return python_repr(ConfigNode(value));
}

}  // namespace

double round5(double value) {
  if (!std::isfinite(value)) return value;
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), "%.5f", value);
  return std::strtod(buffer, nullptr);
}

ConfigNode round_floats(const ConfigNode& value) {
  if (value.is_real()) return ConfigNode(round5(value.as_double()));
  if (!value.is_list()) return value;
  ConfigNode out = ConfigNode::make_list();
  for (const auto& item : value.items())
    out.push_back(round_floats(item));
  return out;
}

std::string json_dumps(const ConfigNode& value) {
  switch (value.type()) {
    case ConfigNode::Type::null:
      return "null";
    case ConfigNode::Type::boolean:
      return value.as_bool() ? "true" : "false";
    case ConfigNode::Type::integer:
      return std::to_string(value.as_int());
    case ConfigNode::Type::real:
      return json_float(value.as_double());
    case ConfigNode::Type::string:
      return json_string(value.as_string());
    case ConfigNode::Type::list: {
      std::string out = "[";
      for (size_t i = 0; i < value.size(); ++i)
        out += (i > 0 ? ", " : "") + json_dumps(value.items()[i]);
      return out + "]";
    }
    case ConfigNode::Type::map: {
      std::string out = "{";
      bool first = true;
      for (const auto& entry : value.entries()) {
        out += (first ? "" : ", ") + json_string(entry.key) + ": " + json_dumps(entry.value);
        first = false;
      }
      return out + "}";
    }
  }
  return "null";
}

void append_json_line(const std::string& path, const ConfigNode& object) {
  if (!is_main_process()) return;  // rank 0 writes the JSON log (MMCV's master_only _dump_log)
  std::ofstream file(path, std::ios::app);
  if (file) file << json_dumps(object) << '\n';
  if (!file) throw Error("cannot append to the JSON log '" + path + "'");
}

}  // namespace detkit::hooks
