// Typing of plain (unquoted) YAML scalars by the YAML 1.2 core schema (yaml_scalar.cpp), shared
// by the reader (yaml_reader.cpp) and the writer (ConfigNode::to_flow, which must quote a string
// whenever its plain form would read back as something else).
#pragma once

#include <string>

#include "detkit/config_node.h"

namespace detkit::yaml {

/// The value of a plain scalar: null, bool, int (decimal, 0x hex, 0o octal), float (including
/// .inf/.nan) or else a string. Throws ConfigError naming `mark` for a hex/octal integer that does
/// not fit in 64 bits and for a number beyond the range of a double (1e999).
ConfigNode resolve_plain_scalar(const std::string& text, const SourceMark& mark);

/// The value of a scalar tagged `!!float`; throws ConfigError naming `mark` when it is not a
/// number or is beyond the range of a double.
ConfigNode resolve_float_scalar(const std::string& text, const SourceMark& mark);

/// Whether `text`, written plain, reads back as the string `text` (and not as null, a bool or a
/// number, and without failing).
bool plain_scalar_is_string(const std::string& text);

}  // namespace detkit::yaml
