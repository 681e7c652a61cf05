// What MMCV's Hook base class gives every hook (every_n_epochs, end_of_epoch, ...), the
// `hook_msgs` map of runner.meta, and the small file helpers the hooks share (out_dir joined as
// MMCV's FileClient does, "{}" templates, files removed only when they exist).
#pragma once

#include <cstdint>
#include <string>

#include "detkit/config_node.h"
#include "detkit/engine/runner.h"

namespace detkit::hooks {

/// MMCV's Hook.every_n_epochs: (epoch + 1) % n == 0; false for n <= 0.
bool every_n_epochs(const RunnerBase& runner, int64_t n);
/// MMCV's Hook.every_n_iters (the global iteration): (iter + 1) % n == 0; false for n <= 0.
bool every_n_iters(const RunnerBase& runner, int64_t n);
/// MMCV's Hook.every_n_inner_iters: (inner_iter + 1) % n == 0; false for n <= 0.
bool every_n_inner_iters(const RunnerBase& runner, int64_t n);
/// MMCV's Hook.end_of_epoch: inner_iter + 1 == len(data_loader).
bool end_of_epoch(const RunnerBase& runner);
/// MMCV's Hook.is_last_epoch: epoch + 1 == max_epochs.
bool is_last_epoch(const RunnerBase& runner);
/// MMCV's Hook.is_last_iter: iter + 1 == max_iters.
bool is_last_iter(const RunnerBase& runner);
/// runner.max_iters, or max_epochs * iters_per_epoch when an epoch-based runner reports 0.
int64_t total_iters(const RunnerBase& runner);

/// runner.meta['hook_msgs'], created (as an empty map) when missing.
ConfigNode& hook_msgs(RunnerBase& runner);

/// The folder a hook writes to: work_dir when `out_dir` is empty or equal to it, else
/// out_dir/basename(work_dir) (MMCV >= 1.3.16).
std::string resolve_out_dir(const std::string& out_dir, const std::string& work_dir);
/// `dir` + "/" + `name` (no doubled separator).
std::string join_path(const std::string& dir, const std::string& name);
/// `tmpl` with its first "{}" replaced by `value` (Python's str.format of one argument).
std::string format_template(const std::string& tmpl, int64_t value);
/// Whether `path` is a regular file (a symlink to one counts).
bool is_file(const std::string& path);
/// Removes the file `path`; throws detkit::Error naming it when that fails.
void remove_file(const std::string& path);

/// Python's f"{value:.Nf}" / f"{value:.Ne}" ("0.1235", "2.000e-02").
std::string format_fixed(double value, int decimals);
std::string format_exp(double value, int decimals);

}  // namespace detkit::hooks
