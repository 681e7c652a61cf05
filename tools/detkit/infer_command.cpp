// `detkit infer CONFIG CHECKPOINT IMAGE_OR_DIR... [--out-dir D] [--score-thr T] [--threads N]
// [--device cpu|cuda] [--force]`: runs the config's test pipeline and the model on each image
// and writes, per image, D/<stem>.json (the detections in original-image pixels, by decreasing
// score) and D/<stem>.jpg (the image with the detections drawn). A progress bar on stderr.
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/config_check.h"
#include "detkit/core/file_io.h"
#include "detkit/core/inference.h"
#include "detkit/core/progress.h"
#include "detkit/core/runtime.h"
#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "detkit infer CONFIG CHECKPOINT IMAGE_OR_DIR... [--out-dir D] [--score-thr T] "
    "[--threads N] [--device cpu|cuda] [--force]";

/// Whether `path` names a file OpenCV decodes, by its extension.
bool has_image_extension(const fs::path& path) {
  static const std::set<std::string> extensions = {".jpg",  ".jpeg", ".png", ".bmp", ".tif",
                                                   ".tiff", ".webp", ".ppm", ".pgm", ".jp2"};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extensions.count(ext) != 0;
}

/// The images named on the command line: files as given, folders' image files (not
/// recursive) in name order; a folder's other files are skipped with a warning each. A name
/// that does not exist is an error before any work starts.
std::vector<fs::path> collect_images(const std::vector<std::string>& inputs) {
  std::vector<fs::path> images;
  for (const std::string& input : inputs) {
    std::error_code error;
    const fs::file_status status = fs::status(input, error);
    if (error || !fs::exists(status)) throw UsageError(input + ": no such file or folder");
    if (fs::is_directory(status)) {
      std::vector<fs::path> found;
      std::vector<fs::path> others;
      for (const auto& entry : fs::directory_iterator(input, error)) {
        if (!entry.is_regular_file(error)) continue;
        (has_image_extension(entry.path()) ? found : others).push_back(entry.path());
      }
      std::sort(others.begin(), others.end());
      for (const fs::path& other : others)
        std::cerr << "warning: skipped " << other.string()
                  << ": not an image file (by its extension)\n";
      if (error) throw Error(input + ": cannot list the folder (" + error.message() + ")");
      std::sort(found.begin(), found.end());
      if (found.empty()) std::cerr << "warning: " << input << ": no image files in the folder\n";
      images.insert(images.end(), found.begin(), found.end());
    } else {
      // A FIFO, socket or symlink loop: one line now, not a blocked read in the pipeline.
      if (const std::string problem = input_file_problem(input); !problem.empty())
        throw UsageError(input + ": " + problem);
      images.emplace_back(input);
    }
  }
  return images;
}

/// The outputs of `images` under `out_dir`. Refuses, before any work: two inputs with the same
/// stem (their outputs would collide), an output that is one of the images or other `inputs`,
/// and (without --force) outputs that exist already.
std::vector<std::pair<fs::path, fs::path>> plan_outputs(const std::vector<fs::path>& images,
                                                        const fs::path& out_dir, bool force,
                                                        std::vector<std::string> inputs) {
  std::map<std::string, fs::path> by_stem;
  for (const fs::path& image : images) {
    const std::string stem = image.stem().string();
    auto [it, fresh] = by_stem.emplace(stem, image);
    if (!fresh)
      throw UsageError(
          fmt::format("{} and {} have the same stem '{}': their outputs would "
                      "overwrite each other; infer them into separate --out-dir",
                      it->second.string(), image.string(), stem));
    inputs.push_back(image.string());
  }
  std::vector<std::pair<fs::path, fs::path>> outputs;
  std::vector<std::string> existing;
  for (const fs::path& image : images) {
    const fs::path json = out_dir / (image.stem().string() + ".json");
    const fs::path drawing = out_dir / (image.stem().string() + ".jpg");
    for (const fs::path& out : {json, drawing}) {
      refuse_output_over_inputs("--out-dir", out.string(), inputs);
      std::error_code error;
      if (fs::exists(fs::symlink_status(out, error))) existing.push_back(out.string());
    }
    outputs.emplace_back(json, drawing);
  }
  if (!existing.empty() && !force)
    throw UsageError(
        fmt::format("{} output file(s) exist already (first: {}); pass --force to "
                    "overwrite them",
                    existing.size(), existing.front()));
  return outputs;
}

}  // namespace

int run_infer(const std::vector<std::string>& args) {
  po::options_description options("detkit infer");
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the model's config")(
      "checkpoint", po::value<std::string>()->required(), "the weights (.pth)")(
      "inputs", po::value<std::vector<std::string>>()->required()->multitoken(),
      "image files or folders of images")(
      "out-dir", po::value<std::string>()->default_value("infer_out"),
      "where <stem>.json and <stem>.jpg go")("score-thr", po::value<double>()->default_value(0.3),
                                             "leave out detections scoring below this")(
      "threads", po::value<int>()->default_value(0), "intra-op threads (0 = one per core)")(
      "device", po::value<std::string>()->default_value("cpu"), "cpu, cuda or cuda:N")(
      "force", "overwrite existing output files")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override config values: key=value ...");
  po::positional_options_description positional;
  positional.add("config", 1).add("checkpoint", 1).add("inputs", -1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, kUsage)) return 0;
  const double score_thr = vm["score-thr"].as<double>();
  if (!(score_thr >= 0.0 && score_thr <= 1.0))
    throw UsageError(fmt::format("--score-thr must be in [0, 1], got {}", score_thr));
  const int threads = vm["threads"].as<int>();
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (threads > 0) set_intra_op_threads(threads, "--threads");
  const std::string device_name = vm["device"].as<std::string>();
  if (device_name != "cpu" && device_name.rfind("cuda", 0) != 0)
    throw UsageError("--device must be cpu, cuda or cuda:N, got '" + device_name + "'");
  const torch::Device device = inference_device(device_name);

  const std::vector<fs::path> images = collect_images(vm["inputs"].as<std::vector<std::string>>());
  const fs::path out_dir = vm["out-dir"].as<std::string>();
  const auto outputs =
      plan_outputs(images, out_dir, vm.count("force") > 0,
                   {vm["config"].as<std::string>(), vm["checkpoint"].as<std::string>()});

  const ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, /*strict=*/true);
  require_valid_config(config);  // every key, before any file is read or written
  const Inferencer inferencer(config, vm["checkpoint"].as<std::string>(), device);
  if (!inferencer.load_report().unexpected_keys.empty())
    std::cerr << "warning: the checkpoint has " << inferencer.load_report().unexpected_keys.size()
              << " tensor(s) the model does not use: "
              << join_first(inferencer.load_report().unexpected_keys, 5) << "\n";
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) throw Error(out_dir.string() + ": cannot create the folder (" + error.message() + ")");

  size_t done = 0, skipped = 0;
  ProgressBar bar(static_cast<int64_t>(images.size()), ProgressOptions().label("infer"));
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string path = images[i].string();
    const auto start = std::chrono::steady_clock::now();
    std::vector<Detection> detections;
    try {
      detections = inferencer.run(path, score_thr);
    } catch (const DataError& e) {
      bar.write("warning: skipped " + path + ": " + e.what(), std::cerr);
      ++skipped;
      bar.update();
      continue;
    }
    const double seconds = seconds_since(start);
    cv::Mat drawing = cv::imread(path, cv::IMREAD_COLOR);
    if (drawing.empty()) {
      bar.write("warning: " + path +
                    ": decoded by the pipeline but not by OpenCV for the drawing; wrote the JSON "
                    "only",
                std::cerr);
    }
    write_file_atomically(outputs[i].first.string(), format_detections_json(detections));
    if (!drawing.empty()) {
      draw_detections(drawing, detections);
      write_image_atomically(outputs[i].second.string(), drawing);
    }
    ++done;
    bar.write(fmt::format("[{}/{}] {} ({}x{}): {} detection(s), {:.3f} s", i + 1, images.size(),
                          path, drawing.cols, drawing.rows, detections.size(), seconds),
              std::cout);
    bar.update();
  }
  bar.finish();
  std::cout << fmt::format("wrote {} image(s) to {}{}\n", done, out_dir.string(),
                           skipped ? fmt::format(" ({} skipped)", skipped) : "");
  return done == 0 && !images.empty() ? 1 : 0;
}

}  // namespace detkit::cli
