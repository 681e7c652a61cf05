// `detkit checkpoint convert --from torchvision --model retinanet|fasterrcnn|resnet IN OUT
// [--force]`: renames a torchvision state dict's keys to MMDetection's
// (convert_torchvision_state_dict) and writes {meta, state_dict}; OUT is never overwritten without
// --force.
#include <filesystem>
#include <iostream>

#include "cli.h"
#include "detkit/checkpoint.h"
#include "detkit/core/checkpoint_convert.h"
#include "detkit/core/text.h"

namespace detkit::cli {

int run_checkpoint_convert(const std::vector<std::string>& args) {
  const std::string usage =
      "detkit checkpoint convert --from torchvision --model retinanet|fasterrcnn|resnet IN OUT "
      "[--force]";
  po::options_description options("detkit checkpoint convert");
  add_common_options(options);
  options.add_options()("from", po::value<std::string>()->required(),
                        "the source's naming: torchvision")(
      "model", po::value<std::string>()->required(),
      "retinanet (retinanet_resnet50_fpn), fasterrcnn (fasterrcnn_resnet50_fpn; its labels kept, "
      "background last) or resnet (a classification ResNet; fc dropped)")(
      "in", po::value<std::string>()->required(), "the torchvision checkpoint")(
      "out", po::value<std::string>()->required(), "the MMDetection-named checkpoint to write")(
      "force", "overwrite OUT if it exists");
  po::positional_options_description positional;
  positional.add("in", 1).add("out", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, usage)) return 0;
  const std::string from = vm["from"].as<std::string>();
  const std::string model = vm["model"].as<std::string>();
  const std::string input = vm["in"].as<std::string>();
  const std::string output = vm["out"].as<std::string>();
  if (from != "torchvision") {
    throw UsageError("--from '" + from + "' is not supported (supported: torchvision)");
  }
  const std::vector<std::string> models = torchvision_conversion_models();
  if (std::find(models.begin(), models.end(), model) == models.end()) {
    throw UsageError("--model '" + model + "' is not supported (supported: " + join(models, ", ") +
                     ")");
  }
  refuse_output_over_inputs("OUT", output, {input});
  std::error_code ec;
  if (std::filesystem::exists(output, ec) && !vm.count("force")) {
    throw Error("'" + output + "' exists; pass --force to overwrite it");
  }
  const Checkpoint source = load_checkpoint(input);
  const StateDict converted = convert_torchvision_state_dict(source.state_dict, model);
  ConfigNode meta = ConfigNode::make_map();
  meta.set("converted_from", ConfigNode(input));
  meta.set("source", ConfigNode("torchvision " + model));
  save_checkpoint(output, converted, meta);
  std::cout << "converted " << source.state_dict.size() << " torchvision " << model
            << " tensors to " << converted.size() << " MMDetection-named tensors: " << output
            << "\n";
  return 0;
}

}  // namespace detkit::cli
