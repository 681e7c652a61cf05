// Opening one plugin file (private to the plugin loader): what the scan process and the host
// both run once the file passed the pre-dlopen check (elf_check.h).
#pragma once

#include <vector>

#include "detkit/core/plugin_manager.h"
#include "detkit/registry.h"
#include "plugin_scan.h"

namespace detkit::plugin_detail {

/// Opens the plugin at record.path (dlopen with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE; never
/// unloaded), checks its descriptor against this host, calls its register_components (a throw
/// is caught) and checks every component it handed over (component_problem, no type twice),
/// registering nothing. Fills the record's version and description and `components`. A failing
/// dlopen is not cacheable: a missing dependency may be installed without the file changing.
ScanOutcome open_plugin(PluginRecord& record, std::vector<ComponentInfo>& components);

}  // namespace detkit::plugin_detail
