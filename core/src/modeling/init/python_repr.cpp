// Python-style printing for MMCV's messages and init log: numbers keep int vs float and print
// as Python's repr does, configs print as Python dicts.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "detkit/modeling/initializer.h"
#include "init_internal.h"

namespace detkit {

namespace detail {

namespace {

/// The shortest decimal digits (no dot, no leading zeros) and decimal point position of
/// `value` (> 0, finite) that read back exactly: value = 0.<digits> * 10^point.
void shortest_digits(double value, std::string& digits, int& point) {
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", precision - 1, value);
    if (std::strtod(buffer, nullptr) == value || precision == 17) break;
  }
  // buffer: d[.ddd]e[+-]xx
  const std::string text(buffer);
  const size_t e = text.find('e');
  digits.clear();
  for (size_t i = 0; i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  while (digits.size() > 1 && digits.back() == '0')
    digits.pop_back();
  point = std::atoi(text.c_str() + e + 1) + 1;
}

/// Python's repr of a string: single quotes unless the text holds one and no double quote.
std::string python_string_repr(const std::string& text) {
  const bool double_quotes =
      text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = double_quotes ? '"' : '\'';
  std::string out(1, quote);
  for (const char c : text) {
    switch (c) {
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
        if (c == quote) out += '\\';
        out += c;
    }
  }
  return out + quote;
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  const std::string sign = std::signbit(value) ? "-" : "";
  if (value == 0.0) return sign + "0.0";
  std::string digits;
  int point = 0;
  shortest_digits(std::fabs(value), digits, point);
  const int n = static_cast<int>(digits.size());
  if (point <= -4 || point > 16) {
    std::string mantissa = digits.substr(0, 1);
    if (n > 1) mantissa += "." + digits.substr(1);
    const int exponent = point - 1;
    char exp_text[16];
    std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    return sign + mantissa + exp_text;
  }
  if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
  if (point >= n) return sign + digits + std::string(point - n, '0') + ".0";
  return sign + digits.substr(0, point) + "." + digits.substr(point);
}

std::string torch_size_repr(at::IntArrayRef shape) {
  std::string out = "torch.Size([";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "])";
}

torch::Tensor direct_parameter(torch::nn::Module& module, const char* name) {
  const auto parameters = module.named_parameters(/*recurse=*/false);
  if (const torch::Tensor* found = parameters.find(name)) return *found;
  return {};
}

}  // namespace detail

InitNumber InitNumber::from(const ConfigNode& node) {
  if (node.is_int()) return InitNumber(node.as_int());
  if (node.is_real()) return InitNumber(node.as_double());
  throw ConfigError(located_message(
      node.mark(), "",
      std::string("expected a number, got ") + node.type_name() + " " + node.to_flow()));
}

std::string InitNumber::str() const {
  if (integer) return std::to_string(static_cast<int64_t>(value));
  return detail::python_float_repr(value);
}

std::string python_repr(const ConfigNode& node) {
  switch (node.type()) {
    case ConfigNode::Type::null:
      return "None";
    case ConfigNode::Type::boolean:
      return node.as_bool() ? "True" : "False";
    case ConfigNode::Type::integer:
      return std::to_string(node.as_int());
    case ConfigNode::Type::real:
      return detail::python_float_repr(node.as_double());
    case ConfigNode::Type::string:
      return detail::python_string_repr(node.as_string());
    case ConfigNode::Type::list: {
      std::string out = "[";
      for (size_t i = 0; i < node.size(); ++i) {
        if (i > 0) out += ", ";
        out += python_repr(node.items()[i]);
      }
      return out + "]";
    }
    case ConfigNode::Type::map: {
      std::string out = "{";
      bool first = true;
      for (const auto& entry : node.entries()) {
        if (!first) out += ", ";
        first = false;
        out += detail::python_string_repr(entry.key) + ": " + python_repr(entry.value);
      }
      return out + "}";
    }
  }
  return "None";
}

}  // namespace detkit
