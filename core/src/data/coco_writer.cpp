// A small writer for COCO annotation files (used by the synthetic dataset generator and the
// Cityscapes converter).
#include "detkit/core/coco_writer.h"

#include <random>

#include <fmt/format.h>

#include <cmath>
#include <iterator>

namespace detkit {

namespace {

using Buffer = fmt::memory_buffer;

void put(Buffer& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

/// A finite number in shortest round-trip form; integral values print without a fraction.
void put_number(Buffer& out, double value, const char* what) {
  if (!std::isfinite(value)) throw Error(fmt::format("COCO writer: {} is not finite", what));
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<int64_t>(value));
  } else {
    fmt::format_to(std::back_inserter(out), "{}", value);
  }
}

void put_image(Buffer& out, const CocoImage& image,
               const std::vector<std::pair<std::string, std::string>>* extra) {
  fmt::format_to(std::back_inserter(out),
                 "{{\"id\": {}, \"file_name\": {}, \"width\": {}, \"height\": {}", image.id,
                 json_quote(image.file_name), image.width, image.height);
  if (extra != nullptr) {
    for (const auto& [key, value] : *extra)
      fmt::format_to(std::back_inserter(out), ", {}: {}", json_quote(key), json_quote(value));
  }
  put(out, "}");
}

void put_annotation(Buffer& out, const CocoAnnotation& ann,
                    const std::vector<CocoPolygon>* polygons) {
  fmt::format_to(std::back_inserter(out),
                 "{{\"id\": {}, \"image_id\": {}, \"category_id\": {}, \"bbox\": [", ann.id,
                 ann.image_id, ann.category_id);
  for (int k = 0; k < 4; ++k) {
    if (k > 0) put(out, ", ");
    put_number(out, ann.bbox[k], "a bbox value");
  }
  put(out, "], \"area\": ");
  put_number(out, ann.area, "an area");
  fmt::format_to(std::back_inserter(out), ", \"iscrowd\": {}", ann.iscrowd ? 1 : 0);
  if (ann.ignore) put(out, ", \"ignore\": 1");
  if (polygons != nullptr && !polygons->empty()) {
    put(out, ", \"segmentation\": [");
    for (size_t p = 0; p < polygons->size(); ++p) {
      put(out, p == 0 ? "[" : ", [");
      const CocoPolygon& polygon = (*polygons)[p];
      for (size_t i = 0; i < polygon.size(); ++i) {
        if (i > 0) put(out, ", ");
        put_number(out, polygon[i], "a polygon coordinate");
      }
      put(out, "]");
    }
    put(out, "]");
  }
  put(out, "}");
}

}  // namespace

std::string format_coco_annotations(const CocoDocument& document) {
  const CocoGroundTruth& gt = document.gt;
  Buffer out;
  put(out, "{");
  if (!document.description.empty())
    fmt::format_to(std::back_inserter(out), "\"info\": {{\"description\": {}}},\n",
                   json_quote(document.description));
  put(out, "\"images\": [");
  for (size_t i = 0; i < gt.images.size(); ++i) {
    put(out, i == 0 ? "\n" : ",\n");
    put_image(out, gt.images[i],
              i < document.image_fields.size() ? &document.image_fields[i] : nullptr);
  }
  put(out, "],\n\"categories\": [");
  for (size_t i = 0; i < gt.categories.size(); ++i) {
    put(out, i == 0 ? "\n" : ",\n");
    fmt::format_to(std::back_inserter(out), "{{\"id\": {}, \"name\": {}}}", gt.categories[i].id,
                   json_quote(gt.categories[i].name));
  }
  put(out, "],\n\"annotations\": [");
  for (size_t i = 0; i < gt.annotations.size(); ++i) {
    put(out, i == 0 ? "\n" : ",\n");
    put_annotation(out, gt.annotations[i],
                   i < document.segmentations.size() ? &document.segmentations[i] : nullptr);
  }
  put(out, "]}\n");
  return fmt::to_string(out);
}

void write_coco_annotations(const std::string& path, const CocoDocument& document) {
  write_file_atomically(path, format_coco_annotations(document));
}

void write_random_coco_annotations(const std::string& path, int64_t images, uint64_t seed) {
  CocoDocument doc;
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int64_t c = 1; c <= 80; ++c)
    doc.gt.categories.push_back({c, "class_" + std::to_string(c)});
  int64_t next_id = 1;
  for (int64_t i = 1; i <= images; ++i) {
    doc.gt.images.push_back({i, std::to_string(i) + ".jpg", 640, 480});
    const int count = static_cast<int>(random() % 15);
    for (int k = 0; k < count; ++k) {
      CocoAnnotation ann;
      ann.id = next_id++;
      ann.image_id = i;
      ann.category_id = 1 + static_cast<int64_t>(random() % 80);
      const double w = 5 + 150 * unit(random), h = 5 + 150 * unit(random);
      ann.bbox = {(640 - w) * unit(random), (480 - h) * unit(random), w, h};
      ann.area = w * h;
      ann.iscrowd = unit(random) < 0.01;
      doc.gt.annotations.push_back(ann);
    }
  }
  write_coco_annotations(path, doc);
}

}  // namespace detkit
