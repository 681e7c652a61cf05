// Registries: one per kind, living here in libdetkit (one instance per process).
#include "detkit/registry.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/text.h"

namespace detkit {

struct Registry::State {
  mutable std::mutex mutex;
  std::map<std::string, ComponentInfo, std::less<>> components;
};

Registry::Registry(Kind kind) : kind_(kind), state_(std::make_shared<State>()) {}

Registry& Registry::of(Kind kind) {
  const auto index = static_cast<uint32_t>(kind);
  if (!is_known_kind(index)) {
    throw PluginError("component kind " + std::to_string(index) +
                      " does not exist in this SDK (kinds are 0.." +
                      std::to_string(kKindCount - 1) + ")");
  }
  // Never destroyed: factories may point into plugins, which are never unloaded either.
  static auto* registries = [] {
    auto* out = new std::vector<Registry*>();
    for (Kind k : all_kinds())
      out->push_back(new Registry(k));
    return out;
  }();
  return *(*registries)[static_cast<size_t>(kind)];
}

const char* Registry::name() const {
  return kind_name(kind_);
}

std::string component_problem(const ComponentInfo& info) {
  const auto kind = static_cast<uint32_t>(info.kind);
  const std::string name =
      info.type.empty() ? std::string("a component") : "component '" + info.type + "'";
  if (!is_known_kind(kind)) {
    return name + " has kind number " + std::to_string(kind) +
           ", unknown to this detkit (kinds are 0.." + std::to_string(kKindCount - 1) +
           "; the plugin may need a newer detkit)";
  }
  if (info.type.empty())
    return std::string("a ") + kind_name(info.kind) + " has an empty type name";
  if (!info.factory) return name + " (" + kind_name(info.kind) + ") has no factory";
  if (info.schema.find("type") != nullptr) {
    return name + " declares a parameter 'type', which is reserved (it names the component)";
  }
  if (info.base_type == nullptr) return name + " does not name its base class";
  return {};
}

void Registry::add(ComponentInfo info) {
  if (info.kind != kind_) {
    throw PluginError(std::string("component '") + info.type + "' of kind " + kind_name(info.kind) +
                      " added to the " + name() + " registry");
  }
  const std::string problem = component_problem(info);
  if (!problem.empty()) throw PluginError(problem);
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->components.find(info.type);
  if (it != state_->components.end()) {
    throw PluginError(std::string(name()) + " type '" + info.type + "' from '" + info.origin +
                      "' is already provided by '" + it->second.origin + "'");
  }
  const std::string type = info.type;
  state_->components.emplace(type, std::move(info));
}

const ComponentInfo* Registry::find(std::string_view type) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->components.find(type);
  return it == state_->components.end() ? nullptr : &it->second;
}

const ComponentInfo& Registry::get(std::string_view type, const SourceMark& where,
                                   const std::string& path) const {
  if (const ComponentInfo* info = find(type)) return *info;
  const std::vector<std::string> known = types();
  std::string message = "unknown " + std::string(name()) + " type '" + std::string(type) + "'" +
                        did_you_mean(type, known);
  // The type may exist under another kind: say so rather than only "unknown".
  for (Kind other : all_kinds()) {
    if (other == kind_) continue;
    if (Registry::of(other).find(type) != nullptr) {
      message += " ('" + std::string(type) + "' is a " + kind_name(other) + ", but a " + name() +
                 " is expected here)";
      break;
    }
  }
  message += " (known " + std::string(name()) +
             " types: " + (known.empty() ? std::string("none") : join(known, ", ")) + ")";
  message += rejected_plugins_note();
  throw ConfigError(located_message(where, path, message));
}

std::vector<const ComponentInfo*> Registry::components() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<const ComponentInfo*> out;
  for (const auto& [type, info] : state_->components)
    out.push_back(&info);
  return out;
}

std::vector<std::string> Registry::types() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<std::string> out;
  for (const auto& [type, info] : state_->components)
    out.push_back(type);
  return out;
}

}  // namespace detkit
