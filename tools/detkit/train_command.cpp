// `detkit train CONFIG [--work-dir D] [--cfg-options k=v ...] [--resume-from C] [--seed S]
// [--deterministic] [--threads N] [--no-validate] [--launcher none|pytorch|slurm]
// [--dist-timeout S]`: MMDetection's tools/train.py over detkit::train_detector
// (detkit/core/train.h). Ctrl-C stops between iterations (exit 130). With a launcher the process
// is one rank of a distributed run: it joins the c10d group that torchrun's (or Slurm's)
// variables describe, and rank 0 logs and writes the work dir.
#include <torch/torch.h>

#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/distributed.h"
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
      "no-validate", "do not evaluate during training, whatever `evaluation` says")(
      "launcher", po::value<std::string>()->default_value("none"),
      "none: one process; pytorch: one rank of a distributed run described by torchrun's "
      "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (what `detkit dist-train` sets); slurm: by "
      "SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST")(
      "dist-timeout", po::value<double>()->default_value(1800),
      "seconds that joining the group and every collective may take before this rank stops "
      "with an error (PyTorch's default: 30 minutes)");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit train CONFIG [--work-dir D] [--cfg-options k=v ...] [--resume-from C] "
             "[--seed S] [--deterministic] [--threads N] [--no-validate] "
             "[--launcher none|pytorch|slurm] [--dist-timeout S]"))
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
  const std::string launcher = vm["launcher"].as<std::string>();
  if (launcher != "none" && launcher != "pytorch" && launcher != "slurm")
    throw UsageError("--launcher must be none, pytorch or slurm, got '" + launcher + "'");
  const double dist_timeout = vm["dist-timeout"].as<double>();
  if (!(dist_timeout > 0 && dist_timeout <= 7 * 24 * 3600))
    throw UsageError("--dist-timeout must be a number of seconds in (0, 604800]");
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
  // A distributed run: join the group before anything is built (a missing peer fails here,
  // within --dist-timeout), and make it the group components see (detkit/engine/dist_utils.h).
  std::unique_ptr<ProcessGroup> group;
  std::unique_ptr<DefaultProcessGroup> as_default;
  if (launcher != "none") {
    DistributedOptions dist =
        launcher == "pytorch" ? distributed_options_from_env() : distributed_options_from_slurm();
    dist.timeout = std::chrono::milliseconds(static_cast<int64_t>(dist_timeout * 1000));
    group = std::make_unique<ProcessGroup>(dist);
    as_default = std::make_unique<DefaultProcessGroup>(*group);
  }
  TrainResult result;
  try {
    result = train_detector(config, train);
  } catch (const TrainingInterrupted& stop) {
    std::cerr << "detkit train: " << stop.what() << "\n";
    if (!stop.last_checkpoint().empty())
      std::cerr << "  continue with: --resume-from " << stop.last_checkpoint() << "\n";
    return stop.exit_status();
  }
  if (group && group->rank() != 0) return 0;  // rank 0 reports the run
  std::cout << fmt::format("\ntraining finished: work dir {}\n  log: {}\n", result.work_dir,
                           result.log_file);
  if (!result.last_checkpoint.empty())
    std::cout << fmt::format("  last checkpoint: {}\n", result.last_checkpoint);
  for (const auto& [name, value] : result.last_metrics)
    std::cout << fmt::format("  {}: {:.4f}\n", name, value);
  return 0;
}

}  // namespace detkit::cli
