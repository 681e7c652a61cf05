// Parameters declared once (params.h): collecting a declaration into a schema, reading a
// validated config back into fields, checking values and printing them.
#include "detkit/params.h"

#include <sstream>

#include "detkit/core/text.h"
#include "detkit/core/validate.h"

namespace detkit {

ParamDecl ParamCollector::add(ParamSpec spec) {
  schema_.add_spec(std::move(spec));
  return schema_.last_param();
}

ParamDecl ParamCollector::add_nested(const char* name, Schema schema, std::string doc) {
  schema_.nested(name, std::move(schema), std::move(doc));
  return schema_.last_param();
}

ParamDecl ParamCollector::component(const char* name, ConfigNode& field, Kind kind,
                                    std::string doc) {
  schema_.component(name, kind, field, std::move(doc));
  return schema_.last_param();
}

ParamDecl ParamCollector::component_list(const char* name, ConfigNode& field, Kind kind,
                                         std::string doc) {
  schema_.component_list(name, kind, field, std::move(doc));
  return schema_.last_param();
}

ParamDecl ParamReader::component(const char* name, ConfigNode& field, Kind, const std::string&) {
  if (const ConfigNode* value = values_.find(name)) field = *value;
  return ParamDecl();
}

ParamDecl ParamReader::component_list(const char* name, ConfigNode& field, Kind,
                                      const std::string&) {
  if (const ConfigNode* value = values_.find(name)) field = *value;
  return ParamDecl();
}

ConfigNode declared_values(const Schema& declared) {
  ConfigNode values = ConfigNode::make_map();
  for (const auto& spec : declared.params()) {
    if (spec.type == ParamType::nested && spec.nested) {
      values.set(spec.name, declared_values(*spec.nested));
    } else {
      values.set(spec.name, spec.default_value);
    }
  }
  return values;
}

void check_declared_values(const Schema& declared, const std::string& component) {
  for (const auto& spec : declared.params()) {
    if (spec.type == ParamType::nested && spec.nested) {
      check_declared_values(*spec.nested, component);
      continue;
    }
    std::vector<std::string> errors;
    // Sub-components are validated when they are built, not here.
    if (spec.type == ParamType::component || spec.type == ParamType::component_list) continue;
    validate_value_into(spec, spec.default_value, spec.name, errors);
    if (!errors.empty()) throw InvalidParameter(spec.name, component + ": " + errors.front());
  }
}

std::string format_component(const std::string& type, const ConfigNode& values) {
  std::ostringstream out;
  out << type << "(";
  bool first = true;
  for (const auto& entry : values.entries()) {
    out << (first ? "" : ", ") << entry.key << "=" << entry.value.to_flow();
    first = false;
  }
  out << ")";
  return out.str();
}

}  // namespace detkit
