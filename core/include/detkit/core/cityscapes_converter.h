// Cityscapes gtFine polygons -> COCO instance annotations (`detkit convert cityscapes`), with
// the boxes, categories and file names of MMDetection's tools/dataset_converters/cityscapes.py.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "detkit/export.h"

namespace detkit {

/// What to convert.
struct CityscapesConvertOptions {
  /// A gtFine split folder (gtFine/train: one folder per city), or gtFine itself with `split`.
  std::string gtfine_dir;
  /// train / val / test: the sub-folder of gtfine_dir to convert; empty = gtfine_dir is a split.
  std::string split;
  /// The COCO JSON to write (atomically).
  std::string out_json;
  /// Called after each file with the files done and the total.
  std::function<void(size_t done, size_t total)> progress;
};

/// What was written.
struct CityscapesConvertSummary {
  size_t images = 0;
  size_t annotations = 0;
  /// Of the annotations, the crowd ('xxxgroup') ones.
  size_t crowd = 0;
  /// Instance objects left out because their polygon lies outside the image.
  size_t skipped = 0;
};

/// Walks <gtfine_dir>[/<split>]/<city>/*_gtFine_polygons.json (sorted), keeps the 8 instance
/// classes (person, rider, car, truck, bus, train, motorcycle, bicycle; Cityscapes label ids as
/// category ids; 'xxxgroup' labels are the same class with iscrowd 1), and writes one image per
/// file (file_name <city>/<stem>_leftImg8bit.png, ids from 0) and one annotation per object:
/// bbox from the polygon's pixel extents clipped to the image ([x, y, w, h] with w = xmax - xmin
/// + 1, the box of the filled polygon's pixels), area = the filled polygon's pixel count, and
/// the polygon as segmentation. Throws DataError naming the file (and the object) on bad input.
DETKIT_API CityscapesConvertSummary convert_cityscapes(const CityscapesConvertOptions& options);

}  // namespace detkit
