// StandardRoIHead: MMDetection 2.25's RoI head of Faster R-CNN (kind `roi_head`, type
// `StandardRoIHead`, box branch): a RoI feature extractor and a box head, with the assigner and
// sampler of train_cfg.rcnn and the filtering of test_cfg.rcnn.
//
// Built with a HeadContext (the neck's levels and the dataset's classes): bbox_roi_extractor
// gets the levels (its featmap_strides and out_channels must agree with them), bbox_head the
// extractor's channels and output size and the number of classes (a config stating other values
// fails naming both). The box head must be a ConvFCBBoxHead (Shared2FCBBoxHead, ...): the SDK's
// BBoxHeadBase has no loss() or get_bboxes().
//
// loss(), per image (MMDetection's forward_train + _bbox_forward_train): the proposals (boxes
// in the network input's pixels) are assigned to the ground truth (gt_ignore passed on) and
// sampled; when the sampler adds the gt boxes as proposals (its add_gt_as_proposals, with the
// sampler's default when unset) the sampled indices refer to [gt boxes; proposals]. The
// sampled boxes, positives first, become RoIs (bbox2roi: (K, 5) with the image index); the
// targets are MMDetection's BBoxHead.get_targets: labels num_classes (background) but for
// positives, label weight pos_weight (1 when <= 0) on positives and 1 on negatives, box targets
// encoded by the head's bbox_coder, box weights 1 on positives. Returns {loss_cls, acc,
// loss_bbox}. An image without proposals or ground truth is fine: with no RoI at all, the
// losses are zero sums connected to the head.
//
// predict(): every image's proposals pooled at once, scored, and per image the head's
// get_bboxes() with test_cfg (decoding clipped to img_shape, rescaled to the original image,
// multiclass NMS). An image without proposals gets no detection.
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/roi_extractor.h>
#include <detkit/modeling/roi_head.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "convfc_bbox_head.h"

namespace roi_heads_plugin {

namespace {

/// faster_rcnn_r50_fpn's bbox_roi_extractor: RoIAlign 7x7 (sampling_ratio 0) on P2-P5.
detkit::ConfigNode default_roi_extractor_cfg() {
  return detkit::ConfigNode::typed(
      "SingleRoIExtractor",
      {{"roi_layer", detkit::ConfigNode::typed("RoIAlign", {{"output_size", int64_t{7}},
                                                            {"sampling_ratio", int64_t{0}}})},
       {"out_channels", int64_t{256}},
       {"featmap_strides", detkit::ConfigValue<std::vector<int64_t>>::to({4, 8, 16, 32})}});
}

/// faster_rcnn_r50_fpn's bbox_head: Shared2FCBBoxHead with its defaults.
detkit::ConfigNode default_bbox_head_cfg() {
  return detkit::ConfigNode::typed("Shared2FCBBoxHead");
}

/// train_cfg.rcnn.assigner of faster_rcnn_r50_fpn.
detkit::ConfigNode rcnn_assigner_cfg() {
  return detkit::ConfigNode::typed("MaxIoUAssigner", {{"pos_iou_thr", 0.5},
                                                      {"neg_iou_thr", 0.5},
                                                      {"min_pos_iou", 0.5},
                                                      {"match_low_quality", false},
                                                      {"ignore_iof_thr", -1.0}});
}

/// train_cfg.rcnn.sampler of faster_rcnn_r50_fpn.
detkit::ConfigNode rcnn_sampler_cfg() {
  return detkit::ConfigNode::typed("RandomSampler", {{"num", int64_t{512}},
                                                     {"pos_fraction", 0.25},
                                                     {"neg_pos_ub", -1.0},
                                                     {"add_gt_as_proposals", true}});
}

}  // namespace

/// train_cfg.rcnn of MMDetection's two-stage detectors (faster_rcnn_r50_fpn's values).
struct RCNNTrainOptions {
  /// Assigns proposals to ground-truth boxes (`assigner` registry).
  TORCH_ARG(detkit::ConfigNode, assigner) = rcnn_assigner_cfg();
  /// Samples the assigned proposals (`sampler` registry).
  TORCH_ARG(detkit::ConfigNode, sampler) = rcnn_sampler_cfg();
  /// Label weight of positives; <= 0: 1.
  TORCH_ARG(double, pos_weight) = -1;
  /// MMDetection's debug flag (accepted, no effect).
  TORCH_ARG(bool, debug) = false;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_COMPONENT(p, assigner, assigner, "assigns proposals to ground-truth boxes");
    DETKIT_COMPONENT(p, sampler, sampler, "samples the RoIs trained on");
    DETKIT_PARAM(p, pos_weight, "label weight of positives; <= 0: 1");
    DETKIT_PARAM(p, debug, "MMDetection's debug flag (no effect)");
  }
};

/// Options of StandardRoIHead (MMDetection's names; faster_rcnn_r50_fpn's values).
struct StandardRoIHeadOptions {
  TORCH_ARG(detkit::ConfigNode, bbox_roi_extractor) = default_roi_extractor_cfg();
  TORCH_ARG(detkit::ConfigNode, bbox_head) = default_bbox_head_cfg();
  TORCH_ARG(RCNNTrainOptions, train_cfg) = {};
  TORCH_ARG(RCNNTestOptions, test_cfg) = {};

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary(
        "RoI head of Faster R-CNN: proposals assigned and sampled, RoI features pooled, "
        "classified and regressed by a box head.");
    DETKIT_COMPONENT(p, bbox_roi_extractor, roi_extractor, "pools the RoI features");
    DETKIT_COMPONENT(p, bbox_head, bbox_head, "a ConvFCBBoxHead (Shared2FCBBoxHead, ...)");
    DETKIT_NESTED(p, train_cfg, "assignment and sampling of loss() (train_cfg.rcnn)");
    DETKIT_NESTED(p, test_cfg, "filtering of predict() (test_cfg.rcnn)");
  }
};

/// The head (see the file comment).
class StandardRoIHeadImpl : public detkit::RoIHeadBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = StandardRoIHeadOptions;

  /// Builds the extractor against `context`'s levels, the box head against the extractor and
  /// the number of classes, the assigner and the sampler; config errors name `path`.
  StandardRoIHeadImpl(const StandardRoIHeadOptions& options_, const std::string& path,
                      const detkit::HeadContext& context)
      : options(options_) {
    const std::string prefix = path.empty() ? std::string() : path + ".";
    bbox_roi_extractor = register_module(
        "bbox_roi_extractor", detkit::build<detkit::RoIExtractorBase>(
                                  options.bbox_roi_extractor(), prefix + "bbox_roi_extractor",
                                  detkit::NeckContext{context.input_shapes, context.input_origin}));
    const std::string extractor_origin = "the RoI features of " + prefix + "bbox_roi_extractor";
    detkit::RoIFeatureContext head_context;
    head_context.in_channels =
        detkit::Known<int64_t>(bbox_roi_extractor->out_channels(), extractor_origin);
    head_context.roi_feat_size =
        detkit::Known<int64_t>(bbox_roi_extractor->output_size(), extractor_origin);
    head_context.num_classes = context.num_classes;
    const auto built = detkit::build<detkit::BBoxHeadBase>(options.bbox_head(),
                                                           prefix + "bbox_head", head_context);
    bbox_head = std::dynamic_pointer_cast<ConvFCBBoxHeadImpl>(built);
    if (!bbox_head) {
      throw detkit::ConfigError(prefix +
                                "bbox_head: StandardRoIHead needs a ConvFCBBoxHead "
                                "(ConvFCBBoxHead, Shared2FCBBoxHead), whose loss and "
                                "decoding it uses");
    }
    register_module("bbox_head", bbox_head);
    const std::string train_path = prefix + "train_cfg.";
    assigner = detkit::build<detkit::AssignerBase>(options.train_cfg().assigner(),
                                                   train_path + "assigner");
    sampler =
        detkit::build<detkit::SamplerBase>(options.train_cfg().sampler(), train_path + "sampler");
    const detkit::ComponentConfig sampler_cfg = detkit::validate_component(
        detkit::Kind::sampler, options.train_cfg().sampler(), train_path + "sampler");
    const detkit::ConfigNode* add_gt = sampler_cfg.values().find("add_gt_as_proposals");
    adds_gt_as_proposals_ = add_gt != nullptr && add_gt->is_bool() && add_gt->as_bool();
  }

  /// Builds the head from its validated config and the detector's context.
  static std::shared_ptr<StandardRoIHeadImpl> create(const detkit::ComponentConfig& cfg,
                                                     const detkit::HeadContext& context) {
    return std::make_shared<StandardRoIHeadImpl>(detkit::options_from<StandardRoIHeadOptions>(cfg),
                                                 cfg.path(), context);
  }

  /// {loss_cls, acc, loss_bbox} of the sampled proposals (see the file comment).
  detkit::LossDict loss(const std::vector<torch::Tensor>& features,
                        const std::vector<detkit::Instances>& proposals,
                        const std::vector<detkit::DetSample>& samples) override {
    check_counts(features, proposals, samples);
    const torch::TensorOptions float_options = features.at(0).options();
    const torch::TensorOptions long_options = float_options.dtype(torch::kLong);
    const int64_t num_classes = bbox_head->options.num_classes();
    const double pos_weight =
        options.train_cfg().pos_weight() <= 0 ? 1.0 : options.train_cfg().pos_weight();
    std::vector<torch::Tensor> rois, labels, label_weights, bbox_targets, bbox_weights;
    for (size_t i = 0; i < samples.size(); ++i) {
      const detkit::Instances gt = samples[i].gt.to(float_options.device());
      const torch::Tensor gt_boxes = gt.boxes().tensor().to(torch::kFloat);
      const torch::Tensor gt_labels = gt.labels().to(torch::kLong);
      torch::Tensor gt_ignore;
      if (!samples[i].gt_ignore.empty()) {
        gt_ignore = samples[i].gt_ignore.tensor().to(float_options.device(), torch::kFloat);
      }
      const torch::Tensor boxes =
          proposals[i].boxes().tensor().detach().to(float_options.device(), torch::kFloat);
      const detkit::AssignResult assignment =
          assigner->assign(boxes, gt_boxes, gt_labels, gt_ignore);
      const detkit::SamplingResult sampled = sampler->sample(assignment, boxes, gt_boxes);
      const torch::Tensor candidates =
          adds_gt_as_proposals_ && gt_boxes.size(0) > 0 ? torch::cat({gt_boxes, boxes}) : boxes;
      const torch::Tensor pos_boxes = candidates.index_select(0, sampled.pos_inds);
      const torch::Tensor neg_boxes = candidates.index_select(0, sampled.neg_inds);
      const int64_t num_pos = pos_boxes.size(0), num_neg = neg_boxes.size(0);
      const torch::Tensor image_boxes = torch::cat({pos_boxes, neg_boxes});
      rois.push_back(torch::cat(
          {torch::full({num_pos + num_neg, 1}, static_cast<double>(i), float_options), image_boxes},
          1));
      torch::Tensor image_labels = torch::full({num_pos + num_neg}, num_classes, long_options);
      torch::Tensor image_label_weights = torch::ones({num_pos + num_neg}, float_options);
      torch::Tensor image_targets = torch::zeros({num_pos + num_neg, 4}, float_options);
      torch::Tensor image_weights = torch::zeros({num_pos + num_neg, 4}, float_options);
      if (num_pos > 0) {
        image_labels.slice(0, 0, num_pos)
            .copy_(gt_labels.index_select(0, sampled.pos_assigned_gt_inds));
        image_label_weights.slice(0, 0, num_pos).fill_(pos_weight);
        image_targets.slice(0, 0, num_pos)
            .copy_(bbox_head->bbox_coder->encode(pos_boxes, sampled.pos_gt_bboxes));
        image_weights.slice(0, 0, num_pos).fill_(1.0);
      }
      labels.push_back(image_labels);
      label_weights.push_back(image_label_weights);
      bbox_targets.push_back(image_targets);
      bbox_weights.push_back(image_weights);
    }
    const torch::Tensor all_rois = torch::cat(rois);
    auto [cls_score, bbox_pred] = bbox_forward(features, all_rois);
    return bbox_head->loss(cls_score, bbox_pred, torch::cat(labels), torch::cat(label_weights),
                           torch::cat(bbox_targets), torch::cat(bbox_weights));
  }

  /// Per image the detections in original-image pixels, by decreasing score.
  std::vector<detkit::Instances> predict(const std::vector<torch::Tensor>& features,
                                         const std::vector<detkit::Instances>& proposals,
                                         const std::vector<detkit::DetSample>& samples) override {
    check_counts(features, proposals, samples);
    const torch::TensorOptions float_options = features.at(0).options();
    std::vector<torch::Tensor> rois;
    std::vector<int64_t> counts;
    for (size_t i = 0; i < proposals.size(); ++i) {
      const torch::Tensor boxes =
          proposals[i].boxes().tensor().to(float_options.device(), torch::kFloat);
      rois.push_back(torch::cat(
          {torch::full({boxes.size(0), 1}, static_cast<double>(i), float_options), boxes}, 1));
      counts.push_back(boxes.size(0));
    }
    const torch::Tensor all_rois = torch::cat(rois);
    auto [cls_score, bbox_pred] = bbox_forward(features, all_rois);
    std::vector<detkit::Instances> results;
    int64_t start = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      const int64_t end = start + counts[i];
      results.push_back(bbox_head->get_bboxes(
          all_rois.slice(0, start, end), cls_score.slice(0, start, end),
          bbox_pred.slice(0, start, end), samples[i].meta, options.test_cfg()));
      start = end;
    }
    return results;
  }

  /// (class scores, box deltas) of `rois` (K, 5) pooled from `features`.
  std::pair<torch::Tensor, torch::Tensor> bbox_forward(const std::vector<torch::Tensor>& features,
                                                       const torch::Tensor& rois) {
    return bbox_head->forward(bbox_roi_extractor->forward(features, rois));
  }

  /// "roi_heads_plugin::StandardRoIHead(bbox_roi_extractor=..., ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("roi_heads_plugin::StandardRoIHead", options);
  }

  StandardRoIHeadOptions options;
  std::shared_ptr<detkit::RoIExtractorBase> bbox_roi_extractor;
  std::shared_ptr<ConvFCBBoxHeadImpl> bbox_head;
  std::shared_ptr<detkit::AssignerBase> assigner;
  std::shared_ptr<detkit::SamplerBase> sampler;

 private:
  /// Throws unless there are features and one proposal set per sample.
  static void check_counts(const std::vector<torch::Tensor>& features,
                           const std::vector<detkit::Instances>& proposals,
                           const std::vector<detkit::DetSample>& samples) {
    if (features.empty()) throw detkit::Error("StandardRoIHead: no feature level given");
    if (proposals.size() != samples.size()) {
      throw detkit::Error("StandardRoIHead: " + std::to_string(proposals.size()) +
                          " proposal sets for " + std::to_string(samples.size()) + " images");
    }
  }

  bool adds_gt_as_proposals_ = false;
};
/// A ModuleHolder (shared pointer) of StandardRoIHeadImpl.
TORCH_MODULE(StandardRoIHead);

DETKIT_REGISTER_MODULE(roi_head, StandardRoIHead);

}  // namespace roi_heads_plugin
