// Locating JSON syntax errors (internal to libdetkit). simdjson says *that* a document is
// invalid; this scanner, run only after a failure, says *where*: line, column, byte offset and
// the element (`annotations[3].bbox[0]`), including numbers simdjson cannot hold (beyond the
// range of a double, or integers beyond 64 bits).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace detkit::json_diagnostics {

/// Where a JSON document first stops being valid JSON, and why.
struct SyntaxIssue {
  /// 0-based byte offset.
  size_t offset = 0;
  /// 1-based line and column (columns count bytes).
  size_t line = 1;
  size_t column = 1;
  /// The element being read, as `images[2].width` (empty at the top level).
  std::string element;
  std::string what;
};

/// The first syntax error or number out of range of `text`, or nullopt when the scanner finds
/// none (the text may still be rejected for other reasons: bad UTF-8, nesting too deep).
std::optional<SyntaxIssue> find_syntax_error(std::string_view text);

/// "line L, column C (byte B), at ELEMENT: WHAT" for the first syntax error of `text`, or
/// `fallback` (the parser's own message) when the scanner finds none.
std::string describe_syntax_error(std::string_view text, const std::string& fallback);

}  // namespace detkit::json_diagnostics
