// Validation entry points that collect errors instead of throwing (for `detkit config check`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "detkit/component_config.h"

namespace detkit {

/// What a whole-config check found besides errors.
struct DETKIT_API CheckReport {
  /// A component that validated: rebuilt by `config check` so that its factory's checks run.
  struct Component {
    Kind kind;
    ConfigNode config;
    std::string path;
    TypeKey type_key;
  };
  std::vector<Component> components;
  /// Located notes for parts that could not be checked (no type of their kind registered).
  std::vector<std::string> unchecked;
};

/// Validates a component config, appending every problem (already located) to `errors`.
DETKIT_API std::optional<ComponentConfig> validate_component_into(Kind kind, const ConfigNode& cfg,
                                                                  const std::string& path,
                                                                  const ConfigNode* default_args,
                                                                  std::vector<std::string>& errors,
                                                                  const TypeKey& type_key = {});

/// Validates one value against a parameter spec, appending problems to `errors`; returns the
/// value with nested maps' defaults filled in.
DETKIT_API ConfigNode validate_value_into(const ParamSpec& spec, const ConfigNode& value,
                                    const std::string& path, std::vector<std::string>& errors);

/// Validates a map against a schema (unknown keys, types, defaults), appending problems to
/// `errors`; returns the map with defaults filled in. `owner` names the section in messages.
DETKIT_API ConfigNode validate_map_into(const Schema& schema, const ConfigNode& map,
                                        const std::string& path, const std::string& owner,
                                        std::vector<std::string>& errors,
                                        CheckReport* report = nullptr);

}  // namespace detkit
