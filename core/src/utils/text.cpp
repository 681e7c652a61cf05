// Edit distance, did-you-mean suggestions, located messages and JSON string quoting.
#include "detkit/core/text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace detkit {

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
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
      default:
        if (byte < 0x20 || byte == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", byte);
          out += escape;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

namespace {
std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
}  // namespace

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  const std::string word_lower = lower(word);
  for (const auto& candidate : candidates) {
    if (lower(candidate) == word_lower) return candidate;
    const size_t distance = edit_distance(word, candidate);
    const size_t longest = std::max(word.size(), candidate.size());
    if (distance * 3 <= longest + 1 && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string match = closest_match(word, candidates);
  return match.empty() ? std::string() : "; did you mean '" + match + "'?";
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

std::string join_first(const std::vector<std::string>& parts, size_t shown) {
  const std::vector<std::string> first(
      parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(std::min(shown, parts.size())));
  std::string text = join(first, ", ");
  if (parts.size() > shown) text += " (+" + std::to_string(parts.size() - shown) + " more)";
  return text;
}

std::string located_message(const SourceMark& mark, std::string_view path,
                            std::string_view message) {
  std::string out;
  if (mark.in_file()) {
    out += mark.str() + ": ";
  } else if (!mark.origin.empty()) {
    out += mark.origin + ": ";
  }
  if (!path.empty()) out += std::string(path) + ": ";
  out += message;
  return out;
}

std::string child_path(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string index_path(std::string_view path, size_t index) {
  return std::string(path) + "." + std::to_string(index);
}

}  // namespace detkit

#include <c10/util/Exception.h>

namespace detkit {
std::string exception_message(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error))
    return c10_error->what_without_backtrace();
  return error.what();
}
}  // namespace detkit
