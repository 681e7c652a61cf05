// Parameters declared once. A component's options struct lists each parameter in one line of
// its `declare()` — name, field (whose initialiser is the default), doc and constraints — and
// the SDK derives from that single declaration the schema (validation, `plugins describe`),
// the construction from a validated config, the check of options built in C++, and the
// printed form:
//
//   struct FocalLossOptions {
//     TORCH_ARG(double, gamma) = 2.0;
//     TORCH_ARG(double, alpha) = 0.25;
//    public:  // TORCH_ARG leaves the access private
//     template <class P>
//     void declare(P& p) {
//       p.summary("Sigmoid focal loss.");
//       DETKIT_PARAM(p, gamma, "focusing parameter").min(0);
//       DETKIT_PARAM(p, alpha, "weight of positives").range(0, 1);
//     }
//   };
//
// A component class whose `Options` type has declare() needs neither schema() nor create():
// registration generates both (see registry.h).
#pragma once

#include <string>
#include <type_traits>

#include "detkit/component_config.h"
#include "detkit/config_node.h"
#include "detkit/error.h"
#include "detkit/schema.h"

/// Declares the option `NAME` (a TORCH_ARG member, stored as NAME_) with its doc; chain the
/// constraints: `DETKIT_PARAM(p, gamma, "...").min(0)`.
#define DETKIT_PARAM(VISITOR, NAME, DOC) (VISITOR).param(#NAME, this->NAME##_, DOC)
/// Declares a nested options struct (its own declare()) stored in NAME_: `grad_clip: {...}`.
#define DETKIT_NESTED(VISITOR, NAME, DOC) (VISITOR).nested(#NAME, this->NAME##_, DOC)
/// Declares a sub-component config (a ConfigNode NAME_) of kind KIND: `loss_cls: {type: ...}`.
#define DETKIT_COMPONENT(VISITOR, NAME, KIND, DOC) \
  (VISITOR).component(#NAME, this->NAME##_, ::detkit::Kind::KIND, DOC)

namespace detkit {

/// Collects the declaration into a Schema; the fields' current values become the defaults
/// (from a default-constructed struct) or the values an object holds.
class DETKIT_API ParamCollector {
 public:
  void summary(std::string text) { schema_.set_summary(std::move(text)); }

  template <class T>
  ParamDecl param(const char* name, T& field, std::string doc) {
    ParamSpec spec = param_spec_of<T>();
    spec.name = name;
    spec.default_value = ConfigValue<T>::to(field);
    spec.doc = std::move(doc);
    return add(std::move(spec));
  }
  template <class T>
  ParamDecl nested(const char* name, T& field, std::string doc) {
    ParamCollector inner;
    field.declare(inner);
    return add_nested(name, inner.take(), std::move(doc));
  }
  ParamDecl component(const char* name, ConfigNode& field, Kind kind, std::string doc);
  ParamDecl component_list(const char* name, ConfigNode& field, Kind kind, std::string doc);

  /// The collected schema.
  Schema take() { return std::move(schema_); }

 private:
  ParamDecl add(ParamSpec spec);
  ParamDecl add_nested(const char* name, Schema schema, std::string doc);
  Schema schema_;
};

/// Reads a validated config map into the fields.
class DETKIT_API ParamReader {
 public:
  explicit ParamReader(const ConfigNode& values) : values_(values) {}
  void summary(const std::string&) {}

  template <class T>
  ParamDecl param(const char* name, T& field, const std::string&) {
    if (const ConfigNode* value = values_.find(name)) field = ConfigValue<T>::from(*value);
    return ParamDecl();
  }
  template <class T>
  ParamDecl nested(const char* name, T& field, const std::string&) {
    const ConfigNode* value = values_.find(name);
    if (value != nullptr && value->is_map()) {
      ParamReader inner(*value);
      field.declare(inner);
    }
    return ParamDecl();
  }
  ParamDecl component(const char* name, ConfigNode& field, Kind, const std::string&);
  ParamDecl component_list(const char* name, ConfigNode& field, Kind, const std::string&);

 private:
  const ConfigNode& values_;
};

/// The schema an options struct declares (defaults = a default-constructed struct's values).
template <class Options>
Schema schema_of() {
  Options options;
  ParamCollector collector;
  options.declare(collector);
  return collector.take();
}

/// The values `options` holds, as a config map in declaration order.
DETKIT_API ConfigNode declared_values(const Schema& declared);
template <class Options>
ConfigNode values_of(const Options& options) {
  Options copy = options;
  ParamCollector collector;
  copy.declare(collector);
  return declared_values(collector.take());
}

/// Checks values against the declared constraints; throws InvalidParameter naming the first
/// parameter that breaks one. `component` names the owner in the message.
DETKIT_API void check_declared_values(const Schema& declared, const std::string& component);
/// Checks `options` against its declaration (for options built in C++, not from a config).
template <class Options>
void check_options(const Options& options, const std::string& component) {
  Options copy = options;
  ParamCollector collector;
  copy.declare(collector);
  check_declared_values(collector.take(), component);
}

/// Options read from a validated config (every declared parameter is present in it).
template <class Options>
Options options_from(const ComponentConfig& cfg) {
  Options options;
  ParamReader reader(cfg.values());
  options.declare(reader);
  return options;
}

/// "FocalLoss(use_sigmoid=true, gamma=2.0, ...)": the printed form of a component.
DETKIT_API std::string format_component(const std::string& type, const ConfigNode& values);
template <class Options>
std::string repr_of(const std::string& type, const Options& options) {
  return format_component(type, values_of(options));
}

}  // namespace detkit
