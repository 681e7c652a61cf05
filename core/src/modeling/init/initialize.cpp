// initialize(module, init_cfg): MMCV's initialize() and _initialize_override(). Each entry of
// the init_cfg (a copy: a shared init_cfg is never modified) is built as an `initializer`
// component and applied to the module with `layer` matching; then its `override`s are applied
// to whole direct children, inheriting the entry's type and arguments when they give only a
// name.
#include <string>
#include <vector>

#include "detkit/core/runtime.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "detkit/modeling/initializer.h"
#include "detkit/registry.h"
#include "init_internal.h"

namespace detkit {

namespace {

[[noreturn]] void fail(const ConfigNode& node, const std::string& path, const std::string& text) {
  throw ConfigError(located_message(node.mark(), path, text));
}

/// Builds the initializer `cfg` names and applies it; records the changed parameters.
void apply_entry(torch::nn::Module& module, const ConfigNode& cfg, const std::string& path,
                 bool whole_module) {
  const auto initializer = build<InitializerBase>(cfg, path);
  {
    torch::NoGradGuard no_grad;
    initializer->apply(module, whole_module);
  }
  detail::update_init_info(module, initializer->record());
}

/// The direct child `name` of `module`, or null.
std::shared_ptr<torch::nn::Module> child_named(torch::nn::Module& module, const std::string& name) {
  const auto children = module.named_children();
  if (const auto* child = children.find(name)) return *child;
  return nullptr;
}

/// MMCV's _initialize_override: `parent` is the entry without `override` and `layer`.
void apply_overrides(torch::nn::Module& module, const ConfigNode& overrides,
                     const ConfigNode& parent, const std::string& path) {
  if (!overrides.is_map() && !overrides.is_list()) {
    fail(overrides, path,
         "override must be a dict or a list of dict, but got " + python_repr(overrides));
  }
  std::vector<ConfigNode> items;
  if (overrides.is_map()) {
    items.push_back(overrides);
  } else {
    items = overrides.items();
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item_path = overrides.is_list() ? index_path(path, i) : path;
    ConfigNode cfg = items[i];
    if (!cfg.is_map()) {
      fail(cfg, item_path,
           "override must be a dict or a list of dict, but got " + python_repr(cfg));
    }
    const ConfigNode* name_node = cfg.find("name");
    if (name_node == nullptr) {
      fail(cfg, item_path, "`override` must contain the key \"name\", but got " + python_repr(cfg));
    }
    if (!name_node->is_string()) {
      fail(*name_node, child_path(item_path, "name"),
           "the name of an override must be a child module's name, got " + python_repr(*name_node));
    }
    const std::string name = name_node->as_string();
    cfg.erase("name");
    if (cfg.size() == 0) {
      cfg = parent;  // only a name: this entry's type and arguments
      cfg.set_mark(items[i].mark());
    } else if (!cfg.contains("type")) {
      fail(items[i], item_path, "`override` need \"type\" key, but got " + python_repr(cfg));
    }
    const auto child = child_named(module, name);
    if (!child) {
      std::vector<std::string> names;
      for (const auto& entry : module.named_children())
        names.push_back(entry.key());
      fail(*name_node, child_path(item_path, "name"),
           "module did not have attribute " + name + ", but init_cfg is " + python_repr(cfg) +
               ". " + mmcv_class_name(module) +
               " has the children: " + (names.empty() ? std::string("none") : join(names, ", ")) +
               did_you_mean(name, names));
    }
    apply_entry(*child, cfg, item_path, /*whole_module=*/true);
  }
}

}  // namespace

void initialize(torch::nn::Module& module, const ConfigNode& init_cfg, const std::string& path) {
  initialize_runtime();
  if (!init_cfg.is_map() && !init_cfg.is_list()) {
    fail(init_cfg, path,
         "init_cfg must be a dict or a list of dict, but got " + python_repr(init_cfg));
  }
  std::vector<ConfigNode> entries;
  if (init_cfg.is_map()) {
    entries.push_back(init_cfg);
  } else {
    entries = init_cfg.items();
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string entry_path = init_cfg.is_list() ? index_path(path, i) : path;
    ConfigNode cfg = entries[i];  // a copy: the module's own init_cfg stays as it is
    if (!cfg.is_map()) {
      fail(cfg, entry_path,
           "init_cfg must be a dict or a list of dict, but got " + python_repr(cfg));
    }
    ConfigNode overrides;
    if (const ConfigNode* found = cfg.find("override")) {
      overrides = *found;
      cfg.erase("override");
    }
    apply_entry(module, cfg, entry_path, /*whole_module=*/false);
    if (!overrides.is_null()) {
      cfg.erase("layer");
      apply_overrides(module, overrides, cfg, child_path(entry_path, "override"));
    }
  }
}

}  // namespace detkit
