// EvalHook (MMDetection 2.25's mmdet/core/evaluation/eval_hooks.py on MMCV 1.7's
// mmcv/runner/hooks/evaluation.py): evaluates the model every `interval` epochs (iterations)
// through runner.evaluate, puts the metrics into the log buffer's output (the logger prints
// them as `Epoch(val) [e][n]\tbbox_mAP: ...`), and with save_best keeps the best checkpoint
// `best_{key}_{epoch_N|iter_N}.pth`, its score and path in runner.meta.hook_msgs (so a resumed
// run continues the comparison). Built from the config's `evaluation`.
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <optional>

#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "hook_utils.h"
#include "logger_hook.h"

namespace detkit::hooks {

/// Options of EvalHook; names and defaults as MMDetection's. metric, classwise, iou_thrs,
/// proposal_nums and metric_items are passed to the dataset's evaluation when set.
struct EvalHookOptions {
  TORCH_ARG(int64_t, interval) = 1;
  TORCH_ARG(std::optional<int64_t>, start) = std::nullopt;
  TORCH_ARG(bool, by_epoch) = true;
  TORCH_ARG(std::optional<std::string>, save_best) = std::nullopt;
  TORCH_ARG(std::optional<std::string>, rule) = std::nullopt;
  TORCH_ARG(std::optional<std::vector<std::string>>, greater_keys) = std::nullopt;
  TORCH_ARG(std::optional<std::vector<std::string>>, less_keys) = std::nullopt;
  TORCH_ARG(std::optional<std::string>, out_dir) = std::nullopt;
  TORCH_ARG(std::vector<std::vector<int64_t>>, dynamic_intervals) = {};
  TORCH_ARG(ConfigNode, metric) = ConfigNode();
  TORCH_ARG(std::optional<bool>, classwise) = std::nullopt;
  TORCH_ARG(std::optional<std::vector<double>>, iou_thrs) = std::nullopt;
  TORCH_ARG(std::optional<std::vector<int64_t>>, proposal_nums) = std::nullopt;
  TORCH_ARG(ConfigNode, metric_items) = ConfigNode();

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Evaluate periodically and keep the best checkpoint (MMDetection EvalHook).");
    DETKIT_PARAM(p, interval, "evaluate every `interval` epochs (iterations)").min(1);
    DETKIT_PARAM(p, start, "first epoch (iteration) to evaluate at; then every interval").min(0);
    DETKIT_PARAM(p, by_epoch, "count epochs (true) or iterations (false)");
    DETKIT_PARAM(p, save_best, "metric whose best value keeps a checkpoint; auto = the first");
    DETKIT_PARAM(p, rule, "greater or less is better for save_best (default: inferred)")
        .choices({"greater", "less"});
    DETKIT_PARAM(p, greater_keys, "metric name parts for which greater is better");
    DETKIT_PARAM(p, less_keys, "metric name parts for which less is better");
    DETKIT_PARAM(p, out_dir, "save the best checkpoint to out_dir/<basename of work_dir>");
    DETKIT_PARAM(p, dynamic_intervals, "[[milestone, interval], ...]: a new interval from each");
    DETKIT_PARAM(p, metric, "metric(s) to evaluate: bbox, proposal, ... (a name or a list)");
    DETKIT_PARAM(p, classwise, "also evaluate per class");
    DETKIT_PARAM(p, iou_thrs, "IoU thresholds (default: the metric's)");
    DETKIT_PARAM(p, proposal_nums, "proposal numbers for recall");
    DETKIT_PARAM(p, metric_items, "metric items to report (a name or a list)");
  }
};

namespace {

/// MMCV's default keys for rule inference.
const std::vector<std::string> kDefaultGreaterKeys = {"acc", "top",   "AR@",  "auc",  "precision",
                                                      "mAP", "mDice", "mIoU", "mAcc", "aAcc"};
const std::vector<std::string> kDefaultLessKeys = {"loss"};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

/// Checks that `value` is null, a string or a list of strings.
void check_names(const ConfigNode& value, const char* param) {
  bool ok = value.is_null() || value.is_string();
  if (value.is_list()) {
    ok = std::all_of(value.items().begin(), value.items().end(),
                     [](const ConfigNode& item) { return item.is_string(); });
  }
  if (!ok) {
    throw InvalidParameter(param, std::string("EvalHook: ") + param +
                                      " must be a name or a list of names, got " + value.to_flow());
  }
}

}  // namespace

/// MMDetection's EvalHook (priority LOW, so at after_train_epoch the checkpoint is written
/// before and the logger prints after it).
class EvalHook : public HookBase {
 public:
  using Options = EvalHookOptions;

  /// Checks the options; infers the rule of a named save_best (InvalidParameter if it cannot).
  explicit EvalHook(const EvalHookOptions& options_) : options(options_) {
    check_options(options, "EvalHook");
    check_names(options.metric(), "metric");
    check_names(options.metric_items(), "metric_items");
    milestones_ = {0};
    intervals_ = {options.interval()};
    for (const auto& pair : options.dynamic_intervals()) {
      if (pair.size() != 2 || pair[1] < 1 || pair[0] < milestones_.back()) {
        throw InvalidParameter("dynamic_intervals",
                               "EvalHook: dynamic_intervals must be [[milestone, interval], ...] "
                               "with increasing milestones and intervals >= 1");
      }
      milestones_.push_back(pair[0]);
      intervals_.push_back(pair[1]);
    }
    interval_ = options.interval();
    greater_keys_ = options.greater_keys().value_or(kDefaultGreaterKeys);
    less_keys_ = options.less_keys().value_or(kDefaultLessKeys);
    if (options.save_best() && *options.save_best() != "auto") {
      init_rule(*options.save_best(), /*from_config=*/true);
    }
  }

  /// Resolves out_dir; reads the previous best checkpoint from hook_msgs (resume).
  void before_run(RunnerBase& runner) override {
    out_dir_ = resolve_out_dir(options.out_dir().value_or(""), runner.work_dir());
    if (out_dir_ != runner.work_dir()) {
      runner.log_info("The best checkpoint will be saved to " + out_dir_ + " by HardDiskBackend");
    }
    if (options.save_best()) {
      const ConfigNode* best = hook_msgs(runner).find("best_ckpt");
      best_ckpt_path_ = best != nullptr && best->is_string() ? best->as_string() : "";
    }
  }

  /// By epoch: the interval of this epoch; with `start` <= epoch, evaluates once first.
  void before_train_epoch(RunnerBase& runner) override {
    decide_interval(runner);
    if (!(options.by_epoch() && initial_flag_)) return;
    if (options.start() && runner.epoch() >= *options.start()) after_train_epoch(runner);
    initial_flag_ = false;
  }

  /// By iteration: the interval now; with `start` <= iter, evaluates once first.
  void before_train_iter(RunnerBase& runner) override {
    decide_interval(runner);
    if (options.by_epoch() || !initial_flag_) return;
    if (options.start() && runner.iter() >= *options.start()) after_train_iter(runner);
    initial_flag_ = false;
  }

  /// By iteration: evaluates when due, after the loggers logged the training values.
  void after_train_iter(RunnerBase& runner) override {
    if (options.by_epoch() || !should_evaluate(runner)) return;
    // This hook runs before the loggers: let them log the training values first, so the
    // evaluation's line is not mixed with them (MMCV does the same).
    for (LoggerHook* logger : LoggerHook::loggers_of(runner))
      logger->after_train_iter(runner);
    runner.log_clear();
    do_evaluate(runner);
  }

  /// By epoch: evaluates when due.
  void after_train_epoch(RunnerBase& runner) override {
    if (options.by_epoch() && should_evaluate(runner)) do_evaluate(runner);
  }

  /// LOW.
  int default_priority() const override { return static_cast<int>(HookPriority::low); }

  /// The options the hook was built with (the registry prints them).
  EvalHookOptions options;

 private:
  /// MMCV's _init_rule: the comparison for `key` (given or inferred from its name).
  void init_rule(const std::string& key, bool from_config) {
    key_indicator_ = key;
    if (options.rule()) {
      rule_ = *options.rule();
      return;
    }
    const std::string key_lc = lower(key);
    const auto matches = [&](const std::vector<std::string>& keys, bool whole) {
      return std::any_of(keys.begin(), keys.end(), [&](const std::string& k) {
        const std::string k_lc = lower(k);
        return whole ? key_lc == k_lc : key_lc.find(k_lc) != std::string::npos;
      });
    };
    if (matches(greater_keys_, true)) {
      rule_ = "greater";
    } else if (matches(less_keys_, true)) {
      rule_ = "less";
    } else if (matches(greater_keys_, false)) {
      rule_ = "greater";
    } else if (matches(less_keys_, false)) {
      rule_ = "less";
    } else {
      const std::string message = "EvalHook: cannot infer whether a greater or a smaller '" + key +
                                  "' is better (names containing " + join(greater_keys_) +
                                  " are greater; " + join(less_keys_) +
                                  " less): set `rule: greater` or `rule: less`";
      if (from_config) throw InvalidParameter("save_best", message);
      throw Error(message);
    }
  }

  /// MMDetection's _decide_interval (dynamic_intervals).
  void decide_interval(const RunnerBase& runner) {
    const int64_t progress = options.by_epoch() ? runner.epoch() : runner.iter();
    const auto step = std::upper_bound(milestones_.begin(), milestones_.end(), progress + 1) -
                      milestones_.begin();
    interval_ = intervals_[static_cast<size_t>(std::max<ptrdiff_t>(step, 1) - 1)];
  }

  /// MMCV's _should_evaluate.
  bool should_evaluate(const RunnerBase& runner) const {
    const int64_t current = options.by_epoch() ? runner.epoch() : runner.iter();
    if (!options.start()) {
      return options.by_epoch() ? every_n_epochs(runner, interval_)
                                : every_n_iters(runner, interval_);
    }
    if (current + 1 < *options.start()) return false;
    return (current + 1 - *options.start()) % interval_ == 0;
  }

  /// The evaluation options (MMDetection's eval_kwargs) that are set.
  ConfigNode eval_kwargs() const {
    ConfigNode kwargs = ConfigNode::make_map();
    if (!options.metric().is_null()) kwargs.set("metric", options.metric());
    if (options.classwise()) kwargs.set("classwise", *options.classwise());
    if (options.iou_thrs())
      kwargs.set("iou_thrs", ConfigValue<std::vector<double>>::to(*options.iou_thrs()));
    if (options.proposal_nums()) {
      kwargs.set("proposal_nums", ConfigValue<std::vector<int64_t>>::to(*options.proposal_nums()));
    }
    if (!options.metric_items().is_null()) kwargs.set("metric_items", options.metric_items());
    return kwargs;
  }

  /// MMCV's _do_evaluate + evaluate: metrics into the log buffer, then the best checkpoint.
  void do_evaluate(RunnerBase& runner) {
    const NamedValues results = runner.evaluate(eval_kwargs());
    for (const auto& [name, value] : results)
      runner.log_put_output(name, value);
    if (!options.save_best()) return;
    if (results.empty()) {
      runner.log_info(
          "Since the evaluation results are empty, the best checkpoint is not updated by this "
          "evaluation.");
      return;
    }
    if (*options.save_best() == "auto" && key_indicator_.empty()) {
      init_rule(results.front().first, /*from_config=*/false);
    }
    const auto found = std::find_if(results.begin(), results.end(),
                                    [&](const auto& item) { return item.first == key_indicator_; });
    if (found == results.end()) {
      std::vector<std::string> names;
      for (const auto& item : results)
        names.push_back(item.first);
      throw Error("EvalHook: save_best '" + key_indicator_ +
                  "' is not among the evaluation results (" + join(names) + ")");
    }
    if (!std::isnan(found->second)) save_best_checkpoint(runner, found->second);
  }

  /// MMCV's _save_ckpt.
  void save_best_checkpoint(RunnerBase& runner, double key_score) {
    const bool by_epoch = options.by_epoch();
    const int64_t cur_time = by_epoch ? runner.epoch() + 1 : runner.iter() + 1;
    const std::string cur_type = by_epoch ? "epoch" : "iter";
    ConfigNode& msgs = hook_msgs(runner);
    const bool greater = rule_ == "greater";
    double best_score = greater ? -std::numeric_limits<double>::infinity()
                                : std::numeric_limits<double>::infinity();
    if (const ConfigNode* stored = msgs.find("best_score"); stored && stored->is_number()) {
      best_score = stored->as_double();
    }
    if (!(greater ? key_score > best_score : key_score < best_score)) return;
    msgs.set("best_score", key_score);
    if (!best_ckpt_path_.empty() && is_file(best_ckpt_path_)) {
      remove_file(best_ckpt_path_);
      runner.log_info("The previous best checkpoint " + best_ckpt_path_ + " was removed");
    }
    const std::string name =
        "best_" + key_indicator_ + "_" + cur_type + "_" + std::to_string(cur_time) + ".pth";
    best_ckpt_path_ = join_path(out_dir_, name);
    msgs.set("best_ckpt", best_ckpt_path_);
    runner.save_checkpoint(out_dir_, name, /*save_optimizer=*/true, ConfigNode::make_map(),
                           /*create_symlink=*/false);
    runner.log_info("Now best checkpoint is saved as " + name + ".");
    runner.log_info("Best " + key_indicator_ + " is " + format_fixed(key_score, 4) + " at " +
                    std::to_string(cur_time) + " " + cur_type + ".");
  }

  std::vector<int64_t> milestones_;
  std::vector<int64_t> intervals_;
  int64_t interval_ = 1;
  bool initial_flag_ = true;
  std::vector<std::string> greater_keys_;
  std::vector<std::string> less_keys_;
  std::string key_indicator_;
  std::string rule_;
  std::string out_dir_;
  std::string best_ckpt_path_;
};

DETKIT_REGISTER(hook, EvalHook);

}  // namespace detkit::hooks
