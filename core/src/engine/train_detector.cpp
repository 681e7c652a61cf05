// train_detector: see detkit/core/train.h.
#include "detkit/core/train.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "detkit/build_context.h"
#include "detkit/checkpoint.h"
#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/core/data_loader.h"
#include "detkit/core/dataset_evaluation.h"
#include "detkit/core/distributed.h"
#include "detkit/core/host_runner.h"
#include "detkit/core/inference.h"
#include "detkit/core/optimizers.h"
#include "detkit/core/text.h"
#include "detkit/data/dataset.h"
#include "detkit/engine/dist_utils.h"
#include "detkit/engine/scheduler.h"
#include "detkit/error.h"
#include "detkit/evaluation/metric.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/detector.h"
#include "detkit/registry.h"

namespace detkit {

namespace fs = std::filesystem;

namespace {

/// The first line of every config detkit dumps into a work dir.
constexpr const char* kDumpMarker = "# detkit: merged config";

/// "20261201_063500" (MMCV's timestamp), unique among the work dir's logs.
std::string unique_timestamp(const fs::path& work_dir) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%d_%H%M%S", &tm);
  std::string stamp = buffer;
  for (int n = 1;
       fs::exists(work_dir / (stamp + ".log")) || fs::exists(work_dir / (stamp + ".log.json"));
       ++n) {
    stamp = std::string(buffer) + "_" + std::to_string(n);
  }
  return stamp;
}

/// A top-level (or dotted) node, or null.
const ConfigNode* find_path(const ConfigNode& root, std::initializer_list<const char*> keys) {
  const ConfigNode* node = &root;
  for (const char* key : keys) {
    if (node == nullptr || !node->is_map()) return nullptr;
    node = node->find(key);
  }
  return node != nullptr && !node->is_null() ? node : nullptr;
}

/// An integer setting of a loader: data.<phase>_dataloader.<key>, else data.<key>, else
/// `fallback`.
int64_t loader_setting(const ConfigNode& config, const char* phase_loader, const char* key,
                       int64_t fallback) {
  if (const ConfigNode* v = find_path(config, {"data", phase_loader, key}); v && v->is_int())
    return v->as_int();
  if (const ConfigNode* v = find_path(config, {"data", key}); v && v->is_int()) return v->as_int();
  return fallback;
}

/// Writes the merged config into the work dir (MMDetection's cfg.dump), never over a file that
/// detkit did not write (nor over the input config itself).
std::string dump_config(const ConfigNode& config, const std::string& config_path,
                        const fs::path& work_dir, const std::string& timestamp) {
  const fs::path input(config_path);
  fs::path target = work_dir / (input.filename().empty() ? "config.yaml" : input.filename());
  std::error_code ec;
  if (fs::exists(target, ec)) {
    bool ours = false;
    if (!fs::equivalent(target, input, ec)) {
      std::ifstream existing(target);
      std::string first;
      std::getline(existing, first);
      ours = first.rfind(kDumpMarker, 0) == 0;
    }
    if (!ours)
      target = work_dir / (target.stem().string() + "." + timestamp + target.extension().string());
  }
  const fs::path temporary = target.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << kDumpMarker << " of " << config_path << " (" << timestamp << ")\n"
        << format_config(config, /*show_sources=*/false);
    if (!out) throw Error("cannot write the merged config to '" + target.string() + "'");
  }
  fs::rename(temporary, target, ec);
  if (ec) throw Error("cannot write '" + target.string() + "': " + ec.message());
  return target.string();
}

/// MMCV's priority argument: a name (case-insensitive) or an int in [0, 100].
int parse_priority(const ConfigNode& node, const std::string& path) {
  if (node.is_int()) {
    if (node.as_int() < 0 || node.as_int() > 100)
      throw ConfigError(located_message(node.mark(), path, "priority must be in [0, 100]"));
    return static_cast<int>(node.as_int());
  }
  if (node.is_string()) {
    std::string name = node.as_string();
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    const std::vector<std::pair<std::string, int>> names = {
        {"HIGHEST", 0},       {"VERY_HIGH", 10}, {"HIGH", 30},
        {"ABOVE_NORMAL", 40}, {"NORMAL", 50},    {"BELOW_NORMAL", 60},
        {"LOW", 70},          {"VERY_LOW", 90},  {"LOWEST", 100}};
    for (const auto& [known, value] : names) {
      if (known == name) return value;
    }
  }
  throw ConfigError(located_message(
      node.mark(), path,
      "priority must be an int in [0, 100] or one of HIGHEST, VERY_HIGH, HIGH, ABOVE_NORMAL, "
      "NORMAL, BELOW_NORMAL, LOW, VERY_LOW, LOWEST"));
}

/// Builds the hook `cfg` and registers it (priority: `priority`, else the hook's default).
void add_hook(HostRunner& runner, const ConfigNode& cfg, const std::string& path,
              std::optional<int> priority, const ConfigNode* default_args = nullptr,
              const TypeKey& type_key = {}) {
  HookContext context;
  context.runner = &runner;
  auto hook = build<HookBase>(cfg, path, context, default_args, type_key);
  const ConfigNode* type = cfg.is_map() ? cfg.find(type_key.key) : nullptr;
  const std::string name = type != nullptr && type->is_string()
                               ? type_key.resolve(type->as_string())
                               : type_key.default_type;
  runner.register_hook({hook, priority.value_or(hook->default_priority()), name});
}

/// A policy of lr_config / momentum_config.
void add_policy(HostRunner& runner, OptimizerBase& optimizer, const ConfigNode& cfg,
                const std::string& path, const char* suffix, int priority) {
  SchedulerContext context;
  context.optimizer = &optimizer;
  const TypeKey key{"policy", suffix, true, {}};
  auto policy = build<SchedulerBase>(cfg, path, context, nullptr, key);
  const ConfigNode* name = cfg.find("policy");
  runner.register_hook(
      {policy, priority,
       name != nullptr && name->is_string() ? key.resolve(name->as_string()) : suffix});
}

/// `cfg` as a map with `key: value` set unless present (MMCV's setdefault).
ConfigNode with_default(ConfigNode cfg, const char* key, ConfigNode value) {
  if (cfg.is_map() && !cfg.contains(key)) cfg.set(key, std::move(value));
  return cfg;
}

/// Runs the model over `dataset` and evaluates it (MMDetection's single_gpu_test +
/// dataset.evaluate): what the runner's evaluate() does.
NamedValues evaluate_on(DetectorBase& model, const std::shared_ptr<const DatasetBase>& dataset,
                        const DataLoaderOptions& loader_options, const ConfigNode& options,
                        HostRunner& runner) {
  auto log = [&](const std::string& line) { runner.log_info(line); };
  if (ProcessGroup* group = default_process_group(); group && group->world_size() > 1) {
    // MMDetection's DistEvalHook: rank 0's BatchNorm statistics on every rank
    // (broadcast_bn_buffer), each rank predicts its share, rank 0 evaluates once and every
    // rank learns the metrics (so save_best and the logs agree).
    std::vector<torch::Tensor> buffers;
    for (const auto& buffer : model.buffers())
      buffers.push_back(buffer);
    broadcast_from_main(buffers);
    const int64_t per_rank =
        (static_cast<int64_t>(dataset->size()) + group->world_size() - 1) / group->world_size();
    runner.log_put_output("eval_iter_num",
                          static_cast<double>((per_rank + loader_options.samples_per_gpu() - 1) /
                                              loader_options.samples_per_gpu()));
    const std::vector<Instances> predictions =
        predict_dataset_distributed(model, dataset, loader_options, *group);
    NamedValues metrics;
    if (group->rank() == 0) metrics = evaluate_predictions(*dataset, predictions, options, log);
    return broadcast_named_values(metrics, *group);
  }
  DataLoader loader(dataset, loader_options);
  // MMCV's EvalHook: the number of evaluation batches, which the logger shows as the
  // iteration of its `Epoch(val) [e][N]` line.
  runner.log_put_output("eval_iter_num", static_cast<double>(loader.num_batches()));
  const std::vector<Instances> predictions = predict_dataset(model, loader);
  return evaluate_predictions(*dataset, predictions, options, log);
}

}  // namespace

TrainResult train_detector(const ConfigNode& config, const TrainOptions& options) {
  // Every key is checked before anything runs (`detkit config check` without building): a
  // misspelt runtime key (`log_confg`, `data.sample_per_gpu`) is an error naming its line, not
  // a default silently used, as MMDetection would.
  require_valid_config(config);
  TrainResult result;
  std::shared_ptr<NamedValues> last_metrics_;
  // ---- work dir, timestamp, merged config (tools/train.py)
  std::string work_dir = options.work_dir;
  if (work_dir.empty()) {
    if (const ConfigNode* w = find_path(config, {"work_dir"}); w && w->is_string())
      work_dir = w->as_string();
  }
  if (work_dir.empty())
    work_dir = (fs::path("work_dirs") / fs::path(options.config_path).stem()).string();
  // A distributed run: rank 0 owns the work dir and names the run; the others learn the name.
  ProcessGroup* group = default_process_group();
  const bool main_process = is_main_process();
  std::error_code ec;
  if (main_process) {
    fs::create_directories(work_dir, ec);
    if (ec || !fs::is_directory(work_dir)) {
      throw Error("cannot create the work dir '" + work_dir + "'" +
                  (ec ? ": " + ec.message() : ""));
    }
  }
  result.work_dir = work_dir;
  std::string timestamp = main_process ? unique_timestamp(work_dir) : std::string();
  if (group != nullptr) timestamp = group->broadcast_bytes(timestamp, 0);

  // ---- seed
  uint64_t seed = 0;
  if (options.seed) {
    seed = *options.seed;
  } else if (const ConfigNode* s = find_path(config, {"seed"}); s && s->is_int()) {
    seed = static_cast<uint64_t>(s->as_int());
  } else {
    seed = std::random_device{}() & 0x7fffffff;
  }
  if (group != nullptr) {
    // MMDetection's init_random_seed: rank 0's seed on every rank.
    seed = std::stoull(group->broadcast_bytes(std::to_string(seed), 0));
  }
  torch::manual_seed(seed);
  bool deterministic = options.deterministic;
  if (const ConfigNode* d = find_path(config, {"deterministic"}); d && d->is_bool())
    deterministic = deterministic || d->as_bool();
  if (deterministic) at::globalContext().setDeterministicAlgorithms(true, false);

  // ---- datasets
  const ConfigNode* train_cfg = find_path(config, {"data", "train"});
  if (train_cfg == nullptr) throw ConfigError("the config has no data.train to train on");
  std::shared_ptr<const DatasetBase> train_set = build<DatasetBase>(*train_cfg, "data.train");
  if (train_set->size() == 0) throw DataError("data.train has no samples to train on");

  std::vector<std::pair<std::string, int64_t>> workflow{{"train", 1}};
  if (const ConfigNode* w = find_path(config, {"workflow"}); w && w->is_list()) {
    workflow.clear();
    for (const auto& phase : w->items()) {
      if (!phase.is_list() || phase.size() != 2 || !phase.items()[0].is_string() ||
          !phase.items()[1].is_int()) {
        throw ConfigError(
            located_message(phase.mark(), "workflow", "each phase is [train|val, count]"));
      }
      workflow.emplace_back(phase.items()[0].as_string(), phase.items()[1].as_int());
    }
  }
  const bool val_phase =
      std::any_of(workflow.begin(), workflow.end(), [](const auto& p) { return p.first == "val"; });
  std::shared_ptr<const DatasetBase> val_loss_set;
  if (val_phase) {
    // MMDetection: data.val with the training pipeline (the val phase computes losses).
    const ConfigNode* val_cfg = find_path(config, {"data", "val"});
    if (val_cfg == nullptr)
      throw ConfigError("workflow has a val phase but the config has no data.val");
    ConfigNode copy = *val_cfg;
    if (const ConfigNode* pipeline = train_cfg->find("pipeline")) copy.set("pipeline", *pipeline);
    val_loss_set = build<DatasetBase>(copy, "data.val");
  }

  // ---- model
  std::shared_ptr<DetectorBase> model = build_detector(config, train_set->classes());
  init_weights(*model);

  // ---- optimizer and runner
  const ConfigNode* optimizer_cfg = find_path(config, {"optimizer"});
  if (optimizer_cfg == nullptr) throw ConfigError("the config has no optimizer");
  std::shared_ptr<OptimizerBase> optimizer = build_optimizer(*model, *optimizer_cfg, "optimizer");
  const ConfigNode* runner_cfg = find_path(config, {"runner"});
  if (runner_cfg == nullptr) {
    throw ConfigError(
        "the config has no runner: add runner: {type: EpochBasedRunner, "
        "max_epochs: N} (or IterBasedRunner with max_iters)");
  }
  RunnerContext runner_context;
  runner_context.model = model.get();
  runner_context.optimizer = optimizer.get();
  runner_context.work_dir = work_dir;
  auto built = build<RunnerBase>(*runner_cfg, "runner", runner_context);
  auto runner = std::dynamic_pointer_cast<HostRunner>(built);
  if (!runner)
    throw ConfigError("runner: only detkit's EpochBasedRunner and IterBasedRunner can train");
  if (main_process) runner->open_log(timestamp, options.console);
  result.log_file = (fs::path(work_dir) / (timestamp + ".log")).string();

  if (main_process) {
    const std::string dumped = dump_config(config, options.config_path, work_dir, timestamp);
    runner->log_info("Config:\n" + format_config(config, false));
    runner->log_info("merged config written to " + dumped);
  }
  if (group != nullptr) {
    runner->log_info(fmt::format(
        "Distributed training: {} processes (c10d, Gloo); rank 0 logs and writes the work dir",
        group->world_size()));
  }
  runner->log_info(fmt::format("Set random seed to {}, deterministic: {}", seed,
                               deterministic ? "True" : "False"));
  ConfigNode& meta = runner->meta();
  meta.set("exp_name", ConfigNode(fs::path(options.config_path).filename().string()));
  meta.set("seed", ConfigNode(static_cast<int64_t>(seed)));
  meta.set("config", ConfigNode(format_config(config, false)));

  // ---- loaders (samples_per_gpu per process; in a distributed run each rank its share of
  // every epoch, as MMDetection's build_dataloader with dist=True)
  const int64_t rank = dist_rank(), world_size = dist_world_size();
  // The samplers share `seed`; each rank's random transforms differ (MMDetection's
  // worker_init_fn seeds num_workers * rank + worker_id + seed); rank 0's are a single
  // process's.
  const uint64_t transform_offset = static_cast<uint64_t>(rank) * 1000003u;
  auto make_loader = [&](bool shuffle, const char* phase_loader, int64_t default_batch) {
    DataLoaderOptions o;
    o.samples_per_gpu(loader_setting(config, phase_loader, "samples_per_gpu", default_batch))
        .workers_per_gpu(loader_setting(config, phase_loader, "workers_per_gpu", 2))
        .shuffle(shuffle)
        .seed(seed)
        .transform_seed_offset(transform_offset);
    return o;
  };
  auto make_train_loader = [&](const std::shared_ptr<const DatasetBase>& dataset, bool shuffle,
                               int64_t default_batch) {
    DataLoaderOptions o = make_loader(shuffle, "train_dataloader", default_batch);
    if (world_size == 1) return std::make_shared<DataLoader>(dataset, o);
    std::shared_ptr<const Sampler> sampler;
    if (shuffle) {
      sampler = std::make_shared<DistributedGroupSampler>(dataset->group_flags(),
                                                          o.samples_per_gpu(), world_size, rank);
    } else {
      sampler = std::make_shared<DistributedSampler>(dataset->size(), world_size, rank, false);
    }
    return std::make_shared<DataLoader>(dataset, sampler, o);
  };
  bool train_shuffle = true;
  if (const ConfigNode* s = find_path(config, {"data", "train_dataloader", "shuffle"})) {
    if (!s->is_bool())
      throw ConfigError(
          located_message(s->mark(), "data.train_dataloader.shuffle", "must be true or false"));
    train_shuffle = s->as_bool();
  }
  const int64_t train_batch = loader_setting(config, "train_dataloader", "samples_per_gpu", 2);
  runner->set_loader("train", make_train_loader(train_set, train_shuffle, 2), train_set->classes());
  if (val_loss_set) {
    runner->set_loader("val", make_train_loader(val_loss_set, false, train_batch),
                       val_loss_set->classes());
  }
  runner->set_workflow(workflow);

  // ---- evaluation service (data.val with its own, test, pipeline)
  if (const ConfigNode* val_cfg = find_path(config, {"data", "val"})) {
    auto val_cfg_copy = std::make_shared<ConfigNode>(*val_cfg);
    auto eval_set = std::make_shared<std::shared_ptr<const DatasetBase>>();
    const DataLoaderOptions eval_loader = make_loader(false, "val_dataloader", 1);
    DetectorBase* model_ptr = model.get();
    HostRunner* runner_ptr = runner.get();
    auto last_metrics = std::make_shared<NamedValues>();
    last_metrics_ = last_metrics;
    runner->set_evaluator([=](const ConfigNode& eval_options) {
      if (!*eval_set) {
        ConfigNode test_mode = ConfigNode::make_map();
        test_mode.set("test_mode", ConfigNode(true));
        *eval_set = build<DatasetBase>(*val_cfg_copy, "data.val", {}, &test_mode);
      }
      *last_metrics = evaluate_on(*model_ptr, *eval_set, eval_loader, eval_options, *runner_ptr);
      return *last_metrics;
    });
  }

  // ---- hooks, in MMDetection 2.25's registration order
  const bool by_epoch = runner->by_epoch();
  if (const ConfigNode* lr = find_path(config, {"lr_config"}))
    add_policy(*runner, *optimizer, *lr, "lr_config", "LrUpdaterHook", 10);
  if (const ConfigNode* momentum = find_path(config, {"momentum_config"}))
    add_policy(*runner, *optimizer, *momentum, "momentum_config", "MomentumUpdaterHook", 30);
  {
    const ConfigNode* opt_hook = find_path(config, {"optimizer_config"});
    add_hook(*runner, opt_hook ? *opt_hook : ConfigNode::make_map(), "optimizer_config", 40,
             nullptr, TypeKey{"type", "", false, "OptimizerHook"});
  }
  if (const ConfigNode* ckpt = find_path(config, {"checkpoint_config"})) {
    add_hook(*runner, by_epoch ? *ckpt : with_default(*ckpt, "by_epoch", ConfigNode(false)),
             "checkpoint_config", 50, nullptr, TypeKey{"type", "", false, "CheckpointHook"});
  }
  {
    ConfigNode timer = ConfigNode::make_map();
    timer.set("type", ConfigNode("IterTimerHook"));
    add_hook(*runner, timer, "IterTimerHook", 70);
  }
  if (const ConfigNode* log_cfg = find_path(config, {"log_config"})) {
    ConfigNode defaults = ConfigNode::make_map();
    const ConfigNode* interval = log_cfg->find("interval");
    defaults.set("interval", interval != nullptr ? *interval : ConfigNode(50));
    if (const ConfigNode* hooks = log_cfg->find("hooks"); hooks && hooks->is_list()) {
      for (size_t i = 0; i < hooks->size(); ++i) {
        const ConfigNode& hook = hooks->items()[i];
        add_hook(*runner, by_epoch ? hook : with_default(hook, "by_epoch", ConfigNode(false)),
                 index_path("log_config.hooks", i), 90, &defaults);
      }
    }
  }
  if (const ConfigNode* custom = find_path(config, {"custom_hooks"}); custom && custom->is_list()) {
    for (size_t i = 0; i < custom->size(); ++i) {
      ConfigNode hook = custom->items()[i];
      const std::string path = index_path("custom_hooks", i);
      std::optional<int> priority = 50;
      if (hook.is_map()) {
        if (const ConfigNode* p = hook.find("priority")) {
          priority = parse_priority(*p, path + ".priority");
          hook.erase("priority");
        }
      }
      add_hook(*runner, hook, path, priority);
    }
  }
  if (options.validate) {
    if (const ConfigNode* eval = find_path(config, {"evaluation"})) {
      add_hook(*runner, with_default(*eval, "by_epoch", ConfigNode(by_epoch)), "evaluation", 70,
               nullptr, TypeKey{"type", "", false, "EvalHook"});
    }
  }

  // ---- resume_from, then load_from (mmdet's precedence)
  std::optional<std::string> resume = options.resume_from;
  if (!resume) {
    if (const ConfigNode* r = find_path(config, {"resume_from"}); r && r->is_string())
      resume = r->as_string();
  }
  if (resume) {
    runner->log_info("resume from " + *resume);
    runner->resume(*resume);
  } else if (const ConfigNode* l = find_path(config, {"load_from"}); l && l->is_string()) {
    runner->log_info("load checkpoint from local path: " + l->as_string());
    Checkpoint checkpoint = load_checkpoint(l->as_string());
    const LoadReport report = load_state_dict(*model, checkpoint.state_dict, LoadPolicy::report);
    if (!report.clean()) runner->log_info(report.message());
  }

  if (group != nullptr) {
    // DDP's start: every rank begins from rank 0's weights and buffers.
    broadcast_parameters(*model, *group);
  }
  runner->run();
  if (const ConfigNode* last = find_path(runner->meta(), {"hook_msgs", "last_ckpt"});
      last && last->is_string())
    result.last_checkpoint = last->as_string();
  if (last_metrics_) result.last_metrics = *last_metrics_;
  return result;
}

}  // namespace detkit
