// Option parsing and plugin loading shared by the subcommands.
#include "cli.h"

#include <iostream>

#include "detkit/core/config.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/error.h"

namespace detkit::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"plugins", "list plugin files (LOADED / REJECTED / SHADOWED) or describe a type",
       &run_plugins},
      {"config", "print a merged config with sources, or check it against the plugins",
       &run_config},
      {"data", "write a synthetic COCO-format dataset of shapes (demo, tests)", &run_data},
      {"convert", "convert a dataset's annotations to COCO format (cityscapes)", &run_convert},
      {"eval", "evaluate a COCO result file against COCO ground truth (pycocotools' numbers)",
       &run_eval},
      {"benchmark",
       "speed figures side by side with a reference run (coco-eval, loader, losses, dataset, "
       "model)",
       &run_benchmark},
      {"train", "train a detector from a config (MMDetection's tools/train.py)", &run_train},
      {"infer", "run a detector on images: per image a JSON of detections and a drawing",
       &run_infer},
      {"model", "build a config's model and print its parameters with their init records",
       &run_model},
      {"checkpoint", "list a .pth checkpoint's meta and tensors, or convert torchvision weights",
       &run_checkpoint},
      {"schedule", "print and plot the lr / momentum of every iteration a config would run",
       &run_schedule},
      {"analyze-logs", "plot or time MMCV JSON training logs (MMDetection's analyze_logs.py)",
       &run_analyze_logs},
  };
  return table;
}

void add_common_options(po::options_description& options) {
  options.add_options()("help,h", "show this help")(
      "plugin", po::value<std::vector<std::string>>()->composing(),
      "load this plugin file (or every plugin in this folder) first; repeatable");
}

bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm,
           const std::string& usage) {
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: " << usage << "\n\n" << options << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "\nusage: " + usage + " (see --help)");
  }
  return true;
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
