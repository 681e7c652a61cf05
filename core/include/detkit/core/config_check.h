// `detkit config check`: validates a whole merged config and runs the factories' checks.
#pragma once

#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/core/validate.h"
#include "detkit/schema.h"

namespace detkit {

/// The schema of a config's top-level keys (MMDetection 2.x runtime keys: model, data,
/// optimizer, lr_config, runner, ...). Top-level keys starting with '_' are user variables
/// (e.g. YAML anchors) and are not checked.
DETKIT_API const Schema& top_level_schema();

/// The schema of the `data:` section (samples_per_gpu, workers_per_gpu, train/val/test).
DETKIT_API const Schema& data_section_schema();

/// What `config check` found.
struct DETKIT_API ConfigCheckResult {
  /// Every problem, located ("file:line:col: path: ..."); empty when the config is valid.
  std::vector<std::string> errors;
  /// Parts that could not be checked, and why (no type of their kind is registered yet).
  std::vector<std::string> unchecked;
};

/// Validates every section (model, data, optimizer, optimizer_config, lr_config,
/// momentum_config, runner, checkpoint_config, log_config, evaluation, custom_hooks, workflow,
/// load_from, resume_from, work_dir, ...) and every component the config names against the
/// registered schemas; with `build`, then builds the components that need no upstream object
/// (no weights, no data) so that the checks their factories make run too.
DETKIT_API ConfigCheckResult check_config(const ConfigNode& root, bool build = true);

/// check_config without building, as `train`, `test` and `infer` run it before doing anything:
/// throws ConfigError listing every error (a misspelt key is an error naming its file:line and
/// the key it probably means, never a default silently used).
DETKIT_API void require_valid_config(const ConfigNode& root);

}  // namespace detkit
