// `detkit benchmark loader [--data DIR_OR_ANN] [--workers 1,2] ...`: images per second of the
// COCO training pipeline through the DataLoader, for each worker count. Without --data it
// writes a handful of synthetic 640x480 JPEGs to a temporary folder. The images are read
// through a small in-memory dataset (a folder of images, or the images and boxes of a COCO
// annotation file), so the figure does not depend on the COCO dataset class.
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/config.h"
#include "detkit/core/data_loader.h"
#include "detkit/core/runtime.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace {

namespace fs = std::filesystem;

/// MMDetection's coco_detection.py training pipeline (mmdet-semantics.md §7.3).
constexpr const char* kCocoTrainPipeline = R"([
  {type: LoadImageFromFile},
  {type: LoadAnnotations, with_bbox: true},
  {type: Resize, img_scale: [1333, 800], keep_ratio: true},
  {type: RandomFlip, flip_ratio: 0.5},
  {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_rgb: true},
  {type: Pad, size_divisor: 32},
  {type: DefaultFormatBundle},
  {type: Collect, keys: [img, gt_bboxes, gt_labels]}])";

/// Image files (and their boxes, when read from an annotation file) held in memory.
class ImageListDataset : public DatasetBase {
 public:
  ImageListDataset(std::vector<DataInfo> infos, std::vector<std::string> paths, Pipeline pipeline)
      : infos_(std::move(infos)), paths_(std::move(paths)), pipeline_(std::move(pipeline)) {}

  size_t size() const override { return infos_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  const DataInfo& data_info(size_t index) const override { return infos_.at(index); }
  bool test_mode() const override { return false; }

  std::vector<DetSample> prepare(size_t index) const override {
    DetSample sample;
    sample.meta.filename = paths_.at(index);
    sample.meta.ori_filename = infos_[index].filename;
    sample.meta.image_id = infos_[index].image_id;
    sample.meta.index = static_cast<int64_t>(index);
    sample.ann = infos_[index].gt;
    sample.ann_ignore = infos_[index].gt_ignore;
    return pipeline_(std::move(sample));
  }

  std::vector<std::string> classes_;

 private:
  std::vector<DataInfo> infos_;
  std::vector<std::string> paths_;
  Pipeline pipeline_;
};

/// The image files of a folder, sorted, with one box covering each image's centre.
std::shared_ptr<ImageListDataset> folder_dataset(const std::string& folder, Pipeline pipeline) {
  std::vector<DataInfo> infos;
  std::vector<std::string> paths;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (entry.is_regular_file() &&
        (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp"))
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw DataError("no images (.jpg, .jpeg, .png, .bmp) in '" + folder + "'");
  for (const auto& file : files) {
    DataInfo info;
    info.filename = file.filename().string();
    info.image_id = static_cast<int64_t>(infos.size());
    // A box in image coordinates; the pipeline scales it with the image.
    info.gt = Instances(Boxes(torch::tensor({{16.f, 16.f, 128.f, 96.f}})),
                        torch::tensor({0}, torch::kInt64));
    infos.push_back(std::move(info));
    paths.push_back(file.string());
  }
  auto dataset =
      std::make_shared<ImageListDataset>(std::move(infos), std::move(paths), std::move(pipeline));
  dataset->classes_ = {"object"};
  return dataset;
}

/// The images and boxes of a COCO annotation file; files resolved against `img_prefix`.
std::shared_ptr<ImageListDataset> coco_dataset(const std::string& ann_file,
                                               const std::string& img_prefix, Pipeline pipeline) {
  const CocoGroundTruth gt = read_coco_annotations(ann_file, CocoReadOptions{true});
  std::map<int64_t, int64_t> label_of;
  std::vector<std::string> classes;
  for (const auto& category : gt.categories) {
    label_of[category.id] = static_cast<int64_t>(classes.size());
    classes.push_back(category.name);
  }
  std::map<int64_t, std::vector<const CocoAnnotation*>> by_image;
  for (const auto& ann : gt.annotations)
    by_image[ann.image_id].push_back(&ann);
  std::vector<DataInfo> infos;
  std::vector<std::string> paths;
  for (const auto& image : gt.images) {
    DataInfo info;
    info.filename = image.file_name;
    info.image_id = image.id;
    info.width = image.width;
    info.height = image.height;
    std::vector<float> boxes, ignore;
    std::vector<int64_t> labels;
    for (const CocoAnnotation* ann : by_image[image.id]) {
      const auto& b = ann->bbox;
      auto& target = ann->iscrowd ? ignore : boxes;
      for (double v : {b[0], b[1], b[0] + b[2], b[1] + b[3]})
        target.push_back(static_cast<float>(v));
      if (!ann->iscrowd)
        labels.push_back(label_of.count(ann->category_id) ? label_of[ann->category_id] : 0);
    }
    auto as_boxes = [](const std::vector<float>& v) {
      return Boxes(torch::tensor(v, torch::kFloat32).view({-1, 4}));
    };
    info.gt = Instances(as_boxes(boxes), torch::tensor(labels, torch::kInt64));
    info.gt_ignore = as_boxes(ignore);
    infos.push_back(std::move(info));
    paths.push_back((fs::path(img_prefix) / image.file_name).string());
  }
  if (infos.empty()) throw DataError("'" + ann_file + "' lists no images");
  auto dataset =
      std::make_shared<ImageListDataset>(std::move(infos), std::move(paths), std::move(pipeline));
  dataset->classes_ = classes;
  return dataset;
}

/// Writes `count` synthetic JPEGs (gradients, shapes and noise) of the given size.
void write_synthetic_images(const std::string& folder, int count, int width, int height) {
  std::mt19937 rng(12345);
  for (int i = 0; i < count; ++i) {
    cv::Mat image(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y) {
      auto* row = image.ptr<cv::Vec3b>(y);
      for (int x = 0; x < width; ++x) {
        row[x] = cv::Vec3b(static_cast<uint8_t>((x + i * 17) % 256), static_cast<uint8_t>(y % 256),
                           static_cast<uint8_t>(((x ^ y) + i * 31) % 256));
      }
    }
    for (int s = 0; s < 12; ++s) {
      const cv::Point a(static_cast<int>(rng() % width), static_cast<int>(rng() % height));
      const cv::Point b(static_cast<int>(rng() % width), static_cast<int>(rng() % height));
      cv::rectangle(image, a, b, cv::Scalar(rng() % 256, rng() % 256, rng() % 256), cv::FILLED);
    }
    cv::Mat noise(height, width, CV_8UC3);
    cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(24));
    image += noise;
    const std::string path = fmt::format("{}/synthetic_{:03d}.jpg", folder, i);
    if (!cv::imwrite(path, image, {cv::IMWRITE_JPEG_QUALITY, 90}))
      throw Error("cannot write the synthetic image '" + path + "'");
  }
}

/// Removes a folder when it goes.
struct TempFolder {
  std::string path;
  ~TempFolder() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

std::vector<int64_t> parse_worker_list(const std::string& text) {
  std::vector<int64_t> workers;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    try {
      size_t used = 0;
      const long value = std::stol(item, &used);
      if (used != item.size() || value < 0) throw std::invalid_argument(item);
      workers.push_back(value);
    } catch (const std::exception&) {
      throw Error("--workers expects a comma-separated list of counts like 1,2, got '" + text +
                  "'");
    }
  }
  if (workers.empty()) throw Error("--workers is empty");
  return workers;
}

}  // namespace

int run_loader_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark loader");
  add_common_options(options);
  options.add_options()("data", po::value<std::string>(),
                        "a folder of images, or a COCO annotation file (default: synthetic JPEGs)")(
      "img-prefix", po::value<std::string>(),
      "with an annotation file: the image folder (default: the file's folder)")(
      "workers", po::value<std::string>()->default_value("1,2"), "worker counts to time")(
      "samples-per-gpu", po::value<int64_t>()->default_value(2), "images per batch")(
      "images", po::value<int64_t>()->default_value(64), "images to load per timed run")(
      "synthetic", po::value<int>()->default_value(8),
      "synthetic images to write (without --data)")(
      "synthetic-size", po::value<std::string>()->default_value("640x480"),
      "size WxH of the synthetic images")("seed", po::value<uint64_t>()->default_value(0),
                                          "loader seed");
  po::variables_map vm;
  if (!parse(args, options, {}, vm, "detkit benchmark loader [--data DIR_OR_ANN] [--workers 1,2]"))
    return 0;
  const auto worker_counts = parse_worker_list(vm["workers"].as<std::string>());
  const int64_t samples_per_gpu = vm["samples-per-gpu"].as<int64_t>();
  const int64_t images = vm["images"].as<int64_t>();
  if (samples_per_gpu < 1 || images < 1) throw Error("--samples-per-gpu and --images must be >= 1");

  Pipeline pipeline =
      Pipeline::from_config(parse_yaml_text(kCocoTrainPipeline, "coco pipeline"), "pipeline");
  TempFolder synthetic;
  std::shared_ptr<ImageListDataset> dataset;
  std::string source;
  if (vm.count("data")) {
    const std::string data = vm["data"].as<std::string>();
    if (fs::is_directory(data)) {
      dataset = folder_dataset(data, pipeline);
      source = fmt::format("{} images from {}", dataset->size(), data);
    } else if (fs::is_regular_file(data)) {
      const std::string prefix = vm.count("img-prefix") ? vm["img-prefix"].as<std::string>()
                                                        : fs::path(data).parent_path().string();
      dataset = coco_dataset(data, prefix, pipeline);
      source = fmt::format("{} images of {} (images in {})", dataset->size(), data, prefix);
    } else {
      throw Error("--data '" + data + "' is neither a folder of images nor an annotation file");
    }
  } else {
    int width = 0, height = 0;
    const std::string size = vm["synthetic-size"].as<std::string>();
    if (std::sscanf(size.c_str(), "%dx%d", &width, &height) != 2 || width < 16 || height < 16)
      throw Error("--synthetic-size expects WxH (at least 16x16), got '" + size + "'");
    const int count = std::max(1, vm["synthetic"].as<int>());
    synthetic.path =
        (fs::temp_directory_path() / ("detkit-loader-bench-" + std::to_string(::getpid())))
            .string();
    fs::create_directories(synthetic.path);
    write_synthetic_images(synthetic.path, count, width, height);
    dataset = folder_dataset(synthetic.path, pipeline);
    source = fmt::format("{} synthetic {}x{} JPEGs", count, width, height);
  }

  std::cout
      << "DataLoader benchmark: MMDetection's COCO training pipeline\n"
      << "  LoadImageFromFile, LoadAnnotations, Resize(1333x800, keep_ratio), RandomFlip(0.5),\n"
      << "  Normalize, Pad(32), DefaultFormatBundle, Collect + collation\n"
      << fmt::format(
             "data: {}; samples_per_gpu {}; {} images per run (after one warm-up "
             "batch); {} cores, {} intra-op threads in the consumer\n",
             source, samples_per_gpu, images, hardware_threads(), at::get_num_threads());
  std::cout << fmt::format("{:>8}{:>12}{:>12}\n", "workers", "images/s", "ms/batch");
  for (int64_t workers : worker_counts) {
    DataLoader loader(dataset, DataLoaderOptions()
                                   .samples_per_gpu(samples_per_gpu)
                                   .workers_per_gpu(workers)
                                   .seed(vm["seed"].as<uint64_t>()));
    auto take = [&]() {
      std::optional<ImageBatch> batch = loader.next();
      if (!batch) batch = loader.next();  // next epoch
      if (!batch) throw Error("the loader produced no batch");
      return batch->size();
    };
    take();  // warm-up: threads started, first images decoded
    int64_t loaded = 0, batches = 0;
    const auto start = std::chrono::steady_clock::now();
    while (loaded < images) {
      loaded += take();
      ++batches;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << fmt::format("{:>8}{:>12.1f}{:>12.1f}\n", workers,
                             static_cast<double>(loaded) / seconds,
                             1000.0 * seconds / static_cast<double>(batches));
    std::cout.flush();
  }
  return 0;
}

}  // namespace detkit::cli
