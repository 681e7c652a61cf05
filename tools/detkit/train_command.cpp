// `detkit train CONFIG [--work-dir D] [--cfg-options k=v ...] [--resume-from C] [--seed S]
// [--deterministic] [--threads N] [--no-validate]`: MMDetection's tools/train.py over
// detkit::train_detector (detkit/core/train.h). Ctrl-C stops between iterations (exit 130).
#include <torch/torch.h>

#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/interrupt.h"
#include "detkit/core/runtime.h"
#include "detkit/core/train.h"

namespace detkit::cli {

int run_train(const std::vector<std::string>& args) {
  po::options_description options("detkit train");
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the training config")(
      "work-dir", po::value<std::string>(),
      "folder for logs and checkpoints (default: the config's work_dir, else "
      "./work_dirs/<config name>)")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override config values: key=value ...")(
      "resume-from", po::value<std::string>(),
      "resume from this checkpoint (weights, optimizer, epoch, iteration)")(
      "seed", po::value<int64_t>(), "random seed (default: the config's seed, else random)")(
      "deterministic", "use deterministic algorithms")(
      "threads", po::value<int>()->default_value(0), "intra-op threads (0 = one per core)")(
      "no-validate", "do not evaluate during training, whatever `evaluation` says");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit train CONFIG [--work-dir D] [--cfg-options k=v ...] [--resume-from C] "
             "[--seed S] [--deterministic] [--threads N] [--no-validate]"))
    return 0;
  const int threads = vm["threads"].as<int>();
  if (threads < 0) throw UsageError("--threads must be >= 0, got " + std::to_string(threads));
  if (vm.count("seed") && vm["seed"].as<int64_t>() < 0) throw UsageError("--seed must be >= 0");
  if (vm.count("work-dir") && vm["work-dir"].as<std::string>().empty())
    throw UsageError("--work-dir must not be empty");
  if (vm.count("work-dir")) {
    std::vector<std::string> inputs = {vm["config"].as<std::string>()};
    if (vm.count("resume-from")) inputs.push_back(vm["resume-from"].as<std::string>());
    refuse_output_over_inputs("--work-dir", vm["work-dir"].as<std::string>(), inputs);
  }
  if (threads > 0) set_intra_op_threads(threads, "--threads");

  const ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, /*strict=*/true);
  TrainOptions train;
  train.config_path = vm["config"].as<std::string>();
  if (vm.count("work-dir")) train.work_dir = vm["work-dir"].as<std::string>();
  if (vm.count("resume-from")) train.resume_from = vm["resume-from"].as<std::string>();
  if (vm.count("seed")) train.seed = static_cast<uint64_t>(vm["seed"].as<int64_t>());
  train.deterministic = vm.count("deterministic") > 0;
  train.validate = vm.count("no-validate") == 0;
  // Ctrl-C / SIGTERM stop between iterations, the last complete checkpoint kept for
  // --resume-from; a second Ctrl-C quits at once.
  const InterruptHandler on_ctrl_c;
  TrainResult result;
  try {
    result = train_detector(config, train);
  } catch (const TrainingInterrupted& stop) {
    std::cerr << "detkit train: " << stop.what() << "\n";
    if (!stop.last_checkpoint().empty())
      std::cerr << "  continue with: --resume-from " << stop.last_checkpoint() << "\n";
    return stop.exit_status();
  }
  std::cout << fmt::format("\ntraining finished: work dir {}\n  log: {}\n", result.work_dir,
                           result.log_file);
  if (!result.last_checkpoint.empty())
    std::cout << fmt::format("  last checkpoint: {}\n", result.last_checkpoint);
  for (const auto& [name, value] : result.last_metrics)
    std::cout << fmt::format("  {}: {:.4f}\n", name, value);
  return 0;
}

}  // namespace detkit::cli
