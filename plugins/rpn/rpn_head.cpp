// RPNHead: MMDetection 2.25's region proposal network head (Ren et al., 2015), a dense head
// (kind `dense_head`, type `RPNHead`) on the SDK's AnchorHead (detkit/modeling/anchor_head.h),
// which provides the anchors, training targets and losses.
//
// Layers (MMDetection's names, so MMDetection checkpoints load as they are), shared by every
// level:
//   rpn_conv   3x3 conv in_channels -> feat_channels, then ReLU (num_convs > 1: a list of
//              ConvModules with ReLU, `rpn_conv.i.conv`, then ReLU again, as MMDetection)
//   rpn_cls    1x1 conv feat_channels -> A * cls_out_channels (A anchors per location;
//              cls_out_channels 1 with a sigmoid loss, 2 with a softmax one)
//   rpn_reg    1x1 conv feat_channels -> A * 4
//
// The head is class-agnostic: num_classes is always 1 (a config setting another value is an
// error naming num_classes; the dataset's classes are not consulted). loss() trains every
// positive as class 0 (MMDetection passes gt_labels=None) and returns {loss_rpn_cls,
// loss_rpn_bbox}. proposals() follows MMDetection's RPNHead._get_bboxes_single: per level the
// nms_pre best anchors by foreground score (sigmoid, or softmax column 0), decoded and clipped
// to img_shape; boxes with width or height <= min_bbox_size dropped; batched NMS with the level
// as the category; the max_per_img best kept, by decreasing score. test_cfg.score_thr is
// ignored (MMDetection's RPNHead has none). predict() returns the proposals rescaled to the
// original image (divided by scale_factor), labels 0.
//
// torchvision's RegionProposalNetwork (top pre_nms_top_n per level, sigmoid, clip, remove boxes
// smaller than 1e-3, batched NMS by level, post_nms_top_n) is the same computation with
// min_bbox_size: 0.001 and score_thresh 0 (see README.md).
//
// Defaults: faster_rcnn_r50_fpn's rpn_head, train_cfg.rpn and test_cfg.rpn (MMDetection 2.25).
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/anchor_head.h>
#include <detkit/modeling/conv_module.h>
#include <detkit/ops/nms.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace rpn_plugin {

namespace {

/// faster_rcnn_r50_fpn's RPN anchors: one scale, three ratios, strides 4 ... 64.
detkit::ConfigNode rpn_anchor_generator_cfg() {
  return detkit::ConfigNode::typed(
      "AnchorGenerator",
      {{"scales", detkit::ConfigValue<std::vector<int64_t>>::to({8})},
       {"ratios", detkit::ConfigValue<std::vector<double>>::to({0.5, 1.0, 2.0})},
       {"strides", detkit::ConfigValue<std::vector<int64_t>>::to({4, 8, 16, 32, 64})}});
}

/// train_cfg.rpn.assigner of faster_rcnn_r50_fpn.
detkit::ConfigNode rpn_assigner_cfg() {
  return detkit::ConfigNode::typed("MaxIoUAssigner",
                                   {{"pos_iou_thr", detkit::ConfigNode(0.7)},
                                    {"neg_iou_thr", detkit::ConfigNode(0.3)},
                                    {"min_pos_iou", detkit::ConfigNode(0.3)},
                                    {"match_low_quality", detkit::ConfigNode(true)},
                                    {"ignore_iof_thr", detkit::ConfigNode(-1.0)}});
}

/// train_cfg.rpn.sampler of faster_rcnn_r50_fpn.
detkit::ConfigNode rpn_sampler_cfg() {
  return detkit::ConfigNode::typed("RandomSampler",
                                   {{"num", detkit::ConfigNode(int64_t{256})},
                                    {"pos_fraction", detkit::ConfigNode(0.5)},
                                    {"neg_pos_ub", detkit::ConfigNode(-1.0)},
                                    {"add_gt_as_proposals", detkit::ConfigNode(false)}});
}

/// MMDetection's RPNHead init_cfg: Normal(std 0.01) on every Conv2d.
detkit::ConfigNode rpn_init_cfg() {
  return detkit::ConfigNode::typed(
      "Normal", {{"layer", detkit::ConfigNode("Conv2d")}, {"std", detkit::ConfigNode(0.01)}});
}

/// (A * C, H, W) -> (H * W * A, C): MMDetection's anchor order (location-major, then anchor).
torch::Tensor per_anchor(const torch::Tensor& level, int64_t channels) {
  return level.permute({1, 2, 0}).reshape({-1, channels});
}

}  // namespace

/// Options of RPNHead: AnchorHead's (faster_rcnn_r50_fpn's RPN defaults) plus num_convs.
struct RPNHeadOptions : detkit::AnchorHeadOptions {
  /// faster_rcnn_r50_fpn's rpn_head, train_cfg.rpn and test_cfg.rpn.
  RPNHeadOptions() {
    num_classes(1);
    anchor_generator(rpn_anchor_generator_cfg());
    loss_bbox(detkit::ConfigNode::typed("L1Loss", {{"loss_weight", detkit::ConfigNode(1.0)}}));
    train_cfg().assigner(rpn_assigner_cfg());
    train_cfg().sampler(rpn_sampler_cfg());
    test_cfg().nms_pre(1000).max_per_img(1000).score_thr(0).min_bbox_size(0);
    test_cfg().nms().iou_threshold(0.7);
    proposal_cfg().nms_pre(2000).max_per_img(1000).score_thr(0).min_bbox_size(0);
    proposal_cfg().nms().iou_threshold(0.7);
  }

  /// 3x3 convs before the predictors.
  TORCH_ARG(int64_t, num_convs) = 1;
  /// The proposal filtering of training mode (MMDetection's train_cfg.rpn_proposal, which its
  /// two-stage detectors pass to the RPN head); test_cfg filters in eval mode.
  TORCH_ARG(detkit::AnchorHeadTestOptions, proposal_cfg) = {};

 public:
  /// The parameters, declared once (AnchorHead's, then num_convs).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Region proposal network head: a 3x3 conv and 1x1 objectness / box predictors, "
        "class-agnostic proposals by batched NMS over levels.");
    AnchorHeadOptions::declare(p);
    DETKIT_PARAM(p, num_convs, "3x3 convs (with ReLU) before the predictors").min(1);
    DETKIT_NESTED(p, proposal_cfg,
                  "proposal filtering in training mode (MMDetection's train_cfg.rpn_proposal)");
  }
};

/// The head (see the file comment).
class RPNHeadImpl : public detkit::AnchorHead {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = RPNHeadOptions;

  /// Builds the layers and (through AnchorHead) the anchors, coder, losses, assigner and
  /// sampler; `input` (the neck's shapes, may be empty) must match the anchor strides.
  explicit RPNHeadImpl(const RPNHeadOptions& options_, const std::string& path = "RPNHead",
                       const std::vector<detkit::ShapeSpec>& input = {},
                       const std::string& input_origin = {})
      : AnchorHead(checked(options_, path), path, rpn_init_cfg(), input, input_origin),
        options(options_) {
    if (options.num_convs() == 1) {
      rpn_conv = register_module(
          "rpn_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_channels(),
                                                                 options.feat_channels(), 3)
                                            .padding(1)));
    } else {
      rpn_convs = register_module("rpn_conv", torch::nn::ModuleList());
      for (int64_t i = 0; i < options.num_convs(); ++i) {
        const int64_t in = i == 0 ? options.in_channels() : options.feat_channels();
        rpn_convs->push_back(detkit::ConvModule(
            detkit::ConvModuleOptions(in, options.feat_channels(), 3).padding(1)));
      }
    }
    const int64_t anchors = num_base_priors();
    rpn_cls =
        register_module("rpn_cls", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                       options.feat_channels(), anchors * cls_out_channels(), 1)));
    rpn_reg = register_module("rpn_reg", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                             options.feat_channels(), anchors * 4, 1)));
  }

  /// Builds the head from its validated config and its context: `in_channels` agrees with the
  /// neck's (every level alike), the anchor strides with the neck's strides; num_classes is 1
  /// whatever the dataset's classes.
  static std::shared_ptr<RPNHeadImpl> create(const detkit::ComponentConfig& cfg,
                                             const detkit::HeadContext& context) {
    auto options = detkit::options_from<RPNHeadOptions>(cfg);
    detkit::HeadContext agnostic = context;
    agnostic.num_classes = {};
    detkit::agree_anchor_head_context(cfg, agnostic, options);
    try {
      return std::make_shared<RPNHeadImpl>(options, cfg.path(), context.input_shapes,
                                           context.input_origin);
    } catch (const detkit::InvalidParameter& e) {
      cfg.fail(e.param(), e.what());
    }
  }

  /// {cls_scores, bbox_preds}: per level (N, A * C, H, W) logits and (N, A * 4, H, W) deltas.
  detkit::MultiLevelOutputs forward(const std::vector<torch::Tensor>& features) override {
    detkit::MultiLevelOutputs outputs(2);
    for (const auto& feature : features) {
      torch::Tensor x = feature;
      if (rpn_conv) {
        x = rpn_conv(x);
      } else {
        for (const auto& conv : *rpn_convs)
          x = conv->as<detkit::ConvModule>()->forward(x);
      }
      x = torch::relu(x);
      outputs[0].push_back(rpn_cls(x));
      outputs[1].push_back(rpn_reg(x));
    }
    return outputs;
  }

  /// {loss_rpn_cls, loss_rpn_bbox}: AnchorHead's losses with every gt box of class 0.
  detkit::LossDict loss(const detkit::MultiLevelOutputs& outputs,
                        const std::vector<detkit::DetSample>& samples) override {
    std::vector<detkit::DetSample> agnostic = samples;
    for (auto& sample : agnostic) {
      const torch::Tensor labels = torch::zeros(
          {sample.gt.size()},
          torch::TensorOptions().dtype(torch::kLong).device(sample.gt.boxes().tensor().device()));
      sample.gt = detkit::Instances(sample.gt.boxes(), labels);
    }
    const detkit::LossDict losses = AnchorHead::loss(outputs, agnostic);
    detkit::LossDict renamed;
    renamed.insert("loss_rpn_cls", losses["loss_cls"]);
    renamed.insert("loss_rpn_bbox", losses["loss_bbox"]);
    return renamed;
  }

  /// Per image the proposals in the network input's pixels (img_shape), labels 0, scores the
  /// foreground probability, by decreasing score (see the file comment); filtered as
  /// proposal_cfg says in training mode, as test_cfg says in eval mode.
  std::vector<detkit::Instances> proposals(const detkit::MultiLevelOutputs& outputs,
                                           const std::vector<detkit::DetSample>& samples) const {
    if (outputs.size() != 2 || outputs[0].size() != outputs[1].size() || outputs[0].empty()) {
      throw detkit::Error("RPNHead: expected {class scores, box deltas} per level");
    }
    std::vector<std::pair<int64_t, int64_t>> featmap_sizes;
    for (const auto& level : outputs[0])
      featmap_sizes.emplace_back(level.size(2), level.size(3));
    const std::vector<torch::Tensor> anchors =
        anchor_generator->grid_priors(featmap_sizes, outputs[0][0].options());
    std::vector<detkit::Instances> results;
    for (size_t i = 0; i < samples.size(); ++i) {
      std::vector<torch::Tensor> cls_scores, bbox_preds;
      for (size_t level = 0; level < outputs[0].size(); ++level) {
        cls_scores.push_back(outputs[0][level][i].detach());
        bbox_preds.push_back(outputs[1][level][i].detach());
      }
      results.push_back(
          proposals_single(cls_scores, bbox_preds, anchors, samples[i].meta,
                           is_training() ? options.proposal_cfg() : options.test_cfg()));
    }
    return results;
  }

  /// The proposals of one image from its per-level scores (A * C, H, W), deltas (A * 4, H, W)
  /// and anchors, filtered as `cfg` says (MMDetection's RPNHead._get_bboxes_single).
  detkit::Instances proposals_single(const std::vector<torch::Tensor>& cls_scores,
                                     const std::vector<torch::Tensor>& bbox_preds,
                                     const std::vector<torch::Tensor>& anchors,
                                     const detkit::ImageMeta& meta,
                                     const detkit::AnchorHeadTestOptions& cfg) const {
    std::vector<torch::Tensor> all_scores, all_deltas, all_anchors, all_levels;
    for (size_t level = 0; level < cls_scores.size(); ++level) {
      const torch::Tensor logits = per_anchor(cls_scores[level], cls_out_channels());
      torch::Tensor scores = use_sigmoid_cls() ? logits.reshape({-1}).sigmoid()
                                               : logits.softmax(1).select(1, 0).contiguous();
      torch::Tensor deltas = per_anchor(bbox_preds[level], 4);
      torch::Tensor level_anchors = anchors[level];
      if (cfg.nms_pre() > 0 && cfg.nms_pre() < scores.size(0)) {
        auto [ranked, order] = scores.sort(/*dim=*/0, /*descending=*/true);
        order = order.slice(0, 0, cfg.nms_pre());
        scores = ranked.slice(0, 0, cfg.nms_pre());
        deltas = deltas.index_select(0, order);
        level_anchors = level_anchors.index_select(0, order);
      }
      all_scores.push_back(scores);
      all_deltas.push_back(deltas);
      all_anchors.push_back(level_anchors);
      all_levels.push_back(torch::full({scores.size(0)}, static_cast<int64_t>(level),
                                       scores.options().dtype(torch::kLong)));
    }
    torch::Tensor scores = torch::cat(all_scores), levels = torch::cat(all_levels);
    torch::Tensor boxes = bbox_coder->decode(torch::cat(all_anchors), torch::cat(all_deltas),
                                             {meta.img_shape[0], meta.img_shape[1]});
    const double min_size = cfg.min_bbox_size();
    const torch::Tensor large = ((boxes.select(1, 2) - boxes.select(1, 0)) > min_size) &
                                ((boxes.select(1, 3) - boxes.select(1, 1)) > min_size);
    if (!large.all().item<bool>()) {
      const torch::Tensor keep = large.nonzero().select(1, 0);
      boxes = boxes.index_select(0, keep);
      scores = scores.index_select(0, keep);
      levels = levels.index_select(0, keep);
    }
    torch::Tensor keep = boxes.size(0) > 0 ? detkit::ops::batched_nms(boxes, scores, levels,
                                                                      cfg.nms().iou_threshold())
                                           : torch::empty({0}, levels.options());
    keep = keep.slice(0, 0, cfg.max_per_img());
    return detkit::Instances(detkit::Boxes(boxes.index_select(0, keep)),
                             torch::zeros({keep.size(0)}, levels.options()),
                             scores.index_select(0, keep));
  }

  /// The proposals in original-image pixels (divided by scale_factor), labels 0.
  std::vector<detkit::Instances> predict(const detkit::MultiLevelOutputs& outputs,
                                         const std::vector<detkit::DetSample>& samples) override {
    std::vector<detkit::Instances> results = proposals(outputs, samples);
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& f = samples[i].meta.scale_factor;
      const torch::Tensor boxes = results[i].boxes().tensor();
      results[i] = detkit::Instances(
          detkit::Boxes(boxes / torch::tensor({f[0], f[1], f[2], f[3]}, boxes.options())),
          results[i].labels(), results[i].scores());
    }
    return results;
  }

  /// MMDetection's base class of RPNHead.
  std::vector<std::string> mmcv_base_names() const override { return {"AnchorHead"}; }

  /// "rpn_plugin::RPNHead(num_classes=1, in_channels=256, ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("rpn_plugin::RPNHead", options);
  }

  /// The options the head was built with (context values filled in).
  RPNHeadOptions options;
  /// The 3x3 conv (num_convs 1) or ConvModules (num_convs > 1), and the predictors.
  torch::nn::Conv2d rpn_conv{nullptr};
  torch::nn::ModuleList rpn_convs{nullptr};
  torch::nn::Conv2d rpn_cls{nullptr}, rpn_reg{nullptr};

 private:
  /// `options`, after checking what AnchorHead cannot: the head is class-agnostic, and its
  /// sampler's indices must refer to the anchors.
  static const RPNHeadOptions& checked(const RPNHeadOptions& options, const std::string& path) {
    if (options.num_classes() != 1) {
      throw detkit::InvalidParameter(
          "num_classes", path +
                             ": RPNHead is class-agnostic: num_classes must be 1 (one "
                             "objectness score per anchor with a sigmoid loss, two with a "
                             "softmax one), got " +
                             std::to_string(options.num_classes()));
    }
    const detkit::ConfigNode& sampler = options.train_cfg().sampler();
    const detkit::ConfigNode* add_gt =
        sampler.is_map() ? sampler.find("add_gt_as_proposals") : nullptr;
    if (add_gt != nullptr && add_gt->is_bool() && add_gt->as_bool()) {
      throw detkit::InvalidParameter(
          "train_cfg", path +
                           ".train_cfg.sampler: add_gt_as_proposals must be false for an "
                           "anchor head (ground-truth boxes are not anchors)");
    }
    return options;
  }
};
/// A ModuleHolder (shared pointer) of RPNHeadImpl.
TORCH_MODULE(RPNHead);

DETKIT_REGISTER_MODULE(dense_head, RPNHead);

}  // namespace rpn_plugin
