// CheckpointHook (MMCV 1.7's mmcv/runner/hooks/checkpoint.py): saves `epoch_{N}.pth` (or
// `iter_{N}.pth`) every `interval` epochs (iterations) and at the end when save_last, refreshes
// `latest.pth`, keeps the newest `max_keep_ckpts`, and records the file as
// runner.meta.hook_msgs.last_ckpt. Built from the config's `checkpoint_config`.
#include <torch/torch.h>

#include <optional>

#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "hook_utils.h"

namespace detkit::hooks {

/// Options of CheckpointHook; names and defaults as MMCV's (filename_tmpl, create_symlink and
/// meta are what MMCV passes on to runner.save_checkpoint).
struct CheckpointHookOptions {
  TORCH_ARG(int64_t, interval) = -1;
  TORCH_ARG(bool, by_epoch) = true;
  TORCH_ARG(bool, save_optimizer) = true;
  TORCH_ARG(std::optional<std::string>, out_dir) = std::nullopt;
  TORCH_ARG(int64_t, max_keep_ckpts) = -1;
  TORCH_ARG(bool, save_last) = true;
  TORCH_ARG(bool, sync_buffer) = false;
  TORCH_ARG(std::optional<std::string>, filename_tmpl) = std::nullopt;
  TORCH_ARG(bool, create_symlink) = true;
  TORCH_ARG(ConfigNode, meta) = ConfigNode();

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Save checkpoints periodically (MMCV CheckpointHook).");
    DETKIT_PARAM(p, interval, "save every `interval` epochs (iterations); <= 0: never");
    DETKIT_PARAM(p, by_epoch, "count epochs (true) or iterations (false)");
    DETKIT_PARAM(p, save_optimizer, "include the optimizer's state (needed to resume)");
    DETKIT_PARAM(p, out_dir, "save to out_dir/<basename of work_dir> instead of work_dir");
    DETKIT_PARAM(p, max_keep_ckpts, "keep only the newest N checkpoints; <= 0: all");
    DETKIT_PARAM(p, save_last, "also save at the last epoch (iteration) whatever the interval");
    DETKIT_PARAM(p, sync_buffer,
                 "synchronise buffers across processes first (single process: "
                 "nothing to do)");
    DETKIT_PARAM(p, filename_tmpl,
                 "file name, `{}` = epoch (iteration) number; default "
                 "epoch_{}.pth / iter_{}.pth");
    DETKIT_PARAM(p, create_symlink, "point <out_dir>/latest.pth at the newest checkpoint");
    DETKIT_PARAM(p, meta, "extra entries for the checkpoint's meta (a map)");
  }
};

/// MMCV's CheckpointHook (priority NORMAL).
class CheckpointHook : public HookBase {
 public:
  using Options = CheckpointHookOptions;

  /// Checks the options (InvalidParameter on a violation).
  explicit CheckpointHook(const CheckpointHookOptions& options_) : options(options_) {
    check_options(options, "CheckpointHook");
    if (options.filename_tmpl() && options.filename_tmpl()->find("{}") == std::string::npos) {
      throw InvalidParameter("filename_tmpl",
                             "CheckpointHook: filename_tmpl must contain `{}` (the epoch or "
                             "iteration number), got '" +
                                 *options.filename_tmpl() + "'");
    }
    if (!options.meta().is_null() && !options.meta().is_map()) {
      throw InvalidParameter("meta",
                             "CheckpointHook: meta must be a map, got " + options.meta().to_flow());
    }
  }

  /// Resolves the output folder (out_dir/<basename of work_dir>, else work_dir).
  void before_run(RunnerBase& runner) override {
    out_dir_ = resolve_out_dir(options.out_dir().value_or(""), runner.work_dir());
    runner.log_info("Checkpoints will be saved to " + out_dir_ + " by HardDiskBackend.");
  }

  /// By epoch: saves every `interval` epochs and at the last one (save_last).
  void after_train_epoch(RunnerBase& runner) override {
    if (!options.by_epoch()) return;
    if (every_n_epochs(runner, options.interval()) ||
        (options.save_last() && is_last_epoch(runner))) {
      runner.log_info("Saving checkpoint at " + std::to_string(runner.epoch() + 1) + " epochs");
      save(runner);
    }
  }

  /// By iteration: saves every `interval` iterations and at the last one (save_last).
  void after_train_iter(RunnerBase& runner) override {
    if (options.by_epoch()) return;
    if (every_n_iters(runner, options.interval()) ||
        (options.save_last() && is_last_iter(runner))) {
      runner.log_info("Saving checkpoint at " + std::to_string(runner.iter() + 1) + " iterations");
      save(runner);
    }
  }

  /// The options the hook was built with (the registry prints them).
  CheckpointHookOptions options;

 private:
  /// MMCV's _save_checkpoint: save, record last_ckpt, delete the checkpoints beyond
  /// max_keep_ckpts (newest first, stopping at the first that does not exist).
  void save(RunnerBase& runner) {
    const std::string tmpl =
        options.filename_tmpl().value_or(options.by_epoch() ? "epoch_{}.pth" : "iter_{}.pth");
    const ConfigNode extra_meta = options.meta().is_map() ? options.meta() : ConfigNode::make_map();
    const std::string written = runner.save_checkpoint(out_dir_, tmpl, options.save_optimizer(),
                                                       extra_meta, options.create_symlink());
    const int64_t current = options.by_epoch() ? runner.epoch() + 1 : runner.iter() + 1;
    hook_msgs(runner).set("last_ckpt", written.empty()
                                           ? join_path(out_dir_, format_template(tmpl, current))
                                           : written);
    if (options.max_keep_ckpts() <= 0 || options.interval() <= 0) return;
    for (int64_t step = current - options.max_keep_ckpts() * options.interval(); step > 0;
         step -= options.interval()) {
      const std::string path = join_path(out_dir_, format_template(tmpl, step));
      if (!is_file(path)) break;
      remove_file(path);
    }
  }

  std::string out_dir_;
};

DETKIT_REGISTER(hook, CheckpointHook);

}  // namespace detkit::hooks
