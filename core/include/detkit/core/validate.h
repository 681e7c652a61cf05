// Validation entry points that collect errors instead of throwing (for `detkit config check`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "detkit/component_config.h"

namespace detkit {

/// Validates a component config, appending every problem (already located) to `errors`.
DETKIT_API std::optional<ComponentConfig> validate_component_into(Kind kind, const ConfigNode& cfg,
                                                                  const std::string& path,
                                                                  const ConfigNode* default_args,
                                                                  std::vector<std::string>& errors);

/// Validates one value against a parameter spec, appending problems to `errors`.
DETKIT_API void validate_value_into(const ParamSpec& spec, const ConfigNode& value,
                                    const std::string& path, std::vector<std::string>& errors);

}  // namespace detkit
