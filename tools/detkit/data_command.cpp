// `detkit data synth --out DIR --num-train N --num-val M --classes K --seed S [--image-size W H]
// [--overwrite]`: writes the synthetic shapes dataset (COCO format) the demo and the integration
// tests use; a folder that holds files already is written into only with --overwrite.
#include <functional>
#include <iostream>
#include <memory>

#include "cli.h"
#include "detkit/core/progress.h"
#include "detkit/core/synthetic_data.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace {

const char* const kUsage =
    "detkit data synth --out DIR [--num-train N] [--num-val M] [--classes K] [--seed S] "
    "[--image-size W H] [--overwrite]";

/// The progress of each split as a bar on stderr: "synth train [####....] 40/400, 85.0 img/s, ...".
std::function<void(const std::string&, int64_t, int64_t)> split_progress() {
  struct State {
    std::string split;
    int64_t done = 0;
    std::unique_ptr<ProgressBar> bar;
  };
  auto state = std::make_shared<State>();
  return [state](const std::string& split, int64_t done, int64_t total) {
    if (!state->bar || split != state->split) {
      state->bar = std::make_unique<ProgressBar>(total, ProgressOptions().label("synth " + split));
      state->split = split;
      state->done = 0;
    }
    state->bar->update(done - state->done);
    state->done = done;
    if (done == total) state->bar->finish();
  };
}

}  // namespace

int run_data_synth(const std::vector<std::string>& args) {
  po::options_description options("detkit data synth");
  add_common_options(options);
  options.add_options()("out", po::value<std::string>(),
                        "output folder (annotations/, train/, val/); required")(
      "num-train", po::value<int64_t>()->default_value(100), "number of training images")(
      "num-val", po::value<int64_t>()->default_value(20), "number of validation images")(
      "classes", po::value<int>()->default_value(3),
      ("number of classes, 1.." + std::to_string(max_synthetic_classes()) + " (one shape each)")
          .c_str())("seed", po::value<uint64_t>()->default_value(0),
                    "random seed (same seed, same files)")(
      "image-size", po::value<std::vector<int>>()->multitoken(),
      "image width and height (320 240)")("threads", po::value<int>()->default_value(0),
                                          "worker threads (0 = all cores)")(
      "overwrite", "write into --out even when it holds files (same-named ones are replaced)");
  po::variables_map vm;
  if (!parse(args, options, {}, vm, kUsage)) return 0;
  if (!vm.count("out")) throw UsageError("--out DIR is required");

  SyntheticDatasetOptions synth;
  synth.out_dir = vm["out"].as<std::string>();
  synth.num_train = vm["num-train"].as<int64_t>();
  synth.num_val = vm["num-val"].as<int64_t>();
  synth.num_classes = vm["classes"].as<int>();
  synth.seed = vm["seed"].as<uint64_t>();
  synth.threads = vm["threads"].as<int>();
  synth.overwrite = vm.count("overwrite") > 0;
  if (vm.count("image-size")) {
    const auto size = vm["image-size"].as<std::vector<int>>();
    if (size.size() != 2)
      throw UsageError("--image-size takes a width and a height, got " +
                       std::to_string(size.size()) + " value(s)");
    synth.image_width = size[0];
    synth.image_height = size[1];
  }
  synth.progress = split_progress();
  const SyntheticDatasetSummary summary = generate_synthetic_dataset(synth);
  std::cout << "wrote " << summary.train_images << " training images (" << summary.train_objects
            << " objects) to " << summary.train_dir << " and " << summary.train_json << "\n"
            << "wrote " << summary.val_images << " validation images (" << summary.val_objects
            << " objects) to " << summary.val_dir << " and " << summary.val_json << "\nclasses:";
  for (size_t k = 0; k < summary.class_names.size(); ++k) {
    std::cout << (k == 0 ? " " : ", ") << summary.class_names[k] << " (id "
              << summary.category_ids[k] << ")";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace detkit::cli
