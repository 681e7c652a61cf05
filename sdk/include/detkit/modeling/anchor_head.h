// AnchorHead: the shared machinery of anchor-based dense heads (MMDetection 2.25's AnchorHead:
// RetinaHead, RPNHead, SSDHead, ... and third-party heads), as a base class in the SDK,
// implemented in libdetkit.
//
// A subclass builds its conv tower and implements forward() (per level: class scores
// (N, A * cls_out_channels(), H, W) and box deltas (N, A * 4, H, W), A = num_base_priors());
// AnchorHead builds everything else from the options, through the registries:
//   anchor_generator, bbox_coder, loss_cls, loss_bbox, train_cfg.assigner, train_cfg.sampler,
// and implements MMDetection's semantics:
//   get_anchors  the anchors of every level, and per image the valid flags (locations inside
//                the padded image, MMDetection's AnchorGenerator.valid_flags);
//   get_targets  per image: anchors inside the image (train_cfg.allowed_border; -1 keeps all
//                valid ones) assigned and sampled; labels = num_classes for background, label
//                weights 1 (pos_weight for positives when > 0) on positives and negatives, box
//                targets encoded by bbox_coder (or the gt boxes when reg_decoded_bbox); the
//                average factor is sum_i max(num_pos_i, 1) (+ sum_i max(num_neg_i, 1) when
//                sampling, i.e. when loss_cls is not FocalLoss, GHMC or QualityFocalLoss and
//                train_cfg.sampler is set);
//   loss         {"loss_cls", "loss_bbox"}: loss_cls over every anchor with the label weights,
//                loss_bbox over the positives, both averaged by the average factor; a sigmoid
//                loss (use_sigmoid) gets num_classes scores per anchor, a softmax loss
//                num_classes + 1. The per-level losses of MMDetection are summed (equal, as
//                every level shares the average factor).
//   predict      per image and level: sigmoid (softmax without the background column), scores
//                <= score_thr dropped, the nms_pre best (anchor, class) pairs kept, decoded
//                (clipped to img_shape); all levels rescaled to the original image (divided by
//                scale_factor), class-aware batched_nms, max_per_img, by decreasing score.
//                test_cfg.min_bbox_size is accepted for MMDetection's configs and, as in
//                MMDetection's AnchorHead, not applied (proposal heads apply it).
// Images smaller than a level's stride work: every level keeps at least one location.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/config_node.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/loss.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"

namespace detkit {

/// Default configs of AnchorHead's sub-components (MMDetection 2.25's AnchorHead defaults).
/// `{type: AnchorGenerator, scales: [8, 16, 32], ratios: [0.5, 1.0, 2.0], strides: [4, ..., 64]}`.
DETKIT_API ConfigNode default_anchor_generator_cfg();
/// `{type: DeltaXYWHBBoxCoder, target_means: [0, 0, 0, 0], target_stds: [1, 1, 1, 1]}`.
DETKIT_API ConfigNode default_bbox_coder_cfg();
/// `{type: CrossEntropyLoss, use_sigmoid: true, loss_weight: 1.0}`.
DETKIT_API ConfigNode default_anchor_loss_cls_cfg();
/// `{type: SmoothL1Loss, beta: 1/9, loss_weight: 1.0}`.
DETKIT_API ConfigNode default_anchor_loss_bbox_cfg();
/// `{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0,
/// ignore_iof_thr: -1}` (retinanet_r50_fpn's train_cfg.assigner).
DETKIT_API ConfigNode default_anchor_assigner_cfg();

/// test_cfg.nms of dense heads: `{type: nms, iou_threshold: 0.5}`.
struct DETKIT_API DenseNmsOptions {
  TORCH_ARG(std::string, type) = "nms";
  TORCH_ARG(double, iou_threshold) = 0.5;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, type, "the NMS variant (class-aware batched NMS)").choices({"nms"});
    DETKIT_PARAM(p, iou_threshold,
                 "boxes overlapping a kept one of their class above this "
                 "are dropped")
        .range(0, 1);
  }
};

/// train_cfg of anchor heads (MMDetection's names; defaults of retinanet_r50_fpn).
struct DETKIT_API AnchorHeadTrainOptions {
  /// Assigns anchors to ground-truth boxes (`assigner` registry).
  TORCH_ARG(ConfigNode, assigner) = default_anchor_assigner_cfg();
  /// Samples the assigned anchors (`sampler` registry); null: PseudoSampler. Used only when
  /// sampling (loss_cls is not FocalLoss, GHMC or QualityFocalLoss).
  TORCH_ARG(ConfigNode, sampler);
  /// Anchors further than this outside the image are ignored; -1: keep all valid anchors.
  TORCH_ARG(int64_t, allowed_border) = -1;
  /// Label weight of positives; <= 0: 1.
  TORCH_ARG(double, pos_weight) = -1;
  /// MMDetection's debug flag (accepted, no effect).
  TORCH_ARG(bool, debug) = false;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_COMPONENT(p, assigner, assigner, "assigns anchors to ground-truth boxes");
    DETKIT_COMPONENT(p, sampler, sampler, "samples assigned anchors; null: PseudoSampler")
        .nullable();
    DETKIT_PARAM(p, allowed_border,
                 "anchors beyond this many pixels outside the image are "
                 "ignored; -1: none is")
        .min(-1);
    DETKIT_PARAM(p, pos_weight, "label weight of positives; <= 0: 1");
    DETKIT_PARAM(p, debug, "MMDetection's debug flag (no effect)");
  }
};

/// test_cfg of anchor heads (MMDetection's names; defaults of retinanet_r50_fpn).
struct DETKIT_API AnchorHeadTestOptions {
  TORCH_ARG(int64_t, nms_pre) = 1000;
  TORCH_ARG(double, min_bbox_size) = 0;
  TORCH_ARG(double, score_thr) = 0.05;
  TORCH_ARG(DenseNmsOptions, nms) = {};
  TORCH_ARG(int64_t, max_per_img) = 100;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, nms_pre, "(anchor, class) pairs kept per level before NMS; <= 0: all");
    DETKIT_PARAM(p, min_bbox_size,
                 "accepted for MMDetection's configs; anchor heads do not "
                 "filter by it")
        .min(0);
    DETKIT_PARAM(p, score_thr, "scores at or below this are dropped").range(0, 1);
    DETKIT_NESTED(p, nms, "the NMS applied per class");
    DETKIT_PARAM(p, max_per_img, "detections kept per image").min(1);
  }
};

/// Options of AnchorHead (MMDetection's names and defaults); subclasses' options derive from
/// it and call AnchorHeadOptions::declare() from their own declare().
struct DETKIT_API AnchorHeadOptions {
  /// Object classes, without background (default: the dataset's, from the build context).
  TORCH_ARG(int64_t, num_classes) = 80;
  /// Channels of every input level (default: the neck's, from the build context).
  TORCH_ARG(int64_t, in_channels) = 256;
  /// Channels of the hidden convs (used by subclasses).
  TORCH_ARG(int64_t, feat_channels) = 256;
  TORCH_ARG(ConfigNode, anchor_generator) = default_anchor_generator_cfg();
  TORCH_ARG(ConfigNode, bbox_coder) = default_bbox_coder_cfg();
  /// Regress decoded boxes (IoU-type losses) instead of deltas.
  TORCH_ARG(bool, reg_decoded_bbox) = false;
  TORCH_ARG(ConfigNode, loss_cls) = default_anchor_loss_cls_cfg();
  TORCH_ARG(ConfigNode, loss_bbox) = default_anchor_loss_bbox_cfg();
  TORCH_ARG(AnchorHeadTrainOptions, train_cfg) = {};
  TORCH_ARG(AnchorHeadTestOptions, test_cfg) = {};

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, num_classes, "object classes without background (default: the dataset's)")
        .min(1);
    DETKIT_PARAM(p, in_channels, "channels of every input level (default: the neck's)").min(1);
    DETKIT_PARAM(p, feat_channels, "channels of the hidden convs").min(1);
    DETKIT_COMPONENT(p, anchor_generator, anchor_generator, "anchors of every level");
    DETKIT_COMPONENT(p, bbox_coder, bbox_coder, "boxes <-> regression targets");
    DETKIT_PARAM(p, reg_decoded_bbox, "apply loss_bbox to decoded boxes (IoU losses)");
    DETKIT_COMPONENT(p, loss_cls, loss, "classification loss (sigmoid or softmax)");
    DETKIT_COMPONENT(p, loss_bbox, loss, "regression loss on the positives");
    DETKIT_NESTED(p, train_cfg, "assignment and sampling of loss()");
    DETKIT_NESTED(p, test_cfg, "filtering of predict()");
  }
};

/// The anchors of a batch (MMDetection's get_anchors).
struct DETKIT_API BatchAnchors {
  /// Per level, (H_l * W_l * A_l, 4): the same for every image.
  std::vector<torch::Tensor> multi_level;
  /// Per image, (sum_l H_l * W_l * A_l,) bool: the anchor's location is inside the padded image.
  std::vector<torch::Tensor> valid_flags;
  /// H_l * W_l * A_l of each level.
  std::vector<int64_t> num_level_anchors() const;
  /// All levels concatenated, (sum_l H_l * W_l * A_l, 4).
  torch::Tensor flat() const;
};

/// Training targets of a batch (MMDetection's get_targets), levels concatenated per image.
struct DETKIT_API AnchorTargets {
  /// (N, A_total) int64: the class, num_classes for background.
  torch::Tensor labels;
  /// (N, A_total) float: 0 for anchors neither positive nor negative (ignored or outside).
  torch::Tensor label_weights;
  /// (N, A_total, 4): encoded targets (or gt boxes when reg_decoded_bbox) of the positives.
  torch::Tensor bbox_targets;
  /// (N, A_total, 4): 1 for positives.
  torch::Tensor bbox_weights;
  /// Per image: positives and negatives among its anchors (indices into the flat anchors).
  std::vector<torch::Tensor> pos_inds;
  std::vector<torch::Tensor> neg_inds;
  /// The average factor of both losses (see the file comment).
  double avg_factor = 1;
};

/// Base class of anchor-based dense heads (see the file comment).
class DETKIT_API AnchorHead : public DenseHeadBase, public BaseModule {
 public:
  /// Builds the sub-components from `options` (their config errors name `path`.anchor_generator,
  /// ...). `init_cfg` is the class's default init_cfg (a config's replaces it). `input` (the
  /// neck's shapes; may be empty) is checked against the anchor generator's strides.
  AnchorHead(const AnchorHeadOptions& options, const std::string& path, ConfigNode init_cfg,
             const std::vector<ShapeSpec>& input = {}, const std::string& input_origin = {});
  ~AnchorHead() override;

  /// Raw outputs per level: {class scores, box deltas} (implemented by the subclass).
  MultiLevelOutputs forward(const std::vector<torch::Tensor>& features) override = 0;
  /// {"loss_cls", "loss_bbox"} of `outputs` against the samples' gt (see the file comment).
  LossDict loss(const MultiLevelOutputs& outputs, const std::vector<DetSample>& samples) override;
  /// Detections per image in original-image pixels, by decreasing score.
  std::vector<Instances> predict(const MultiLevelOutputs& outputs,
                                 const std::vector<DetSample>& samples) override;

  /// The anchors of feature maps of `featmap_sizes` (H, W) and their valid flags per sample.
  BatchAnchors get_anchors(const std::vector<std::pair<int64_t, int64_t>>& featmap_sizes,
                           const std::vector<DetSample>& samples,
                           const torch::TensorOptions& options) const;
  /// The training targets of `anchors` for the samples' gt (MMDetection's get_targets).
  AnchorTargets get_targets(const BatchAnchors& anchors,
                            const std::vector<DetSample>& samples) const;
  /// The detections of one image from its per-level class scores (A * C, H, W) and deltas
  /// (A * 4, H, W) and the per-level anchors.
  Instances predict_single(const std::vector<torch::Tensor>& cls_scores,
                           const std::vector<torch::Tensor>& bbox_preds,
                           const std::vector<torch::Tensor>& anchors, const ImageMeta& meta) const;

  /// Class score channels per anchor: num_classes (sigmoid) or num_classes + 1 (softmax).
  int64_t cls_out_channels() const { return cls_out_channels_; }
  /// Anchors per location (of the first level, as MMDetection's num_anchors).
  int64_t num_base_priors() const { return num_base_priors_; }
  /// Whether loss_cls classifies with sigmoids (use_sigmoid).
  bool use_sigmoid_cls() const { return use_sigmoid_cls_; }
  /// Whether get_targets samples (see the file comment).
  bool sampling() const { return sampling_; }
  /// The options the head was built with (context values filled in).
  const AnchorHeadOptions& head_options() const { return head_options_; }

  std::shared_ptr<AnchorGeneratorBase> anchor_generator;
  std::shared_ptr<BBoxCoderBase> bbox_coder;
  std::shared_ptr<AssignerBase> assigner;
  std::shared_ptr<SamplerBase> sampler;
  /// The losses (registered children `loss_cls`, `loss_bbox`; they have no parameters).
  std::shared_ptr<LossBase> loss_cls, loss_bbox;

 private:
  AnchorHeadOptions head_options_;
  int64_t cls_out_channels_ = 0;
  int64_t num_base_priors_ = 0;
  bool use_sigmoid_cls_ = true;
  bool sampling_ = false;
};

/// Reconciles a head config's `num_classes` and `in_channels` with its HeadContext (the
/// dataset's classes, the neck's shapes: every level must have the same channels) and writes
/// them into `options`; errors name both values and both origins.
DETKIT_API void agree_anchor_head_context(const ComponentConfig& cfg, const HeadContext& context,
                                          AnchorHeadOptions& options);

}  // namespace detkit
