// Human-readable reports of plugins and components (used by `detkit plugins` and tests).
#pragma once

#include <string>

#include "detkit/registry.h"

namespace detkit {

/// Every plugin file considered (LOADED / REJECTED / SHADOWED, with reasons and components),
/// followed by libdetkit's built-in components.
DETKIT_API std::string format_plugin_report();

/// Every registered component as a Markdown table (kind, type, providing file, the first
/// sentence of its summary), kinds in SDK order and types sorted: the README's table.
DETKIT_API std::string format_components_table();

/// The help of one component: summary, origin, and a table of its parameters (name, type,
/// default or "required", allowed values, doc).
DETKIT_API std::string format_component_help(const ComponentInfo& info);

/// Finds a component by type name across all kinds (or only `kind`); throws ConfigError with a
/// did-you-mean when there is none, and lists the kinds when the name is ambiguous.
DETKIT_API const ComponentInfo& find_component_any_kind(const std::string& type,
                                                        std::optional<Kind> kind = std::nullopt);

}  // namespace detkit
