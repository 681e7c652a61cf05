// `detkit checkpoint info|convert ...`: inspect a .pth checkpoint, or convert a torchvision one
// to MMDetection's parameter names. Each action is its own file; this one dispatches.
#include <iostream>

#include "cli.h"
#include "detkit/core/text.h"

namespace detkit::cli {

int run_checkpoint(const std::vector<std::string>& args) {
  const std::string usage = "detkit checkpoint info FILE | detkit checkpoint convert ...";
  const std::vector<std::string> actions = {"info", "convert"};
  if (args.empty()) throw UsageError("missing action (info or convert)\nusage: " + usage);
  const std::string& action = args.front();
  if (action == "--help" || action == "-h") {
    std::cout << "usage: " << usage
              << "\n\n  info FILE      list a checkpoint's meta and tensors (name, shape, dtype)"
                 "\n  convert ...    rename a torchvision state dict's keys to MMDetection's\n"
                 "\nRun `detkit checkpoint <action> --help` for its options.\n";
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (action == "info") return run_checkpoint_info(rest);
  if (action == "convert") return run_checkpoint_convert(rest);
  throw UsageError("unknown action '" + action + "'" + did_you_mean(action, actions) +
                   " (info or convert)\nusage: " + usage);
}

}  // namespace detkit::cli
