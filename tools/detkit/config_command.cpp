// `detkit config print CONFIG [--cfg-options k=v ...] [--no-sources]` and
// `detkit config check CONFIG [--cfg-options k=v ...]`.
#include <iostream>

#include "cli.h"
#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace {

/// The options of both actions; `print` also takes --no-sources.
po::options_description config_options(const std::string& action) {
  po::options_description options("detkit config " + action);
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the config file")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override keys: a.b.0.c=value (values are YAML)");
  if (action == "print")
    options.add_options()("no-sources", "print without the source of each value");
  return options;
}

}  // namespace

int run_config_print(const std::vector<std::string>& args) {
  const po::options_description options = config_options("print");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit config print CONFIG [--cfg-options k=v ...] [--no-sources]"))
    return 0;
  std::cout << format_config(load_config_from(vm), !vm.count("no-sources"));
  return 0;
}

int run_config_check(const std::vector<std::string>& args) {
  const po::options_description options = config_options("check");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "detkit config check CONFIG [--cfg-options k=v ...]"))
    return 0;
  const ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, true);
  const ConfigCheckResult result = check_config(config);
  const std::vector<std::string>& errors = result.errors;
  for (const auto& note : result.unchecked)
    std::cerr << "  " << note << "\n";
  if (errors.empty()) {
    std::cout << vm["config"].as<std::string>() << ": OK"
              << (result.unchecked.empty() ? std::string()
                                           : " (" + std::to_string(result.unchecked.size()) +
                                                 " part(s) not checked, listed above)")
              << "\n";
    return 0;
  }
  std::cerr << vm["config"].as<std::string>() << ": " << errors.size() << " error(s)\n";
  for (const auto& error : errors)
    std::cerr << "  " << error << "\n";
  return 1;
}

}  // namespace detkit::cli
