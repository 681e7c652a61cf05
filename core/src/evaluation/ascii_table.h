// terminaltables' AsciiTable, as MMDetection prints its evaluation tables (internal).
#pragma once

#include <string>
#include <vector>

namespace detkit::eval_utils {

/// Rows of cells (the first row is the heading) framed with +, - and |, one space of padding,
/// left-aligned; with `footing_border`, a rule also separates the last row. No trailing newline.
std::string format_ascii_table(const std::vector<std::vector<std::string>>& rows,
                               bool footing_border = false);

}  // namespace detkit::eval_utils
