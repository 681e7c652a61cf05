// CocoDataset (kind `dataset`): COCO-format annotation files, MMDetection 2.x semantics
// (private header: CityscapesDataset derives from it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "detkit/data/dataset.h"

namespace detkit {

/// A dataset read from a COCO annotation file (`images`, `categories`, `annotations`).
/// Categories become labels 0..K-1 in file order (MMDetection's cat2label), or in the order of
/// `classes`; crowd boxes become gt_ignore; `ignore: 1` annotations, boxes narrower or lower
/// than 1 pixel and boxes with area <= 0 are skipped as MMDetection does. In training, images
/// smaller than min_size are dropped, and with filter_empty_gt the images without an annotation
/// of a selected class (MMDetection's CocoDataset._filter_imgs: an image whose annotations are
/// all crowd, ignored or too small stays, with no gt box).
class CocoDataset : public CustomDataset {
 public:
  /// What differs between COCO-format datasets.
  struct Rules {
    /// The registered type name, for messages.
    std::string type_name = "CocoDataset";
    /// In training, images whose shorter side is below this are dropped.
    double min_size = 32;
    /// Fixed class names matched to categories by name (CityscapesDataset); empty = every
    /// category of the file, in file order. Categories that match no name are left out.
    std::vector<std::string> fixed_classes;
    /// filter_empty_gt also drops the images whose annotations are all crowd
    /// (CityscapesDataset._filter_imgs).
    bool drop_crowd_only = false;
  };

  CocoDataset(CustomDatasetOptions options, Rules rules);

  /// The COCO category id of each label (after any `classes` subset); -1 for a fixed class
  /// the file has no category for.
  std::vector<int64_t> category_ids() const override { return category_ids_; }

  static Schema schema();
  static std::shared_ptr<CocoDataset> create(const ComponentConfig& cfg);

 private:
  std::vector<int64_t> category_ids_;
};

}  // namespace detkit
