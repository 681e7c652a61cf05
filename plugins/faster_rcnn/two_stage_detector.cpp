// FasterRCNN: MMDetection 2.x's two-stage detector (TwoStageDetector registered as FasterRCNN;
// kind `detector`): backbone -> neck -> rpn_head (proposals) -> roi_head (detections).
//
// The parts are built through the registries, each with its context: the backbone and neck as
// every detector's (detkit/modeling/detector_parts.h), rpn_head with the neck's levels (it is
// class-agnostic: the dataset's classes are not passed), roi_head with the neck's levels and
// the dataset's classes, so a num_classes that disagrees with the dataset fails naming both. As
// MMDetection's TwoStageDetector does, the detector's train_cfg / test_cfg are handed down:
// rpn_head gets train_cfg.rpn, test_cfg.rpn and, as `proposal_cfg`, train_cfg.rpn_proposal
// (the proposal filtering of training); roi_head gets train_cfg.rcnn and test_cfg.rcnn. Keys
// of train_cfg / test_cfg other than these are errors.
//
// loss(): the RPN's losses {loss_rpn_cls, loss_rpn_bbox} and, on the RPN's proposals of the
// same forward pass (detached; filtered as the RPN's training mode says), the RoI head's
// {loss_cls, acc, loss_bbox}. predict(): the RPN's eval-mode proposals, then the RoI head's
// detections in original-image pixels. Proposals are always in the network input's pixels: the
// RPN is asked for them with a unit scale_factor (MMDetection's rescale=False), so any dense
// head can serve as rpn_head.
//
// Children are named backbone, neck, rpn_head and roi_head: parameters are `rpn_head.rpn_conv.*`,
// `roi_head.bbox_head.shared_fcs.0.*`, ... as in MMDetection's checkpoints. A Mask R-CNN is the
// same detector with a roi_head that has a mask branch.
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/backbone.h>
#include <detkit/modeling/dense_head.h>
#include <detkit/modeling/detector.h>
#include <detkit/modeling/detector_parts.h>
#include <detkit/modeling/neck.h>
#include <detkit/modeling/roi_head.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace faster_rcnn_plugin {

namespace {

/// Fails (at the detector's `name` key) unless its `name` setting (train_cfg or test_cfg) is
/// null or a map whose keys are among `allowed`, the stages the heads take.
void check_stage_keys(const detkit::ComponentConfig& detector, const char* name,
                      const std::vector<std::string>& allowed) {
  const detkit::ConfigNode& cfg = detector.node(name);
  if (cfg.is_null()) return;
  if (!cfg.is_map()) detector.fail(name, std::string(name) + " must be a map or null");
  for (const auto& entry : cfg.entries()) {
    bool known = false;
    for (const auto& key : allowed)
      known = known || entry.key == key;
    if (!known) {
      std::string list;
      for (const auto& key : allowed)
        list += (list.empty() ? "" : ", ") + key;
      detector.fail(name, std::string(name) + "." + entry.key +
                              ": unknown stage (a two-stage detector's " + name + " has " + list +
                              ")");
    }
  }
}

/// `cfg[key]` when `cfg` is a map that has it, else null.
detkit::ConfigNode stage_of(const detkit::ConfigNode& cfg, const char* key) {
  const detkit::ConfigNode* value = cfg.is_map() ? cfg.find(key) : nullptr;
  return value != nullptr ? *value : detkit::ConfigNode();
}

/// Copies of `samples` whose metas have a unit scale_factor (outputs stay in input pixels).
std::vector<detkit::DetSample> unscaled(const std::vector<detkit::DetSample>& samples) {
  std::vector<detkit::DetSample> copies = samples;
  for (auto& sample : copies)
    sample.meta.scale_factor = {1.0, 1.0, 1.0, 1.0};
  return copies;
}

}  // namespace

/// Options of FasterRCNN; the config keys have the same names (MMDetection's model dict).
struct FasterRCNNOptions {
  /// The backbone (required), e.g. {type: ResNet, depth: 50}.
  TORCH_ARG(detkit::ConfigNode, backbone);
  /// The neck, e.g. {type: FPN, ...}; null: the heads read the backbone's levels.
  TORCH_ARG(detkit::ConfigNode, neck);
  /// The proposal head (required), e.g. {type: RPNHead}.
  TORCH_ARG(detkit::ConfigNode, rpn_head);
  /// The RoI head (required), e.g. {type: StandardRoIHead}.
  TORCH_ARG(detkit::ConfigNode, roi_head);
  /// {rpn, rpn_proposal, rcnn}: handed to rpn_head and roi_head (see the file comment).
  TORCH_ARG(detkit::ConfigNode, train_cfg);
  /// {rpn, rcnn}: handed to rpn_head and roi_head.
  TORCH_ARG(detkit::ConfigNode, test_cfg);

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary("Faster R-CNN (two-stage): backbone -> neck -> RPN head -> RoI head.");
    DETKIT_COMPONENT(p, backbone, backbone, "the backbone (required)").nullable();
    DETKIT_COMPONENT(p, neck, neck, "the neck; null: none").nullable();
    DETKIT_COMPONENT(p, rpn_head, dense_head, "the proposal head (required)").nullable();
    DETKIT_COMPONENT(p, roi_head, roi_head, "the RoI head (required)").nullable();
    DETKIT_PARAM(p, train_cfg, "{rpn, rpn_proposal, rcnn}: the heads' training settings");
    DETKIT_PARAM(p, test_cfg, "{rpn, rcnn}: the heads' test settings");
  }
};

/// The detector (see the file comment).
class FasterRCNNImpl : public detkit::DetectorBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = FasterRCNNOptions;

  /// Builds the parts; `path` is the detector's config path ("model"), `classes` the dataset's
  /// class names when known.
  FasterRCNNImpl(const FasterRCNNOptions& options_, const std::string& path,
                 const detkit::Known<std::vector<std::string>>& classes)
      : options(options_) {
    const std::string prefix = path.empty() ? std::string() : path + ".";
    const detkit::HeadContext context = detkit::build_feature_extractor(
        options.backbone(), options.neck(), prefix, classes, backbone, neck);
    register_module("backbone", backbone);
    if (neck) register_module("neck", neck);

    detkit::ConfigNode rpn_cfg = options.rpn_head();
    hand_down(rpn_cfg, "train_cfg", stage_of(options.train_cfg(), "rpn"));
    hand_down(rpn_cfg, "test_cfg", stage_of(options.test_cfg(), "rpn"));
    hand_down(rpn_cfg, "proposal_cfg", stage_of(options.train_cfg(), "rpn_proposal"));
    detkit::HeadContext rpn_context = context;
    rpn_context.num_classes = {};
    rpn_head = register_module("rpn_head", detkit::build<detkit::DenseHeadBase>(
                                               rpn_cfg, prefix + "rpn_head", rpn_context));

    detkit::ConfigNode roi_cfg = options.roi_head();
    hand_down(roi_cfg, "train_cfg", stage_of(options.train_cfg(), "rcnn"));
    hand_down(roi_cfg, "test_cfg", stage_of(options.test_cfg(), "rcnn"));
    roi_head = register_module(
        "roi_head", detkit::build<detkit::RoIHeadBase>(roi_cfg, prefix + "roi_head", context));
    if (classes) {
      class_names_ = *classes.value;
    } else {
      // Without the dataset's names, the classes are the RoI head's indices.
      const detkit::ConfigNode* bbox_head = roi_cfg.is_map() ? roi_cfg.find("bbox_head") : nullptr;
      const detkit::ConfigNode* count =
          bbox_head != nullptr && bbox_head->is_map() ? bbox_head->find("num_classes") : nullptr;
      class_names_ =
          detkit::index_class_names(count != nullptr && count->is_int() ? count->as_int() : 80);
    }
  }

  /// Builds the detector from its validated config; backbone, rpn_head and roi_head are
  /// required, and train_cfg / test_cfg may name only the stages the heads take.
  static std::shared_ptr<FasterRCNNImpl> create(const detkit::ComponentConfig& cfg,
                                                const detkit::DetectorContext& context) {
    auto options = detkit::options_from<FasterRCNNOptions>(cfg);
    if (options.backbone().is_null()) cfg.fail("backbone", "FasterRCNN needs a backbone");
    if (options.rpn_head().is_null()) cfg.fail("rpn_head", "FasterRCNN needs an rpn_head");
    if (options.roi_head().is_null()) cfg.fail("roi_head", "FasterRCNN needs a roi_head");
    check_stage_keys(cfg, "train_cfg", {"rpn", "rpn_proposal", "rcnn"});
    check_stage_keys(cfg, "test_cfg", {"rpn", "rcnn"});
    return std::make_shared<FasterRCNNImpl>(options, cfg.path(), context.classes);
  }

  /// The backbone's (and neck's) feature maps of `images` (N, C, H, W).
  std::vector<torch::Tensor> extract_feat(const torch::Tensor& images) {
    return detkit::extract_features(*backbone, neck.get(), images);
  }

  /// Per image the RPN's proposals of `features`, in the network input's pixels.
  std::vector<detkit::Instances> proposals(const detkit::MultiLevelOutputs& rpn_outputs,
                                           const std::vector<detkit::DetSample>& samples) {
    torch::NoGradGuard no_grad;
    return rpn_head->predict(rpn_outputs, unscaled(samples));
  }

  /// The RPN's and the RoI head's losses (see the file comment).
  detkit::LossDict loss(const detkit::ImageBatch& batch) override {
    const std::vector<torch::Tensor> features = extract_feat(batch.images);
    const detkit::MultiLevelOutputs rpn_outputs = rpn_head->forward(features);
    detkit::LossDict losses = rpn_head->loss(rpn_outputs, batch.samples);
    const detkit::LossDict roi_losses =
        roi_head->loss(features, proposals(rpn_outputs, batch.samples), batch.samples);
    for (const auto& item : roi_losses)
      losses.insert(item.key(), item.value());
    return losses;
  }

  /// Per image: boxes in original-image pixels, scores and labels, by decreasing score.
  std::vector<detkit::Instances> predict(const detkit::ImageBatch& batch) override {
    const std::vector<torch::Tensor> features = extract_feat(batch.images);
    return roi_head->predict(features, proposals(rpn_head->forward(features), batch.samples),
                             batch.samples);
  }

  /// The dataset's class names (or "0", "1", ... when the detector was built without them).
  std::vector<std::string> class_names() const override { return class_names_; }

  /// "faster_rcnn_plugin::FasterRCNN(backbone=..., ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("faster_rcnn_plugin::FasterRCNN", options);
  }

  /// The options it was built with.
  FasterRCNNOptions options;
  std::shared_ptr<detkit::BackboneBase> backbone;
  /// Null without a neck.
  std::shared_ptr<detkit::NeckBase> neck;
  std::shared_ptr<detkit::DenseHeadBase> rpn_head;
  std::shared_ptr<detkit::RoIHeadBase> roi_head;

 private:
  /// Sets `head_cfg[key] = value` unless `value` is null (MMDetection's
  /// rpn_head.update(train_cfg=...)).
  static void hand_down(detkit::ConfigNode& head_cfg, const char* key,
                        const detkit::ConfigNode& value) {
    if (!value.is_null() && head_cfg.is_map()) head_cfg.set(key, value);
  }

  std::vector<std::string> class_names_;
};
/// A ModuleHolder (shared pointer) of FasterRCNNImpl.
TORCH_MODULE(FasterRCNN);

DETKIT_REGISTER_MODULE(detector, FasterRCNN);

}  // namespace faster_rcnn_plugin
