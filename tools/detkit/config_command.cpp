// `detkit config print CONFIG [--cfg-options k=v ...] [--no-sources]` and
// `detkit config check CONFIG [--cfg-options k=v ...]`.
#include <iostream>

#include "cli.h"
#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/error.h"

namespace detkit::cli {

int run_config(const std::vector<std::string>& args) {
  po::options_description options("detkit config");
  add_common_options(options);
  options.add_options()("action", po::value<std::string>()->required(), "print | check")(
      "config", po::value<std::string>()->required(), "the config file")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override keys: a.b.0.c=value (values are YAML)")("no-sources",
                                                        "print without the source of each value");
  po::positional_options_description positional;
  positional.add("action", 1).add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit config {print|check} CONFIG [--cfg-options k=v ...]"))
    return 0;
  const std::string action = vm["action"].as<std::string>();
  if (action != "print" && action != "check")
    throw UsageError("unknown action '" + action + "' (expected print or check)");
  const ConfigNode config = load_config_from(vm);
  if (action == "print") {
    std::cout << format_config(config, !vm.count("no-sources"));
    return 0;
  }
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
