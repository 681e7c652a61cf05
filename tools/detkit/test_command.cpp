// `detkit test CONFIG CHECKPOINT [--eval [bbox|mAP ...]] [--out results.json] [--show-dir D]
// [--show-score-thr T] [--overwrite] [--cfg-options k=v ...] [--threads N] [--device cpu|cuda]`:
// MMDetection 2.25's tools/test.py. Builds the config's model, loads the checkpoint (every model
// tensor must fit), runs data.test (test_mode, its pipeline) in batches with a progress bar,
// then evaluates (the metrics training's evaluation computes), writes the detections as a COCO
// result file, and draws them on each image.
#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/checkpoint.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/config_check.h"
#include "detkit/core/dataset_evaluation.h"
#include "detkit/core/inference.h"
#include "detkit/core/metrics.h"
#include "detkit/core/progress.h"
#include "detkit/core/runtime.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "detkit test CONFIG CHECKPOINT [--eval [bbox|mAP ...]] [--out results.json] [--show-dir D] "
    "[--show-score-thr T] [--overwrite] [--cfg-options k=v ...] [--threads N] "
    "[--device cpu|cuda]";

/// `data.test_dataloader.<key>`, else `data.<key>` when `fall_back`, else `fallback`
/// (MMDetection's test.py: one image per batch unless test_dataloader says otherwise).
int64_t test_loader_setting(const ConfigNode& config, const char* key, bool fall_back,
                            int64_t fallback) {
  const ConfigNode* data = config.is_map() ? config.find("data") : nullptr;
  if (data == nullptr || !data->is_map()) return fallback;
  if (const ConfigNode* loader = data->find("test_dataloader"); loader && loader->is_map()) {
    if (const ConfigNode* v = loader->find(key); v && v->is_int()) return v->as_int();
  }
  if (const ConfigNode* v = data->find(key); fall_back && v && v->is_int()) return v->as_int();
  return fallback;
}

/// Where the drawing of `meta`'s image goes: its name as in the annotation file under `dir`
/// (MMDetection's out_dir/ori_filename), its file name alone when that would leave `dir`.
fs::path drawing_path(const fs::path& dir, const ImageMeta& meta) {
  fs::path name =
      meta.ori_filename.empty() ? fs::path(meta.filename).filename() : fs::path(meta.ori_filename);
  bool escapes = name.is_absolute();
  for (const auto& part : name)
    escapes = escapes || part == "..";
  return dir / (escapes ? name.filename() : name);
}

/// Refuses (UsageError) output that would replace a user's files: an existing --out, a
/// --show-dir that is a file or a folder with files in it (unless --overwrite).
void check_outputs(const po::variables_map& vm) {
  const bool overwrite = vm.count("overwrite") > 0;
  std::error_code error;
  if (vm.count("out")) {
    const fs::path out = vm["out"].as<std::string>();
    if (out.extension() != ".json")
      throw UsageError("--out must name a .json file (COCO results), got '" + out.string() + "'");
    const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    if (!fs::is_directory(parent, error))
      throw UsageError("--out: the folder '" + parent.string() + "' does not exist");
    if (fs::exists(fs::symlink_status(out, error)) && !overwrite)
      throw UsageError("--out: '" + out.string() + "' exists; pass --overwrite to replace it");
  }
  if (vm.count("show-dir")) {
    const fs::path dir = vm["show-dir"].as<std::string>();
    if (fs::exists(dir, error) && !fs::is_directory(dir, error))
      throw UsageError("--show-dir: '" + dir.string() + "' is a file, not a folder");
    if (fs::is_directory(dir, error) && !fs::is_empty(dir, error) && !overwrite)
      throw UsageError("--show-dir: '" + dir.string() +
                       "' has files in it; choose an empty or new folder, or pass --overwrite "
                       "to replace same-named files");
  }
}

/// The evaluation options: the config's `evaluation` (MMDetection's eval_kwargs) with `metric`
/// from --eval when it names any.
ConfigNode evaluation_options(const ConfigNode& config, const std::vector<std::string>& metrics) {
  ConfigNode options = ConfigNode::make_map();
  if (const ConfigNode* eval = config.find("evaluation"); eval && eval->is_map()) options = *eval;
  if (!metrics.empty()) {
    ConfigNode list = ConfigNode::make_list();
    for (const auto& metric : metrics)
      list.push_back(ConfigNode(metric));
    options.set("metric", list);
  }
  return options;
}

}  // namespace

int run_test(const std::vector<std::string>& args) {
  po::options_description options("detkit test");
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the model's config")(
      "checkpoint", po::value<std::string>()->required(), "the weights (.pth)")(
      "eval", po::value<std::vector<std::string>>()->multitoken()->zero_tokens(),
      "evaluate: bbox (COCO mAP) and/or mAP (VOC mAP); alone: the config's evaluation.metric, "
      "else the dataset's metric")("out", po::value<std::string>(),
                                   "write the detections as a COCO result file (.json)")(
      "show-dir", po::value<std::string>(), "draw the detections on each image into this folder")(
      "show-score-thr", po::value<double>()->default_value(0.3),
      "draw detections scoring at least this")(
      "overwrite", "replace an existing --out file and same-named files in --show-dir")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override config values: key=value ...")("threads", po::value<int>()->default_value(0),
                                               "intra-op threads (0 = one per core)")(
      "device", po::value<std::string>()->default_value("cpu"), "cpu, cuda or cuda:N");
  po::positional_options_description positional;
  positional.add("config", 1).add("checkpoint", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, kUsage)) return 0;
  if (!vm.count("eval") && !vm.count("out") && !vm.count("show-dir"))
    throw UsageError("nothing to do: pass --eval, --out and/or --show-dir");
  std::vector<std::string> metrics;
  if (vm.count("eval")) metrics = vm["eval"].as<std::vector<std::string>>();
  for (const auto& metric : metrics) {
    if (metric != "bbox" && metric != "mAP")
      throw UsageError("--eval: unknown metric '" + metric + "' (bbox or mAP)");
  }
  const double show_thr = vm["show-score-thr"].as<double>();
  if (!(show_thr >= 0.0 && show_thr <= 1.0))
    throw UsageError(fmt::format("--show-score-thr must be in [0, 1], got {}", show_thr));
  const int threads = vm["threads"].as<int>();
  if (threads < 0) throw UsageError("--threads must be >= 0");
  const std::string device_name = vm["device"].as<std::string>();
  if (device_name != "cpu" && device_name.rfind("cuda", 0) != 0)
    throw UsageError("--device must be cpu, cuda or cuda:N, got '" + device_name + "'");
  check_outputs(vm);
  if (vm.count("out")) {
    refuse_output_over_inputs("--out", vm["out"].as<std::string>(),
                              {vm["config"].as<std::string>(), vm["checkpoint"].as<std::string>()});
  }
  if (threads > 0) set_intra_op_threads(threads, "--threads");
  const torch::Device device = inference_device(device_name);

  const ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, /*strict=*/true);
  require_valid_config(config);  // every key, before any file is read or written
  const ConfigNode* data = config.find("data");
  const ConfigNode* test_cfg = data && data->is_map() ? data->find("test") : nullptr;
  if (test_cfg == nullptr || test_cfg->is_null())
    throw ConfigError("the config has no data.test (the dataset `detkit test` runs on)");
  ConfigNode test_mode = ConfigNode::make_map();
  test_mode.set("test_mode", ConfigNode(true));
  std::shared_ptr<const DatasetBase> dataset =
      build<DatasetBase>(*test_cfg, "data.test", {}, &test_mode);

  // The model: classes from the checkpoint (MMDetection's model.CLASSES), else the dataset's.
  const std::string checkpoint_path = vm["checkpoint"].as<std::string>();
  const Checkpoint checkpoint = load_checkpoint(checkpoint_path);
  std::vector<std::string> classes = class_names_from(config, &checkpoint.meta);
  if (classes.empty()) classes = dataset->classes();
  if (classes != dataset->classes())
    std::cerr << "warning: the checkpoint's classes (" << join_first(classes, 5)
              << ") are not data.test's (" << join_first(dataset->classes(), 5) << ")\n";
  std::shared_ptr<DetectorBase> model = build_detector(config, classes);
  const LoadReport report = load_detector_weights(*model, checkpoint, checkpoint_path);
  if (!report.unexpected_keys.empty())
    std::cerr << "warning: the checkpoint has " << report.unexpected_keys.size()
              << " tensor(s) the model does not use: " << join_first(report.unexpected_keys, 5)
              << "\n";
  model->to(device);
  model->eval();

  DataLoader loader(dataset, DataLoaderOptions()
                                 .samples_per_gpu(test_loader_setting(config, "samples_per_gpu",
                                                                      /*fall_back=*/false, 1))
                                 .workers_per_gpu(test_loader_setting(config, "workers_per_gpu",
                                                                      /*fall_back=*/true, 2))
                                 .shuffle(false));
  const fs::path show_dir = vm.count("show-dir") ? vm["show-dir"].as<std::string>() : "";
  size_t drawn = 0;
  ProgressBar bar(static_cast<int64_t>(dataset->size()), ProgressOptions().label("test"));
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Instances> predictions = predict_dataset(
      *model, loader, device, [&](const ImageBatch& batch, const std::vector<Instances>& found) {
        if (!show_dir.empty()) {
          for (size_t k = 0; k < found.size() && k < batch.samples.size(); ++k) {
            const ImageMeta& meta = batch.samples[k].meta;
            cv::Mat image = cv::imread(meta.filename, cv::IMREAD_COLOR);
            if (image.empty()) {
              bar.write("warning: cannot read " + meta.filename + " to draw on it", std::cerr);
              continue;
            }
            draw_detections(image, to_detections(found[k], classes, show_thr));
            const fs::path target = drawing_path(show_dir, meta);
            std::error_code error;
            if (fs::equivalent(target, meta.filename, error))
              throw Error("--show-dir: the drawing of " + meta.filename +
                          " would replace the image itself; choose another folder");
            fs::create_directories(target.parent_path(), error);
            write_image_atomically(target.string(), image);
            ++drawn;
          }
        }
        bar.update(static_cast<int64_t>(found.size()));
      });
  bar.finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format("tested {} image(s) in {:.1f} s ({:.1f} img/s)\n", predictions.size(),
                           seconds, seconds > 0 ? predictions.size() / seconds : 0.0);

  if (vm.count("out")) {
    const std::vector<CocoDetection> detections = predictions_to_coco(*dataset, predictions);
    write_coco_results(vm["out"].as<std::string>(), detections);
    std::cout << fmt::format("wrote {} detection(s) to {}\n", detections.size(),
                             vm["out"].as<std::string>());
  }
  if (!show_dir.empty())
    std::cout << fmt::format("drew {} image(s) into {}\n", drawn, show_dir.string());
  if (vm.count("eval")) {
    const NamedValues values = evaluate_predictions(
        *dataset, predictions, evaluation_options(config, metrics),
        [](const std::string& line) { std::cout << line << "\n"; }, "--eval");
    for (const auto& [name, value] : values)
      std::cout << fmt::format("{}: {:.4f}\n", name, value);
  }
  return 0;
}

}  // namespace detkit::cli
