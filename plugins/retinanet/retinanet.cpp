// RetinaNet: MMDetection 2.x's single-stage detector (SingleStageDetector registered as
// RetinaNet; kind `detector`, type `RetinaNet`): backbone -> neck -> bbox_head.
//
// The parts are built from `backbone`, `neck` (optional) and `bbox_head` through the registries,
// each with its context: the backbone with none it needs, the neck with the backbone's output
// shapes, the head with the neck's shapes and the dataset's number of classes (from the
// detector's DetectorContext), so a config that states them differently fails with both values
// and both origins. As MMDetection's SingleStageDetector does, the detector's `train_cfg` and
// `test_cfg` (when set) replace the head's. Children are named `backbone`, `neck` and
// `bbox_head`, so parameters are `backbone.*`, `neck.*`, `bbox_head.*` as in MMDetection's
// checkpoints.
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/anchor_head.h>
#include <detkit/modeling/backbone.h>
#include <detkit/modeling/dense_head.h>
#include <detkit/modeling/detector.h>
#include <detkit/modeling/detector_parts.h>
#include <detkit/modeling/neck.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace retinanet_plugin {

/// Options of RetinaNet; the config keys have the same names (MMDetection's model dict).
struct RetinaNetOptions {
  /// The backbone (required), e.g. {type: ResNet, depth: 50}.
  TORCH_ARG(detkit::ConfigNode, backbone);
  /// The neck, e.g. {type: FPN, ...}; null: the head reads the backbone's levels.
  TORCH_ARG(detkit::ConfigNode, neck);
  /// The dense head (required), e.g. {type: RetinaHead}.
  TORCH_ARG(detkit::ConfigNode, bbox_head);
  /// When set, replaces bbox_head.train_cfg (MMDetection's model.train_cfg).
  TORCH_ARG(detkit::ConfigNode, train_cfg);
  /// When set, replaces bbox_head.test_cfg (MMDetection's model.test_cfg).
  TORCH_ARG(detkit::ConfigNode, test_cfg);

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary("RetinaNet (single-stage): backbone -> neck -> dense head.");
    DETKIT_COMPONENT(p, backbone, backbone, "the backbone (required)").nullable();
    DETKIT_COMPONENT(p, neck, neck, "the neck; null: none").nullable();
    DETKIT_COMPONENT(p, bbox_head, dense_head, "the dense head (required)").nullable();
    DETKIT_PARAM(p, train_cfg, "replaces bbox_head.train_cfg when set");
    DETKIT_PARAM(p, test_cfg, "replaces bbox_head.test_cfg when set");
  }
};

/// The detector (see the file comment).
class RetinaNetImpl : public detkit::DetectorBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = RetinaNetOptions;

  /// Builds backbone, neck and head; `path` is the detector's config path ("model"), `classes`
  /// the dataset's class names when known.
  RetinaNetImpl(const RetinaNetOptions& options_, const std::string& path,
                const detkit::Known<std::vector<std::string>>& classes)
      : options(options_) {
    const std::string prefix = path.empty() ? std::string() : path + ".";
    detkit::HeadContext head_context = detkit::build_feature_extractor(
        options.backbone(), options.neck(), prefix, classes, backbone, neck);
    register_module("backbone", backbone);
    if (neck) register_module("neck", neck);
    detkit::ConfigNode head_cfg = options.bbox_head();
    if (!options.train_cfg().is_null()) head_cfg.set("train_cfg", options.train_cfg());
    if (!options.test_cfg().is_null()) head_cfg.set("test_cfg", options.test_cfg());
    bbox_head = register_module("bbox_head", detkit::build<detkit::DenseHeadBase>(
                                                 head_cfg, prefix + "bbox_head", head_context));
    if (classes) {
      class_names_ = *classes.value;
    } else if (auto anchor_head = std::dynamic_pointer_cast<detkit::AnchorHead>(bbox_head)) {
      // Without the dataset's names, the classes are the head's indices.
      class_names_ = detkit::index_class_names(anchor_head->head_options().num_classes());
    }
  }

  /// Builds the detector from its validated config; backbone and bbox_head are required.
  static std::shared_ptr<RetinaNetImpl> create(const detkit::ComponentConfig& cfg,
                                               const detkit::DetectorContext& context) {
    auto options = detkit::options_from<RetinaNetOptions>(cfg);
    if (options.backbone().is_null()) cfg.fail("backbone", "RetinaNet needs a backbone");
    if (options.bbox_head().is_null()) cfg.fail("bbox_head", "RetinaNet needs a bbox_head");
    return std::make_shared<RetinaNetImpl>(options, cfg.path(), context.classes);
  }

  /// The backbone's (and neck's) feature maps of `images` (N, C, H, W).
  std::vector<torch::Tensor> extract_feat(const torch::Tensor& images) {
    return detkit::extract_features(*backbone, neck.get(), images);
  }

  /// {"loss_cls", "loss_bbox"} of the batch (the head's losses).
  detkit::LossDict loss(const detkit::ImageBatch& batch) override {
    return bbox_head->loss(bbox_head->forward(extract_feat(batch.images)), batch.samples);
  }

  /// Per image: boxes in original-image pixels, scores and labels, by decreasing score.
  std::vector<detkit::Instances> predict(const detkit::ImageBatch& batch) override {
    return bbox_head->predict(bbox_head->forward(extract_feat(batch.images)), batch.samples);
  }

  /// The dataset's class names (or "0", "1", ... when the detector was built without them).
  std::vector<std::string> class_names() const override { return class_names_; }

  /// "retinanet_plugin::RetinaNet(backbone=..., ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("retinanet_plugin::RetinaNet", options);
  }

  /// The options it was built with.
  RetinaNetOptions options;
  std::shared_ptr<detkit::BackboneBase> backbone;
  /// Null without a neck.
  std::shared_ptr<detkit::NeckBase> neck;
  std::shared_ptr<detkit::DenseHeadBase> bbox_head;

 private:
  std::vector<std::string> class_names_;
};
/// A ModuleHolder (shared pointer) of RetinaNetImpl.
TORCH_MODULE(RetinaNet);

DETKIT_REGISTER_MODULE(detector, RetinaNet);

}  // namespace retinanet_plugin
