// WIDERFaceDataset: WIDER Face in Pascal VOC XML form (MMDetection 2.x's wider_face.py).
#include <memory>

#include "detkit/component_config.h"
#include "xml_dataset.h"

namespace detkit {

/// WIDER Face converted to VOC XML: one class, 'face'; `ann_file` lists image ids,
/// `<img_prefix>/Annotations/<id>.xml` holds the faces, and the image is
/// `<img_prefix>/<folder>/<id>.jpg` with <folder> read from the XML.
class WIDERFaceDataset : public XMLDataset {
 public:
  WIDERFaceDataset(CustomDatasetOptions options, Layout layout)
      : XMLDataset(std::move(options), std::move(layout)) {}

  static Schema schema() {
    return xml_schema(
        "WIDER Face in VOC XML form (MMDetection's WIDERFaceDataset): class 'face', images at "
        "<img_prefix>/<folder>/<id>.jpg.",
        false);
  }

  static std::shared_ptr<WIDERFaceDataset> create(const ComponentConfig& cfg) {
    Layout layout;
    layout.type_name = "WIDERFaceDataset";
    layout.classes = {"face"};
    layout.filename_from_folder = true;
    read_layout(cfg, layout);
    return std::make_shared<WIDERFaceDataset>(CustomDatasetOptions::from_config(cfg),
                                              std::move(layout));
  }
};

DETKIT_REGISTER(dataset, WIDERFaceDataset);

}  // namespace detkit
