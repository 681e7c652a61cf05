// TemplateHead: a small anchor-free dense head (one point per feature-map cell, FCOS-style box
// distances), the template's example head (kind `dense_head`, registered as `TemplateHead`).
//
// Layers (shared by all levels; MMDetection's AnchorFreeHead names):
//   shared_conv  3x3 conv in_channels -> feat_channels, ReLU
//   conv_cls     3x3 conv -> num_classes logits per cell
//   conv_reg     3x3 conv -> 4 distances per cell (left, top, right, bottom), in strides
// forward() returns {cls_scores per level, bbox_preds per level}.
//
// Targets (a deliberately simple assignment, documented so the loss can be checked by hand):
// each ground-truth box is positive at exactly one cell per level, the cell that contains the
// box's centre; where boxes share a cell, the smallest box wins. A positive cell's class target
// is its box's label and its regression target the distances from the cell's centre point
// ((x + 0.5) * stride, (y + 0.5) * stride) to the box's four sides, divided by the stride.
// Every other cell is background. loss_cls and loss_bbox are sub-components built through the
// registry (any registered loss: `loss_cls: {type: FocalLoss}` works once its plugin is loaded):
//   loss_cls   on every cell, averaged over the number of positives: a sigmoid_scores loss
//              (FocalLoss) gets the logits and labels (num_classes = background); an elementwise
//              loss (TemplateL2Loss) gets sigmoid(logits) and one-hot targets;
//   loss_bbox  on the positive cells' raw distances, averaged over the number of positives.
//
// predict() follows the dense-head contract: per image, the nms_pre best cells of each level,
// scores sigmoid(logits) above score_thr, boxes decoded as the cell's point minus/plus
// relu(distance) * stride and clipped to img_shape, then class-wise NMS, max_per_img boxes,
// rescaled to the original image (divided by scale_factor).
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/dense_head.h>
#include <detkit/modeling/init.h>
#include <detkit/modeling/loss.h>
#include <detkit/ops/nms.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace mobilenet_plugin {

namespace {

/// The config of a loss with default settings: `{type: <type>}`.
detkit::ConfigNode loss_config(const char* type) {
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", detkit::ConfigNode(type));
  return cfg;
}

/// A 3x3 conv, weights normal(0, 0.01) and constant bias (MMDetection's head init).
torch::nn::Conv2d head_conv(int64_t in, int64_t out, double bias) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, 3).padding(1));
  detkit::normal_init(*conv, /*mean=*/0, /*std=*/0.01, bias);
  return conv;
}

}  // namespace

/// test_cfg.nms: {iou_threshold: 0.5}. (MMDetection also writes `type: nms`; this head runs
/// only that one, and `type` is reserved in detkit schemas for naming components.)
struct TemplateNmsOptions {
  TORCH_ARG(double, iou_threshold) = 0.5;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, iou_threshold, "boxes overlapping a kept one above this are dropped")
        .range(0, 1);
  }
};

/// test_cfg of TemplateHead; names and defaults as MMDetection's dense heads.
struct TemplateHeadTestOptions {
  TORCH_ARG(int64_t, nms_pre) = 1000;
  TORCH_ARG(double, score_thr) = 0.05;
  TORCH_ARG(TemplateNmsOptions, nms) = {};
  TORCH_ARG(int64_t, max_per_img) = 100;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, nms_pre, "cells kept per level before NMS (by best class score)").min(1);
    DETKIT_PARAM(p, score_thr, "scores at or below this are dropped").range(0, 1);
    DETKIT_NESTED(p, nms, "the NMS applied per class");
    DETKIT_PARAM(p, max_per_img, "detections kept per image").min(1);
  }
};

/// Options of TemplateHead; the config keys have the same names.
struct TemplateHeadOptions {
  /// Object classes (default: the dataset's, from the build context).
  TORCH_ARG(int64_t, num_classes) = 80;
  /// Channels of every input level (default: the neck's).
  TORCH_ARG(int64_t, in_channels) = 256;
  /// Channels of the shared conv.
  TORCH_ARG(int64_t, feat_channels) = 256;
  /// Stride of every input level (default: the neck's).
  TORCH_ARG(std::vector<int64_t>, strides) = {8, 16, 32, 64, 128};
  /// The classification and box losses (sub-components built through the registry).
  TORCH_ARG(detkit::ConfigNode, loss_cls) = loss_config("TemplateL2Loss");
  TORCH_ARG(detkit::ConfigNode, loss_bbox) = loss_config("TemplateL2Loss");
  /// How predict() filters.
  TORCH_ARG(TemplateHeadTestOptions, test_cfg) = {};

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary("Anchor-free dense head: one point per cell, class logits + box distances.");
    DETKIT_PARAM(p, num_classes, "object classes (default: the dataset's)").min(1);
    DETKIT_PARAM(p, in_channels, "channels of every input level (default: the neck's)").min(1);
    DETKIT_PARAM(p, feat_channels, "channels of the shared 3x3 conv").min(1);
    DETKIT_PARAM(p, strides, "stride of each input level (default: the neck's)").min(1);
    DETKIT_COMPONENT(p, loss_cls, loss, "classification loss on every cell");
    DETKIT_COMPONENT(p, loss_bbox, loss, "regression loss on the positive cells");
    DETKIT_NESTED(p, test_cfg, "filtering of predict()");
  }
};

/// The head (see the file comment).
class TemplateHeadImpl : public detkit::DenseHeadBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = TemplateHeadOptions;

  /// Builds the layers and the two losses (their config errors name `path`.loss_cls / ...).
  explicit TemplateHeadImpl(const TemplateHeadOptions& options_,
                            const std::string& path = "TemplateHead")
      : options(options_) {
    detkit::check_options(options, "TemplateHead");
    const int64_t feat = options.feat_channels();
    shared_conv = register_module("shared_conv", head_conv(options.in_channels(), feat, 0.0));
    // Focal-loss prior: initial foreground probability 0.01.
    conv_cls = register_module(
        "conv_cls", head_conv(feat, options.num_classes(), detkit::bias_init_with_prob(0.01)));
    conv_reg = register_module("conv_reg", head_conv(feat, 4, 0.0));
    loss_cls = register_module(
        "loss_cls", detkit::build<detkit::LossBase>(options.loss_cls(), path + ".loss_cls"));
    loss_bbox = register_module(
        "loss_bbox", detkit::build<detkit::LossBase>(options.loss_bbox(), path + ".loss_bbox"));
  }

  /// Builds the head from its validated config and the neck's shapes and the dataset's classes:
  /// `num_classes`, `in_channels` and `strides` agree with the context.
  static std::shared_ptr<TemplateHeadImpl> create(const detkit::ComponentConfig& cfg,
                                                  const detkit::HeadContext& context) {
    auto options = detkit::options_from<TemplateHeadOptions>(cfg);
    options.num_classes(cfg.agree("num_classes", context.num_classes));
    if (!context.input_shapes.empty()) {
      std::vector<int64_t> strides;
      for (const auto& shape : context.input_shapes) {
        if (shape.channels != context.input_shapes[0].channels) {
          cfg.fail("in_channels", "TemplateHead shares its convs across levels: every level of " +
                                      context.input_origin + " needs the same channels, got " +
                                      detkit::shapes_text(context.input_shapes));
        }
        strides.push_back(shape.stride);
      }
      options.in_channels(cfg.agree(
          "in_channels",
          detkit::Known<int64_t>(context.input_shapes[0].channels, context.input_origin)));
      options.strides(
          cfg.agree("strides", detkit::Known<std::vector<int64_t>>(strides, context.input_origin)));
    }
    return std::make_shared<TemplateHeadImpl>(options, cfg.path());
  }

  /// {cls_scores, bbox_preds}: per level (N, num_classes, H, W) logits and (N, 4, H, W) raw
  /// distances.
  detkit::MultiLevelOutputs forward(const std::vector<torch::Tensor>& features) override {
    if (features.size() != options.strides().size()) {
      throw detkit::Error("TemplateHead: expected " + std::to_string(options.strides().size()) +
                          " levels (one per stride), got " + std::to_string(features.size()));
    }
    detkit::MultiLevelOutputs outputs(2);
    for (const auto& feature : features) {
      const torch::Tensor x = torch::relu(shared_conv(feature));
      outputs[0].push_back(conv_cls(x));
      outputs[1].push_back(conv_reg(x));
    }
    return outputs;
  }

  /// {"loss_cls", "loss_bbox"} against the samples' `gt` (see the file comment).
  detkit::LossDict loss(const detkit::MultiLevelOutputs& outputs,
                        const std::vector<detkit::DetSample>& samples) override {
    const int64_t num_classes = options.num_classes();
    std::vector<torch::Tensor> cls_preds, reg_preds, labels, reg_targets;
    for (size_t level = 0; level < outputs[0].size(); ++level) {
      const torch::Tensor& cls = outputs[0][level];
      const int64_t stride = options.strides()[level], n = cls.size(0);
      const int64_t height = cls.size(2), width = cls.size(3);
      torch::Tensor label = torch::full({n, height, width}, num_classes, torch::kLong);
      torch::Tensor target = torch::zeros({n, height, width, 4});
      auto label_at = label.accessor<int64_t, 3>();
      auto target_at = target.accessor<float, 4>();
      for (int64_t i = 0; i < n; ++i) {
        const detkit::Instances gt = samples.at(i).gt.to(torch::kCPU);
        if (gt.empty()) continue;
        // Largest first, so that the smallest box of a shared cell is written last.
        const torch::Tensor order = gt.boxes().areas().argsort(/*dim=*/0, /*descending=*/true);
        const torch::Tensor boxes = gt.boxes().tensor().index_select(0, order).contiguous();
        const torch::Tensor gt_labels = gt.labels().index_select(0, order);
        auto box = boxes.accessor<float, 2>();
        for (int64_t k = 0; k < boxes.size(0); ++k) {
          const auto cell = [&](float centre, int64_t size) {
            return std::min(std::max(int64_t(std::floor(centre / stride)), int64_t{0}), size - 1);
          };
          const int64_t x = cell((box[k][0] + box[k][2]) / 2, width);
          const int64_t y = cell((box[k][1] + box[k][3]) / 2, height);
          const float px = (x + 0.5f) * stride, py = (y + 0.5f) * stride;
          label_at[i][y][x] = gt_labels[k].item<int64_t>();
          const float distances[4] = {px - box[k][0], py - box[k][1], box[k][2] - px,
                                      box[k][3] - py};
          for (int d = 0; d < 4; ++d)
            target_at[i][y][x][d] = distances[d] / stride;
        }
      }
      cls_preds.push_back(cls.permute({0, 2, 3, 1}).reshape({-1, num_classes}));
      reg_preds.push_back(outputs[1][level].permute({0, 2, 3, 1}).reshape({-1, 4}));
      labels.push_back(label.reshape({-1}).to(cls.device()));
      reg_targets.push_back(target.reshape({-1, 4}).to(cls.device()));
    }
    const torch::Tensor cls_pred = torch::cat(cls_preds), label = torch::cat(labels);
    const torch::Tensor positive = label < num_classes;
    const double num_pos = std::max<double>(positive.sum().item<int64_t>(), 1.0);
    torch::Tensor cls_loss;
    if (loss_cls->input_form() == detkit::LossInput::sigmoid_scores) {
      cls_loss = loss_cls->forward(cls_pred, label, {}, num_pos);
    } else {
      const torch::Tensor one_hot =
          torch::one_hot(label, num_classes + 1).slice(1, 0, num_classes).to(cls_pred.dtype());
      cls_loss = loss_cls->forward(cls_pred.sigmoid(), one_hot, {}, num_pos);
    }
    const torch::Tensor reg_pred = torch::cat(reg_preds).index({positive});
    const torch::Tensor reg_target = torch::cat(reg_targets).index({positive});
    detkit::LossDict losses;
    losses.insert("loss_cls", cls_loss);
    losses.insert("loss_bbox", reg_pred.size(0) == 0
                                   ? torch::cat(reg_preds).sum() * 0
                                   : loss_bbox->forward(reg_pred, reg_target, {}, num_pos));
    return losses;
  }

  /// Per image: boxes (original-image pixels), scores and labels, by decreasing score.
  std::vector<detkit::Instances> predict(const detkit::MultiLevelOutputs& outputs,
                                         const std::vector<detkit::DetSample>& samples) override {
    const auto& cfg = options.test_cfg();
    std::vector<detkit::Instances> results;
    for (int64_t i = 0; i < static_cast<int64_t>(samples.size()); ++i) {
      std::vector<torch::Tensor> all_boxes, all_scores, all_labels;
      for (size_t level = 0; level < outputs[0].size(); ++level) {
        const int64_t stride = options.strides()[level];
        torch::Tensor scores = outputs[0][level][i].detach().sigmoid().flatten(1).t();  // (HW, C)
        torch::Tensor dist = outputs[1][level][i].detach().relu().flatten(1).t() * stride;
        const int64_t width = outputs[0][level].size(3);
        torch::Tensor cells = torch::arange(scores.size(0), scores.options().dtype(torch::kLong));
        if (scores.size(0) > cfg.nms_pre()) {  // the nms_pre cells with the best class score
          cells = std::get<1>(std::get<0>(scores.max(1)).topk(cfg.nms_pre()));
          scores = scores.index_select(0, cells);
          dist = dist.index_select(0, cells);
        }
        const torch::Tensor px = ((cells % width).to(dist.dtype()) + 0.5) * stride;
        const torch::Tensor py = ((cells.div(width, "floor")).to(dist.dtype()) + 0.5) * stride;
        const torch::Tensor boxes = torch::stack({px - dist.select(1, 0), py - dist.select(1, 1),
                                                  px + dist.select(1, 2), py + dist.select(1, 3)},
                                                 1);
        const torch::Tensor keep = (scores > cfg.score_thr()).nonzero();  // (K, 2): cell, class
        all_boxes.push_back(boxes.index_select(0, keep.select(1, 0)));
        all_scores.push_back(scores.index({keep.select(1, 0), keep.select(1, 1)}));
        all_labels.push_back(keep.select(1, 1));
      }
      const auto& meta = samples[i].meta;
      torch::Tensor boxes = torch::cat(all_boxes), scores = torch::cat(all_scores);
      torch::Tensor labels = torch::cat(all_labels);
      boxes.select(1, 0).clamp_(0, meta.img_shape[1]);
      boxes.select(1, 2).clamp_(0, meta.img_shape[1]);
      boxes.select(1, 1).clamp_(0, meta.img_shape[0]);
      boxes.select(1, 3).clamp_(0, meta.img_shape[0]);
      torch::Tensor keep =
          detkit::ops::batched_nms(boxes, scores, labels, cfg.nms().iou_threshold());
      keep = keep.slice(0, 0, cfg.max_per_img());
      const auto& f = meta.scale_factor;
      const torch::Tensor scale = torch::tensor({f[0], f[1], f[2], f[3]}, boxes.options());
      results.emplace_back(detkit::Boxes(boxes.index_select(0, keep) / scale),
                           labels.index_select(0, keep), scores.index_select(0, keep));
    }
    return results;
  }

  /// "mobilenet_plugin::TemplateHead(num_classes=80, in_channels=256, ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("mobilenet_plugin::TemplateHead", options);
  }

  /// The options the head was built with (context values filled in).
  TemplateHeadOptions options;
  /// The shared 3x3 conv and the two predictors.
  torch::nn::Conv2d shared_conv{nullptr}, conv_cls{nullptr}, conv_reg{nullptr};
  /// The losses built from loss_cls and loss_bbox.
  std::shared_ptr<detkit::LossBase> loss_cls, loss_bbox;
};
/// A ModuleHolder (shared pointer) of TemplateHeadImpl.
TORCH_MODULE(TemplateHead);

DETKIT_REGISTER_MODULE(dense_head, TemplateHead);

}  // namespace mobilenet_plugin
