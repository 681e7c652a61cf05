// The command table, and the plugin loading, config loading and output checks shared by the
// subcommands.
#include "cli.h"

#include <iostream>

#include "detkit/core/config.h"
#include "detkit/core/file_io.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/error.h"

namespace detkit::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"plugins",
       "list plugin files (LOADED / REJECTED / SHADOWED) or describe a type",
       nullptr,
       {{"list", "every plugin file: LOADED / REJECTED (why) / SHADOWED", &run_plugins_list},
        {"describe", "a component type's parameters", &run_plugins_describe}},
       "list"},
      {"config",
       "print a merged config with sources, or check it against the plugins",
       nullptr,
       {{"print", "the merged config, each value with its file:line:col", &run_config_print},
        {"check", "validate every key and type against the plugins", &run_config_check}}},
      {"data",
       "write a synthetic COCO-format dataset of shapes (demo, tests)",
       nullptr,
       {{"synth", "a synthetic COCO-format dataset of shapes", &run_data_synth}}},
      {"convert",
       "convert a dataset's annotations to COCO format (cityscapes)",
       nullptr,
       {{"cityscapes", "Cityscapes gtFine polygons to COCO instances", &run_convert_cityscapes}},
       nullptr,
       "format"},
      {"eval",
       "evaluate a COCO result file against COCO ground truth (pycocotools' numbers)",
       nullptr,
       {{"coco", "COCO bbox evaluation (pycocotools' COCOeval)", &run_eval_coco}},
       nullptr,
       "format"},
      {"benchmark",
       "speed figures side by side with a reference run (coco-eval, loader, losses, dataset, "
       "model)",
       nullptr,
       {{"coco-eval", "COCO evaluation beside pycocotools", &run_coco_eval_benchmark},
        {"loader", "the COCO training pipeline through the DataLoader", &run_loader_benchmark},
        {"losses", "every registered loss beside PyTorch / torchvision", &run_losses_benchmark},
        {"dataset", "building a CocoDataset beside Python's json + COCO index",
         &run_dataset_benchmark},
        {"model", "a config's model forward beside torchvision's", &run_model_benchmark},
        {"dist", "training on 1 process against several (dist-train), same global batch",
         &run_dist_benchmark}},
       nullptr,
       "benchmark"},
      {"train", "train a detector from a config (MMDetection's tools/train.py)", &run_train},
      {"dist-train", "run train in N processes, one per rank (tools/dist_train.sh, torchrun)",
       &run_dist_train},
      {"test", "test a checkpoint on data.test: metrics, COCO results, drawings (tools/test.py)",
       &run_test},
      {"infer", "run a detector on images: per image a JSON of detections and a drawing",
       &run_infer},
      {"model", "build a config's model and print its parameters with their init records",
       &run_model},
      {"checkpoint",
       "list a .pth checkpoint's meta and tensors, or convert torchvision weights",
       nullptr,
       {{"info", "a checkpoint's meta and tensors (name, shape, dtype)", &run_checkpoint_info},
        {"convert", "rename a torchvision state dict's keys to MMDetection's",
         &run_checkpoint_convert}}},
      {"schedule", "print and plot the lr / momentum of every iteration a config would run",
       &run_schedule},
      {"analyze-logs",
       "plot or time MMCV JSON training logs (MMDetection's analyze_logs.py)",
       nullptr,
       {{"plot_curve", "plot logged values (loss, lr, bbox_mAP, ...) into a PNG",
         &run_analyze_logs_plot_curve},
        {"cal_train_time", "per log: slowest and fastest epoch, average iteration time",
         &run_analyze_logs_cal_train_time}}},
  };
  return table;
}

void add_common_options(po::options_description& options) {
  options.add_options()("help,h", "show this help")(
      "plugin", po::value<std::vector<std::string>>()->composing(),
      "load this plugin file (or every plugin in this folder) first");
}

void refuse_output_over_inputs(const std::string& what, const std::string& output,
                               const std::vector<std::string>& inputs) {
  const std::string problem = output_overwrites_input(output, inputs);
  if (!problem.empty()) throw UsageError(what + " " + output + ": " + problem);
}

void load_plugins(const po::variables_map& vm, const ConfigNode* config, bool strict) {
  PluginSearch search;
  if (vm.count("plugin")) search.command_line = vm["plugin"].as<std::vector<std::string>>();
  if (config != nullptr) search.config = config_plugin_paths(*config);
  // Components skipped as conflicts are visible in every command, not only in `plugins list`.
  for (const auto& warning : PluginManager::instance().load(search))
    std::cerr << "warning: " << warning << "\n";
  bool allow_failed = false;
  if (config != nullptr) {
    if (const ConfigNode* flag = config->find("allow_failed_plugins"))
      allow_failed = flag->is_bool() && flag->as_bool();
  }
  if (strict && !allow_failed) PluginManager::instance().require_requested_loaded();
}

ConfigNode load_config_from(const po::variables_map& vm, const std::string& key) {
  std::vector<std::string> options;
  if (vm.count("cfg-options")) options = vm["cfg-options"].as<std::vector<std::string>>();
  return load_config(vm[key].as<std::string>(), options);
}

}  // namespace detkit::cli
