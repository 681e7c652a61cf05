// ConvFCBBoxHead and Shared2FCBBoxHead: MMDetection 2.25's RoI box heads (kind `bbox_head`,
// mmdet/models/roi_heads/bbox_heads/convfc_bbox_head.py and bbox_head.py).
//
// Layers (MMDetection's names, so its checkpoints load as they are):
//   shared_convs.i  3x3 ConvModules (ReLU) on the (K, in_channels, S, S) RoI features
//   shared_fcs.i    Linear + ReLU on the flattened features (C * S * S inputs for the first)
//   cls_convs.i, cls_fcs.i, reg_convs.i, reg_fcs.i   the same per branch (a branch's first fc
//                   takes the flattened features when there is no shared fc)
//   fc_cls          -> num_classes + 1 scores, background the LAST class
//   fc_reg          -> 4 * num_classes deltas (4 with reg_class_agnostic)
// Shared2FCBBoxHead is ConvFCBBoxHead with num_shared_fcs 2 (faster_rcnn_r50_fpn: shared_fcs
// 12544 -> 1024 -> 1024, fc_cls 1024 -> 81, fc_reg 1024 -> 320).
//
// Initialisation (MMDetection's default init_cfg): fc_cls Normal(std 0.01), fc_reg
// Normal(std 0.001), shared_fcs / cls_fcs / reg_fcs Xavier (uniform, gain 1), biases 0; the
// convs are ConvModules (their own Kaiming init).
//
// loss(): loss_cls over every sampled RoI with its label weight, averaged over the RoIs of
// positive label weight (at least 1), plus `acc` (top-1 accuracy in percent); loss_bbox on the
// positives only (labels in [0, num_classes)), each on the deltas of its own class (or the only
// 4 with reg_class_agnostic), averaged over all sampled RoIs, as MMDetection; with no positive
// it is 0 (connected to bbox_pred). With no RoI at all, loss_cls is 0 too (MMDetection leaves it
// out) and acc is left out.
// get_bboxes(): softmax scores; every RoI decoded once per class (bbox_coder, clipped to
// img_shape), divided by scale_factor; MMDetection's multiclass_nms: background column
// dropped, (box, class) pairs with score > score_thr (and, with min_bbox_size > 0, a box at
// least that large in the input's pixels, as torchvision), class-aware batched NMS, the
// max_per_img best by decreasing score.
#include "convfc_bbox_head.h"

#include <detkit/error.h>
#include <detkit/modeling/conv_module.h>
#include <detkit/ops/nms.h>
#include <detkit/registry.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace roi_heads_plugin {

namespace {

/// MMDetection's init_cfg of ConvFCBBoxHead (BBoxHead's two Normal entries, then Xavier on
/// the fc lists).
detkit::ConfigNode default_init_cfg() {
  auto override_of = [](const char* name) {
    detkit::ConfigNode node = detkit::ConfigNode::make_map();
    node.set("name", detkit::ConfigNode(name));
    return node;
  };
  detkit::ConfigNode cls = detkit::ConfigNode::typed("Normal", {{"std", detkit::ConfigNode(0.01)}});
  cls.set("override", override_of("fc_cls"));
  detkit::ConfigNode reg =
      detkit::ConfigNode::typed("Normal", {{"std", detkit::ConfigNode(0.001)}});
  reg.set("override", override_of("fc_reg"));
  detkit::ConfigNode xavier =
      detkit::ConfigNode::typed("Xavier", {{"distribution", detkit::ConfigNode("uniform")}});
  detkit::ConfigNode overrides = detkit::ConfigNode::make_list();
  overrides.push_back(override_of("shared_fcs"));
  overrides.push_back(override_of("cls_fcs"));
  overrides.push_back(override_of("reg_fcs"));
  xavier.set("override", overrides);
  detkit::ConfigNode init = detkit::ConfigNode::make_list();
  init.push_back(cls);
  init.push_back(reg);
  init.push_back(xavier);
  return init;
}

/// Checks the context and builds `Head` from `cfg` (ConvFCBBoxHead and Shared2FCBBoxHead).
template <class Head>
std::shared_ptr<Head> create_head(const detkit::ComponentConfig& cfg,
                                  const detkit::RoIFeatureContext& context) {
  auto options = detkit::options_from<typename Head::Options>(cfg);
  options.in_channels(cfg.agree("in_channels", context.in_channels));
  options.roi_feat_size(cfg.agree("roi_feat_size", context.roi_feat_size));
  options.num_classes(cfg.agree("num_classes", context.num_classes));
  try {
    return std::make_shared<Head>(options, cfg.path());
  } catch (const detkit::InvalidParameter& e) {
    cfg.fail(e.param(), e.what());
  }
}

/// `count` 3x3 ConvModules (ReLU) from `in` channels to `out`.
torch::nn::ModuleList conv_branch(int64_t count, int64_t in, int64_t out) {
  torch::nn::ModuleList convs;
  for (int64_t i = 0; i < count; ++i) {
    convs->push_back(
        detkit::ConvModule(detkit::ConvModuleOptions(i == 0 ? in : out, out, 3).padding(1)));
  }
  return convs;
}

/// `count` Linear layers from `in` features to `out`.
torch::nn::ModuleList fc_branch(int64_t count, int64_t in, int64_t out) {
  torch::nn::ModuleList fcs;
  for (int64_t i = 0; i < count; ++i)
    fcs->push_back(torch::nn::Linear(i == 0 ? in : out, out));
  return fcs;
}

/// `x` through `convs` (each with its ReLU) then, flattened, through `fcs` with ReLU.
torch::Tensor run_branch(torch::Tensor x, const torch::nn::ModuleList& convs,
                         const torch::nn::ModuleList& fcs) {
  for (const auto& conv : *convs)
    x = conv->as<detkit::ConvModule>()->forward(x);
  if (fcs->size() == 0) return x;
  if (x.dim() > 2) x = x.flatten(1);
  for (const auto& fc : *fcs)
    x = torch::relu(fc->as<torch::nn::Linear>()->forward(x));
  return x;
}

}  // namespace

detkit::ConfigNode rcnn_bbox_coder_cfg() {
  return detkit::ConfigNode::typed(
      "DeltaXYWHBBoxCoder",
      {{"target_means", detkit::ConfigValue<std::vector<double>>::to({0.0, 0.0, 0.0, 0.0})},
       {"target_stds", detkit::ConfigValue<std::vector<double>>::to({0.1, 0.1, 0.2, 0.2})}});
}

detkit::ConfigNode rcnn_loss_cls_cfg() {
  return detkit::ConfigNode::typed("CrossEntropyLoss", {{"use_sigmoid", detkit::ConfigNode(false)},
                                                        {"loss_weight", detkit::ConfigNode(1.0)}});
}

detkit::ConfigNode rcnn_loss_bbox_cfg() {
  return detkit::ConfigNode::typed("L1Loss", {{"loss_weight", detkit::ConfigNode(1.0)}});
}

ConvFCBBoxHeadImpl::ConvFCBBoxHeadImpl(const ConvFCBBoxHeadOptions& options_,
                                       const std::string& path)
    : BaseModule(default_init_cfg()), options(options_) {
  detkit::check_options(options, path);
  if (options.num_shared_convs() + options.num_shared_fcs() + options.num_cls_convs() +
          options.num_cls_fcs() + options.num_reg_convs() + options.num_reg_fcs() ==
      0) {
    throw detkit::InvalidParameter("num_shared_fcs",
                                   path +
                                       ": needs at least one conv or fc (num_shared_convs, "
                                       "num_shared_fcs, num_cls_convs, ... are all 0)");
  }
  const int64_t area = options.roi_feat_size() * options.roi_feat_size();
  const int64_t convs = options.conv_out_channels(), fcs = options.fc_out_channels();
  // Shared part: convs keep the RoI size; the first fc takes the flattened features.
  const int64_t shared_conv_dim = options.num_shared_convs() > 0 ? convs : options.in_channels();
  const bool flat = options.num_shared_fcs() > 0;
  if (flat && (options.num_cls_convs() > 0 || options.num_reg_convs() > 0)) {
    throw detkit::InvalidParameter("num_shared_fcs",
                                   path +
                                       ": convs after shared fcs are not possible "
                                       "(num_cls_convs and num_reg_convs must be 0)");
  }
  const int64_t shared_dim = flat ? fcs : shared_conv_dim;
  // Branches: (channels, flattened) -> last dimension.
  auto branch_dim = [&](int64_t num_convs, int64_t num_fcs) {
    if (num_fcs > 0) return fcs;
    const int64_t channels = num_convs > 0 ? convs : shared_dim;
    return flat ? channels : channels * area;
  };
  auto fc_in = [&](int64_t num_convs) {
    const int64_t channels = num_convs > 0 ? convs : shared_dim;
    return flat ? channels : channels * area;
  };
  // fc_cls and fc_reg first: MMDetection's BBoxHead creates them before ConvFCBBoxHead adds its
  // layers, so they come first in its state dicts.
  const int64_t reg_out = options.reg_class_agnostic() ? 4 : 4 * options.num_classes();
  fc_cls = register_module(
      "fc_cls", torch::nn::Linear(branch_dim(options.num_cls_convs(), options.num_cls_fcs()),
                                  options.num_classes() + 1));
  fc_reg = register_module(
      "fc_reg",
      torch::nn::Linear(branch_dim(options.num_reg_convs(), options.num_reg_fcs()), reg_out));
  shared_convs = register_module(
      "shared_convs", conv_branch(options.num_shared_convs(), options.in_channels(), convs));
  shared_fcs = register_module("shared_fcs",
                               fc_branch(options.num_shared_fcs(), shared_conv_dim * area, fcs));
  cls_convs = register_module("cls_convs", conv_branch(options.num_cls_convs(), shared_dim, convs));
  cls_fcs = register_module("cls_fcs",
                            fc_branch(options.num_cls_fcs(), fc_in(options.num_cls_convs()), fcs));
  reg_convs = register_module("reg_convs", conv_branch(options.num_reg_convs(), shared_dim, convs));
  reg_fcs = register_module("reg_fcs",
                            fc_branch(options.num_reg_fcs(), fc_in(options.num_reg_convs()), fcs));
  bbox_coder = detkit::build<detkit::BBoxCoderBase>(options.bbox_coder(), path + ".bbox_coder");
  loss_cls = register_module(
      "loss_cls", detkit::build<detkit::LossBase>(options.loss_cls(), path + ".loss_cls"));
  loss_bbox = register_module(
      "loss_bbox", detkit::build<detkit::LossBase>(options.loss_bbox(), path + ".loss_bbox"));
  if (loss_cls->input_form() != detkit::LossInput::softmax_scores) {
    throw detkit::InvalidParameter(
        "loss_cls", path +
                        ": loss_cls must be a softmax loss over num_classes + 1 scores "
                        "(e.g. CrossEntropyLoss with use_sigmoid false)");
  }
}

std::shared_ptr<ConvFCBBoxHeadImpl> ConvFCBBoxHeadImpl::create(
    const detkit::ComponentConfig& cfg, const detkit::RoIFeatureContext& context) {
  return create_head<ConvFCBBoxHeadImpl>(cfg, context);
}

std::shared_ptr<Shared2FCBBoxHeadImpl> Shared2FCBBoxHeadImpl::create(
    const detkit::ComponentConfig& cfg, const detkit::RoIFeatureContext& context) {
  return create_head<Shared2FCBBoxHeadImpl>(cfg, context);
}

Shared2FCBBoxHeadImpl::Shared2FCBBoxHeadImpl(const Shared2FCBBoxHeadOptions& options_,
                                             const std::string& path)
    : ConvFCBBoxHeadImpl(options_, path) {
  type_name_ = "Shared2FCBBoxHead";
  const std::vector<std::pair<const char*, int64_t>> counts = {
      {"num_shared_convs", options.num_shared_convs()},
      {"num_shared_fcs", options.num_shared_fcs()},
      {"num_cls_convs", options.num_cls_convs()},
      {"num_cls_fcs", options.num_cls_fcs()},
      {"num_reg_convs", options.num_reg_convs()},
      {"num_reg_fcs", options.num_reg_fcs()}};
  for (const auto& [name, count] : counts) {
    const int64_t fixed = std::string(name) == "num_shared_fcs" ? 2 : 0;
    if (count != fixed) {
      throw detkit::InvalidParameter(
          name, path + ": Shared2FCBBoxHead has " + name + " " + std::to_string(fixed) + ", got " +
                    std::to_string(count) + " (ConvFCBBoxHead takes other layouts)");
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> ConvFCBBoxHeadImpl::forward(
    const torch::Tensor& roi_features) {
  const int64_t size = options.roi_feat_size();
  if (!roi_features.defined() || roi_features.dim() != 4 ||
      roi_features.size(1) != options.in_channels() || roi_features.size(2) != size ||
      roi_features.size(3) != size) {
    throw detkit::Error(
        type_name_ + ": RoI features must be (K, " + std::to_string(options.in_channels()) + ", " +
        std::to_string(size) + ", " + std::to_string(size) +
        ") as in_channels and roi_feat_size say, got " +
        (roi_features.defined()
             ? detkit::ConfigValue<std::vector<int64_t>>::to(roi_features.sizes().vec()).to_flow()
             : std::string("undefined")));
  }
  const torch::Tensor shared = run_branch(roi_features, shared_convs, shared_fcs);
  torch::Tensor x_cls = run_branch(shared, cls_convs, cls_fcs);
  torch::Tensor x_reg = run_branch(shared, reg_convs, reg_fcs);
  if (x_cls.dim() > 2) x_cls = x_cls.flatten(1);
  if (x_reg.dim() > 2) x_reg = x_reg.flatten(1);
  return {fc_cls(x_cls), fc_reg(x_reg)};
}

detkit::LossDict ConvFCBBoxHeadImpl::loss(const torch::Tensor& cls_score,
                                          const torch::Tensor& bbox_pred,
                                          const torch::Tensor& labels,
                                          const torch::Tensor& label_weights,
                                          const torch::Tensor& bbox_targets,
                                          const torch::Tensor& bbox_weights) {
  detkit::LossDict losses;
  const double avg_factor = std::max((label_weights > 0).sum().item<double>(), 1.0);
  if (cls_score.numel() > 0) {
    losses.insert("loss_cls", loss_cls->forward(cls_score, labels, label_weights, avg_factor));
    const torch::Tensor correct = (cls_score.argmax(1) == labels).to(torch::kFloat).sum();
    losses.insert("acc", correct * (100.0 / static_cast<double>(labels.size(0))));
  } else {
    // No RoI: MMDetection leaves loss_cls out; a 0 in the graph keeps the logged keys stable.
    losses.insert("loss_cls", cls_score.narrow(0, 0, 0).sum());
  }
  const torch::Tensor positive = (labels >= 0) & (labels < options.num_classes());
  if (positive.any().item<bool>()) {
    const torch::Tensor index = positive.nonzero().squeeze(1);
    torch::Tensor deltas;
    if (options.reg_class_agnostic()) {
      deltas = bbox_pred.view({bbox_pred.size(0), 4}).index_select(0, index);
    } else {
      deltas =
          bbox_pred.view({bbox_pred.size(0), -1, 4}).index({index, labels.index_select(0, index)});
    }
    losses.insert("loss_bbox", loss_bbox->forward(deltas, bbox_targets.index_select(0, index),
                                                  bbox_weights.index_select(0, index),
                                                  static_cast<double>(bbox_targets.size(0))));
  } else {
    losses.insert("loss_bbox", bbox_pred.narrow(0, 0, 0).sum());  // 0, in the graph
  }
  return losses;
}

detkit::Instances ConvFCBBoxHeadImpl::get_bboxes(const torch::Tensor& rois,
                                                 const torch::Tensor& cls_score,
                                                 const torch::Tensor& bbox_pred,
                                                 const detkit::ImageMeta& meta,
                                                 const RCNNTestOptions& cfg) const {
  const int64_t count = rois.size(0), classes = options.num_classes();
  const torch::Tensor scores = cls_score.softmax(-1).slice(1, 0, classes);
  const int64_t per_roi = bbox_pred.size(1) / 4;  // num_classes, or 1 when class-agnostic
  const torch::Tensor priors =
      rois.slice(1, 1, 5).repeat_interleave(per_roi, 0);  // (K * per_roi, 4)
  torch::Tensor boxes = bbox_coder->decode(priors, bbox_pred.reshape({-1, 4}),
                                           {meta.img_shape[0], meta.img_shape[1]});
  torch::Tensor large;  // undefined: every box is kept
  if (cfg.min_bbox_size() > 0) {
    // Sizes in the network input's pixels (torchvision's remove_small_boxes before rescaling).
    large = ((boxes.select(1, 2) - boxes.select(1, 0)) >= cfg.min_bbox_size()) &
            ((boxes.select(1, 3) - boxes.select(1, 1)) >= cfg.min_bbox_size());
    large = large.view({count, per_roi}).expand({count, classes}).reshape({-1});
  }
  const auto& f = meta.scale_factor;
  boxes = boxes / torch::tensor({f[0], f[1], f[2], f[3]}, boxes.options());
  boxes = boxes.view({count, per_roi, 4}).expand({count, classes, 4}).reshape({-1, 4});
  const torch::Tensor labels =
      torch::arange(classes, rois.options().dtype(torch::kLong)).repeat({count});
  const torch::Tensor flat_scores = scores.reshape({-1});
  torch::Tensor kept = flat_scores > cfg.score_thr();
  if (large.defined()) kept = kept & large;
  const torch::Tensor keep_pairs = kept.nonzero().squeeze(1);
  const torch::Tensor kept_boxes = boxes.index_select(0, keep_pairs);
  const torch::Tensor kept_scores = flat_scores.index_select(0, keep_pairs);
  const torch::Tensor kept_labels = labels.index_select(0, keep_pairs);
  if (kept_boxes.size(0) == 0)
    return detkit::Instances(detkit::Boxes(kept_boxes), kept_labels, kept_scores);
  torch::Tensor keep =
      detkit::ops::batched_nms(kept_boxes, kept_scores, kept_labels, cfg.nms().iou_threshold());
  if (cfg.max_per_img() > 0) keep = keep.slice(0, 0, cfg.max_per_img());
  return detkit::Instances(detkit::Boxes(kept_boxes.index_select(0, keep)),
                           kept_labels.index_select(0, keep), kept_scores.index_select(0, keep));
}

void ConvFCBBoxHeadImpl::pretty_print(std::ostream& stream) const {
  stream << detkit::repr_of(type_name_, options);
}

}  // namespace roi_heads_plugin
