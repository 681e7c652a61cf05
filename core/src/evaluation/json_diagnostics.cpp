// A small JSON syntax scanner that finds where a document first goes wrong (see the header).
#include "json_diagnostics.h"

#include <cmath>
#include <cstdlib>
#include <vector>

namespace detkit::json_diagnostics {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// Scans the grammar of RFC 8259 without building anything.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  std::optional<SyntaxIssue> run() {
    enum class State { value, value_or_close, key_or_close, key, colon, after_value };
    State state = State::value;
    for (;;) {
      skip_whitespace();
      if (pos_ == text_.size()) {
        if (open_.empty() && state == State::after_value) return std::nullopt;
        return issue(pos_, pos_ == 0 ? "the file is empty"
                                     : "unexpected end of file (is the file truncated?)");
      }
      const char c = text_[pos_];
      switch (state) {
        case State::value:
        case State::value_or_close:
          if (state == State::value_or_close && c == ']') {
            open_.pop_back();
            ++pos_;
            state = State::after_value;
            break;
          }
          if (c == '{' || c == '[') {
            open_.push_back({c, 0, {}, false});
            ++pos_;
            state = c == '{' ? State::key_or_close : State::value_or_close;
            break;
          }
          if (auto problem = scan_scalar()) return problem;
          state = State::after_value;
          break;
        case State::key_or_close:
        case State::key: {
          if (state == State::key_or_close && c == '}') {
            open_.pop_back();
            ++pos_;
            state = State::after_value;
            break;
          }
          if (c != '"') return issue(pos_, "expected a quoted key, found " + describe(c));
          const size_t start = pos_;
          if (auto problem = scan_string()) return problem;
          open_.back().key = std::string(text_.substr(start + 1, pos_ - start - 2));
          open_.back().has_key = true;
          state = State::colon;
          break;
        }
        case State::colon:
          if (c != ':') return issue(pos_, "expected ':' after a key, found " + describe(c));
          ++pos_;
          state = State::value;
          break;
        case State::after_value: {
          if (open_.empty()) return issue(pos_, "unexpected data after the end of the document");
          Frame& frame = open_.back();
          const char close = frame.bracket == '{' ? '}' : ']';
          if (c == ',') {
            ++pos_;
            ++frame.index;
            frame.has_key = false;
            state = frame.bracket == '{' ? State::key : State::value;
          } else if (c == close) {
            open_.pop_back();
            ++pos_;
          } else {
            return issue(pos_,
                         std::string("expected ',' or '") + close + "', found " + describe(c));
          }
          break;
        }
      }
    }
  }

 private:
  /// One open container: '{' or '[', the index of its current element, and (objects) the key
  /// of the value being read.
  struct Frame {
    char bracket;
    size_t index;
    std::string key;
    bool has_key;
  };

  /// The element being read, as `annotations[3].bbox[0]`.
  std::string element() const {
    std::string path;
    for (const Frame& frame : open_) {
      if (frame.bracket == '[') {
        path += "[" + std::to_string(frame.index) + "]";
      } else if (frame.has_key) {
        path += (path.empty() ? "" : ".") + frame.key;
      }
    }
    return path;
  }

  static std::string describe(char c) {
    if (static_cast<unsigned char>(c) < 0x20) return "a control character";
    return std::string("'") + c + "'";
  }

  SyntaxIssue issue(size_t offset, std::string what) const {
    SyntaxIssue result;
    result.offset = offset;
    result.element = element();
    result.what = std::move(what);
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++result.line;
        result.column = 1;
      } else {
        ++result.column;
      }
    }
    return result;
  }

  void skip_whitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool starts_with(std::string_view word) const { return text_.substr(pos_, word.size()) == word; }

  std::optional<SyntaxIssue> scan_scalar() {
    const char c = text_[pos_];
    if (c == '"') return scan_string();
    if (c == '-' || is_digit(c)) return scan_number();
    for (std::string_view word : {"true", "false", "null"}) {
      if (starts_with(word)) {
        pos_ += word.size();
        return std::nullopt;
      }
    }
    for (std::string_view word : {"NaN", "Infinity", "-Infinity", "nan", "inf"}) {
      if (starts_with(word))
        return issue(pos_, std::string(word) + " is not a JSON number (write a finite number)");
    }
    if (word_prefix_of("true") || word_prefix_of("false") || word_prefix_of("null"))
      return issue(pos_, "unexpected end of file (is the file truncated?)");
    return issue(pos_, "expected a value, found " + describe(c));
  }

  // A literal cut short by the end of the file ("tr" at the very end).
  bool word_prefix_of(std::string_view word) const {
    const std::string_view rest = text_.substr(pos_);
    return rest.size() < word.size() && word.substr(0, rest.size()) == rest;
  }

  std::optional<SyntaxIssue> scan_string() {
    const size_t start = pos_++;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return std::nullopt;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return issue(pos_, "a control character inside a string (unescaped newline?)");
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        const char escaped = text_[pos_ + 1];
        if (std::string_view("\"\\/bfnrtu").find(escaped) == std::string_view::npos)
          return issue(pos_, std::string("invalid escape '\\") + escaped + "' in a string");
        pos_ += 2;
        continue;
      }
      ++pos_;
    }
    return issue(start, "a string that never ends (is the file truncated?)");
  }

  std::optional<SyntaxIssue> scan_number() {
    const size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && starts_with("Infinity"))
      return issue(start, "-Infinity is not a JSON number (write a finite number)");
    if (pos_ >= text_.size() || !is_digit(text_[pos_])) return bad_number(start);
    if (text_[pos_] == '0') {
      ++pos_;
      if (pos_ < text_.size() && is_digit(text_[pos_]))
        return issue(start, "a number with a leading zero");
    } else {
      while (pos_ < text_.size() && is_digit(text_[pos_]))
        ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (pos_ >= text_.size() || !is_digit(text_[pos_])) return bad_number(start);
      while (pos_ < text_.size() && is_digit(text_[pos_]))
        ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (pos_ >= text_.size() || !is_digit(text_[pos_])) return bad_number(start);
      while (pos_ < text_.size() && is_digit(text_[pos_]))
        ++pos_;
    }
    return check_range(start);
  }

  /// simdjson stores numbers as int64, uint64 or double: an integer literal beyond
  /// [-2^63, 2^64 - 1] or a number whose magnitude rounds to infinity is an error there.
  std::optional<SyntaxIssue> check_range(size_t start) const {
    const std::string token(text_.substr(start, pos_ - start));
    if (token.find_first_of(".eE") == std::string::npos) {
      const bool negative = token[0] == '-';
      const std::string digits = negative ? token.substr(1) : token;
      const std::string limit = negative ? "9223372036854775808" : "18446744073709551615";
      if (digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit))
        return std::nullopt;
      return issue(start, "the integer " + token + " is beyond the 64-bit range (from " +
                              "-9223372036854775808 to 18446744073709551615)");
    }
    if (std::isinf(std::strtod(token.c_str(), nullptr)))
      return issue(start,
                   "the number " + token + " is beyond the range of a double (about " + "1.8e308)");
    return std::nullopt;
  }

  std::optional<SyntaxIssue> bad_number(size_t start) const {
    if (pos_ >= text_.size()) return issue(pos_, "unexpected end of file (is the file truncated?)");
    return issue(start, "a malformed number");
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<Frame> open_;
};

}  // namespace

std::optional<SyntaxIssue> find_syntax_error(std::string_view text) {
  return Scanner(text).run();
}

std::string describe_syntax_error(std::string_view text, const std::string& fallback) {
  const std::optional<SyntaxIssue> found = find_syntax_error(text);
  if (!found) return fallback;
  std::string where = "line " + std::to_string(found->line) + ", column " +
                      std::to_string(found->column) + " (byte " + std::to_string(found->offset) +
                      ")";
  if (!found->element.empty()) where += ", at " + found->element;
  return where + ": " + found->what;
}

}  // namespace detkit::json_diagnostics
