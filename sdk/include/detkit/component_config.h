// ComponentConfig: the validated, typed view of one component's config that the host hands to
// the component's factory. Every declared parameter is present (defaults filled in), has the
// declared type, and remembers where it was written.
#pragma once

#include <string>
#include <string_view>

#include "detkit/build_context.h"
#include "detkit/config_node.h"
#include "detkit/kind.h"
#include "detkit/schema.h"

namespace detkit {

/// A component config after validation against its Schema.
class DETKIT_API ComponentConfig {
 public:
  /// `values` must already be validated (the host's validator builds these).
  ComponentConfig(Kind kind, std::string type, ConfigNode values, std::string path,
                  SourceMark mark);

  Kind kind() const { return kind_; }
  /// The registered type name (`type:` in the config).
  const std::string& type() const { return type_; }
  /// Dotted path of this component in the config, e.g. "model.bbox_head.loss_cls".
  const std::string& path() const { return path_; }
  /// Where the component's map was written.
  const SourceMark& mark() const { return mark_; }
  /// All parameters (defaults filled in), without `type`.
  const ConfigNode& values() const { return values_; }

  /// The value of parameter `name` as T (see ConfigValue). Throws ConfigError if the parameter
  /// is missing or cannot be converted.
  template <class T>
  T get(std::string_view name) const {
    return ConfigValue<T>::from(node(name));
  }
  /// The raw node of parameter `name`; throws ConfigError if it is missing.
  const ConfigNode& node(std::string_view name) const;
  /// Whether parameter `name` is present and not null.
  bool has(std::string_view name) const;
  /// Throws a ConfigError located at parameter `name` ("file:line:col: path.name: message").
  /// Factories use it for checks a schema cannot express.
  [[noreturn]] void fail(std::string_view name, const std::string& message) const;
  /// Whether parameter `name` was written in the config (not a filled-in default).
  bool is_set(std::string_view name) const;

  /// Reconciles parameter `name` with a value the build context knows (a neck's in_channels
  /// from the backbone's shapes, a head's num_classes from the dataset): when both are known
  /// they must be equal, else a ConfigError names both values and both origins; otherwise the
  /// one that is known is returned (the config's default when neither is).
  template <class T>
  T agree(std::string_view name, const Known<T>& known) const {
    if (!known) return ConfigValue<T>::from(node(name));
    if (is_set(name)) {
      const T given = ConfigValue<T>::from(node(name));
      if (!(given == *known.value)) disagree(name, ConfigValue<T>::to(*known.value), known.origin);
    }
    return *known.value;
  }

  /// Throws the ConfigError of agree(): "<file:line:col>: <path>.<name>: <given> disagrees with
  /// <known> from <origin>".
  [[noreturn]] void disagree(std::string_view name, const ConfigNode& known,
                             const std::string& origin) const;

 private:
  Kind kind_;
  std::string type_;
  ConfigNode values_;
  std::string path_;
  SourceMark mark_;
};

}  // namespace detkit
