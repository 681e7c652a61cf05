// `detkit model CONFIG [--cfg-options k=v ...]`: builds the config's model, runs
// init_weights() as training would, and prints each parameter with its shape and its init
// record in MMCV's words, then the parameter counts: what MMCV writes to the log, shown before
// any training starts.
#include <torch/torch.h>

#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/inference.h"
#include "detkit/modeling/base_module.h"

namespace detkit::cli {

namespace {

/// 12345678 -> "12,345,678".
std::string with_thousands(int64_t value) {
  std::string digits = std::to_string(value), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace

int run_model(const std::vector<std::string>& args) {
  po::options_description options("detkit model");
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the config")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override config values: key=value ...");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "detkit model CONFIG [--cfg-options k=v ...]"))
    return 0;
  const ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, /*strict=*/true);
  const std::shared_ptr<DetectorBase> model =
      build_detector(config, class_names_from(config, nullptr));
  const InitLog log = init_weights(*model);
  std::cout << format_init_log(log);
  int64_t total = 0, trainable = 0;
  for (const auto& parameter : model->parameters()) {
    total += parameter.numel();
    if (parameter.requires_grad()) trainable += parameter.numel();
  }
  std::cout << fmt::format("\n{} parameters ({} trainable) in {} tensors\n", with_thousands(total),
                           with_thousands(trainable), model->parameters().size());
  return 0;
}

}  // namespace detkit::cli
