// A small JSON syntax scanner that finds where a document first goes wrong (see the header).
#include "json_diagnostics.h"

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
    std::vector<char> open;  // '{' or '[' for each enclosing container
    for (;;) {
      skip_whitespace();
      if (pos_ == text_.size()) {
        if (open.empty() && state == State::after_value) return std::nullopt;
        return issue(pos_, pos_ == 0 ? "the file is empty"
                                     : "unexpected end of file (is the file truncated?)");
      }
      const char c = text_[pos_];
      switch (state) {
        case State::value:
        case State::value_or_close:
          if (state == State::value_or_close && c == ']') {
            open.pop_back();
            ++pos_;
            state = State::after_value;
            break;
          }
          if (c == '{' || c == '[') {
            open.push_back(c);
            ++pos_;
            state = c == '{' ? State::key_or_close : State::value_or_close;
            break;
          }
          if (auto problem = scan_scalar()) return problem;
          state = State::after_value;
          break;
        case State::key_or_close:
        case State::key:
          if (state == State::key_or_close && c == '}') {
            open.pop_back();
            ++pos_;
            state = State::after_value;
            break;
          }
          if (c != '"') return issue(pos_, "expected a quoted key, found " + describe(c));
          if (auto problem = scan_string()) return problem;
          state = State::colon;
          break;
        case State::colon:
          if (c != ':') return issue(pos_, "expected ':' after a key, found " + describe(c));
          ++pos_;
          state = State::value;
          break;
        case State::after_value: {
          if (open.empty()) return issue(pos_, "unexpected data after the end of the document");
          const char close = open.back() == '{' ? '}' : ']';
          if (c == ',') {
            ++pos_;
            state = open.back() == '{' ? State::key : State::value;
          } else if (c == close) {
            open.pop_back();
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
  static std::string describe(char c) {
    if (static_cast<unsigned char>(c) < 0x20) return "a control character";
    return std::string("'") + c + "'";
  }

  SyntaxIssue issue(size_t offset, std::string what) const {
    SyntaxIssue result;
    result.offset = offset;
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
    return std::nullopt;
  }

  std::optional<SyntaxIssue> bad_number(size_t start) const {
    if (pos_ >= text_.size()) return issue(pos_, "unexpected end of file (is the file truncated?)");
    return issue(start, "a malformed number");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<SyntaxIssue> find_syntax_error(std::string_view text) {
  return Scanner(text).run();
}

std::string describe_syntax_error(std::string_view text, const std::string& fallback) {
  const std::optional<SyntaxIssue> found = find_syntax_error(text);
  if (!found) return fallback;
  return "line " + std::to_string(found->line) + ", column " + std::to_string(found->column) +
         " (byte " + std::to_string(found->offset) + "): " + found->what;
}

}  // namespace detkit::json_diagnostics
