// MMCV's JSON log (`<work_dir>/<timestamp>.log.json`): one object per line, written as Python's
// json.dump writes it (", " and ": " separators, ASCII only, floats as Python's repr, NaN and
// Infinity), floats rounded to 5 decimals as TextLoggerHook._round_float does. MMDetection's
// tools/analysis_tools/analyze_logs.py reads this format.
#pragma once

#include <string>

#include "detkit/config_node.h"

namespace detkit::hooks {

/// Python's round(value, 5).
double round5(double value);
/// MMCV's _round_float: a float rounded to 5 decimals, a list item by item, anything else as is.
ConfigNode round_floats(const ConfigNode& value);
/// Python's json.dumps(value) (default arguments).
std::string json_dumps(const ConfigNode& value);
/// Appends `json_dumps(object)` and a newline to `path` (the file is created when missing, never
/// truncated); throws detkit::Error naming the file when it cannot be written.
void append_json_line(const std::string& path, const ConfigNode& object);

}  // namespace detkit::hooks
