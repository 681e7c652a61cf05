// Parameter schemas: every component declares its parameters (name, type, default or required,
// one-line doc, allowed values or range). The host validates configs against them, fills the
// defaults, prints them (`detkit plugins describe`) and rejects typos with a suggestion.
#pragma once

#include <limits>
#include <memory>
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
  list,            ///< a list; its items follow `element` (or `items`) when set, else anything
  dict,            ///< a map of anything
  component,       ///< a map with `type:` naming a component of `kind`
  component_list,  ///< a list of such maps
  any,             ///< anything: int, float, string, list or map
  bool_list,       ///< a list of bools (e.g. stage_with_dcn)
  nested,          ///< a map with its own schema (e.g. norm_cfg without a registry, grad_clip)
};

class Schema;

/// How the component of a `component` parameter is named: by `type:` (the default), or, as
/// MMCV's `lr_config: {policy: step}`, by another key whose value maps to a type name
/// (title-cased when all lower-case, then `suffix` appended: step -> StepLrUpdaterHook), or by
/// nothing at all (`default_type`).
struct DETKIT_API TypeKey {
  std::string key = "type";
  std::string suffix;
  bool title_case_lower = false;
  /// The type when the key is absent (MMCV's `checkpoint_config: {interval: 1}` is a
  /// CheckpointHook); empty = the key is required.
  std::string default_type;

  /// The registered type name a config value names.
  std::string resolve(const std::string& value) const;
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
  /// Bounds of a number (or of numeric-list elements); inclusive unless *_exclusive.
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  bool max_exclusive = false;
  /// Exact length of a list parameter; -1 = any length.
  int length = -1;
  /// The component kind of a `component` / `component_list` parameter.
  std::optional<Kind> kind;
  /// How a `component` parameter names its type.
  TypeKey type_key;
  /// The spec every item of a `list` follows (e.g. list[list[int](len 2)] for img_scale).
  std::shared_ptr<const ParamSpec> element;
  /// Per-position specs of a fixed-form `list` (a tuple such as workflow's [str, int]).
  std::vector<ParamSpec> items;
  /// A union: the value must match one of these (e.g. bool | one of on_input|on_lateral).
  std::vector<ParamSpec> alternatives;
  /// The schema of a `nested` map parameter.
  std::shared_ptr<const Schema> nested;

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
struct ParamTypeOf<std::vector<bool>> {
  static constexpr ParamType value = ParamType::bool_list;
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

/// The spec of a parameter of C++ type T (type, nullability and, for lists of lists, the
/// element spec), without name or doc.
template <class T>
struct ParamSpecOf {
  static ParamSpec make() {
    ParamSpec spec;
    spec.type = ParamTypeOf<T>::value;
    spec.nullable = ParamTypeOf<T>::nullable;
    return spec;
  }
};
template <class T>
struct ParamSpecOf<std::vector<std::vector<T>>> {
  static ParamSpec make() {
    ParamSpec spec;
    spec.type = ParamType::list;
    spec.element = std::make_shared<const ParamSpec>(ParamSpecOf<std::vector<T>>::make());
    return spec;
  }
};
template <class T>
struct ParamSpecOf<std::optional<T>> {
  static ParamSpec make() {
    ParamSpec spec = ParamSpecOf<T>::make();
    spec.nullable = true;
    return spec;
  }
};
template <class T>
ParamSpec param_spec_of() {
  return ParamSpecOf<T>::make();
}

/// Modifiers of one declared parameter (constraints and forms); each returns *this so they
/// chain: `p.param("alpha", alpha_, "...").range(0, 1)`. A default-constructed ParamDecl (what
/// a ParamReader returns) ignores every modifier.
class DETKIT_API ParamDecl {
 public:
  explicit ParamDecl(ParamSpec* spec = nullptr) : spec_(spec) {}
  /// Allowed values of a string parameter (or of string-list elements).
  ParamDecl& choices(std::vector<std::string> values);
  /// Inclusive range of a number (or of numeric-list elements).
  ParamDecl& range(double min, double max);
  ParamDecl& min(double value);
  ParamDecl& max(double value);
  /// Exclusive bounds: `beta > 0`.
  ParamDecl& greater_than(double value);
  ParamDecl& less_than(double value);
  /// Exact length of a list parameter.
  ParamDecl& length(int n);
  /// Null is allowed.
  ParamDecl& nullable(bool allow = true);
  /// The value may instead match one of these specs (a union).
  ParamDecl& or_one_of(std::vector<ParamSpec> alternatives);
  /// Every item of the list follows `element`.
  ParamDecl& each(ParamSpec element);
  /// A component parameter named by another key (MMCV's `policy:`).
  ParamDecl& type_key(TypeKey key);

 private:
  ParamSpec* spec_;
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
    ParamSpec spec = param_spec_of<T>();
    spec.name = std::move(name);
    spec.default_value = ConfigValue<T>::to(T(std::move(default_value)));
    spec.doc = std::move(doc);
    return add_spec(std::move(spec));
  }
  /// A parameter of type T the config must set.
  template <class T>
  Schema& required(std::string name, std::string doc) {
    ParamSpec spec = param_spec_of<T>();
    spec.name = std::move(name);
    spec.required = true;
    spec.doc = std::move(doc);
    return add_spec(std::move(spec));
  }
  /// A map parameter validated only as "a map" (or null when the default is). Prefer nested().
  Schema& dict(std::string name, ConfigNode default_value, std::string doc);
  /// A map parameter with its own schema (unknown keys, types and defaults checked inside);
  /// `nullable` allows null (the default is then null, else the nested defaults).
  Schema& nested(std::string name, Schema schema, std::string doc, bool nullable = false);
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
  /// Exclusive bounds of the last numeric parameter.
  Schema& greater_than(double value);
  Schema& less_than(double value);
  /// Exact length of the last list parameter.
  Schema& length(int n);
  /// Every item of the last list parameter follows `element`.
  Schema& each(ParamSpec element);
  /// The last parameter may instead match one of `alternatives` (a union).
  Schema& or_one_of(std::vector<ParamSpec> alternatives);
  /// The last (component) parameter names its type by `key` (MMCV's `policy:`).
  Schema& type_key(TypeKey key);
  /// Modifiers of the last parameter.
  ParamDecl last_param();
  /// Accept keys that are not declared (they are passed through unvalidated). Off by default:
  /// unknown keys are errors.
  Schema& allow_unknown_keys(bool allow = true);

  void set_summary(std::string summary) { summary_ = std::move(summary); }
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
