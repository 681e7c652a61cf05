// `detkit schedule`: the learning rate and momentum a config's policies (`lr_config`,
// `momentum_config`) give at every training iteration, found by running the policies in a
// runner that only counts epochs and iterations (no model, no data), calling their hooks in
// MMCV's order.
//
//   const ScheduleTrace trace = simulate_config_schedule(config, /*iters_per_epoch=*/100);
//   std::cout << format_schedule(trace);
//   write_file_atomically("lr.json", schedule_json(trace));
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/scheduler.h"

namespace detkit {

/// The length of a simulated run, as MMCV's runners count it.
struct DETKIT_API ScheduleRun {
  /// EpochBasedRunner (true) or IterBasedRunner (false).
  bool by_epoch = true;
  /// Epochs of an EpochBasedRunner (0 for an IterBasedRunner, as MMCV's max_epochs = None).
  int64_t max_epochs = 0;
  /// Iterations: max_epochs * iters_per_epoch for an EpochBasedRunner.
  int64_t max_iters = 0;
  /// Batches per epoch (the training loader's length).
  int64_t iters_per_epoch = 0;
  /// "EpochBasedRunner" or "IterBasedRunner" (for the report).
  std::string runner_type;
};

/// The value of every parameter group at each global iteration (0-based), read when
/// optimizer.step() runs: after before_train_iter.
struct DETKIT_API ScheduleTrace {
  ScheduleRun run;
  /// lr[i][g]: the lr of group g at iteration i.
  std::vector<std::vector<double>> lr;
  /// momentum[i][g]: the momentum (Adam: beta1) of group g at iteration i (0 without one).
  std::vector<std::vector<double>> momentum;
  /// Whether the optimizer has a momentum (or Adam's beta1).
  bool has_momentum = false;
  /// The policies' registered types ("StepLrUpdaterHook"); "" when the config has none.
  std::string lr_policy;
  std::string momentum_policy;
};

/// Drives `policies` on `optimizer` as MMCV's runner calls its hooks, in priority order (lower
/// first, stable): before_run; per epoch before_train_epoch (EpochBasedRunner only:
/// IterBasedRunner starts no epochs); per iteration before_train_iter, then each group's values
/// are recorded and the iteration counted. Errors of the policies propagate.
DETKIT_API ScheduleTrace simulate_schedule(
    OptimizerBase& optimizer, const std::vector<std::shared_ptr<SchedulerBase>>& policies,
    const ScheduleRun& run);

/// The run a config's `runner` section describes (`{type: EpochBasedRunner, max_epochs: 12}` or
/// `{type: IterBasedRunner, max_iters: 90000}`) with `iters_per_epoch` batches per epoch. Throws
/// ConfigError naming the key when the section is missing or MMCV would refuse it.
DETKIT_API ScheduleRun schedule_run_of(const ConfigNode& config, int64_t iters_per_epoch);

/// What `detkit schedule` computes: builds the config's `optimizer` (without `constructor` and
/// `paramwise_cfg`) over one parameter group holding one dummy parameter, the policies of
/// `lr_config` and `momentum_config` (either may be absent or null) through the registry, and
/// simulates the config's runner with `iters_per_epoch` batches per epoch.
DETKIT_API ScheduleTrace simulate_config_schedule(const ConfigNode& config,
                                                  int64_t iters_per_epoch);

/// The trace as text: a header, one row per iteration where a value changes (long runs of
/// changes shortened to their ends), the first and last iterations, and a summary. With
/// `every_iteration`, every row.
DETKIT_API std::string format_schedule(const ScheduleTrace& trace, bool every_iteration = false);

/// The trace as JSON: {"lr": [[group values] per iteration], "momentum": [[...] ...]}, numbers
/// in shortest round-trip form.
DETKIT_API std::string schedule_json(const ScheduleTrace& trace);

/// Plots the lr (and the momentum, when the optimizer has one) against the iteration, with
/// axes, ticks, labels and epoch boundaries, and writes the image (PNG) to `path` atomically.
/// Throws Error when it cannot be written.
DETKIT_API void write_schedule_png(const ScheduleTrace& trace, const std::string& path,
                                   const std::string& title);

}  // namespace detkit
