// The synthetic shapes dataset: every image is drawn from its own seeded random stream (so the
// output is the same whatever the number of threads), objects are painted through their masks
// (so the boxes are exactly tight), and the COCO files are written with coco_writer.
#include "detkit/core/synthetic_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "detkit/core/coco_writer.h"
#include "detkit/core/file_io.h"
#include "detkit/core/runtime.h"
#include "detkit/error.h"

namespace detkit {

namespace {

namespace fs = std::filesystem;

/// One shape kind per class, in class order (the first ones are the most distinct).
const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> names = {
      "rectangle",      "ellipse",    "triangle",         "cross",        "star",
      "ring",           "diamond",    "hexagon",          "frame",        "crescent",
      "arrow",          "semicircle", "triangle_outline", "star_outline", "diamond_outline",
      "hexagon_outline"};
  return names;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// xoshiro256**: a small, fast generator whose output is the same on every platform (unlike
/// std:: distributions).
class Random {
 public:
  explicit Random(uint64_t seed) {
    for (uint64_t& word : state_)
      word = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  /// Uniform integer in [low, high].
  int integer(int low, int high) {
    return low + static_cast<int>(next() % static_cast<uint64_t>(high - low + 1));
  }
  bool chance(double p) { return uniform() < p; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

/// The random stream of one image: depends on the seed, the split and the index only.
uint64_t image_seed(uint64_t seed, int split, int64_t index) {
  uint64_t state = seed;
  uint64_t mixed = splitmix64(state) ^ (static_cast<uint64_t>(split) << 48);
  mixed ^= static_cast<uint64_t>(index) * 0xd1b54a32d192ed03ULL;
  return splitmix64(mixed);
}

/// A colour from OpenCV HSV (hue 0..180) as BGR.
cv::Vec3b hsv_to_bgr(double hue, double saturation, double value) {
  cv::Mat3b pixel(1, 1,
                  cv::Vec3b(cv::saturate_cast<uchar>(hue), cv::saturate_cast<uchar>(saturation),
                            cv::saturate_cast<uchar>(value)));
  cv::cvtColor(pixel, pixel, cv::COLOR_HSV2BGR);
  return pixel(0, 0);
}

/// A dull background colour (low saturation, so that objects stand out).
cv::Vec3b background_colour(Random& random) {
  return hsv_to_bgr(random.uniform(0, 180), random.uniform(0, 90), random.uniform(40, 220));
}

/// One of four textures: gradient, smooth noise, stripes or blurred blobs.
cv::Mat3b draw_background(Random& random, int width, int height) {
  const cv::Vec3b a = background_colour(random), b = background_colour(random);
  cv::Mat3b image(height, width);
  const int kind = random.integer(0, 3);
  if (kind == 0 || kind == 2) {
    const double angle = random.uniform(0, 2 * M_PI), period = random.uniform(8, 40);
    const double dx = std::cos(angle), dy = std::sin(angle);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const double along = x * dx + y * dy;
        const double t = kind == 0 ? (along / std::hypot(width, height) + 1) / 2
                                   : 0.5 + 0.5 * std::sin(2 * M_PI * along / period);
        image(y, x) = a * (1 - t) + b * t;
      }
    }
  } else if (kind == 1) {
    cv::Mat3b coarse(std::max(2, height / 16), std::max(2, width / 16));
    for (auto& pixel : coarse)
      pixel = random.chance(0.5) ? a : b;
    cv::resize(coarse, image, image.size(), 0, 0, cv::INTER_CUBIC);
  } else {
    image.setTo(a);
    const int blobs = random.integer(8, 24);
    for (int i = 0; i < blobs; ++i) {
      const cv::Point centre(random.integer(0, width - 1), random.integer(0, height - 1));
      const int radius = random.integer(4, std::max(5, std::min(width, height) / 4));
      cv::circle(image, centre, radius, cv::Scalar(background_colour(random)), cv::FILLED);
    }
    cv::GaussianBlur(image, image, cv::Size(0, 0), random.uniform(2, 6));
  }
  return image;
}

/// `count` points on a circle of `radius` around `centre`, alternating with `inner` (a star)
/// when inner > 0.
std::vector<cv::Point> regular_polygon(cv::Point2d centre, double radius, double inner, int count,
                                       double rotation, double x_scale = 1.0) {
  std::vector<cv::Point> points;
  const int n = inner > 0 ? 2 * count : count;
  for (int i = 0; i < n; ++i) {
    const double r = (inner > 0 && i % 2 == 1) ? inner : radius;
    const double angle = rotation + 2 * M_PI * i / n;
    points.emplace_back(cvRound(centre.x + x_scale * r * std::cos(angle)),
                        cvRound(centre.y + r * std::sin(angle)));
  }
  return points;
}

/// Points given in a unit frame (x right, y down, size 1), rotated and scaled to `size`.
std::vector<cv::Point> place(const std::vector<cv::Point2d>& unit, cv::Point2d centre, double size,
                             double rotation) {
  std::vector<cv::Point> points;
  const double c = std::cos(rotation), s = std::sin(rotation);
  for (const auto& p : unit) {
    points.emplace_back(cvRound(centre.x + size * (c * p.x - s * p.y)),
                        cvRound(centre.y + size * (s * p.x + c * p.y)));
  }
  return points;
}

// clang-format off
/// A plus sign and an arrow in a unit frame.
const std::vector<cv::Point2d> kCross = {{-0.17, -0.5}, {0.17, -0.5}, {0.17, -0.17}, {0.5, -0.17},
    {0.5, 0.17}, {0.17, 0.17}, {0.17, 0.5}, {-0.17, 0.5}, {-0.17, 0.17}, {-0.5, 0.17},
    {-0.5, -0.17}, {-0.17, -0.17}};
const std::vector<cv::Point2d> kArrow = {{-0.5, -0.14}, {0.05, -0.14}, {0.05, -0.4}, {0.5, 0},
    {0.05, 0.4}, {0.05, 0.14}, {-0.5, 0.14}};
// clang-format on

/// Draws shape `kind` (255 on 0) into `mask`; `size` is its diameter in pixels.
void draw_shape(cv::Mat1b& mask, int kind, cv::Point2d centre, double size, Random& random) {
  const double r = size / 2, rotation = random.uniform(0, 2 * M_PI);
  const double tilt = random.uniform(-0.35, 0.35), aspect = random.uniform(0.6, 1.0);
  const int outline = std::max(2, cvRound(size / 9));
  auto fill = [&](const std::vector<cv::Point>& points) {
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{points}, 255, cv::LINE_8);
  };
  auto stroke = [&](const std::vector<cv::Point>& points) {
    cv::polylines(mask, std::vector<std::vector<cv::Point>>{points}, true, 255, outline,
                  cv::LINE_8);
  };
  // Triangle, star, diamond and hexagon: filled (kinds 2, 4, 6, 7) or outlined (12..15).
  auto polygon = [&](int filled_kind, double radius) {
    switch (filled_kind) {
      case 2:
        return regular_polygon(centre, radius, 0, 3, rotation);
      case 4:
        return regular_polygon(centre, radius, 0.42 * radius, 5, rotation);
      case 6:
        return regular_polygon(centre, radius, 0, 4, M_PI / 2 + tilt / 3, 0.65);
      default:
        return regular_polygon(centre, radius, 0, 6, rotation);
    }
  };
  const cv::Point c(cvRound(centre.x), cvRound(centre.y));
  switch (kind) {
    case 0: {
      const double h = 0.5 * aspect;
      fill(place({{-0.5, -h}, {0.5, -h}, {0.5, h}, {-0.5, h}}, centre, size, tilt));
      break;
    }
    case 1:
      cv::ellipse(mask, c, cv::Size(cvRound(r), cvRound(r * aspect)), tilt * 180 / M_PI, 0, 360,
                  255, cv::FILLED);
      break;
    case 2:
    case 4:
    case 6:
    case 7:
      fill(polygon(kind, r));
      break;
    case 3:
      fill(place(kCross, centre, size, tilt));
      break;
    case 5:
      cv::circle(mask, c, cvRound(r - outline / 2.0), 255, outline, cv::LINE_8);
      break;
    case 8:
      stroke(
          place({{-0.45, -0.45}, {0.45, -0.45}, {0.45, 0.45}, {-0.45, 0.45}}, centre, size, tilt));
      break;
    case 9:  // crescent: a disk minus an offset disk
      cv::circle(mask, c, cvRound(r), 255, cv::FILLED);
      cv::circle(mask,
                 cv::Point(cvRound(centre.x + 0.45 * r * std::cos(rotation)),
                           cvRound(centre.y + 0.45 * r * std::sin(rotation))),
                 cvRound(0.8 * r), 0, cv::FILLED);
      break;
    case 10:
      fill(place(kArrow, centre, size, rotation));
      break;
    case 11:
      cv::ellipse(mask, c, cv::Size(cvRound(r), cvRound(r)), rotation * 180 / M_PI, 0, 180, 255,
                  cv::FILLED);
      break;
    default: {
      static const int filled_kind[] = {2, 4, 6, 7};
      stroke(polygon(filled_kind[(kind - 12) % 4], r - outline / 2.0));
    }
  }
}

/// One generated image: its file name and objects (label, visible box).
struct GeneratedImage {
  std::string file_name;
  std::vector<std::pair<int, cv::Rect>> objects;
};

GeneratedImage generate_image(Random& random, const SyntheticDatasetOptions& options, int64_t index,
                              const std::string& folder) {
  const int width = options.image_width, height = options.image_height;
  cv::Mat3b image = draw_background(random, width, height);
  cv::Mat1b owner(height, width, uchar(0));  // 0 = background, i + 1 = object i
  std::vector<int> labels, full_area, visible_area;
  const int shorter = std::min(width, height);
  const double min_size = std::max(10.0, 0.08 * shorter), max_size = 0.55 * shorter;
  const int wanted = random.chance(0.05) ? 0 : random.integer(1, 6);
  for (int attempt = 0; attempt < 12 * wanted && int(labels.size()) < wanted; ++attempt) {
    const int label = random.integer(0, options.num_classes - 1);
    const double size = std::exp(random.uniform(std::log(min_size), std::log(max_size)));
    const cv::Point2d centre(random.uniform(size / 2, width - size / 2),
                             random.uniform(size / 2, height - size / 2));
    cv::Mat1b mask(height, width, uchar(0));
    draw_shape(mask, label, centre, size, random);
    const cv::Rect roi = cv::boundingRect(mask);
    const int area = cv::countNonZero(mask(roi));
    if (area < 30) continue;
    // Reject a shape that would hide too much of an earlier one.
    bool hides = false;
    for (size_t j = 0; j < labels.size() && !hides; ++j) {
      const int covered = cv::countNonZero((owner(roi) == int(j + 1)) & mask(roi));
      hides = visible_area[j] - covered < 0.65 * full_area[j];
    }
    if (hides) continue;
    const double hue = 180.0 * label / options.num_classes + random.uniform(-6, 6);
    const cv::Vec3b colour =
        hsv_to_bgr(std::fmod(hue + 180, 180), random.uniform(150, 255), random.uniform(150, 255));
    const double shade_angle = random.uniform(0, 2 * M_PI);
    const double sx = std::cos(shade_angle) / size, sy = std::sin(shade_angle) / size;
    for (int y = roi.y; y < roi.y + roi.height; ++y) {
      for (int x = roi.x; x < roi.x + roi.width; ++x) {
        if (!mask(y, x)) continue;
        if (owner(y, x)) --visible_area[owner(y, x) - 1];
        owner(y, x) = uchar(labels.size() + 1);
        const double shade =
            0.85 + 0.3 * std::clamp((x - centre.x) * sx + (y - centre.y) * sy + 0.5, 0.0, 1.0);
        image(y, x) = colour * shade;
      }
    }
    labels.push_back(label);
    full_area.push_back(area);
    visible_area.push_back(area);
  }
  // Sensor noise on everything.
  const double amplitude = random.uniform(2, 10);
  for (auto& pixel : image) {
    for (int k = 0; k < 3; ++k)
      pixel[k] = cv::saturate_cast<uchar>(pixel[k] + random.uniform(-amplitude, amplitude));
  }
  GeneratedImage out;
  const bool png = random.chance(0.2);
  out.file_name = fmt::format("{:06d}.{}", index + 1, png ? "png" : "jpg");
  for (size_t i = 0; i < labels.size(); ++i)
    out.objects.emplace_back(labels[i], cv::boundingRect(owner == int(i + 1)));
  const std::vector<int> params = png ? std::vector<int>{cv::IMWRITE_PNG_COMPRESSION, 3}
                                      : std::vector<int>{cv::IMWRITE_JPEG_QUALITY, 92};
  const std::string path = (fs::path(folder) / out.file_name).string();
  if (!cv::imwrite(path, image, params)) throw Error("cannot write " + path);
  return out;
}

/// Generates one split (images in parallel, in a fixed order in the JSON).
int64_t generate_split(const SyntheticDatasetOptions& options, int split, const std::string& name,
                       int64_t count, const std::string& folder, const std::string& json_path) {
  fs::create_directories(folder);
  std::vector<GeneratedImage> images(static_cast<size_t>(count));
  std::atomic<int64_t> next{0}, done{0};
  std::mutex mutex;
  std::exception_ptr failure;
  auto work = [&] {
    for (int64_t i = next++; i < count; i = next++) {
      try {
        Random random(image_seed(options.seed, split, i));
        images[size_t(i)] = generate_image(random, options, i, folder);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next = count;
        return;
      }
      const int64_t finished = ++done;
      if (options.progress) {
        std::lock_guard<std::mutex> lock(mutex);
        options.progress(name, finished, count);
      }
    }
  };
  // Capped at a multiple of the cores; threads the system refuses are done without (the calling
  // thread works too).
  const int threads = thread_count(options.threads, "data synth");
  ThreadGroup workers("data synth");
  workers.start(static_cast<int>(std::min<int64_t>(threads, count)) - 1, work);
  work();
  workers.join();
  if (failure) std::rethrow_exception(failure);

  CocoDocument document;
  document.description =
      fmt::format("detkit synthetic shapes, {} split, seed {}", name, options.seed);
  const std::vector<std::string> classes = synthetic_class_names(options.num_classes);
  for (int k = 0; k < options.num_classes; ++k)
    document.gt.categories.push_back({2 * k + 1, classes[k]});
  int64_t annotation_id = 0;
  for (int64_t i = 0; i < count; ++i) {
    document.gt.images.push_back(
        {i + 1, images[size_t(i)].file_name, options.image_width, options.image_height});
    for (const auto& [label, box] : images[size_t(i)].objects) {
      CocoAnnotation ann;
      ann.id = ++annotation_id;
      ann.image_id = i + 1;
      ann.category_id = 2 * label + 1;
      ann.bbox = {double(box.x), double(box.y), double(box.width), double(box.height)};
      ann.area = double(box.width) * box.height;
      document.gt.annotations.push_back(ann);
    }
  }
  write_coco_annotations(json_path, document);
  return annotation_id;
}

}  // namespace

int max_synthetic_classes() {
  return static_cast<int>(shape_names().size());
}

std::vector<std::string> synthetic_class_names(int num_classes) {
  if (num_classes < 1 || num_classes > max_synthetic_classes())
    throw Error(fmt::format("the number of classes must be in 1..{}, got {}",
                            max_synthetic_classes(), num_classes));
  return {shape_names().begin(), shape_names().begin() + num_classes};
}

SyntheticDatasetSummary generate_synthetic_dataset(const SyntheticDatasetOptions& options) {
  if (options.out_dir.empty()) throw Error("the output folder is not set");
  if (options.num_train < 0 || options.num_val < 0)
    throw Error("the numbers of images must be >= 0");
  if (options.image_width < 32 || options.image_height < 32 || options.image_width > 4096 ||
      options.image_height > 4096)
    throw Error(fmt::format("the image size must be between 32x32 and 4096x4096, got {}x{}",
                            options.image_width, options.image_height));
  SyntheticDatasetSummary summary;
  summary.class_names = synthetic_class_names(options.num_classes);
  for (int k = 0; k < options.num_classes; ++k)
    summary.category_ids.push_back(2 * k + 1);
  if (!options.overwrite && is_non_empty_folder(options.out_dir))
    throw Error(options.out_dir +
                ": the folder is not empty; writing the dataset there would replace same-named "
                "files (annotations/train.json, train/000001.jpg, ...); choose an empty or new "
                "folder, or pass --overwrite");
  const fs::path root(options.out_dir);
  std::error_code error;
  fs::create_directories(root / "annotations", error);
  if (error)
    throw Error("cannot create " + (root / "annotations").string() + ": " + error.message());
  summary.train_dir = (root / "train").string();
  summary.val_dir = (root / "val").string();
  summary.train_json = (root / "annotations" / "train.json").string();
  summary.val_json = (root / "annotations" / "val.json").string();
  summary.train_images = options.num_train;
  summary.val_images = options.num_val;
  summary.train_objects =
      generate_split(options, 0, "train", options.num_train, summary.train_dir, summary.train_json);
  summary.val_objects =
      generate_split(options, 1, "val", options.num_val, summary.val_dir, summary.val_json);
  return summary;
}

}  // namespace detkit
