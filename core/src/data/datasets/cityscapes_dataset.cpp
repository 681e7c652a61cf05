// CityscapesDataset: Cityscapes instances in COCO format (as `detkit convert cityscapes` or
// MMDetection's converter write them), MMDetection 2.x's cityscapes.py semantics.
#include <memory>

#include "coco_dataset.h"
#include "detkit/component_config.h"

namespace detkit {

/// The 8 Cityscapes instance classes, matched to the file's categories by name; other
/// categories (caravan, trailer, ...) are left out. Crowd ('xxxgroup') boxes become
/// gt_bboxes_ignore; in training, filter_empty_gt drops the images without an instance of the
/// 8 classes and those whose annotations are all crowd, as MMDetection's
/// CityscapesDataset._filter_imgs does.
class CityscapesDataset : public CocoDataset {
 public:
  /// The classes in label order.
  static const std::vector<std::string>& class_names() {
    static const std::vector<std::string> names = {"person", "rider", "car",        "truck",
                                                   "bus",    "train", "motorcycle", "bicycle"};
    return names;
  }

  CityscapesDataset(CustomDatasetOptions options, Rules rules)
      : CocoDataset(std::move(options), std::move(rules)) {}

  static Schema schema() {
    Schema schema = base_schema(
        "Cityscapes instances in COCO format (MMDetection's CityscapesDataset): person, rider, "
        "car, truck, bus, train, motorcycle, bicycle; crowd boxes are ignored.");
    schema.add<double>("min_size", 32.0, "in training, drop images whose shorter side is smaller")
        .min(0);
    return schema;
  }

  static std::shared_ptr<CityscapesDataset> create(const ComponentConfig& cfg) {
    Rules rules;
    rules.type_name = "CityscapesDataset";
    rules.min_size = cfg.get<double>("min_size");
    rules.fixed_classes = class_names();
    rules.drop_crowd_only = true;
    return std::make_shared<CityscapesDataset>(CustomDatasetOptions::from_config(cfg),
                                               std::move(rules));
  }
};

DETKIT_REGISTER(dataset, CityscapesDataset);

}  // namespace detkit
