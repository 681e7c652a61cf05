// Training from a config: MMDetection 2.25's tools/train.py + apis/train.py train_detector in one
// entry point (what `detkit train` calls).
//
//   detkit::TrainOptions options;
//   options.config_path = "configs/demo/retinanet_r18_fpn_synth.yaml";
//   detkit::TrainResult result = detkit::train_detector(config, options);
//
// It resolves the work dir (--work-dir, then the config's work_dir, then
// ./work_dirs/<config stem>), writes the merged config and the logs there, seeds the RNGs,
// builds the datasets (data.train; data.val with the training pipeline for a `val` workflow
// phase), the model (init_weights, then load_from), the optimizer (build_optimizer), the runner
// (`runner`), and the hooks in MMDetection's registration order — lr_config, momentum_config,
// optimizer_config, checkpoint_config, IterTimerHook, log_config.hooks, custom_hooks, then
// evaluation — and runs the workflow (after resume_from, when set).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "detkit/config_node.h"
#include "detkit/engine/runner.h"

namespace detkit {

/// What tools/train.py takes from its command line.
struct DETKIT_API TrainOptions {
  /// The config file (its stem names the default work dir and the dumped config).
  std::string config_path;
  /// --work-dir; empty: the config's work_dir, else ./work_dirs/<config stem>.
  std::string work_dir;
  /// --resume-from (takes precedence over the config's resume_from).
  std::optional<std::string> resume_from;
  /// --seed (else the config's seed, else a random one, logged).
  std::optional<uint64_t> seed;
  /// --deterministic: deterministic algorithms.
  bool deterministic = false;
  /// --no-validate clears this: no EvalHook even if the config has `evaluation`.
  bool validate = true;
  /// Log lines to the console (always to the text log).
  bool console = true;
};

/// What a finished run produced.
struct DETKIT_API TrainResult {
  std::string work_dir;
  /// The text log and the newest checkpoint (empty if none was written).
  std::string log_file;
  std::string last_checkpoint;
  /// The last evaluation's metrics (empty when none ran).
  NamedValues last_metrics;
};

/// Trains the config's model (see the file comment). Throws ConfigError for config problems,
/// Error / DataError / CheckpointError for the rest; what was written before stays.
DETKIT_API TrainResult train_detector(const ConfigNode& config, const TrainOptions& options);

}  // namespace detkit
