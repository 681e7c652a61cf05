// The parameter table of `detkit plugins describe`.
#include "detkit/core/schema_table.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace detkit {

namespace {

/// One printed row.
struct Row {
  std::string name, type, default_text, doc;
};

void collect(const Schema& schema, const std::string& prefix, std::vector<Row>& rows) {
  for (const auto& spec : schema.params()) {
    Row row;
    row.name = prefix + spec.name;
    row.type = spec.type_text();
    row.default_text = spec.required ? "required" : spec.default_value.to_flow();
    if (spec.type == ParamType::nested && !spec.default_value.is_null()) row.default_text = "(below)";
    row.doc = spec.doc;
    const std::string constraint = spec.constraint_text();
    if (!constraint.empty()) row.doc += (row.doc.empty() ? "" : " ") + ("(" + constraint + ")");
    if (spec.type == ParamType::component && !spec.type_key.default_type.empty())
      row.doc += " (type " + spec.type_key.default_type + " unless given)";
    if (spec.type == ParamType::component && spec.type_key.key != "type")
      row.doc += " (named by '" + spec.type_key.key + "')";
    rows.push_back(row);
    if (spec.type == ParamType::nested && spec.nested) collect(*spec.nested, prefix + "  ", rows);
  }
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string format_schema_table(const Schema& schema, const std::string& indent) {
  std::vector<Row> rows;
  collect(schema, "", rows);
  if (rows.empty()) return indent + "no parameters\n";
  size_t name_width = 4, type_width = 4, default_width = 7;
  for (const auto& row : rows) {
    name_width = std::max(name_width, row.name.size());
    type_width = std::max(type_width, row.type.size());
    default_width = std::max(default_width, std::min<size_t>(row.default_text.size(), 40));
  }
  std::ostringstream out;
  out << indent << pad("name", name_width) << "  " << pad("type", type_width) << "  "
      << pad("default", default_width) << "  description\n";
  for (const auto& row : rows) {
    out << indent << pad(row.name, name_width) << "  " << pad(row.type, type_width) << "  "
        << pad(row.default_text, default_width) << "  " << row.doc << "\n";
  }
  return out.str();
}

}  // namespace detkit
