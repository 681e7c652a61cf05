// YAML 1.2 core-schema typing of plain scalars (yaml-cpp leaves typing to its user): null,
// bool, int (decimal, 0x hex, 0o octal), float. A number that does not fit is an error naming
// its location, never a clamped value.
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <utility>

#include "detkit/core/text.h"
#include "detkit/error.h"
#include "yaml_scalar.h"

namespace detkit {

namespace {

bool is_digit(char c, int base) {
  if (base == 8) return c >= '0' && c <= '7';
  if (base == 16) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  return c >= '0' && c <= '9';
}

/// Number of digits of `base` in `text` from `pos` on.
size_t count_digits(const std::string& text, size_t pos, int base = 10) {
  size_t n = 0;
  while (pos + n < text.size() && is_digit(text[pos + n], base))
    ++n;
  return n;
}

/// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_core_float(const std::string& text) {
  size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  const size_t whole = count_digits(text, i);
  i += whole;
  size_t fraction = 0;
  if (i < text.size() && text[i] == '.') {
    fraction = count_digits(text, i + 1);
    i += 1 + fraction;
  }
  if (whole == 0 && fraction == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    const size_t exponent = count_digits(text, i);
    if (exponent == 0) return false;
    i += exponent;
  }
  return i == text.size();
}

/// "0x" / "0o" followed by digits of `base` only.
bool is_prefixed_int(const std::string& text, char prefix, int base) {
  return text.size() > 2 && text[0] == '0' && text[1] == prefix &&
         count_digits(text, 2, base) == text.size() - 2;
}

ConfigError number_error(const SourceMark& mark, const std::string& message) {
  return ConfigError(located_message(mark, "", message));
}

/// strtod of a text already known to be a number; a value beyond double's range is an error.
double parse_double(const std::string& text, const SourceMark& mark) {
  errno = 0;
  const double value = std::strtod(text.c_str(), nullptr);
  if (errno == ERANGE && std::isinf(value)) {
    throw number_error(mark, "the number " + text +
                                 " is beyond the range of a 64-bit float (largest about 1.8e308)");
  }
  return value;
}

bool is_one_of(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (text == word) return true;
  }
  return false;
}

}  // namespace

namespace yaml {

ConfigNode resolve_plain_scalar(const std::string& text, const SourceMark& mark) {
  if (text.empty() || is_one_of(text, {"~", "null", "Null", "NULL"})) return ConfigNode();
  if (is_one_of(text, {"true", "True", "TRUE"})) return ConfigNode(true);
  if (is_one_of(text, {"false", "False", "FALSE"})) return ConfigNode(false);
  const char first = text[0];
  if (!is_digit(first, 10) && first != '-' && first != '+' && first != '.') return ConfigNode(text);
  const size_t sign = (first == '-' || first == '+') ? 1 : 0;
  if (text.size() > sign && count_digits(text, sign) == text.size() - sign) {
    int64_t value = 0;
    const char* begin = text.data() + (first == '+' ? 1 : 0);
    const auto result = std::from_chars(begin, text.data() + text.size(), value, 10);
    if (result.ec == std::errc()) return ConfigNode(value);
    return ConfigNode(parse_double(text, mark));  // too long for int64: a float, as in YAML
  }
  for (const auto& [prefix, base] : {std::pair<char, int>{'x', 16}, std::pair<char, int>{'o', 8}}) {
    if (!is_prefixed_int(text, prefix, base)) continue;
    int64_t value = 0;
    const auto result = std::from_chars(text.data() + 2, text.data() + text.size(), value, base);
    if (result.ec != std::errc()) {
      throw number_error(mark, "the integer " + text +
                                   " does not fit in a 64-bit signed int (largest "
                                   "9223372036854775807)");
    }
    return ConfigNode(value);
  }
  if (is_core_float(text)) return ConfigNode(parse_double(text, mark));
  if (is_one_of(text, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}))
    return ConfigNode(HUGE_VAL);
  if (is_one_of(text, {"-.inf", "-.Inf", "-.INF"})) return ConfigNode(-HUGE_VAL);
  if (is_one_of(text, {".nan", ".NaN", ".NAN"})) return ConfigNode(std::nan(""));
  return ConfigNode(text);
}

ConfigNode resolve_float_scalar(const std::string& text, const SourceMark& mark) {
  const ConfigNode value = resolve_plain_scalar(text, mark);
  if (!value.is_number()) throw number_error(mark, "!!float needs a number, got '" + text + "'");
  return ConfigNode(value.as_double());
}

bool plain_scalar_is_string(const std::string& text) {
  try {
    const ConfigNode value = resolve_plain_scalar(text, SourceMark());
    return value.is_string() && value.as_string() == text;
  } catch (const ConfigError&) {
    return false;  // an overflowing number reads back as an error, not as the string
  }
}

}  // namespace yaml

}  // namespace detkit
