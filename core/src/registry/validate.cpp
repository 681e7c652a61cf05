// Validation of component configs against their schemas, and building.
#include "detkit/core/validate.h"

#include <cmath>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// The location to report for a value: its own mark, else the enclosing map's.
const SourceMark& best_mark(const ConfigNode& value, const SourceMark& fallback) {
  return value.mark().in_file() || !value.mark().origin.empty() ? value.mark() : fallback;
}

std::string describe_value(const ConfigNode& value) {
  std::string flow = value.to_flow();
  if (flow.size() > 60) flow = flow.substr(0, 57) + "...";
  return std::string(value.type_name()) + " " + flow;
}

/// A mark that says "default".
SourceMark default_mark() {
  SourceMark origin;
  origin.origin = "default";
  return origin;
}

class Validator {
 public:
  /// Errors go to `errors`; with `report`, components whose kind has no registered type are
  /// noted as unchecked instead of failing, and every valid sub-component is remembered.
  explicit Validator(std::vector<std::string>& errors, CheckReport* report = nullptr)
      : errors_(errors), report_(report) {}

  /// Validates the component map `cfg` of `kind`; returns the validated view (defaults filled,
  /// without the type key), or nullopt after recording errors.
  std::optional<ComponentConfig> component(Kind kind, const ConfigNode& cfg,
                                           const std::string& path, const ConfigNode* default_args,
                                           const TypeKey& type_key) {
    if (!cfg.is_map()) {
      error(cfg.mark(), path,
            std::string("expected a ") + kind_name(kind) + " config (a map with '" + type_key.key +
                "'), got " + describe_value(cfg));
      return std::nullopt;
    }
    ConfigNode merged = cfg;
    if (default_args != nullptr && default_args->is_map()) {
      for (const auto& entry : default_args->entries()) {
        if (!merged.contains(entry.key)) merged.set(entry.key, entry.value, entry.key_mark);
      }
    }
    const ConfigNode* type_node = merged.find(type_key.key);
    ConfigNode default_type;
    if (type_node == nullptr && !type_key.default_type.empty()) {
      default_type = ConfigNode(type_key.default_type);
      default_type.set_mark(cfg.mark());
      type_node = &default_type;
    }
    if (type_node == nullptr) {
      error(cfg.mark(), path,
            "missing '" + type_key.key + "' (which " + kind_name(kind) + " to build)" +
                known_types_hint(kind));
      return std::nullopt;
    }
    if (!type_node->is_string()) {
      error(best_mark(*type_node, cfg.mark()), child_path(path, type_key.key),
            "'" + type_key.key + "' must be a string, got " + describe_value(*type_node));
      return std::nullopt;
    }
    const std::string type = type_node == &default_type ? type_key.default_type
                                                        : type_key.resolve(type_node->as_string());
    // A section whose kind has no type at all cannot be checked yet; but when a plugin was
    // rejected, the missing type may be its, and the error below names its reason.
    if (report_ != nullptr && Registry::of(kind).types().empty() && !registered_elsewhere(type) &&
        rejected_plugins_note().empty()) {
      report_->unchecked.push_back(located_message(
          cfg.mark(), path,
          std::string("not checked: no ") + kind_name(kind) +
              " type is registered yet (load a plugin that provides '" + type + "')"));
      return std::nullopt;
    }
    const ComponentInfo* info = nullptr;
    try {
      info = &Registry::of(kind).get(type, best_mark(*type_node, cfg.mark()),
                                     child_path(path, type_key.key));
    } catch (const ConfigError& e) {
      errors_.push_back(e.what());
      return std::nullopt;
    }
    const size_t errors_before = errors_.size();
    ConfigNode values =
        map(info->schema, merged, path, cfg.mark(), type, kind_is_module(kind), type_key.key);
    if (errors_.size() != errors_before) return std::nullopt;
    if (report_ != nullptr) report_->components.push_back({kind, cfg, path, type_key});
    return ComponentConfig(kind, type, std::move(values), path, cfg.mark());
  }

  /// Checks the keys of `given` against `schema` (skipping `skip_key`) and returns them with
  /// the defaults filled in, in schema order after the given ones. `owner` names the component
  /// (or section) in messages; `accepts_init_cfg` allows a module's `init_cfg`.
  ConfigNode map(const Schema& schema, const ConfigNode& given, const std::string& path,
                 const SourceMark& mark, const std::string& owner, bool accepts_init_cfg,
                 const std::string& skip_key) {
    ConfigNode values = ConfigNode::make_map();
    values.set_mark(mark);
    std::vector<std::string> known;
    for (const auto& spec : schema.params())
      known.push_back(spec.name);
    for (const auto& entry : given.entries()) {
      if (entry.key == skip_key) continue;
      const std::string key_path = child_path(path, entry.key);
      // MMCV's custom_hooks items carry the hook's `priority` (the runner takes it, not the
      // hook): a name or an int in [0, 100], checked when the hook is registered.
      if (entry.key == "priority" && schema.find("priority") == nullptr &&
          path.rfind("custom_hooks", 0) == 0) {
        values.set(entry.key, entry.value, entry.key_mark);
        continue;
      }
      if (entry.key == "init_cfg" && accepts_init_cfg) {
        init_cfg(entry.value, key_path, entry.key_mark);
        values.set(entry.key, entry.value, entry.key_mark);
        continue;
      }
      const ParamSpec* spec = schema.find(entry.key);
      if (spec == nullptr) {
        if (schema.allows_unknown_keys()) {
          values.set(entry.key, entry.value, entry.key_mark);
          continue;
        }
        // Sections ("the config") have keys; components have parameters.
        const bool section = owner.rfind("the ", 0) == 0;
        error(entry.key_mark.in_file() ? entry.key_mark : best_mark(entry.value, mark), key_path,
              (section ? "unknown key '" + entry.key + "' in "
                       : "unknown parameter '" + entry.key + "' of ") +
                  owner + did_you_mean(entry.key, known) +
                  (section ? " (keys of " : " (parameters of ") + owner + ": " +
                  (known.empty() ? std::string("none") : join(known, ", ")) + ")");
        continue;
      }
      values.set(entry.key, value(*spec, entry.value, key_path, mark), entry.key_mark);
    }
    for (const auto& spec : schema.params()) {
      if (given.contains(spec.name)) continue;
      if (spec.required) {
        error(mark, path,
              owner + " requires parameter '" + spec.name + "' (" + spec.type_text() + ")" +
                  (spec.doc.empty() ? std::string() : ": " + spec.doc));
        continue;
      }
      ConfigNode default_value = spec.default_value;
      if (spec.type == ParamType::nested && spec.nested && default_value.is_map()) {
        default_value = map(*spec.nested, default_value, child_path(path, spec.name),
                            default_mark(), owner + "." + spec.name, false, {});
      }
      default_value.set_mark_recursive(default_mark());
      values.set(spec.name, std::move(default_value), default_mark());
    }
    return values;
  }

  /// Checks one parameter value against its spec; returns it (nested maps with defaults).
  ConfigNode value(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
                   const SourceMark& parent_mark) {
    const SourceMark& mark = best_mark(node, parent_mark);
    if (node.is_null()) {
      if (!spec.nullable && spec.type != ParamType::any) {
        error(mark, path, "expected " + spec.type_text() + ", got null");
      }
      return node;
    }
    if (!spec.alternatives.empty()) return union_value(spec, node, path, mark);
    switch (spec.type) {
      case ParamType::boolean:
        if (!node.is_bool()) mismatch(spec, node, path, mark);
        break;
      case ParamType::integer:
        if (!node.is_int()) return mismatch(spec, node, path, mark);
        number(spec, node, path, mark);
        break;
      case ParamType::real:
        if (!node.is_number()) return mismatch(spec, node, path, mark);
        number(spec, node, path, mark);
        break;
      case ParamType::string:
        if (!node.is_string()) return mismatch(spec, node, path, mark);
        choice(spec, node, path, mark);
        break;
      case ParamType::int_list:
      case ParamType::real_list:
      case ParamType::string_list:
      case ParamType::bool_list:
        scalar_list(spec, node, path, mark);
        break;
      case ParamType::list:
        return list(spec, node, path, mark);
      case ParamType::dict:
        if (!node.is_map()) mismatch(spec, node, path, mark);
        break;
      case ParamType::nested: {
        if (!node.is_map()) return mismatch(spec, node, path, mark);
        ConfigNode out = map(*spec.nested, node, path, mark, spec.name, false, {});
        out.set_mark(node.mark());
        return out;
      }
      case ParamType::component:
        component(*spec.kind, node, path, nullptr, spec.type_key);
        break;
      case ParamType::component_list:
        if (!node.is_list()) return mismatch(spec, node, path, mark);
        for (size_t i = 0; i < node.size(); ++i) {
          component(*spec.kind, node.items()[i], index_path(path, i), nullptr, spec.type_key);
        }
        break;
      case ParamType::any:
        break;
    }
    return node;
  }

 private:
  static bool registered_elsewhere(const std::string& type) {
    for (Kind other : all_kinds()) {
      if (Registry::of(other).find(type) != nullptr) return true;
    }
    return false;
  }

  ConfigNode mismatch(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
                      const SourceMark& mark) {
    error(mark, path, "expected " + spec.type_text() + ", got " + describe_value(node));
    return node;
  }

  /// A union: the first alternative (the spec itself first) that accepts the value wins.
  ConfigNode union_value(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
                         const SourceMark& mark) {
    ParamSpec self = spec;
    self.alternatives.clear();
    // An `any` spec with alternatives is just the union of its alternatives.
    std::vector<const ParamSpec*> candidates;
    if (spec.type != ParamType::any) candidates.push_back(&self);
    for (const auto& alternative : spec.alternatives)
      candidates.push_back(&alternative);
    for (const ParamSpec* candidate : candidates) {
      std::vector<std::string> trial;
      ConfigNode out = Validator(trial, report_).value(*candidate, node, path, mark);
      if (trial.empty()) return out;
    }
    error(mark, path, "expected " + spec.type_text() + ", got " + describe_value(node));
    return node;
  }

  void check_length(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
                    const SourceMark& mark) {
    if (spec.length >= 0 && node.size() != static_cast<size_t>(spec.length)) {
      error(mark, path,
            "expected " + std::to_string(spec.length) + " elements, got " +
                std::to_string(node.size()));
    }
  }

  void scalar_list(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
                   const SourceMark& mark) {
    if (!node.is_list()) {
      mismatch(spec, node, path, mark);
      return;
    }
    check_length(spec, node, path, mark);
    const char* element = spec.type == ParamType::int_list    ? "int"
                          : spec.type == ParamType::real_list ? "float"
                          : spec.type == ParamType::bool_list ? "bool"
                                                              : "str";
    for (size_t i = 0; i < node.size(); ++i) {
      const ConfigNode& item = node.items()[i];
      const std::string item_path = index_path(path, i);
      const SourceMark& item_mark = best_mark(item, mark);
      const bool ok = spec.type == ParamType::int_list    ? item.is_int()
                      : spec.type == ParamType::real_list ? item.is_number()
                      : spec.type == ParamType::bool_list ? item.is_bool()
                                                          : item.is_string();
      if (!ok) {
        error(item_mark, item_path,
              "expected " + spec.type_text() + " elements of type " + element + ", got " +
                  describe_value(item));
      } else if (item.is_string()) {
        choice(spec, item, item_path, item_mark);
      } else if (item.is_number()) {
        number(spec, item, item_path, item_mark);
      }
    }
  }

  /// A list whose items follow `element` or the per-position `items`.
  ConfigNode list(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
                  const SourceMark& mark) {
    if (!node.is_list()) return mismatch(spec, node, path, mark);
    if (!spec.items.empty()) {
      if (node.size() != spec.items.size()) {
        error(mark, path,
              "expected " + spec.type_text() + " (" + std::to_string(spec.items.size()) +
                  " elements), got " + describe_value(node));
        return node;
      }
      for (size_t i = 0; i < node.size(); ++i)
        value(spec.items[i], node.items()[i], index_path(path, i), mark);
      return node;
    }
    check_length(spec, node, path, mark);
    if (spec.element) {
      for (size_t i = 0; i < node.size(); ++i)
        value(*spec.element, node.items()[i], index_path(path, i), mark);
    }
    return node;
  }

  void number(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
              const SourceMark& mark) {
    const double v = node.as_double();
    if (std::isnan(v) && (spec.min || spec.max)) {
      error(mark, path, "expected a number " + spec.constraint_text() + ", got nan");
      return;
    }
    const bool below = spec.min && (spec.min_exclusive ? v <= *spec.min : v < *spec.min);
    const bool above = spec.max && (spec.max_exclusive ? v >= *spec.max : v > *spec.max);
    if (below || above) {
      error(mark, path,
            "value " + node.to_flow() + " is out of range: must be " + spec.constraint_text());
    }
  }

  void choice(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
              const SourceMark& mark) {
    if (spec.choices.empty()) return;
    for (const auto& c : spec.choices) {
      if (c == node.as_string()) return;
    }
    error(mark, path,
          "'" + node.as_string() + "' is not allowed: " + spec.constraint_text() +
              did_you_mean(node.as_string(), spec.choices));
  }

  /// `init_cfg` of a module: an initializer config or a list of them.
  void init_cfg(const ConfigNode& node, const std::string& path, const SourceMark& mark) {
    if (node.is_null()) return;
    if (node.is_map()) {
      component(Kind::initializer, node, path, nullptr, {});
    } else if (node.is_list()) {
      for (size_t i = 0; i < node.size(); ++i)
        component(Kind::initializer, node.items()[i], index_path(path, i), nullptr, {});
    } else {
      error(best_mark(node, mark), path,
            "init_cfg must be a map or a list of maps, got " + describe_value(node));
    }
  }

  std::string known_types_hint(Kind kind) {
    const auto types = Registry::of(kind).types();
    if (types.empty()) return std::string(" (no ") + kind_name(kind) + " types are registered)";
    return std::string(" (known ") + kind_name(kind) + " types: " + join(types, ", ") + ")";
  }

  void error(const SourceMark& mark, const std::string& path, const std::string& message) {
    errors_.push_back(located_message(mark, path, message));
  }

  std::vector<std::string>& errors_;
  CheckReport* report_;
};

[[noreturn]] void throw_errors(const std::vector<std::string>& errors) {
  if (errors.size() == 1) throw ConfigError(errors.front());
  std::string message = std::to_string(errors.size()) + " config errors:";
  for (const auto& e : errors)
    message += "\n  " + e;
  throw ConfigError(message);
}

}  // namespace

std::optional<ComponentConfig> validate_component_into(Kind kind, const ConfigNode& cfg,
                                                       const std::string& path,
                                                       const ConfigNode* default_args,
                                                       std::vector<std::string>& errors,
                                                       const TypeKey& type_key) {
  return Validator(errors).component(kind, cfg, path, default_args, type_key);
}

ConfigNode validate_value_into(const ParamSpec& spec, const ConfigNode& value,
                               const std::string& path, std::vector<std::string>& errors) {
  return Validator(errors).value(spec, value, path, value.mark());
}

ConfigNode validate_map_into(const Schema& schema, const ConfigNode& map, const std::string& path,
                             const std::string& owner, std::vector<std::string>& errors,
                             CheckReport* report) {
  return Validator(errors, report).map(schema, map, path, map.mark(), owner, false, {});
}

ComponentConfig validate_component(Kind kind, const ConfigNode& cfg, const std::string& path,
                                   const ConfigNode* default_args, const TypeKey& type_key) {
  std::vector<std::string> errors;
  auto result = validate_component_into(kind, cfg, path, default_args, errors, type_key);
  if (!errors.empty() || !result) throw_errors(errors);
  return *result;
}

BuiltComponent build_component(Kind kind, const ConfigNode& cfg, const std::string& path,
                               const void* context, const ConfigNode* default_args,
                               const TypeKey& type_key) {
  const ComponentConfig config = validate_component(kind, cfg, path, default_args, type_key);
  const ComponentInfo& info = Registry::of(kind).get(config.type(), config.mark(), path);
  // MMDetection's build_from_cfg prefixes the class name; we add the location too, and keep
  // the error's kind (a DataError from a dataset's annotation file stays a DataError).
  auto located = [&](const std::exception& e) {
    return located_message(config.mark(), path,
                           "building " + config.type() + " failed: " + exception_message(e));
  };
  try {
    return BuiltComponent{info.factory(config, context), info.base_type, info.type};
  } catch (const InvalidParameter& e) {
    config.fail(e.param(), e.what());
  } catch (const ConfigError&) {
    throw;
  } catch (const DataError& e) {
    throw DataError(located(e));
  } catch (const PluginError& e) {
    throw PluginError(located(e));
  } catch (const std::exception& e) {
    throw Error(located(e));
  }
}

void check_built_type(const BuiltComponent& built, Kind kind, const std::type_info& expected) {
  if (built.base_type == nullptr || *built.base_type != expected) {
    throw Error(std::string("component '") + built.type + "' registered as a " + kind_name(kind) +
                " does not derive from the " + kind_name(kind) +
                " base class this host expects (its plugin was built against other SDK headers)");
  }
}

}  // namespace detkit
