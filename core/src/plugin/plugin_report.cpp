// Text reports for `detkit plugins list` and `detkit plugins describe`.
#include <algorithm>
#include <map>
#include <sstream>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/report.h"
#include "detkit/core/schema_table.h"
#include "detkit/core/text.h"
#include "plugin_scan.h"

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

/// "(1 component skipped: loss FocalLoss, already registered by P)".
std::string skipped_text(const std::vector<SkippedComponent>& skipped) {
  std::vector<std::string> items;
  for (const auto& skip : skipped) {
    items.push_back(std::string(kind_name(skip.kind)) + " " + skip.type +
                    ", already registered by " + skip.registered_by);
  }
  return "(" + std::to_string(skipped.size()) + " component" + (skipped.size() == 1 ? "" : "s") +
         " skipped: " + join(items, "; ") + ")";
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
        if (!record.skipped.empty()) out << "          " << skipped_text(record.skipped) << "\n";
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
  const plugin_detail::ScanStats& scan = plugin_detail::scan_stats();
  if (scan.used && !scan.enabled) {
    out << "plugin scan: off (DETKIT_PLUGIN_SCAN=0): plugins were loaded without a scan process\n";
  } else if (scan.used) {
    out << "plugin scan: " << scan.scanned << " file(s) scanned in a scan process, " << scan.cached
        << " verdict(s) from the cache "
        << (scan.cache_file.empty() ? std::string("(none: no cache folder)") : scan.cache_file)
        << "\n";
  }
  return out.str();
}

std::string format_component_help(const ComponentInfo& info) {
  std::ostringstream out;
  out << info.type << " (" << kind_name(info.kind) << ", from " << info.origin << ")\n";
  if (!info.schema.summary().empty()) out << "  " << info.schema.summary() << "\n";
  out << format_schema_table(info.schema);
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
