// Helpers of the evaluation tests: small in-memory COCO datasets and expected-value files.
#pragma once

#include <simdjson.h>

#include <string>
#include <vector>

#include "detkit/core/coco_json.h"

namespace detkit::testing {

/// A ground truth with images 1..num_images (file names "N.jpg") and the given categories.
inline CocoGroundTruth make_ground_truth(int num_images, const std::vector<int64_t>& categories) {
  CocoGroundTruth gt;
  gt.source = "in-memory";
  for (int i = 1; i <= num_images; ++i)
    gt.images.push_back({i, std::to_string(i) + ".jpg", 640, 480});
  for (int64_t id : categories)
    gt.categories.push_back({id, "cat" + std::to_string(id)});
  return gt;
}

/// Appends an annotation (area = w * h unless given).
inline void add_annotation(CocoGroundTruth& gt, int64_t image, int64_t category,
                           std::array<double, 4> box, bool crowd = false, bool ignore = false,
                           double area = -1) {
  CocoAnnotation ann;
  ann.id = static_cast<int64_t>(gt.annotations.size()) + 1;
  ann.image_id = image;
  ann.category_id = category;
  ann.bbox = box;
  ann.area = area >= 0 ? area : box[2] * box[3];
  ann.iscrowd = crowd;
  ann.ignore = ignore;
  gt.annotations.push_back(ann);
}

/// A parsed JSON file kept alive with its parser.
struct JsonFile {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit JsonFile(const std::string& path) { root = parser.load(path).value(); }
};

}  // namespace detkit::testing
