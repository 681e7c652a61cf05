// `detkit plugins [list | describe TYPE [--kind K]]`.
#include <iostream>

#include "cli.h"
#include "detkit/core/report.h"
#include "detkit/error.h"

namespace detkit::cli {

int run_plugins(const std::vector<std::string>& args) {
  po::options_description options("detkit plugins");
  add_common_options(options);
  options.add_options()("action", po::value<std::string>()->default_value("list"),
                        "list | describe")("type", po::value<std::string>(),
                                           "the component type to describe")(
      "kind", po::value<std::string>(), "the kind of the type (when a name exists in several)");
  po::positional_options_description positional;
  positional.add("action", 1).add("type", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "detkit plugins [list | describe TYPE] [--plugin P]"))
    return 0;
  const std::string action = vm["action"].as<std::string>();
  load_plugins(vm, nullptr, false);
  if (action == "list") {
    std::cout << format_plugin_report();
    return 0;
  }
  if (action == "describe") {
    if (!vm.count("type")) throw UsageError("usage: detkit plugins describe TYPE [--kind KIND]");
    std::optional<Kind> kind;
    if (vm.count("kind")) {
      kind = kind_from_name(vm["kind"].as<std::string>());
      if (!kind) throw UsageError("unknown kind '" + vm["kind"].as<std::string>() + "'");
    }
    std::cout << format_component_help(find_component_any_kind(vm["type"].as<std::string>(), kind));
    return 0;
  }
  throw UsageError("unknown action '" + action + "' (expected list or describe)");
}

}  // namespace detkit::cli
