// Whole-config validation against the top-level schema and the registries.
#include "detkit/core/config_check.h"

#include "detkit/core/text.h"
#include "detkit/core/validate.h"

namespace detkit {

const Schema& top_level_schema() {
  static const Schema schema = [] {
    ConfigNode none;
    Schema s("top-level config keys (MMDetection 2.x names)");
    s.component("model", Kind::detector, none, "the detector to build")
        .dict("data", none, "datasets and loader settings (see data_section_schema)")
        .component("optimizer", Kind::optimizer, none, "optimizer, e.g. {type: SGD, lr: 0.02}")
        .dict("optimizer_config", none, "OptimizerHook settings, e.g. {grad_clip: null}")
        .dict("lr_config", none, "LR schedule: {policy: step, warmup: linear, ...}")
        .dict("momentum_config", none, "momentum schedule: {policy: cyclic, ...}")
        .dict("runner", none, "{type: EpochBasedRunner, max_epochs: 12}")
        .any("workflow", none, "phases, e.g. [[train, 1], [val, 1]]")
        .dict("checkpoint_config", none, "{interval: 1, max_keep_ckpts: -1}")
        .dict("log_config", none, "{interval: 50, hooks: [{type: TextLoggerHook}]}")
        .dict("evaluation", none, "{interval: 1, metric: bbox}")
        .component_list("custom_hooks", Kind::hook, none, "extra hooks")
        .add<std::optional<std::string>>("load_from", std::nullopt, "checkpoint to finetune from")
        .add<std::optional<std::string>>("resume_from", std::nullopt, "checkpoint to resume")
        .add<std::optional<std::string>>("work_dir", std::nullopt, "output folder")
        .add<std::vector<std::string>>("plugins", std::vector<std::string>{},
                                       "plugin files to load (relative to the config file)")
        .add<bool>("allow_failed_plugins", false, "continue when a listed plugin fails to load")
        .dict("dist_params", none, "distributed settings (accepted for MMDetection parity)")
        .add<std::string>("log_level", "INFO", "log level")
        .choices({"DEBUG", "INFO", "WARNING", "ERROR"})
        .add<int64_t>("opencv_num_threads", 0, "OpenCV threads (0 = OpenCV's choice)")
        .add<std::string>("mp_start_method", "fork", "accepted for MMDetection parity")
        .dict("auto_scale_lr", none, "{enable: false, base_batch_size: 16}")
        .add<std::optional<int64_t>>("seed", std::nullopt, "random seed")
        .add<bool>("deterministic", false, "deterministic algorithms")
        .any("gpu_ids", none, "accepted for MMDetection parity");
    return s;
  }();
  return schema;
}

const Schema& data_section_schema() {
  static const Schema schema = [] {
    ConfigNode none;
    Schema s("the data section");
    s.add<int64_t>("samples_per_gpu", 2, "images per batch")
        .min(1)
        .add<int64_t>("workers_per_gpu", 2, "loader worker threads")
        .min(0)
        .add<bool>("persistent_workers", false, "accepted for MMDetection parity")
        .component("train", Kind::dataset, none, "training dataset")
        .component("val", Kind::dataset, none, "validation dataset")
        .component("test", Kind::dataset, none, "test dataset")
        .dict("train_dataloader", none, "loader overrides for training")
        .dict("val_dataloader", none, "loader overrides for validation")
        .dict("test_dataloader", none, "loader overrides for testing");
    return s;
  }();
  return schema;
}

namespace {

/// Checks the keys of `map` against `schema` (unknown keys, types, nested components).
void check_map(const ConfigNode& map, const Schema& schema, const std::string& path,
               bool allow_underscore_keys, std::vector<std::string>& errors) {
  std::vector<std::string> known;
  for (const auto& spec : schema.params())
    known.push_back(spec.name);
  for (const auto& entry : map.entries()) {
    if (allow_underscore_keys && !entry.key.empty() && entry.key[0] == '_') continue;
    const std::string key_path = child_path(path, entry.key);
    const ParamSpec* spec = schema.find(entry.key);
    if (spec == nullptr) {
      errors.push_back(
          located_message(entry.key_mark, key_path,
                          "unknown key '" + entry.key + "'" + did_you_mean(entry.key, known)));
      continue;
    }
    if (&schema == &top_level_schema() && entry.key == "data" && entry.value.is_map()) {
      check_map(entry.value, data_section_schema(), key_path, false, errors);
      continue;
    }
    validate_value_into(*spec, entry.value, key_path, errors);
  }
}

}  // namespace

std::vector<std::string> check_config(const ConfigNode& root) {
  std::vector<std::string> errors;
  if (!root.is_map()) {
    errors.push_back(located_message(root.mark(), "", "a config must be a map"));
    return errors;
  }
  check_map(root, top_level_schema(), "", true, errors);
  return errors;
}

}  // namespace detkit
