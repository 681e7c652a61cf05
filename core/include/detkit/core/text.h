// Small text helpers shared by the config system, the registry and the CLI.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "detkit/config_node.h"

namespace detkit {

/// Levenshtein distance between two strings (case-sensitive).
DETKIT_API size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate closest to `word` if it is close enough to be a likely typo (distance at most
/// a third of the longer word, or a case-insensitive match), else "".
DETKIT_API std::string closest_match(std::string_view word,
                                     const std::vector<std::string>& candidates);
/// "; did you mean 'X'?" or "".
DETKIT_API std::string did_you_mean(std::string_view word,
                                    const std::vector<std::string>& candidates);
/// `text` as a JSON string literal, quotes included: `"` and `\` escaped, control characters
/// and DEL as \n, \t, \r or \uXXXX. The result is also a valid YAML double-quoted scalar.
DETKIT_API std::string json_quote(std::string_view text);
/// Joins with a separator.
DETKIT_API std::string join(const std::vector<std::string>& parts, std::string_view separator);
/// The first `shown` parts joined with ", ", then " (+N more)" for the rest: long key lists in
/// one line.
DETKIT_API std::string join_first(const std::vector<std::string>& parts, size_t shown);
/// "file:line:col: path: message" (parts that are unknown are left out).
DETKIT_API std::string located_message(const SourceMark& mark, std::string_view path,
                                       std::string_view message);
/// Appends ".key" (or "key" when `path` is empty) / "[index]".
DETKIT_API std::string child_path(std::string_view path, std::string_view key);
DETKIT_API std::string index_path(std::string_view path, size_t index);

}  // namespace detkit

#include <exception>

namespace detkit {
/// The message of an exception, without LibTorch's C++ backtrace for c10::Error.
DETKIT_API std::string exception_message(const std::exception& error);
}  // namespace detkit
