// `detkit benchmark dataset [--ann-file F | --images N] [--no-reference]`: times building a
// CocoDataset from a COCO annotation file (parse + label mapping + filtering) beside Python's
// json.load plus the per-image index pycocotools' COCO() builds, run by /usr/bin/python3.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/core/coco_writer.h"
#include "detkit/core/config.h"
#include "detkit/data/dataset.h"
#include "detkit/registry.h"

namespace detkit::cli {

namespace {

/// Seconds Python takes for json.load + pycocotools' createIndex loops; nullopt, with `why`
/// set, when it cannot run here.
std::optional<double> reference_seconds(const std::string& path, std::string& why) {
  const std::string script =
      "import json, sys, time\nfrom collections import defaultdict\n"
      "t = time.perf_counter()\nd = json.load(open(sys.argv[1]))\n"
      "anns, cats, imgs = {}, {}, {}\nimg_to_anns, cat_to_imgs = defaultdict(list), "
      "defaultdict(list)\n"
      "for a in d['annotations']:\n    img_to_anns[a['image_id']].append(a); anns[a['id']] = a\n"
      "for i in d['images']:\n    imgs[i['id']] = i\n"
      "for c in d['categories']:\n    cats[c['id']] = c\n"
      "for a in d['annotations']:\n    cat_to_imgs[a['category_id']].append(a['image_id'])\n"
      "print('DETKIT_REFERENCE', time.perf_counter() - t)\n";
  const ReferenceOutput out = run_python_reference(script, {path});
  double seconds = 0;
  if (out.ok && !out.results.empty() && std::istringstream(out.results.front()) >> seconds)
    return seconds;
  why = reference_failure_reason(out);
  return std::nullopt;
}

}  // namespace

int run_dataset_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark dataset");
  add_common_options(options);
  options.add_options()("ann-file", po::value<std::string>(), "a COCO annotation file to load")(
      "images", po::value<int64_t>()->default_value(100000),
      "without --ann-file: images of the synthetic file to write (100000 make ~100 MB)")(
      "no-reference", "do not run the Python reference");
  po::variables_map vm;
  if (!parse(args, options, {}, vm, "detkit benchmark dataset [--ann-file F | --images N]"))
    return 0;
  namespace fs = std::filesystem;
  std::string path;
  std::optional<ScopedTempDir> temp_dir;
  if (vm.count("ann-file")) {
    path = vm["ann-file"].as<std::string>();
  } else {
    const int64_t images = vm["images"].as<int64_t>();
    if (images < 1) throw UsageError("--images must be positive");
    temp_dir.emplace("detkit-benchmark-dataset");
    path = temp_dir->path() + "/annotations.json";
    std::cout << "writing a synthetic COCO file of " << images << " images..." << std::endl;
    write_random_coco_annotations(path, images);
  }
  load_plugins(vm, nullptr, true);
  const double megabytes = static_cast<double>(fs::file_size(path)) / 1e6;
  const auto start = std::chrono::steady_clock::now();
  // The path goes into a config node as it is, never into YAML text.
  ConfigNode dataset_config = ConfigNode::make_map();
  dataset_config.set("type", "CocoDataset");
  dataset_config.set("pipeline", ConfigNode::make_list());
  dataset_config.set("ann_file", path);
  SourceMark origin;
  origin.origin = "benchmark dataset";
  dataset_config.set_mark_recursive(origin);
  auto dataset = build<DatasetBase>(dataset_config, "data.train");
  const double seconds = seconds_since(start);
  std::optional<double> reference;
  std::string why;
  if (!vm.count("no-reference")) reference = reference_seconds(path, why);
  std::cout << fmt::format("CocoDataset load: {:.1f} MB, {} training samples, {} classes\n",
                           megabytes, dataset->size(), dataset->classes().size());
  std::cout << fmt::format("{:<34}{:>12}\n", "detkit (parse + build dataset)",
                           fmt::format("{:.2f} s", seconds));
  if (reference) {
    std::cout << fmt::format("{:<34}{:>12}{:>10}\n", "Python json.load + COCO index",
                             fmt::format("{:.2f} s", *reference),
                             fmt::format("{:.1f}x", *reference / std::max(seconds, 1e-9)));
  } else if (!vm.count("no-reference")) {
    std::cout << reference_not_available(why) << "\n";
  }
  return 0;
}

}  // namespace detkit::cli
