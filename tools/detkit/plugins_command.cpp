// `detkit plugins [list [--markdown]]` and `detkit plugins describe TYPE [--kind K]`.
#include <iostream>

#include "cli.h"
#include "detkit/core/report.h"
#include "detkit/error.h"

namespace detkit::cli {

int run_plugins_list(const std::vector<std::string>& args) {
  po::options_description options("detkit plugins list");
  add_common_options(options);
  options.add_options()("markdown",
                        "print every component as a Markdown table (the README's table)");
  po::variables_map vm;
  if (!parse(args, options, {}, vm, "detkit plugins list [--markdown] [--plugin P]")) return 0;
  load_plugins(vm, nullptr, false);
  std::cout << (vm.count("markdown") ? format_components_table() : format_plugin_report());
  return 0;
}

int run_plugins_describe(const std::vector<std::string>& args) {
  po::options_description options("detkit plugins describe");
  add_common_options(options);
  options.add_options()("type", po::value<std::string>()->required(),
                        "the component type to describe")(
      "kind", po::value<std::string>(), "the kind of the type (when a name exists in several)");
  po::positional_options_description positional;
  positional.add("type", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "detkit plugins describe TYPE [--kind KIND]")) return 0;
  load_plugins(vm, nullptr, false);
  std::optional<Kind> kind;
  if (vm.count("kind")) {
    kind = kind_from_name(vm["kind"].as<std::string>());
    if (!kind) throw UsageError("unknown kind '" + vm["kind"].as<std::string>() + "'");
  }
  std::cout << format_component_help(find_component_any_kind(vm["type"].as<std::string>(), kind));
  return 0;
}

}  // namespace detkit::cli
