// `detkit schedule CONFIG [--iters-per-epoch N] [--json OUT] [--png OUT] [--all]
// [--cfg-options k=v ...]`: the learning rate and momentum of every training iteration the
// config would run, from its `optimizer`, `lr_config`, `momentum_config` and `runner` only (no
// model, no data): printed compactly (the iterations where a value changes), written as JSON
// ({"lr": [[...] per iteration], "momentum": [...]}) and plotted.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/schedule.h"

namespace detkit::cli {

namespace {

constexpr const char* kUsage =
    "detkit schedule CONFIG [--iters-per-epoch N] [--json OUT] [--png OUT] [--all] "
    "[--cfg-options k=v ...]";

/// The iterations per epoch when --iters-per-epoch is not given.
constexpr int64_t kDefaultItersPerEpoch = 100;

}  // namespace

int run_schedule(const std::vector<std::string>& args) {
  po::options_description options("detkit schedule");
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the config")(
      "iters-per-epoch", po::value<int64_t>(),
      "batches per epoch (the training loader's length); default 100")(
      "json", po::value<std::string>(), "write {\"lr\": [...], \"momentum\": [...]} here")(
      "png", po::value<std::string>(), "plot the curves into this PNG file")(
      "all", "print every iteration, not only those where a value changes")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override config values: key=value ...");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, kUsage)) return 0;
  const bool given = vm.count("iters-per-epoch") > 0;
  const int64_t iters_per_epoch =
      given ? vm["iters-per-epoch"].as<int64_t>() : kDefaultItersPerEpoch;
  if (iters_per_epoch <= 0)
    throw UsageError(fmt::format("--iters-per-epoch must be > 0, got {}", iters_per_epoch));
  const std::string config_path = vm["config"].as<std::string>();
  std::error_code error;
  if (!std::filesystem::is_regular_file(config_path, error))
    throw UsageError(config_path + ": no such config file");

  if (vm.count("json"))
    refuse_output_over_inputs("--json", vm["json"].as<std::string>(), {config_path});
  if (vm.count("png")) {
    std::vector<std::string> taken = {config_path};
    if (vm.count("json")) taken.push_back(vm["json"].as<std::string>());
    refuse_output_over_inputs("--png", vm["png"].as<std::string>(), taken);
  }

  const ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, /*strict=*/true);
  const ScheduleTrace trace = simulate_config_schedule(config, iters_per_epoch);
  if (!given) {
    std::cout << fmt::format(
        "(--iters-per-epoch not given: assuming {} iterations per epoch; a real run has "
        "len(data.train) / (samples_per_gpu * GPUs))\n",
        kDefaultItersPerEpoch);
  }
  std::cout << format_schedule(trace, vm.count("all") > 0);
  if (vm.count("json")) {
    write_file_atomically(vm["json"].as<std::string>(), schedule_json(trace));
    std::cout << "wrote " << vm["json"].as<std::string>() << "\n";
  }
  if (vm.count("png")) {
    write_schedule_png(
        trace, vm["png"].as<std::string>(),
        fmt::format("{} ({} iterations per epoch)",
                    std::filesystem::path(config_path).filename().string(), iters_per_epoch));
    std::cout << "wrote " << vm["png"].as<std::string>() << "\n";
  }
  return 0;
}

}  // namespace detkit::cli
