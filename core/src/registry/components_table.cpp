// The supported-components table of the README (`detkit plugins list --markdown`): every
// registered component, grouped by kind, with the file that provides it and its summary.
#include <sstream>

#include "detkit/core/report.h"
#include "detkit/kind.h"

namespace detkit {

namespace {

/// The file name of a plugin path ("libdetkit-resnet.so"), or "libdetkit" for built-ins.
std::string provider_name(const std::string& origin) {
  const size_t slash = origin.find_last_of('/');
  return slash == std::string::npos ? origin : origin.substr(slash + 1);
}

/// The first sentence of a summary, on one line, safe inside a Markdown table cell.
std::string table_cell(const std::string& summary) {
  std::string first = summary;
  const size_t stop = first.find(". ");
  if (stop != std::string::npos) first = first.substr(0, stop + 1);
  std::string cell;
  for (char c : first) {
    if (c == '\n' || c == '\r') {
      cell += ' ';
    } else if (c == '|') {
      cell += "\\|";
    } else {
      cell += c;
    }
  }
  return cell;
}

}  // namespace

std::string format_components_table() {
  std::ostringstream out;
  out << "| kind | type | provided by | what it is |\n|---|---|---|---|\n";
  for (Kind kind : all_kinds()) {
    for (const ComponentInfo* info : Registry::of(kind).components()) {
      out << "| " << kind_name(kind) << " | `" << info->type << "` | "
          << provider_name(info->origin) << " | " << table_cell(info->schema.summary()) << " |\n";
    }
  }
  return out.str();
}

}  // namespace detkit
