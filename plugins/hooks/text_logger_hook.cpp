// TextLoggerHook (MMCV 1.7's mmcv/runner/hooks/logger/text.py): the training log lines
//   Epoch [1][50/7330]\tlr: 1.988e-03, eta: 1 day, 5:03:56, time: 0.428, data_time: 0.055,
//   memory: 3520, loss_cls: 0.5776, loss_bbox: 0.6061, loss: 1.1837
// (`Iter [50/90000]` for an iteration-based run, `Epoch(val) [1][625]\tbbox_mAP: 0.3610, ...`
// for validation and evaluation; memory only with CUDA, as MMCV), through runner.log_info, and
// the JSON log `<work_dir>/<timestamp>.log.json` (runner.meta first, then one object per log)
// that MMDetection's analyze_logs.py reads.
#include <torch/torch.h>

#if defined(DETKIT_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <filesystem>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include "detkit/engine/dist_utils.h"
#include "detkit/engine/optimizer.h"
#include "detkit/error.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "hook_utils.h"
#include "json_log.h"
#include "logger_hook.h"

namespace detkit::hooks {

namespace fs = std::filesystem;

/// Options of TextLoggerHook; names and defaults as MMCV's (the host passes log_config.interval
/// as the default interval).
struct TextLoggerHookOptions {
  TORCH_ARG(bool, by_epoch) = true;
  TORCH_ARG(int64_t, interval) = 10;
  TORCH_ARG(bool, ignore_last) = true;
  TORCH_ARG(bool, reset_flag) = false;
  TORCH_ARG(int64_t, interval_exp_name) = 1000;
  TORCH_ARG(std::optional<std::string>, out_dir) = std::nullopt;
  TORCH_ARG(std::vector<std::string>, out_suffix) = std::vector<std::string>{".log.json", ".log",
                                                                             ".py"};
  TORCH_ARG(bool, keep_local) = true;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Log lines and the JSON log (MMCV TextLoggerHook).");
    DETKIT_PARAM(p, by_epoch, "count iterations within the epoch (EpochBasedRunner)");
    DETKIT_PARAM(p, interval, "log every `interval` iterations").min(1);
    DETKIT_PARAM(p, ignore_last, "skip an epoch's last iterations when fewer than interval");
    DETKIT_PARAM(p, reset_flag, "clear the log buffer's output after each log");
    DETKIT_PARAM(p, interval_exp_name, "print the experiment name every N iterations (0: never)")
        .min(0);
    DETKIT_PARAM(p, out_dir, "copy the logs to out_dir/<basename of work_dir> after the run");
    DETKIT_PARAM(p, out_suffix, "suffixes of the work_dir files copied to out_dir");
    DETKIT_PARAM(p, keep_local, "keep the local logs after copying them to out_dir");
  }
};

namespace {

/// Python's str(datetime.timedelta(seconds=s)): "5:03:56", "1 day, 5:03:56", "-1 day, 23:59:55".
std::string timedelta_str(int64_t seconds) {
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  char clock[32];
  std::snprintf(clock, sizeof(clock), "%d:%02d:%02d", static_cast<int>(rest / 3600),
                static_cast<int>(rest / 60 % 60), static_cast<int>(rest % 60));
  if (days == 0) return clock;
  return std::to_string(days) + (days == 1 || days == -1 ? " day, " : " days, ") + clock;
}

/// Whether MMCV would report memory (torch.cuda.is_available()).
bool cuda_available() {
  return torch::cuda::is_available();
}

/// torch.cuda.max_memory_allocated() // 2**20 on the current device.
int64_t max_memory_mb() {
#if defined(DETKIT_WITH_CUDA)
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  const auto aggregate = static_cast<size_t>(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE);
  return stats.allocated_bytes[aggregate].peak / (1024 * 1024);
#else
  return 0;
#endif
}

/// The value of `key` in `values`, if there.
std::optional<double> find_value(const NamedValues& values, const std::string& key) {
  for (const auto& [name, value] : values) {
    if (name == key) return value;
  }
  return std::nullopt;
}

}  // namespace

/// MMCV's TextLoggerHook.
class TextLoggerHook : public LoggerHook {
 public:
  using Options = TextLoggerHookOptions;

  /// Checks the options (InvalidParameter on a violation).
  explicit TextLoggerHook(const TextLoggerHookOptions& options_)
      : LoggerHook(LoggerSettings{options_.interval(), options_.ignore_last(),
                                  options_.reset_flag(), options_.by_epoch()}),
        options(options_) {
    check_options(options, "TextLoggerHook");
  }

  /// Starts the ETA clock and the JSON log (runner.meta as its first line).
  void before_run(RunnerBase& runner) override {
    LoggerHook::before_run(runner);
    if (options.out_dir()) {
      out_dir_ = resolve_out_dir(*options.out_dir(), runner.work_dir());
      runner.log_info("Text logs will be saved to " + out_dir_ +
                      " by HardDiskBackend after the training process.");
    }
    start_iter_ = runner.iter();
    time_sec_tot_ = 0.0;
    json_log_path_ = join_path(runner.work_dir(), runner.timestamp() + ".log.json");
    std::error_code ec;
    if (is_main_process()) fs::create_directories(runner.work_dir(), ec);
    const ConfigNode& meta = runner.meta();
    if (meta.is_map()) dump_log(meta);
  }

  /// With out_dir: copies the logs there.
  void after_run(RunnerBase& runner) override {
    if (out_dir_.empty() || !is_main_process()) return;
    copy_logs(runner);
  }

  /// MMCV's log(): the log line and the JSON line of the buffer's output.
  void log(RunnerBase& runner) override {
    NamedValues output = runner.log_output();
    int64_t cur_iter = get_iter(runner, /*inner_iter=*/true);
    for (auto it = output.begin(); it != output.end(); ++it) {
      if (it->first != "eval_iter_num") continue;
      // Put there by an evaluation: the evaluation loader's length, whatever by_epoch says.
      cur_iter = static_cast<int64_t>(it->second);
      output.erase(it);
      break;
    }
    ConfigNode log_dict = ConfigNode::make_map();
    log_dict.set("mode", get_mode(runner));
    log_dict.set("epoch", get_epoch(runner));
    log_dict.set("iter", cur_iter);
    if (OptimizerBase* optimizer = runner.optimizer()) {
      if (optimizer->num_groups() > 0) log_dict.set("lr", optimizer->lr(0));
    }
    const bool has_time = find_value(output, "time").has_value();
    if (has_time && cuda_available()) log_dict.set("memory", max_memory_mb());
    for (const auto& [name, value] : output)
      log_dict.set(name, value);
    log_info(runner, log_dict, output);
    dump_log(log_dict);
  }

  /// The options the hook was built with (the registry prints them).
  TextLoggerHookOptions options;

 private:
  /// MMCV's _log_info: the experiment name now and then, and the log line.
  void log_info(RunnerBase& runner, const ConfigNode& log_dict, const NamedValues& output) {
    const ConfigNode* exp_name = runner.meta().find("exp_name");
    if (exp_name != nullptr && (every_n_iters(runner, options.interval_exp_name()) ||
                                (settings_.by_epoch && end_of_epoch(runner)))) {
      runner.log_info("Exp name: " +
                      (exp_name->is_string() ? exp_name->as_string() : exp_name->to_flow()));
    }
    const std::string mode = log_dict.at("mode").as_string();
    const int64_t epoch = log_dict.at("epoch").as_int();
    const int64_t iter = log_dict.at("iter").as_int();
    std::string line;
    if (mode == "train") {
      line = settings_.by_epoch ? "Epoch [" + std::to_string(epoch) + "][" + std::to_string(iter) +
                                      "/" + std::to_string(runner.iters_per_epoch()) + "]\t"
                                : "Iter [" + std::to_string(iter) + "/" +
                                      std::to_string(total_iters(runner)) + "]\t";
      if (const ConfigNode* lr = log_dict.find("lr")) {
        line += "lr: " + format_exp(lr->as_double(), 3) + ", ";
      }
      if (const auto time = find_value(output, "time")) {
        time_sec_tot_ += *time * static_cast<double>(settings_.interval);
        const double time_sec_avg =
            time_sec_tot_ / static_cast<double>(runner.iter() - start_iter_ + 1);
        const double eta_sec =
            time_sec_avg * static_cast<double>(total_iters(runner) - runner.iter() - 1);
        line += "eta: " + timedelta_str(static_cast<int64_t>(eta_sec)) + ", ";
        line += "time: " + format_fixed(*time, 3) + ", ";
        if (const auto data_time = find_value(output, "data_time")) {
          line += "data_time: " + format_fixed(*data_time, 3) + ", ";
        }
        if (const ConfigNode* memory = log_dict.find("memory")) {
          line += "memory: " + std::to_string(memory->as_int()) + ", ";
        }
      }
    } else {
      line = settings_.by_epoch ? "Epoch(" + mode + ") [" + std::to_string(epoch) + "][" +
                                      std::to_string(iter) + "]\t"
                                : "Iter(" + mode + ") [" + std::to_string(iter) + "]\t";
    }
    // The keys the line's head already shows (MMCV's list).
    static const std::set<std::string> shown = {"mode", "Epoch",     "iter",   "lr",
                                                "time", "data_time", "memory", "epoch"};
    std::string items;
    for (const auto& [name, value] : output) {
      if (shown.count(name) != 0) continue;
      items += (items.empty() ? "" : ", ") + name + ": " + format_fixed(value, 4);
    }
    runner.log_info(line + items);
  }

  /// MMCV's _dump_log: one JSON line, floats rounded to 5 decimals.
  void dump_log(const ConfigNode& log_dict) {
    ConfigNode rounded = ConfigNode::make_map();
    for (const auto& entry : log_dict.entries())
      rounded.set(entry.key, round_floats(entry.value));
    append_json_line(json_log_path_, rounded);
  }

  /// MMCV's after_run with out_dir: copies the work_dir files with the suffixes.
  void copy_logs(RunnerBase& runner) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(runner.work_dir(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      for (const auto& suffix : options.out_suffix()) {
        if (it->is_regular_file() && name.size() >= suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
          files.push_back(it->path());
          break;
        }
      }
    }
    for (const auto& file : files) {
      const fs::path target = fs::path(out_dir_) / fs::relative(file, runner.work_dir());
      std::error_code copy_ec;
      fs::create_directories(target.parent_path(), copy_ec);
      fs::copy_file(file, target, fs::copy_options::overwrite_existing, copy_ec);
      if (copy_ec) {
        throw Error("TextLoggerHook: cannot copy '" + file.string() + "' to '" + target.string() +
                    "': " + copy_ec.message());
      }
      runner.log_info("The file " + file.string() + " has been uploaded to " + target.string() +
                      ".");
      if (!options.keep_local()) {
        remove_file(file.string());
        runner.log_info(file.string() + " was removed due to the `self.keep_local=False`");
      }
    }
  }

  std::string out_dir_;
  std::string json_log_path_;
  int64_t start_iter_ = 0;
  double time_sec_tot_ = 0.0;
};

DETKIT_REGISTER(hook, TextLoggerHook);

}  // namespace detkit::hooks
