// Validation of component configs against their schemas, and building.
#include "detkit/core/validate.h"

#include <cmath>

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

class Validator {
 public:
  explicit Validator(std::vector<std::string>& errors) : errors_(errors) {}

  /// Validates the component map `cfg` of `kind`; returns the validated values (defaults
  /// filled, without `type`) and its type name, or nullopt after recording errors.
  std::optional<ComponentConfig> component(Kind kind, const ConfigNode& cfg,
                                           const std::string& path,
                                           const ConfigNode* default_args) {
    if (!cfg.is_map()) {
      error(cfg.mark(), path,
            std::string("expected a ") + kind_name(kind) + " config (a map with 'type'), got " +
                describe_value(cfg));
      return std::nullopt;
    }
    ConfigNode merged = cfg;
    if (default_args != nullptr && default_args->is_map()) {
      for (const auto& entry : default_args->entries()) {
        if (!merged.contains(entry.key)) merged.set(entry.key, entry.value, entry.key_mark);
      }
    }
    const ConfigNode* type_node = merged.find("type");
    if (type_node == nullptr) {
      error(cfg.mark(), path,
            std::string("missing 'type' (which ") + kind_name(kind) + " to build)" +
                known_types_hint(kind));
      return std::nullopt;
    }
    if (!type_node->is_string()) {
      error(best_mark(*type_node, cfg.mark()), child_path(path, "type"),
            "'type' must be a string, got " + describe_value(*type_node));
      return std::nullopt;
    }
    const std::string& type = type_node->as_string();
    const ComponentInfo* info = nullptr;
    try {
      info = &Registry::of(kind).get(type, best_mark(*type_node, cfg.mark()),
                                     child_path(path, "type"));
    } catch (const ConfigError& e) {
      errors_.push_back(e.what());
      return std::nullopt;
    }
    const size_t errors_before = errors_.size();
    ConfigNode values = ConfigNode::make_map();
    values.set_mark(cfg.mark());
    const Schema& schema = info->schema;
    std::vector<std::string> known;
    for (const auto& spec : schema.params())
      known.push_back(spec.name);
    for (const auto& entry : merged.entries()) {
      if (entry.key == "type") continue;
      const std::string key_path = child_path(path, entry.key);
      if (entry.key == "init_cfg" && kind_is_module(kind)) {
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
        error(entry.key_mark.in_file() ? entry.key_mark : best_mark(entry.value, cfg.mark()),
              key_path,
              "unknown parameter '" + entry.key + "' of " + type + did_you_mean(entry.key, known) +
                  " (parameters of " + type + ": " +
                  (known.empty() ? std::string("none") : join(known, ", ")) + ")");
        continue;
      }
      value(*spec, entry.value, key_path, cfg.mark());
      values.set(entry.key, entry.value, entry.key_mark);
    }
    // Defaults and required parameters, in schema order after the given ones.
    for (const auto& spec : schema.params()) {
      if (merged.contains(spec.name)) continue;
      if (spec.required) {
        error(cfg.mark(), path,
              type + " requires parameter '" + spec.name + "' (" + spec.type_text() + ")" +
                  (spec.doc.empty() ? std::string() : ": " + spec.doc));
        continue;
      }
      ConfigNode default_value = spec.default_value;
      SourceMark origin;
      origin.origin = "default";
      default_value.set_mark_recursive(origin);
      values.set(spec.name, std::move(default_value), origin);
    }
    if (errors_.size() != errors_before) return std::nullopt;
    return ComponentConfig(kind, type, std::move(values), path, cfg.mark());
  }

  /// Checks one parameter value against its spec.
  void value(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
             const SourceMark& parent_mark) {
    const SourceMark& mark = best_mark(node, parent_mark);
    if (node.is_null()) {
      if (!spec.nullable && !spec.required && spec.type != ParamType::any) {
        error(mark, path, "expected " + spec.type_text() + ", got null");
      } else if (spec.required && !spec.nullable) {
        error(mark, path, "expected " + spec.type_text() + ", got null");
      }
      return;
    }
    auto mismatch = [&]() {
      error(mark, path, "expected " + spec.type_text() + ", got " + describe_value(node));
    };
    switch (spec.type) {
      case ParamType::boolean:
        if (!node.is_bool()) mismatch();
        return;
      case ParamType::integer:
        if (!node.is_int()) return mismatch();
        number(spec, node, path, mark);
        return;
      case ParamType::real:
        if (!node.is_number()) return mismatch();
        number(spec, node, path, mark);
        return;
      case ParamType::string:
        if (!node.is_string()) return mismatch();
        choice(spec, node, path, mark);
        return;
      case ParamType::int_list:
      case ParamType::real_list:
      case ParamType::string_list: {
        if (!node.is_list()) return mismatch();
        if (spec.length >= 0 && node.size() != static_cast<size_t>(spec.length)) {
          error(mark, path,
                "expected " + std::to_string(spec.length) + " elements, got " +
                    std::to_string(node.size()));
        }
        for (size_t i = 0; i < node.size(); ++i) {
          const ConfigNode& item = node.items()[i];
          const std::string item_path = index_path(path, i);
          const SourceMark& item_mark = best_mark(item, mark);
          const bool ok = spec.type == ParamType::int_list    ? item.is_int()
                          : spec.type == ParamType::real_list ? item.is_number()
                                                              : item.is_string();
          if (!ok) {
            error(item_mark, item_path,
                  "expected " + spec.type_text() + " elements of type " +
                      (spec.type == ParamType::int_list    ? "int"
                       : spec.type == ParamType::real_list ? "float"
                                                           : "str") +
                      ", got " + describe_value(item));
          } else if (item.is_string()) {
            choice(spec, item, item_path, item_mark);
          } else {
            number(spec, item, item_path, item_mark);
          }
        }
        return;
      }
      case ParamType::list:
        if (!node.is_list())
          mismatch();
        else if (spec.length >= 0 && node.size() != static_cast<size_t>(spec.length))
          error(mark, path,
                "expected " + std::to_string(spec.length) + " elements, got " +
                    std::to_string(node.size()));
        return;
      case ParamType::dict:
        if (!node.is_map()) mismatch();
        return;
      case ParamType::component:
        component(*spec.kind, node, path, nullptr);
        return;
      case ParamType::component_list:
        if (!node.is_list()) return mismatch();
        for (size_t i = 0; i < node.size(); ++i) {
          component(*spec.kind, node.items()[i], index_path(path, i), nullptr);
        }
        return;
      case ParamType::any:
        return;
    }
  }

 private:
  void number(const ParamSpec& spec, const ConfigNode& node, const std::string& path,
              const SourceMark& mark) {
    const double v = node.as_double();
    if (std::isnan(v) && (spec.min || spec.max)) {
      error(mark, path, "expected a number " + spec.constraint_text() + ", got nan");
      return;
    }
    if ((spec.min && v < *spec.min) || (spec.max && v > *spec.max)) {
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
      component(Kind::initializer, node, path, nullptr);
    } else if (node.is_list()) {
      for (size_t i = 0; i < node.size(); ++i)
        component(Kind::initializer, node.items()[i], index_path(path, i), nullptr);
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
                                                       std::vector<std::string>& errors) {
  return Validator(errors).component(kind, cfg, path, default_args);
}

void validate_value_into(const ParamSpec& spec, const ConfigNode& value, const std::string& path,
                         std::vector<std::string>& errors) {
  Validator(errors).value(spec, value, path, value.mark());
}

ComponentConfig validate_component(Kind kind, const ConfigNode& cfg, const std::string& path,
                                   const ConfigNode* default_args) {
  std::vector<std::string> errors;
  auto result = validate_component_into(kind, cfg, path, default_args, errors);
  if (!errors.empty() || !result) throw_errors(errors);
  return *result;
}

std::shared_ptr<void> build_component(Kind kind, const ConfigNode& cfg, const std::string& path,
                                      const ConfigNode* default_args) {
  const ComponentConfig config = validate_component(kind, cfg, path, default_args);
  const ComponentInfo& info = Registry::of(kind).get(config.type(), config.mark(), path);
  // MMDetection's build_from_cfg prefixes the class name; we add the location too, and keep
  // the error's kind (a DataError from a dataset's annotation file stays a DataError).
  auto context = [&](const std::exception& e) {
    return located_message(config.mark(), path,
                           "building " + config.type() + " failed: " + exception_message(e));
  };
  try {
    return info.factory(config);
  } catch (const ConfigError&) {
    throw;
  } catch (const DataError& e) {
    throw DataError(context(e));
  } catch (const PluginError& e) {
    throw PluginError(context(e));
  } catch (const std::exception& e) {
    throw Error(context(e));
  }
}

}  // namespace detkit
