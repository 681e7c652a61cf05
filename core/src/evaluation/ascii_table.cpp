// terminaltables' AsciiTable layout (see the header).
#include "ascii_table.h"

#include <algorithm>

namespace detkit::eval_utils {

std::string format_ascii_table(const std::vector<std::vector<std::string>>& rows,
                               bool footing_border) {
  size_t columns = 0;
  for (const auto& row : rows)
    columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c)
      widths[c] = std::max(widths[c], row[c].size());
  }
  std::string rule = "+";
  for (size_t width : widths)
    rule += std::string(width + 2, '-') + "+";
  auto line = [&](const std::vector<std::string>& row) {
    std::string out = "|";
    for (size_t c = 0; c < columns; ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      out += " " + cell + std::string(widths[c] - cell.size(), ' ') + " |";
    }
    return out;
  };
  std::string out = rule;
  for (size_t i = 0; i < rows.size(); ++i) {
    out += "\n" + line(rows[i]);
    const bool heading = i == 0 && rows.size() > 1;
    const bool before_footing = footing_border && rows.size() > 2 && i + 2 == rows.size();
    if (heading || before_footing) out += "\n" + rule;
  }
  out += "\n" + rule;
  return out;
}

}  // namespace detkit::eval_utils
