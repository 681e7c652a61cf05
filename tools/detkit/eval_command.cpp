// `detkit eval coco GT.json RESULTS.json [--json OUT] [--skip-invalid] [--threads N]`: the numbers
// pycocotools' COCOeval (bbox) gives, its summary text, and a per-category AP table.
#include <iostream>

#include "cli.h"
#include "detkit/core/coco_eval.h"
#include "detkit/core/coco_json.h"
#include "detkit/error.h"

namespace detkit::cli {

int run_eval_coco(const std::vector<std::string>& args) {
  po::options_description options("detkit eval coco");
  add_common_options(options);
  options.add_options()("gt", po::value<std::string>()->required(),
                        "the ground-truth annotation file (COCO JSON)")(
      "results", po::value<std::string>()->required(),
      "the detections (COCO result JSON: [{image_id, category_id, bbox, score}, ...])")(
      "json", po::value<std::string>(),
      "also write the stats and per-category AP to this JSON file")(
      "skip-invalid", "drop invalid ground-truth annotations (e.g. w or h <= 0) with a warning")(
      "threads", po::value<int>()->default_value(0), "worker threads (0 = one per core)");
  po::positional_options_description positional;
  positional.add("gt", 1).add("results", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit eval coco GT RESULTS [--json OUT] [--skip-invalid] [--threads N]"))
    return 0;
  const std::string gt_path = vm["gt"].as<std::string>();
  const std::string results_path = vm["results"].as<std::string>();
  if (vm.count("json"))
    refuse_output_over_inputs("--json", vm["json"].as<std::string>(), {gt_path, results_path});

  CocoReadOptions read_options;
  read_options.skip_invalid = vm.count("skip-invalid") > 0;
  const CocoGroundTruth gt = read_coco_annotations(gt_path, read_options);
  if (gt.skipped_annotations > 0) {
    std::cerr << "warning: skipped " << gt.skipped_annotations << " invalid annotation(s) of "
              << gt_path << "\n";
    for (const auto& warning : gt.warnings)
      std::cerr << "  " << warning << "\n";
  }
  const std::vector<CocoDetection> detections = read_coco_results(results_path);

  CocoEvalParams params;
  params.num_threads = vm["threads"].as<int>();
  const CocoEvalResult result = evaluate_coco(gt, detections, params, results_path);

  std::cout << "Evaluating bbox: " << gt.images.size() << " images, " << gt.categories.size()
            << " categories, " << gt.annotations.size() << " annotations, " << detections.size()
            << " detections\n";
  std::cout << format_coco_summary(result);
  std::cout << "\nPer-category AP @[ IoU=0.50:0.95 | area=all | maxDets="
            << result.params.max_dets.back() << " ]:\n"
            << format_coco_per_category(result);
  if (vm.count("json")) {
    const std::string out = vm["json"].as<std::string>();
    write_file_atomically(out, coco_result_to_json(result));
    std::cout << "wrote " << out << "\n";
  }
  return 0;
}

}  // namespace detkit::cli
