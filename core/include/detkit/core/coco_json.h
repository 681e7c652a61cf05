// COCO-format JSON: annotation files (images, categories, annotations) and result files (a list
// of {image_id, category_id, bbox, score}), read with simdjson into plain structs, and results
// written back in COCO's result format. Every problem is a DataError naming the file and the
// element (e.g. "gt.json: annotations[12] (id 345): bbox must be 4 numbers").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "detkit/error.h"

namespace detkit {

/// A problem confined to one annotation (bad box, unknown image or category, wrong field type).
/// CocoReadOptions::skip_invalid drops such annotations instead of throwing this.
class DETKIT_API InvalidAnnotationError : public DataError {
 public:
  explicit InvalidAnnotationError(const std::string& message);
  ~InvalidAnnotationError() override;
};

/// One entry of `images`.
struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  /// 0 when the file does not give it.
  int64_t width = 0;
  int64_t height = 0;
};

/// One entry of `categories` (kept in file order).
struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

/// One entry of `annotations` (its `segmentation` is not read).
struct CocoAnnotation {
  int64_t id = 0;
  int64_t image_id = 0;
  int64_t category_id = 0;
  /// [x, y, w, h] in pixels, as in the file.
  std::array<double, 4> bbox{};
  /// The `area` field (w * h when the file has none): COCO's small/medium/large use it.
  double area = 0;
  bool iscrowd = false;
  /// `ignore: 1` (not used by COCOeval, which ignores crowd objects only; datasets may use it).
  bool ignore = false;
};

/// A COCO annotation file in memory; also the ground truth the COCO evaluator takes.
struct CocoGroundTruth {
  /// Where it came from (a path, or a name for in-memory data); used in messages.
  std::string source;
  std::vector<CocoImage> images;
  std::vector<CocoCategory> categories;
  std::vector<CocoAnnotation> annotations;
  /// Annotations dropped by skip_invalid.
  size_t skipped_annotations = 0;
  /// Why (the first few) annotations were skipped. (Duplicate image or category ids are not
  /// errors: the later entry replaces the earlier one, as in pycocotools, and the reader prints
  /// a "warning: FILE: images[I] (id N): duplicate image id ..." line to stderr for each.)
  std::vector<std::string> warnings;
};

/// One detection in COCO's result format.
struct CocoDetection {
  int64_t image_id = 0;
  int64_t category_id = 0;
  /// [x, y, w, h] in pixels.
  std::array<double, 4> bbox{};
  double score = 0;
};

/// How strictly annotation files are read.
struct CocoReadOptions {
  /// Drop invalid annotations (w or h <= 0, bad bbox, unknown image or category, bad field)
  /// and count them in CocoGroundTruth::skipped_annotations instead of throwing.
  bool skip_invalid = false;
  /// How many skip reasons to keep in CocoGroundTruth::warnings.
  size_t max_warnings = 10;
};

/// Reads a COCO annotation file. Throws DataError (InvalidAnnotationError for a problem in one
/// annotation) naming the file and the element; prints duplicate ids as warnings to stderr.
DETKIT_API CocoGroundTruth read_coco_annotations(const std::string& path,
                                                 const CocoReadOptions& options = {});
/// Parses COCO annotation JSON text; `origin` names it in messages.
DETKIT_API CocoGroundTruth parse_coco_annotations(std::string_view json, const std::string& origin,
                                                  const CocoReadOptions& options = {});

/// Reads a COCO result file (a JSON list of {image_id, category_id, bbox, score}; other fields
/// are ignored). Throws DataError naming the file and the element.
DETKIT_API std::vector<CocoDetection> read_coco_results(const std::string& path);
/// Parses COCO result JSON text; `origin` names it in messages.
DETKIT_API std::vector<CocoDetection> parse_coco_results(std::string_view json,
                                                         const std::string& origin);

/// The detections as COCO result JSON (numbers in shortest round-trip form).
DETKIT_API std::string format_coco_results(const std::vector<CocoDetection>& detections);
/// Writes the detections as a COCO result file: to a temporary name beside `path`, then renamed
/// over it. Throws Error when the file cannot be written.
DETKIT_API void write_coco_results(const std::string& path,
                                   const std::vector<CocoDetection>& detections);

/// Writes `text` to `path` through a temporary file in the same folder and a rename, so a kill
/// never leaves a half-written file. Throws Error when it cannot.
DETKIT_API void write_file_atomically(const std::string& path, std::string_view text);

}  // namespace detkit
