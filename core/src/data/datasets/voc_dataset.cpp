// VOCDataset: Pascal VOC 2007/2012 (MMDetection 2.x's voc.py): the 20 VOC classes, XML
// annotations under <img_prefix>/Annotations, images under <img_prefix>/JPEGImages.
#include <fmt/format.h>

#include <memory>

#include "detkit/component_config.h"
#include "xml_dataset.h"

namespace detkit {

/// Pascal VOC: `ann_file` is an ImageSets/Main/*.txt id list, `img_prefix` the VOC2007 or
/// VOC2012 folder (its name gives the year, which selects the VOC metric's 11-point AP for 2007).
class VOCDataset : public XMLDataset {
 public:
  /// The 20 VOC classes in label order.
  static const std::vector<std::string>& class_names() {
    static const std::vector<std::string> names = {
        "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
        "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
        "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};
    return names;
  }

  VOCDataset(CustomDatasetOptions options, Layout layout)
      : XMLDataset(std::move(options), std::move(layout)), year_(infer_year(this->options())) {}

  /// 2007 or 2012, from img_prefix (as MMDetection).
  int year() const { return year_; }

  static Schema schema() {
    return xml_schema(
        "Pascal VOC XML annotations (MMDetection's VOCDataset): ann_file is an "
        "ImageSets/Main/*.txt id list, img_prefix the VOC2007 or VOC2012 folder.",
        true);
  }

  static std::shared_ptr<VOCDataset> create(const ComponentConfig& cfg) {
    CustomDatasetOptions options = CustomDatasetOptions::from_config(cfg);
    if (options.img_prefix.find("VOC2007") == std::string::npos &&
        options.img_prefix.find("VOC2012") == std::string::npos) {
      cfg.fail("img_prefix", "cannot infer the VOC year from '" + options.img_prefix +
                                 "': it must contain VOC2007 or VOC2012 (as in MMDetection)");
    }
    Layout layout;
    layout.type_name = "VOCDataset";
    layout.classes = class_names();
    read_layout(cfg, layout);
    return std::make_shared<VOCDataset>(std::move(options), std::move(layout));
  }

 private:
  static int infer_year(const CustomDatasetOptions& options) {
    if (options.img_prefix.find("VOC2007") != std::string::npos) return 2007;
    if (options.img_prefix.find("VOC2012") != std::string::npos) return 2012;
    throw DataError(
        fmt::format("cannot infer the VOC year from img_prefix '{}'", options.img_prefix));
  }

  int year_;
};

DETKIT_REGISTER(dataset, VOCDataset);

}  // namespace detkit
