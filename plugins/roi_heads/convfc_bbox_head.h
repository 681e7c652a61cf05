// ConvFCBBoxHead and Shared2FCBBoxHead: MMDetection 2.25's RoI box heads (kind `bbox_head`),
// declared here so that plugin.cpp registers them and roi_heads_test drives loss() and
// get_bboxes(), which the SDK's BBoxHeadBase does not expose. See convfc_bbox_head.cpp.
#pragma once

#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/config_node.h>
#include <detkit/modeling/anchor_head.h>
#include <detkit/modeling/base_module.h>
#include <detkit/modeling/bbox_head.h>
#include <detkit/modeling/detection_types.h>
#include <detkit/modeling/loss.h>
#include <detkit/modeling/task_modules.h>
#include <detkit/params.h>
#include <detkit/structures/det_sample.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>

namespace roi_heads_plugin {

/// `{type: DeltaXYWHBBoxCoder, target_means: [0, 0, 0, 0], target_stds: [0.1, 0.1, 0.2, 0.2]}`.
detkit::ConfigNode rcnn_bbox_coder_cfg();
/// `{type: CrossEntropyLoss, use_sigmoid: false, loss_weight: 1.0}`.
detkit::ConfigNode rcnn_loss_cls_cfg();
/// `{type: L1Loss, loss_weight: 1.0}`.
detkit::ConfigNode rcnn_loss_bbox_cfg();

/// Options of ConvFCBBoxHead; names and defaults as MMDetection 2.25's (the coder, losses and
/// sizes of faster_rcnn_r50_fpn's bbox_head).
struct ConvFCBBoxHeadOptions {
  /// Channels of the RoI features.
  TORCH_ARG(int64_t, in_channels) = 256;
  /// Side of the RoI features.
  TORCH_ARG(int64_t, roi_feat_size) = 7;
  /// Object classes (fc_cls predicts one more: background, last).
  TORCH_ARG(int64_t, num_classes) = 80;
  /// 3x3 ConvModules (ReLU) shared by both branches, then fcs (ReLU) shared by both.
  TORCH_ARG(int64_t, num_shared_convs) = 0;
  TORCH_ARG(int64_t, num_shared_fcs) = 0;
  /// Convs and fcs of the classification branch.
  TORCH_ARG(int64_t, num_cls_convs) = 0;
  TORCH_ARG(int64_t, num_cls_fcs) = 0;
  /// Convs and fcs of the regression branch.
  TORCH_ARG(int64_t, num_reg_convs) = 0;
  TORCH_ARG(int64_t, num_reg_fcs) = 0;
  /// Output channels of every conv, output features of every fc.
  TORCH_ARG(int64_t, conv_out_channels) = 256;
  TORCH_ARG(int64_t, fc_out_channels) = 1024;
  /// One box (4 deltas) per RoI instead of one per class.
  TORCH_ARG(bool, reg_class_agnostic) = false;
  /// Boxes <-> regression targets.
  TORCH_ARG(detkit::ConfigNode, bbox_coder) = rcnn_bbox_coder_cfg();
  /// Softmax classification loss over num_classes + 1 scores.
  TORCH_ARG(detkit::ConfigNode, loss_cls) = rcnn_loss_cls_cfg();
  /// Regression loss on the positives' deltas.
  TORCH_ARG(detkit::ConfigNode, loss_bbox) = rcnn_loss_bbox_cfg();

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary(
        "RoI box head: shared convs and fcs, then per-branch convs and fcs, fc_cls "
        "(num_classes + 1, background last) and fc_reg.");
    DETKIT_PARAM(p, in_channels, "channels of the RoI features (default: the extractor's)").min(1);
    DETKIT_PARAM(p, roi_feat_size, "side of the RoI features (default: the extractor's)").min(1);
    DETKIT_PARAM(p, num_classes, "object classes (default: the dataset's)").min(1);
    DETKIT_PARAM(p, num_shared_convs, "3x3 convs shared by both branches").min(0);
    DETKIT_PARAM(p, num_shared_fcs, "fcs shared by both branches").min(0);
    DETKIT_PARAM(p, num_cls_convs, "convs of the classification branch").min(0);
    DETKIT_PARAM(p, num_cls_fcs, "fcs of the classification branch").min(0);
    DETKIT_PARAM(p, num_reg_convs, "convs of the regression branch").min(0);
    DETKIT_PARAM(p, num_reg_fcs, "fcs of the regression branch").min(0);
    DETKIT_PARAM(p, conv_out_channels, "output channels of every conv").min(1);
    DETKIT_PARAM(p, fc_out_channels, "output features of every fc").min(1);
    DETKIT_PARAM(p, reg_class_agnostic, "one box per RoI instead of one per class");
    DETKIT_COMPONENT(p, bbox_coder, bbox_coder, "boxes <-> regression targets");
    DETKIT_COMPONENT(p, loss_cls, loss, "softmax classification loss");
    DETKIT_COMPONENT(p, loss_bbox, loss, "regression loss of the positives");
  }
};

/// Options of Shared2FCBBoxHead: ConvFCBBoxHead's with two shared fcs.
struct Shared2FCBBoxHeadOptions : ConvFCBBoxHeadOptions {
  Shared2FCBBoxHeadOptions() { num_shared_fcs(2); }

  /// ConvFCBBoxHead's parameters, with this head's summary.
  template <class P>
  void declare(P& p) {
    ConvFCBBoxHeadOptions::declare(p);
    p.summary(
        "RoI box head of Faster R-CNN: two shared fcs (fc_out_channels), fc_cls "
        "(num_classes + 1, background last) and fc_reg.");
  }
};

/// test_cfg.rcnn of MMDetection's two-stage detectors (faster_rcnn_r50_fpn's defaults).
struct RCNNTestOptions {
  /// Scores at or below this are dropped before NMS.
  TORCH_ARG(double, score_thr) = 0.05;
  /// The NMS applied per class (IoU 0.5).
  TORCH_ARG(detkit::DenseNmsOptions, nms) = {};
  /// Detections kept per image (<= 0: all).
  TORCH_ARG(int64_t, max_per_img) = 100;
  /// Boxes whose width or height (in the network input's pixels) is below this are dropped
  /// before NMS; 0 (MMDetection's behaviour): none is. torchvision's detectors use 0.01.
  TORCH_ARG(double, min_bbox_size) = 0;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, score_thr, "scores at or below this are dropped").range(0, 1);
    DETKIT_NESTED(p, nms, "the NMS applied per class");
    DETKIT_PARAM(p, max_per_img, "detections kept per image; <= 0: all");
    DETKIT_PARAM(p, min_bbox_size,
                 "boxes narrower or lower than this are dropped before NMS (detkit; 0: none, "
                 "as MMDetection)")
        .min(0);
  }
};

/// MMDetection's ConvFCBBoxHead (see convfc_bbox_head.cpp).
class ConvFCBBoxHeadImpl : public detkit::BBoxHeadBase, public detkit::BaseModule {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = ConvFCBBoxHeadOptions;

  /// Builds the layers, coder and losses; `path` names the head in messages. Throws
  /// detkit::InvalidParameter for bad options.
  explicit ConvFCBBoxHeadImpl(const ConvFCBBoxHeadOptions& options_,
                              const std::string& path = "ConvFCBBoxHead");

  /// Builds the head from its config; in_channels, roi_feat_size and num_classes must agree
  /// with the context (a contradiction is a ConfigError naming both).
  static std::shared_ptr<ConvFCBBoxHeadImpl> create(const detkit::ComponentConfig& cfg,
                                                    const detkit::RoIFeatureContext& context);

  /// (K, num_classes + 1) class scores and (K, 4 * num_classes) (or (K, 4)) deltas of
  /// (K, in_channels, roi_feat_size, roi_feat_size) RoI features.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& roi_features) override;

  /// MMDetection's BBoxHead.loss: {loss_cls, acc, loss_bbox} of sampled RoIs with `labels` (K,)
  /// (num_classes = background), `label_weights` (K,), `bbox_targets` and `bbox_weights` (K, 4).
  detkit::LossDict loss(const torch::Tensor& cls_score, const torch::Tensor& bbox_pred,
                        const torch::Tensor& labels, const torch::Tensor& label_weights,
                        const torch::Tensor& bbox_targets, const torch::Tensor& bbox_weights);

  /// MMDetection's BBoxHead.get_bboxes for one image: the detections of `rois` (K, 5) on the
  /// original image (rescaled by meta.scale_factor), after multiclass NMS.
  detkit::Instances get_bboxes(const torch::Tensor& rois, const torch::Tensor& cls_score,
                               const torch::Tensor& bbox_pred, const detkit::ImageMeta& meta,
                               const RCNNTestOptions& cfg = {}) const;

  /// "ConvFCBBoxHead(in_channels=256, ...)".
  void pretty_print(std::ostream& stream) const override;

  ConvFCBBoxHeadOptions options;
  torch::nn::ModuleList shared_convs{nullptr}, shared_fcs{nullptr};
  torch::nn::ModuleList cls_convs{nullptr}, cls_fcs{nullptr};
  torch::nn::ModuleList reg_convs{nullptr}, reg_fcs{nullptr};
  torch::nn::Linear fc_cls{nullptr}, fc_reg{nullptr};
  std::shared_ptr<detkit::LossBase> loss_cls, loss_bbox;
  std::shared_ptr<detkit::BBoxCoderBase> bbox_coder;

 protected:
  /// The name printed by pretty_print().
  std::string type_name_ = "ConvFCBBoxHead";
};

/// MMDetection's Shared2FCBBoxHead: ConvFCBBoxHead with two shared fcs (and no other layer).
class Shared2FCBBoxHeadImpl : public ConvFCBBoxHeadImpl {
 public:
  /// The declared options (two shared fcs by default).
  using Options = Shared2FCBBoxHeadOptions;

  /// Throws detkit::InvalidParameter when a layer count differs from this head's.
  explicit Shared2FCBBoxHeadImpl(const Shared2FCBBoxHeadOptions& options_,
                                 const std::string& path = "Shared2FCBBoxHead");

  /// As ConvFCBBoxHead's create().
  static std::shared_ptr<Shared2FCBBoxHeadImpl> create(const detkit::ComponentConfig& cfg,
                                                       const detkit::RoIFeatureContext& context);
};

}  // namespace roi_heads_plugin
