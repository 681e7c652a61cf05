// Schema builder and parameter type descriptions.
#include "detkit/schema.h"

#include <cmath>
#include <sstream>

#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit {

namespace {
std::string number_text(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::ostringstream out;
  out << value;
  return out.str();
}
}  // namespace

std::string ParamSpec::type_text() const {
  std::string text;
  switch (type) {
    case ParamType::boolean:
      text = "bool";
      break;
    case ParamType::integer:
      text = "int";
      break;
    case ParamType::real:
      text = "float";
      break;
    case ParamType::string:
      text = "str";
      break;
    case ParamType::int_list:
      text = "list[int]";
      break;
    case ParamType::real_list:
      text = "list[float]";
      break;
    case ParamType::string_list:
      text = "list[str]";
      break;
    case ParamType::list:
      text = "list";
      break;
    case ParamType::dict:
      text = "dict";
      break;
    case ParamType::component:
      text = std::string(kind ? kind_name(*kind) : "component");
      break;
    case ParamType::component_list:
      text = "list[" + std::string(kind ? kind_name(*kind) : "component") + "]";
      break;
    case ParamType::any:
      text = "any";
      break;
    case ParamType::bool_list:
      text = "list[bool]";
      break;
    case ParamType::nested:
      text = "dict";
      break;
  }
  if (type == ParamType::list && element) text = "list[" + element->type_text() + "]";
  if (type == ParamType::list && !items.empty()) {
    text = "[";
    for (size_t i = 0; i < items.size(); ++i)
      text += (i ? ", " : "") + items[i].type_text();
    text += "]";
  }
  if (type == ParamType::any && !alternatives.empty()) text.clear();
  for (const auto& alternative : alternatives) {
    const std::string constraint = alternative.constraint_text();
    text += (text.empty() ? "" : "|") + (constraint.empty() ? alternative.type_text() : constraint);
  }
  if (length >= 0) text += "(len " + std::to_string(length) + ")";
  if (nullable && type != ParamType::any) text += "|null";
  return text;
}

std::string ParamSpec::constraint_text() const {
  if (!choices.empty()) return "one of " + join(choices, "|");
  if (min && max) {
    return std::string(min_exclusive ? "in (" : "in [") + number_text(*min) + ", " +
           number_text(*max) + (max_exclusive ? ")" : "]");
  }
  if (min) return (min_exclusive ? "> " : ">= ") + number_text(*min);
  if (max) return (max_exclusive ? "< " : "<= ") + number_text(*max);
  return {};
}

std::string TypeKey::resolve(const std::string& value) const {
  std::string name = value;
  if (title_case_lower && !name.empty()) {
    bool lower = true;
    for (char c : name)
      lower = lower && !(c >= 'A' && c <= 'Z');
    // Python's str.title(): the first letter of every alphabetic run is upper-cased.
    if (lower) {
      bool start = true;
      for (char& c : name) {
        const bool alpha = (c >= 'a' && c <= 'z');
        if (alpha && start) c = static_cast<char>(c - 'a' + 'A');
        start = !alpha;
      }
    }
  }
  return name + suffix;
}

ParamDecl& ParamDecl::choices(std::vector<std::string> values) {
  if (spec_) spec_->choices = std::move(values);
  return *this;
}
ParamDecl& ParamDecl::range(double min_value, double max_value) {
  if (spec_) {
    spec_->min = min_value;
    spec_->max = max_value;
  }
  return *this;
}
ParamDecl& ParamDecl::min(double value) {
  if (spec_) spec_->min = value;
  return *this;
}
ParamDecl& ParamDecl::max(double value) {
  if (spec_) spec_->max = value;
  return *this;
}
ParamDecl& ParamDecl::greater_than(double value) {
  if (spec_) {
    spec_->min = value;
    spec_->min_exclusive = true;
  }
  return *this;
}
ParamDecl& ParamDecl::less_than(double value) {
  if (spec_) {
    spec_->max = value;
    spec_->max_exclusive = true;
  }
  return *this;
}
ParamDecl& ParamDecl::length(int n) {
  if (spec_) spec_->length = n;
  return *this;
}
ParamDecl& ParamDecl::nullable(bool allow) {
  if (spec_) spec_->nullable = allow;
  return *this;
}
ParamDecl& ParamDecl::or_one_of(std::vector<ParamSpec> alternatives) {
  if (spec_) spec_->alternatives = std::move(alternatives);
  return *this;
}
ParamDecl& ParamDecl::each(ParamSpec element) {
  if (spec_) spec_->element = std::make_shared<const ParamSpec>(std::move(element));
  return *this;
}
ParamDecl& ParamDecl::type_key(TypeKey key) {
  if (spec_) spec_->type_key = std::move(key);
  return *this;
}

Schema::Schema(std::string summary) : summary_(std::move(summary)) {}

Schema& Schema::add_spec(ParamSpec spec) {
  if (spec.name.empty()) throw Error("schema: a parameter needs a name");
  if (find(spec.name) != nullptr)
    throw Error("schema: parameter '" + spec.name + "' is declared twice");
  if (!spec.required && spec.default_value.is_null()) spec.nullable = true;
  params_.push_back(std::move(spec));
  return *this;
}

Schema& Schema::dict(std::string name, ConfigNode default_value, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = ParamType::dict;
  spec.default_value = std::move(default_value);
  spec.doc = std::move(doc);
  return add_spec(std::move(spec));
}

Schema& Schema::nested(std::string name, Schema schema, std::string doc, bool nullable) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = ParamType::nested;
  spec.nullable = nullable;
  if (!nullable) {
    ConfigNode defaults = ConfigNode::make_map();
    for (const auto& inner : schema.params()) {
      if (!inner.required) defaults.set(inner.name, inner.default_value);
    }
    spec.default_value = std::move(defaults);
  }
  spec.nested = std::make_shared<const Schema>(std::move(schema));
  spec.doc = std::move(doc);
  return add_spec(std::move(spec));
}

Schema& Schema::component(std::string name, Kind kind, ConfigNode default_value, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = ParamType::component;
  spec.kind = kind;
  spec.default_value = std::move(default_value);
  spec.doc = std::move(doc);
  return add_spec(std::move(spec));
}

Schema& Schema::component_list(std::string name, Kind kind, ConfigNode default_value,
                               std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = ParamType::component_list;
  spec.kind = kind;
  spec.default_value = std::move(default_value);
  spec.doc = std::move(doc);
  return add_spec(std::move(spec));
}

Schema& Schema::required_component(std::string name, Kind kind, std::string doc) {
  component(std::move(name), kind, ConfigNode(), std::move(doc));
  params_.back().required = true;
  params_.back().nullable = false;
  return *this;
}

Schema& Schema::required_component_list(std::string name, Kind kind, std::string doc) {
  component_list(std::move(name), kind, ConfigNode(), std::move(doc));
  params_.back().required = true;
  params_.back().nullable = false;
  return *this;
}

Schema& Schema::any(std::string name, ConfigNode default_value, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = ParamType::any;
  spec.nullable = true;
  spec.default_value = std::move(default_value);
  spec.doc = std::move(doc);
  return add_spec(std::move(spec));
}

ParamSpec& Schema::last(const char* modifier) {
  if (params_.empty())
    throw Error(std::string("schema: ") + modifier + "() needs a parameter before it");
  return params_.back();
}

Schema& Schema::choices(std::vector<std::string> values) {
  last("choices").choices = std::move(values);
  return *this;
}

Schema& Schema::range(double min_value, double max_value) {
  ParamSpec& spec = last("range");
  spec.min = min_value;
  spec.max = max_value;
  return *this;
}

Schema& Schema::min(double value) {
  last("min").min = value;
  return *this;
}

Schema& Schema::max(double value) {
  last("max").max = value;
  return *this;
}

Schema& Schema::length(int n) {
  last("length").length = n;
  return *this;
}

Schema& Schema::greater_than(double value) {
  last_param().greater_than(value);
  return *this;
}

Schema& Schema::less_than(double value) {
  last_param().less_than(value);
  return *this;
}

Schema& Schema::each(ParamSpec element) {
  last_param().each(std::move(element));
  return *this;
}

Schema& Schema::or_one_of(std::vector<ParamSpec> alternatives) {
  last_param().or_one_of(std::move(alternatives));
  return *this;
}

Schema& Schema::type_key(TypeKey key) {
  last_param().type_key(std::move(key));
  return *this;
}

ParamDecl Schema::last_param() {
  return ParamDecl(&last("modifier"));
}

Schema& Schema::allow_unknown_keys(bool allow) {
  allow_unknown_keys_ = allow;
  return *this;
}

const ParamSpec* Schema::find(std::string_view name) const {
  for (const auto& spec : params_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace detkit
