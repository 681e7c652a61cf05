// Cityscapes gtFine *_polygons.json files -> one COCO annotation file.
#include "detkit/core/cityscapes_converter.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "../evaluation/json_diagnostics.h"
#include "detkit/core/coco_writer.h"
#include "detkit/core/file_io.h"
#include "detkit/error.h"

namespace detkit {

namespace {

namespace fs = std::filesystem;
namespace dom = simdjson::dom;

constexpr std::string_view kPolygonSuffix = "_gtFine_polygons.json";

/// The 8 instance classes and their Cityscapes label ids (hasInstances and not ignoreInEval).
struct InstanceClass {
  const char* name;
  int64_t id;
};
constexpr InstanceClass kClasses[] = {{"person", 24},     {"rider", 25},  {"car", 26},
                                      {"truck", 27},      {"bus", 28},    {"train", 31},
                                      {"motorcycle", 32}, {"bicycle", 33}};

/// The *_gtFine_polygons.json files under `dir`, sorted.
std::vector<fs::path> collect_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > kPolygonSuffix.size() &&
        name.compare(name.size() - kPolygonSuffix.size(), kPolygonSuffix.size(), kPolygonSuffix) ==
            0)
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// The largest image side or polygon coordinate accepted (boxes and masks are int32 pixels).
constexpr double kMaxCityscapesCoordinate = 2147483647.0;

/// imgWidth / imgHeight: a whole number of pixels from 1 to kMaxCityscapesCoordinate.
int64_t read_side(dom::element root, const std::string& where, const char* key) {
  dom::element field;
  if (root[key].get(field) != simdjson::SUCCESS)
    throw DataError(fmt::format("{}: missing '{}'", where, key));
  double number = 0;
  if (field.is_int64()) {
    number = static_cast<double>(field.get_int64().value_unsafe());
  } else if (field.get_double().get(number) != simdjson::SUCCESS) {
    number = -1;  // not a number (uint64 beyond int64 is out of range anyway)
  }
  if (!(number >= 1 && number <= kMaxCityscapesCoordinate) || number != std::floor(number)) {
    throw DataError(fmt::format("{}: '{}' must be a whole number of pixels from 1 to {}, got {}",
                                where, key, int64_t(kMaxCityscapesCoordinate), simdjson::minify(field)));
  }
  return static_cast<int64_t>(number);
}

/// The polygon's points, or a DataError naming the object.
std::vector<cv::Point2d> read_polygon(dom::element object, const std::string& where) {
  dom::array points;
  if (object["polygon"].get_array().get(points) != simdjson::SUCCESS)
    throw DataError(where + ": 'polygon' must be a list of [x, y] points");
  std::vector<cv::Point2d> polygon;
  for (dom::element point : points) {
    dom::array xy;
    double coords[2];
    size_t n = 0;
    if (point.get_array().get(xy) == simdjson::SUCCESS && xy.size() == 2) {
      for (dom::element v : xy) {
        if (v.get_double().get(coords[n]) != simdjson::SUCCESS || !std::isfinite(coords[n])) break;
        ++n;
      }
    }
    if (n != 2)
      throw DataError(
          fmt::format("{}: polygon point {} must be [x, y] numbers", where, polygon.size()));
    for (int k = 0; k < 2; ++k) {
      if (!(std::fabs(coords[k]) <= kMaxCityscapesCoordinate)) {
        throw DataError(
            fmt::format("{}: polygon point {}: {} = {} is beyond the int32 range "
                        "(-{} to {})",
                        where, polygon.size(), k == 0 ? "x" : "y", coords[k], int64_t(kMaxCityscapesCoordinate),
                        int64_t(kMaxCityscapesCoordinate)));
      }
    }
    polygon.emplace_back(coords[0], coords[1]);
  }
  if (polygon.size() < 3)
    throw DataError(
        fmt::format("{}: a polygon needs at least 3 points, got {}", where, polygon.size()));
  return polygon;
}

/// Adds the image and the instance objects of one polygons file to `document`.
void convert_file(const fs::path& path, dom::parser& parser, CocoDocument& document,
                  CityscapesConvertSummary& summary) {
  const std::string origin = path.string();
  require_input_file<DataError>(origin);
  simdjson::padded_string text;
  if (simdjson::padded_string::load(origin).get(text) != simdjson::SUCCESS)
    throw DataError(origin + ": cannot read the file");
  dom::element root;
  if (parser.parse(text).get(root) != simdjson::SUCCESS) {
    throw DataError(
        origin + ": invalid JSON: " +
        json_diagnostics::describe_syntax_error(std::string_view(text), "syntax error"));
  }
  const int64_t height = read_side(root, origin, "imgHeight");
  const int64_t width = read_side(root, origin, "imgWidth");
  dom::array objects;
  if (root["objects"].get_array().get(objects) != simdjson::SUCCESS)
    throw DataError(origin + ": missing the list 'objects'");

  const std::string file_name = path.filename().string();
  const std::string stem = file_name.substr(0, file_name.size() - kPolygonSuffix.size());
  const std::string city = path.parent_path().filename().string();
  CocoImage image;
  image.id = static_cast<int64_t>(document.gt.images.size());
  image.file_name = city + "/" + stem + "_leftImg8bit.png";
  image.width = width;
  image.height = height;
  document.gt.images.push_back(image);
  document.image_fields.push_back({{"segm_file", city + "/" + stem + "_gtFine_labelIds.png"}});

  size_t index = 0;
  for (dom::element object : objects) {
    const std::string where = fmt::format("{}: objects[{}]", origin, index++);
    std::string_view label;
    if (object["label"].get_string().get(label) != simdjson::SUCCESS)
      throw DataError(where + ": missing the string 'label'");
    bool deleted = false;
    if (object["deleted"].get_bool().get(deleted) == simdjson::SUCCESS && deleted) continue;
    int64_t deleted_flag = 0;
    if (object["deleted"].get_int64().get(deleted_flag) == simdjson::SUCCESS && deleted_flag)
      continue;
    // 'cargroup' etc.: a crowd of the base class.
    const bool crowd = label.size() > 5 && label.substr(label.size() - 5) == "group";
    const std::string_view base = crowd ? label.substr(0, label.size() - 5) : label;
    const InstanceClass* found = nullptr;
    for (const auto& c : kClasses)
      found = base == c.name ? &c : found;
    if (found == nullptr) continue;  // road, sky, caravan, license plate, ...
    const std::string what = fmt::format("{} ('{}')", where, label);
    const std::vector<cv::Point2d> polygon = read_polygon(object, what);
    double x0 = polygon[0].x, y0 = polygon[0].y, x1 = x0, y1 = y0;
    for (const auto& p : polygon) {
      x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x),
      y1 = std::max(y1, p.y);
    }
    // Pixel extents of the filled polygon, clipped to the image.
    const int left = int(std::max<int64_t>(0, std::llround(x0)));
    const int top = int(std::max<int64_t>(0, std::llround(y0)));
    const int right = int(std::min<int64_t>(width - 1, std::llround(x1)));
    const int bottom = int(std::min<int64_t>(height - 1, std::llround(y1)));
    if (right < left || bottom < top) {
      ++summary.skipped;
      continue;
    }
    cv::Mat1b mask(bottom - top + 1, right - left + 1, uchar(0));
    std::vector<cv::Point> shifted;
    CocoPolygon flat;
    for (const auto& p : polygon) {
      const int64_t sx = std::llround(p.x) - left, sy = std::llround(p.y) - top;
      if (std::max(std::llabs(sx), std::llabs(sy)) > int64_t(kMaxCityscapesCoordinate)) {
        throw DataError(fmt::format("{}: polygon point ({}, {}) lies too far from the {}x{} image",
                                    what, p.x, p.y, width, height));
      }
      shifted.emplace_back(int(sx), int(sy));
      flat.push_back(p.x);
      flat.push_back(p.y);
    }
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{shifted}, 255, cv::LINE_8);
    const cv::Rect box = cv::boundingRect(mask);
    if (box.area() == 0) {
      ++summary.skipped;
      continue;
    }
    CocoAnnotation ann;
    ann.id = static_cast<int64_t>(document.gt.annotations.size());
    ann.image_id = image.id;
    ann.category_id = found->id;
    ann.bbox = {double(left + box.x), double(top + box.y), double(box.width), double(box.height)};
    ann.area = cv::countNonZero(mask);
    ann.iscrowd = crowd;
    document.gt.annotations.push_back(ann);
    document.segmentations.push_back({std::move(flat)});
    summary.crowd += crowd ? 1 : 0;
  }
}

}  // namespace

CityscapesConvertSummary convert_cityscapes(const CityscapesConvertOptions& options) {
  fs::path dir(options.gtfine_dir);
  if (!options.split.empty()) dir /= options.split;
  std::error_code error;
  if (!fs::is_directory(dir, error))
    throw DataError(dir.string() + ": no such folder (expected a Cityscapes gtFine folder)");
  if (const std::string problem = output_overwrites_input(options.out_json, {dir.string()});
      !problem.empty())
    throw Error(options.out_json + ": " + problem);
  if (options.split.empty()) {
    std::vector<std::string> splits;
    for (const char* name : {"train", "val", "test"}) {
      if (fs::is_directory(dir / name, error)) splits.push_back(name);
    }
    if (!splits.empty()) {
      throw DataError(
          fmt::format("{}: holds the splits {}; choose one with --split (or pass "
                      "{}/{})",
                      dir.string(), fmt::join(splits, ", "), dir.string(), splits[0]));
    }
  }
  const std::vector<fs::path> files = collect_files(dir);
  if (files.empty())
    throw DataError(fmt::format("{}: no *{} files (expected <city>/*{})", dir.string(),
                                kPolygonSuffix, kPolygonSuffix));
  CocoDocument document;
  document.description = "Cityscapes instances converted by detkit from " + dir.string();
  for (const auto& c : kClasses)
    document.gt.categories.push_back({c.id, c.name});
  CityscapesConvertSummary summary;
  dom::parser parser;
  for (size_t i = 0; i < files.size(); ++i) {
    convert_file(files[i], parser, document, summary);
    if (options.progress) options.progress(i + 1, files.size());
  }
  summary.images = document.gt.images.size();
  summary.annotations = document.gt.annotations.size();
  write_coco_annotations(options.out_json, document);
  return summary;
}

}  // namespace detkit
