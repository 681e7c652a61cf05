// Text reports for `detkit plugins list` and `detkit plugins describe`.
#include <algorithm>
#include <map>
#include <sstream>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/report.h"
#include "detkit/core/text.h"

namespace detkit {

namespace {

/// "loss: A, B; transform: C" grouped by kind.
std::string components_by_kind(const std::vector<std::pair<Kind, std::string>>& components,
                               const std::string& indent) {
  std::map<int, std::vector<std::string>> grouped;
  for (const auto& [kind, type] : components)
    grouped[static_cast<int>(kind)].push_back(type);
  std::string out;
  for (auto& [kind, types] : grouped) {
    std::sort(types.begin(), types.end());
    out += indent + kind_name(static_cast<Kind>(kind)) + ": " + join(types, ", ") + "\n";
  }
  return out;
}

}  // namespace

std::string format_plugin_report() {
  std::ostringstream out;
  const auto& records = PluginManager::instance().records();
  size_t loaded = 0, rejected = 0, shadowed = 0;
  for (const auto& record : records) {
    out << std::string(plugin_status_name(record.status))
        << std::string(10 - std::string(plugin_status_name(record.status)).size(), ' ')
        << record.path << "  [" << record.source << "]\n";
    switch (record.status) {
      case PluginStatus::loaded:
        ++loaded;
        out << "          " << record.name << " " << record.version << ": " << record.description
            << "\n";
        out << components_by_kind(record.components, "          ");
        break;
      case PluginStatus::rejected:
        ++rejected;
        out << "          reason: " << record.reason << "\n";
        break;
      case PluginStatus::shadowed:
        ++shadowed;
        out << "          " << record.reason << " (not opened)\n";
        break;
    }
  }
  std::vector<std::pair<Kind, std::string>> builtins;
  for (Kind kind : all_kinds()) {
    for (const ComponentInfo* info : Registry::of(kind).components()) {
      if (info->origin == "libdetkit") builtins.emplace_back(kind, info->type);
    }
  }
  out << "BUILT-IN  libdetkit\n" << components_by_kind(builtins, "          ");
  out << records.size() << " plugin file(s): " << loaded << " loaded, " << rejected << " rejected, "
      << shadowed << " shadowed\n";
  return out.str();
}

std::string format_component_help(const ComponentInfo& info) {
  std::ostringstream out;
  out << info.type << " (" << kind_name(info.kind) << ", from " << info.origin << ")\n";
  if (!info.schema.summary().empty()) out << "  " << info.schema.summary() << "\n";
  const auto& params = info.schema.params();
  if (params.empty()) {
    out << "  no parameters\n";
  } else {
    size_t name_width = 4, type_width = 4, default_width = 7;
    std::vector<std::string> defaults;
    for (const auto& spec : params) {
      defaults.push_back(spec.required ? "required" : spec.default_value.to_flow());
      name_width = std::max(name_width, spec.name.size());
      type_width = std::max(type_width, spec.type_text().size());
      default_width = std::max(default_width, std::min<size_t>(defaults.back().size(), 40));
    }
    auto pad = [](const std::string& s, size_t w) {
      return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
    };
    out << "  " << pad("name", name_width) << "  " << pad("type", type_width) << "  "
        << pad("default", default_width) << "  description\n";
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& spec = params[i];
      std::string doc = spec.doc;
      const std::string constraint = spec.constraint_text();
      if (!constraint.empty())
        doc += (doc.empty() ? "" : " ") + std::string("(") + constraint + ")";
      out << "  " << pad(spec.name, name_width) << "  " << pad(spec.type_text(), type_width) << "  "
          << pad(defaults[i], default_width) << "  " << doc << "\n";
    }
  }
  if (kind_is_module(info.kind)) out << "  (every module also accepts init_cfg)\n";
  return out.str();
}

const ComponentInfo& find_component_any_kind(const std::string& type, std::optional<Kind> kind) {
  if (kind) return Registry::of(*kind).get(type);
  std::vector<const ComponentInfo*> matches;
  std::vector<std::string> all;
  for (Kind k : all_kinds()) {
    if (const ComponentInfo* info = Registry::of(k).find(type)) matches.push_back(info);
    for (const auto& t : Registry::of(k).types())
      all.push_back(t);
  }
  if (matches.size() == 1) return *matches.front();
  if (matches.empty()) {
    throw ConfigError("unknown component type '" + type + "'" + did_you_mean(type, all) +
                      " (run `detkit plugins list` to see every registered type)" +
                      rejected_plugins_note());
  }
  std::vector<std::string> kinds;
  for (const auto* info : matches)
    kinds.push_back(kind_name(info->kind));
  throw ConfigError("type '" + type + "' exists in several kinds (" + join(kinds, ", ") +
                    "); pass --kind");
}

}  // namespace detkit
