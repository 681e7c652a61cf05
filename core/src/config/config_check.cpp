// Whole-config validation: every section of a training config against its schema and the
// registries, then the factories of the components that can be built without upstream objects.
#include "detkit/core/config_check.h"

#include "detkit/build_context.h"

#include "detkit/core/text.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// `optimizer_config`: MMCV's OptimizerHook arguments.
Schema optimizer_config_schema() {
  Schema grad_clip("gradient clipping (torch.nn.utils.clip_grad_norm_)");
  grad_clip.required<double>("max_norm", "largest allowed gradient norm").greater_than(0);
  grad_clip.add<double>("norm_type", 2.0, "p of the p-norm").greater_than(0);
  Schema s("optimizer step settings (MMCV OptimizerHook)");
  s.add<std::string>("type", "OptimizerHook", "the optimizer hook")
      .choices({"OptimizerHook", "GradientCumulativeOptimizerHook"});
  s.nested("grad_clip", std::move(grad_clip), "clip gradients before each step; null = no clipping",
           true);
  s.add<int64_t>("cumulative_iters", 1, "iterations whose gradients are accumulated per step")
      .min(1);
  s.add<bool>("detect_anomalous_params", false, "report parameters that got no gradient");
  return s;
}

/// `data.*_dataloader`: per-phase loader overrides.
Schema dataloader_schema() {
  Schema s("loader overrides for one phase");
  s.add<std::optional<int64_t>>("samples_per_gpu", std::nullopt, "images per batch").min(1);
  s.add<std::optional<int64_t>>("workers_per_gpu", std::nullopt, "loader worker threads").min(0);
  s.add<std::optional<bool>>("shuffle", std::nullopt, "shuffle the samples");
  s.add<std::optional<bool>>("persistent_workers", std::nullopt, "accepted for parity");
  return s;
}

/// `log_config`: logging interval and logger hooks.
Schema log_config_schema() {
  Schema s("logging (MMCV log_config)");
  s.add<int64_t>("interval", 50, "iterations between log lines").min(1);
  s.component_list("hooks", Kind::hook, ConfigNode::make_list(),
                   "logger hooks, e.g. [{type: TextLoggerHook}]");
  return s;
}

/// One `workflow` phase: [train|val, epochs].
ParamSpec workflow_spec() {
  ParamSpec mode = param_spec_of<std::string>();
  mode.choices = {"train", "val"};
  ParamSpec count = param_spec_of<int64_t>();
  count.min = 1;
  ParamSpec phase;
  phase.type = ParamType::list;
  phase.items = {mode, count};
  return phase;
}

/// The sections `config check` builds after validating (no weights, no data): kinds whose
/// factories need no upstream object.
bool buildable_alone(Kind kind) {
  switch (kind) {
    case Kind::backbone:
    case Kind::loss:
    case Kind::initializer:
    case Kind::iou_calculator:
    case Kind::anchor_generator:
    case Kind::assigner:
    case Kind::sampler:
    case Kind::bbox_coder:
    case Kind::activation_layer:
    case Kind::metric:
    case Kind::scheduler:  // LR / momentum policies: checks that need no optimizer
    case Kind::hook:       // hooks: checks that need no runner
      return true;
    default:
      return false;
  }
}

/// The parts every MMDetection detector names, checked by position while no detector type is
/// registered (the detector's own keys pass unchecked).
const Schema& model_parts_schema() {
  static const Schema schema = [] {
    ConfigNode none;
    Schema s("the model's parts (checked by position)");
    s.component("backbone", Kind::backbone, none, "the backbone")
        .component("neck", Kind::neck, none, "the neck")
        .component("bbox_head", Kind::dense_head, none, "a single-stage detector's head")
        .component("rpn_head", Kind::dense_head, none, "a two-stage detector's RPN head")
        .component("roi_head", Kind::roi_head, none, "a two-stage detector's RoI head")
        .allow_unknown_keys();
    return s;
  }();
  return schema;
}

}  // namespace

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
        .nested("train_dataloader", dataloader_schema(), "loader overrides for training", true)
        .nested("val_dataloader", dataloader_schema(), "loader overrides for validation", true)
        .nested("test_dataloader", dataloader_schema(), "loader overrides for testing", true);
    return s;
  }();
  return schema;
}

const Schema& top_level_schema() {
  static const Schema schema = [] {
    ConfigNode none;
    Schema s("top-level config keys (MMDetection 2.x names)");
    s.component("model", Kind::detector, none, "the detector to build")
        .nested("data", data_section_schema(), "datasets and loader settings", true)
        .component("optimizer", Kind::optimizer, none, "optimizer, e.g. {type: SGD, lr: 0.02}")
        .nested("optimizer_config", optimizer_config_schema(),
                "optimizer step settings, e.g. {grad_clip: null}", true)
        .component("lr_config", Kind::scheduler, none,
                   "LR policy: {policy: step, warmup: linear, ...}")
        .type_key(TypeKey{"policy", "LrUpdaterHook", true, {}})
        .component("momentum_config", Kind::scheduler, none,
                   "momentum policy: {policy: cyclic, ...}")
        .type_key(TypeKey{"policy", "MomentumUpdaterHook", true, {}})
        .component("runner", Kind::runner, none, "{type: EpochBasedRunner, max_epochs: 12}")
        .add_spec([] {
          ParamSpec workflow;
          workflow.name = "workflow";
          workflow.type = ParamType::list;
          workflow.element = std::make_shared<const ParamSpec>(workflow_spec());
          ConfigNode train = ConfigNode::make_list();
          train.push_back(ConfigNode("train"));
          train.push_back(ConfigNode(1));
          workflow.default_value = ConfigNode::make_list();
          workflow.default_value.push_back(train);
          workflow.doc = "phases and their epochs, e.g. [[train, 1], [val, 1]]";
          return workflow;
        }())
        .component("checkpoint_config", Kind::hook, none, "CheckpointHook arguments")
        .type_key(TypeKey{"type", {}, false, "CheckpointHook"})
        .nested("log_config", log_config_schema(), "{interval: 50, hooks: [...]}", true)
        .component("evaluation", Kind::hook, none,
                   "EvalHook arguments: {interval: 1, metric: bbox}")
        .type_key(TypeKey{"type", {}, false, "EvalHook"})
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

ConfigCheckResult check_config(const ConfigNode& root, bool build) {
  ConfigCheckResult result;
  if (!root.is_map()) {
    result.errors.push_back(located_message(root.mark(), "", "a config must be a map"));
    return result;
  }
  // Top-level keys starting with '_' are the user's own variables.
  ConfigNode checked = ConfigNode::make_map();
  checked.set_mark(root.mark());
  for (const auto& entry : root.entries()) {
    if (!entry.key.empty() && entry.key[0] == '_') continue;
    checked.entries().push_back(entry);  // keys are unique already: no set(), a linear scan
  }
  CheckReport report;
  const ConfigNode* model = checked.find("model");
  if (model != nullptr && model->is_map() && Registry::of(Kind::detector).types().empty()) {
    result.unchecked.push_back(located_message(
        model->mark(), "model",
        "not checked as a whole: no detector type is registered yet; its backbone, neck and "
        "heads are checked by position"));
    validate_map_into(model_parts_schema(), *model, "model", "the model", result.errors, &report);
    checked.erase("model");
  }
  validate_map_into(top_level_schema(), checked, "", "the config", result.errors, &report);
  report.unchecked.insert(report.unchecked.begin(), result.unchecked.begin(),
                          result.unchecked.end());
  result.unchecked = report.unchecked;
  if (!build || !result.errors.empty()) return result;
  for (const auto& component : report.components) {
    if (!buildable_alone(component.kind)) continue;
    try {
      // Every buildable kind takes NoContext or a context whose defaults mean "not known".
      const BackboneContext backbone_context;
      const SchedulerContext scheduler_context;
      const HookContext hook_context;
      const NoContext no_context;
      const void* context = static_cast<const void*>(&no_context);
      if (component.kind == Kind::backbone) context = &backbone_context;
      if (component.kind == Kind::scheduler) context = &scheduler_context;
      if (component.kind == Kind::hook) context = &hook_context;
      build_component(component.kind, component.config, component.path, context, nullptr,
                      component.type_key);
    } catch (const ConfigError& e) {
      result.errors.push_back(e.what());
    } catch (const std::exception& e) {
      // A hook or policy that cannot be built without its runner or optimizer (EMAHook) is
      // checked when training starts; anything else is an error now.
      if (component.kind != Kind::hook && component.kind != Kind::scheduler)
        result.errors.push_back(e.what());
    }
  }
  return result;
}

void require_valid_config(const ConfigNode& root) {
  const ConfigCheckResult check = check_config(root, /*build=*/false);
  if (check.errors.empty()) return;
  std::string message = std::to_string(check.errors.size()) + " error(s) in the config:";
  for (const auto& error : check.errors)
    message += "\n  " + error;
  throw ConfigError(message);
}

}  // namespace detkit
