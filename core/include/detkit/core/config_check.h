// `detkit config check`: validates a whole merged config without building anything.
#pragma once

#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/schema.h"

namespace detkit {

/// The schema of a config's top-level keys (MMDetection 2.x runtime keys: model, data,
/// optimizer, lr_config, runner, ...). Top-level keys starting with '_' are user variables
/// (e.g. YAML anchors) and are not checked.
DETKIT_API const Schema& top_level_schema();

/// The schema of the `data:` section (samples_per_gpu, workers_per_gpu, train/val/test).
DETKIT_API const Schema& data_section_schema();

/// Validates every top-level key and every component (`type:`) the config names against the
/// registered schemas. Returns all problems found, each located ("file:line:col: path: ...");
/// empty when the config is valid.
DETKIT_API std::vector<std::string> check_config(const ConfigNode& root);

}  // namespace detkit
