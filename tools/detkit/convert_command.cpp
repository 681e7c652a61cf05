// `detkit convert cityscapes GTFINE_DIR OUT.json [--split train|val|test]`: Cityscapes gtFine
// polygons to a COCO instance annotation file (MMDetection's dataset converter).
#include <iostream>

#include "cli.h"
#include "detkit/core/cityscapes_converter.h"
#include "detkit/error.h"

namespace detkit::cli {

int run_convert_cityscapes(const std::vector<std::string>& args) {
  const std::string usage =
      "detkit convert cityscapes GTFINE_DIR OUT.json [--split train|val|test]";
  po::options_description options("detkit convert cityscapes");
  add_common_options(options);
  options.add_options()("gtfine-dir", po::value<std::string>()->required(),
                        "the gtFine split folder (gtFine/train), or gtFine with --split")(
      "out", po::value<std::string>()->required(), "the COCO JSON to write")(
      "split", po::value<std::string>()->default_value(""),
      "train, val or test (a sub-folder of GTFINE_DIR)");
  po::positional_options_description positional;
  positional.add("gtfine-dir", 1).add("out", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, usage)) return 0;
  refuse_output_over_inputs("OUT", vm["out"].as<std::string>(),
                            {vm["gtfine-dir"].as<std::string>()});

  CityscapesConvertOptions convert;
  convert.gtfine_dir = vm["gtfine-dir"].as<std::string>();
  convert.split = vm["split"].as<std::string>();
  convert.out_json = vm["out"].as<std::string>();
  convert.progress = [](size_t done, size_t total) {
    const size_t step = std::max<size_t>(1, total / 10);
    if (done % step == 0 || done == total)
      std::cout << "convert: " << done << "/" << total << " files" << std::endl;
  };
  const CityscapesConvertSummary summary = convert_cityscapes(convert);
  std::cout << "wrote " << summary.images << " images and " << summary.annotations
            << " annotations (" << summary.crowd << " crowd) to " << convert.out_json << "\n";
  if (summary.skipped > 0)
    std::cout << "skipped " << summary.skipped << " objects whose polygon lies outside the image\n";
  return 0;
}

}  // namespace detkit::cli
