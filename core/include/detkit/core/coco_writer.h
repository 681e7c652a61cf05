// Writing COCO-format annotation files (the ground-truth side; results are written by
// coco_json.h): `images`, `categories`, `annotations`, plus the optional fields the readers skip
// (segmentation polygons, extra image fields such as Cityscapes' segm_file).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "detkit/core/coco_json.h"
#include "detkit/core/text.h"

namespace detkit {

/// One polygon: x1, y1, x2, y2, ... in pixels.
using CocoPolygon = std::vector<double>;

/// A COCO annotation file to write.
struct CocoDocument {
  /// Images, categories and annotations (CocoGroundTruth's source/skip fields are not written).
  CocoGroundTruth gt;
  /// The polygons of annotation i (`segmentation`); annotations past the end, or with no
  /// polygons, get no `segmentation` key.
  std::vector<std::vector<CocoPolygon>> segmentations;
  /// Extra string fields of image i, written after the standard ones (e.g. {"segm_file", ...}).
  std::vector<std::vector<std::pair<std::string, std::string>>> image_fields;
  /// `info.description`; no `info` when empty.
  std::string description;
};

/// The document as compact COCO JSON (one image / category / annotation per line, numbers in
/// shortest round-trip form). Throws Error on a non-finite number.
DETKIT_API std::string format_coco_annotations(const CocoDocument& document);

/// Writes the document to `path` atomically (temporary file + rename). Throws Error when it
/// cannot.
DETKIT_API void write_coco_annotations(const std::string& path, const CocoDocument& document);

/// Writes an annotation file shaped like COCO train2017's (no images): `images` 640x480 image
/// entries, 0-14 random boxes each over 80 categories, 1% crowd; deterministic for a seed. For
/// load benchmarks and tests (100000 images make ~100 MB).
DETKIT_API void write_random_coco_annotations(const std::string& path, int64_t images,
                                              uint64_t seed = 7);

}  // namespace detkit
