// XMLDataset (kind `dataset`): Pascal VOC-style XML annotations, one file per image, listed by
// an id file (MMDetection 2.x's XMLDataset); the base of VOCDataset and WIDERFaceDataset.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detkit/data/dataset.h"

namespace detkit {

/// A dataset of VOC-style XML files: `ann_file` lists image ids, `img_prefix/<ann_subdir>/<id>.xml`
/// holds each image's objects. Boxes are read as MMDetection does (int(float(text)) - 1);
/// objects whose name is not a selected class are skipped (one warning line counts them);
/// `difficult` objects and, with min_size, boxes narrower or lower than min_size are ignored;
/// in training, images whose shorter side is below 32 pixels are dropped, and with
/// filter_empty_gt those without an object of a selected class (difficult ones count).
class XMLDataset : public CustomDataset {
 public:
  /// What differs between the XML datasets.
  struct Layout {
    /// The registered type name, for messages.
    std::string type_name = "XMLDataset";
    /// The dataset's class names (object <name> values), in label order.
    std::vector<std::string> classes;
    /// Image file names are <img_subdir>/<id>.jpg ...
    std::string img_subdir = "JPEGImages";
    std::string ann_subdir = "Annotations";
    /// ... or <folder>/<id>.jpg with <folder> read from the XML (WIDER Face).
    bool filename_from_folder = false;
    /// Boxes narrower or lower than this are ignored (training only).
    std::optional<double> min_size;
  };

  XMLDataset(CustomDatasetOptions options, Layout layout);

  std::string default_metric() const override { return "VOCMetric"; }

  static Schema schema();
  static std::shared_ptr<XMLDataset> create(const ComponentConfig& cfg);

 protected:
  /// CustomDataset's parameters plus min_size (and, with `subdirs`, img_subdir / ann_subdir).
  static Schema xml_schema(std::string summary, bool subdirs);
  /// Reads min_size (and the subdirs when the schema has them) into `layout`.
  static void read_layout(const ComponentConfig& cfg, Layout& layout);
};

}  // namespace detkit
