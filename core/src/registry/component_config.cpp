// ComponentConfig: validated view of one component's parameters.
#include "detkit/component_config.h"

#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit {

ComponentConfig::ComponentConfig(Kind kind, std::string type, ConfigNode values, std::string path,
                                 SourceMark mark)
    : kind_(kind),
      type_(std::move(type)),
      values_(std::move(values)),
      path_(std::move(path)),
      mark_(std::move(mark)) {}

const ConfigNode& ComponentConfig::node(std::string_view name) const {
  const ConfigNode* value = values_.find(name);
  if (value == nullptr) {
    throw ConfigError(
        located_message(mark_, path_, type_ + " has no parameter '" + std::string(name) + "'"));
  }
  return *value;
}

bool ComponentConfig::has(std::string_view name) const {
  const ConfigNode* value = values_.find(name);
  return value != nullptr && !value->is_null();
}

void ComponentConfig::fail(std::string_view name, const std::string& message) const {
  const ConfigNode* value = values_.find(name);
  const SourceMark& mark =
      value && (value->mark().in_file() || !value->mark().origin.empty()) ? value->mark() : mark_;
  throw ConfigError(located_message(mark, child_path(path_, name), message));
}

bool ComponentConfig::is_set(std::string_view name) const {
  const ConfigNode* value = values_.find(name);
  return value != nullptr && !value->is_null() && value->mark().origin != "default";
}

void ComponentConfig::disagree(std::string_view name, const ConfigNode& known,
                               const std::string& origin) const {
  fail(name, std::string(name) + " = " + node(name).to_flow() + " here disagrees with " +
                 known.to_flow() + " from " + (origin.empty() ? "the build context" : origin) +
                 ": remove '" + std::string(name) + "' to take that value, or make them equal");
}

}  // namespace detkit
