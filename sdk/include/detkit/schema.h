// Parameter schemas: every component declares its parameters (name, type, default or required,
// one-line doc, allowed values or range). The host validates configs against them, fills the
// defaults, prints them (`detkit plugins describe`) and rejects typos with a suggestion.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/kind.h"

namespace detkit {

/// The value type of a parameter.
enum class ParamType {
  boolean,
  integer,
  real,  ///< a float; ints are accepted and converted
  string,
  int_list,
  real_list,
  string_list,
  list,            ///< a list of anything
  dict,            ///< a map of anything (e.g. norm_cfg)
  component,       ///< a map with `type:` naming a component of `kind`
  component_list,  ///< a list of such maps
  any,             ///< anything: int, float, string, list or map
};

/// One parameter of a component.
struct DETKIT_API ParamSpec {
  std::string name;
  ParamType type = ParamType::any;
  /// Required parameters have no default; the config must set them.
  bool required = false;
  /// Whether null (YAML `null` / `~`) is an allowed value.
  bool nullable = false;
  /// The value used when the config does not set the parameter (not used when required).
  ConfigNode default_value;
  /// One line of documentation.
  std::string doc;
  /// Allowed values of a string parameter (or of string-list elements); empty = any.
  std::vector<std::string> choices;
  /// Inclusive bounds of a number (or of numeric-list elements).
  std::optional<double> min;
  std::optional<double> max;
  /// Exact length of a list parameter; -1 = any length.
  int length = -1;
  /// The component kind of a `component` / `component_list` parameter.
  std::optional<Kind> kind;

  /// The type as users read it: "float", "list[int]", "loss", "str|null", "list[int](len 4)".
  std::string type_text() const;
  /// The constraints as text: "one of none|mean|sum", "in [0, 1]", or "".
  std::string constraint_text() const;
};

/// Maps a C++ type to a ParamType (used by Schema::add<T>).
template <class T>
struct ParamTypeOf;
template <>
struct ParamTypeOf<bool> {
  static constexpr ParamType value = ParamType::boolean;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<int64_t> {
  static constexpr ParamType value = ParamType::integer;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<int> : ParamTypeOf<int64_t> {};
template <>
struct ParamTypeOf<double> {
  static constexpr ParamType value = ParamType::real;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<float> : ParamTypeOf<double> {};
template <>
struct ParamTypeOf<std::string> {
  static constexpr ParamType value = ParamType::string;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<std::vector<int64_t>> {
  static constexpr ParamType value = ParamType::int_list;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<std::vector<int>> : ParamTypeOf<std::vector<int64_t>> {};
template <>
struct ParamTypeOf<std::vector<double>> {
  static constexpr ParamType value = ParamType::real_list;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<std::vector<std::string>> {
  static constexpr ParamType value = ParamType::string_list;
  static constexpr bool nullable = false;
};
template <>
struct ParamTypeOf<ConfigNode> {
  static constexpr ParamType value = ParamType::any;
  static constexpr bool nullable = true;
};
template <class T>
struct ParamTypeOf<std::optional<T>> {
  static constexpr ParamType value = ParamTypeOf<T>::value;
  static constexpr bool nullable = true;
};

/// The parameters of one component, built fluently next to the class:
///
///   Schema("Sigmoid focal loss.")
///       .add<double>("gamma", 2.0, "focusing parameter").min(0)
///       .add<std::string>("reduction", "mean", "none, mean or sum").choices({"none", "mean",
///       "sum"}) .required<int64_t>("num_classes", "number of object classes");
///
/// Modifiers (choices, range, min, max, length) apply to the parameter added last.
class DETKIT_API Schema {
 public:
  explicit Schema(std::string summary = {});

  /// An optional parameter of type T with a default.
  template <class T, class D>
  Schema& add(std::string name, D default_value, std::string doc) {
    ParamSpec spec;
    spec.name = std::move(name);
    spec.type = ParamTypeOf<T>::value;
    spec.nullable = ParamTypeOf<T>::nullable;
    spec.default_value = ConfigValue<T>::to(T(std::move(default_value)));
    spec.doc = std::move(doc);
    return add_spec(std::move(spec));
  }
  /// A parameter of type T the config must set.
  template <class T>
  Schema& required(std::string name, std::string doc) {
    ParamSpec spec;
    spec.name = std::move(name);
    spec.type = ParamTypeOf<T>::value;
    spec.nullable = ParamTypeOf<T>::nullable;
    spec.required = true;
    spec.doc = std::move(doc);
    return add_spec(std::move(spec));
  }
  /// A map parameter (e.g. `norm_cfg`), validated only as "a map" (or null when the default is).
  Schema& dict(std::string name, ConfigNode default_value, std::string doc);
  /// A nested component of `kind`; `default_value` is its default config map (or null).
  Schema& component(std::string name, Kind kind, ConfigNode default_value, std::string doc);
  /// A list of nested components of `kind`.
  Schema& component_list(std::string name, Kind kind, ConfigNode default_value, std::string doc);
  /// A nested component of `kind` the config must set.
  Schema& required_component(std::string name, Kind kind, std::string doc);
  /// A list of nested components of `kind` the config must set.
  Schema& required_component_list(std::string name, Kind kind, std::string doc);
  /// A parameter of any type (int, float, string, list or map), e.g. MMDetection's
  /// `img_scale` that is a pair or a list of pairs. The component checks the shape itself.
  Schema& any(std::string name, ConfigNode default_value, std::string doc);
  /// Adds a fully specified parameter.
  Schema& add_spec(ParamSpec spec);

  /// Allowed values of the last string parameter.
  Schema& choices(std::vector<std::string> values);
  /// Inclusive range of the last numeric parameter.
  Schema& range(double min, double max);
  Schema& min(double value);
  Schema& max(double value);
  /// Exact length of the last list parameter.
  Schema& length(int n);
  /// Accept keys that are not declared (they are passed through unvalidated). Off by default:
  /// unknown keys are errors.
  Schema& allow_unknown_keys(bool allow = true);

  const std::string& summary() const { return summary_; }
  const std::vector<ParamSpec>& params() const { return params_; }
  bool allows_unknown_keys() const { return allow_unknown_keys_; }
  /// The spec named `name`, or nullptr.
  const ParamSpec* find(std::string_view name) const;

 private:
  ParamSpec& last(const char* modifier);

  std::string summary_;
  std::vector<ParamSpec> params_;
  bool allow_unknown_keys_ = false;
};

}  // namespace detkit
