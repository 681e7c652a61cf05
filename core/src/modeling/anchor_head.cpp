// AnchorHead: MMDetection 2.25's anchor-head machinery (see detkit/modeling/anchor_head.h).
#include "detkit/modeling/anchor_head.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "detkit/error.h"
#include "detkit/ops/nms.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// `{type: <type>}` plus the given entries.
ConfigNode component_cfg(const char* type,
                         std::vector<std::pair<const char*, ConfigNode>> entries) {
  ConfigNode cfg = ConfigNode::make_map();
  cfg.set("type", ConfigNode(type));
  for (auto& [key, value] : entries)
    cfg.set(key, std::move(value));
  return cfg;
}

/// The `type:` of a component config ("" when it has none).
std::string type_of(const ConfigNode& cfg) {
  const ConfigNode* type = cfg.find("type");
  return type != nullptr && type->is_string() ? type->as_string() : std::string();
}

/// (N, A * C, H, W) per level -> (N, sum_l H_l * W_l * A, C): MMDetection's anchor order
/// (location-major, then anchor) with one row per anchor.
torch::Tensor flatten_levels(const std::vector<torch::Tensor>& levels, int64_t channels) {
  std::vector<torch::Tensor> flat;
  flat.reserve(levels.size());
  for (const auto& level : levels)
    flat.push_back(level.permute({0, 2, 3, 1}).reshape({level.size(0), -1, channels}));
  return torch::cat(flat, 1);
}

/// MMDetection's anchor_inside_flags: valid anchors lying within `allowed_border` pixels of
/// the image (all valid ones when allowed_border < 0).
torch::Tensor anchor_inside_flags(const torch::Tensor& anchors, const torch::Tensor& valid,
                                  const ImageMeta& meta, int64_t allowed_border) {
  if (allowed_border < 0) return valid;
  const double border = static_cast<double>(allowed_border);
  const double height = static_cast<double>(meta.img_shape[0]);
  const double width = static_cast<double>(meta.img_shape[1]);
  return valid & (anchors.select(1, 0) >= -border) & (anchors.select(1, 1) >= -border) &
         (anchors.select(1, 2) < width + border) & (anchors.select(1, 3) < height + border);
}

}  // namespace

ConfigNode default_anchor_generator_cfg() {
  return component_cfg("AnchorGenerator",
                       {{"scales", ConfigValue<std::vector<int64_t>>::to({8, 16, 32})},
                        {"ratios", ConfigValue<std::vector<double>>::to({0.5, 1.0, 2.0})},
                        {"strides", ConfigValue<std::vector<int64_t>>::to({4, 8, 16, 32, 64})}});
}

ConfigNode default_bbox_coder_cfg() {
  return component_cfg("DeltaXYWHBBoxCoder",
                       {{"target_means", ConfigValue<std::vector<double>>::to({0, 0, 0, 0})},
                        {"target_stds", ConfigValue<std::vector<double>>::to({1, 1, 1, 1})}});
}

ConfigNode default_anchor_loss_cls_cfg() {
  return component_cfg("CrossEntropyLoss",
                       {{"use_sigmoid", ConfigNode(true)}, {"loss_weight", ConfigNode(1.0)}});
}

ConfigNode default_anchor_loss_bbox_cfg() {
  return component_cfg("SmoothL1Loss",
                       {{"beta", ConfigNode(1.0 / 9.0)}, {"loss_weight", ConfigNode(1.0)}});
}

ConfigNode default_anchor_assigner_cfg() {
  return component_cfg("MaxIoUAssigner", {{"pos_iou_thr", ConfigNode(0.5)},
                                          {"neg_iou_thr", ConfigNode(0.4)},
                                          {"min_pos_iou", ConfigNode(0.0)},
                                          {"ignore_iof_thr", ConfigNode(-1.0)}});
}

std::vector<int64_t> BatchAnchors::num_level_anchors() const {
  std::vector<int64_t> counts;
  for (const auto& level : multi_level)
    counts.push_back(level.size(0));
  return counts;
}

torch::Tensor BatchAnchors::flat() const {
  return torch::cat(multi_level, 0);
}

AnchorHead::AnchorHead(const AnchorHeadOptions& options, const std::string& path,
                       ConfigNode init_cfg, const std::vector<ShapeSpec>& input,
                       const std::string& input_origin)
    : BaseModule(std::move(init_cfg)), head_options_(options) {
  check_options(head_options_, path);
  anchor_generator =
      build<AnchorGeneratorBase>(options.anchor_generator(), path + ".anchor_generator");
  bbox_coder = build<BBoxCoderBase>(options.bbox_coder(), path + ".bbox_coder");
  loss_cls = register_module("loss_cls", build<LossBase>(options.loss_cls(), path + ".loss_cls"));
  loss_bbox =
      register_module("loss_bbox", build<LossBase>(options.loss_bbox(), path + ".loss_bbox"));

  const LossInput cls_form = loss_cls->input_form();
  if (cls_form != LossInput::sigmoid_scores && cls_form != LossInput::softmax_scores) {
    throw InvalidParameter("loss_cls", path + ".loss_cls: " + type_of(options.loss_cls()) +
                                           " is not a classification loss (a sigmoid or "
                                           "softmax loss such as FocalLoss or "
                                           "CrossEntropyLoss)");
  }
  use_sigmoid_cls_ = cls_form == LossInput::sigmoid_scores;
  cls_out_channels_ = options.num_classes() + (use_sigmoid_cls_ ? 0 : 1);

  // MMDetection 2.25: focal-type losses never sample; others sample when a sampler is set.
  const std::string cls_type = type_of(options.loss_cls());
  const bool focal_type =
      cls_type == "FocalLoss" || cls_type == "GHMC" || cls_type == "QualityFocalLoss";
  const ConfigNode& sampler_cfg = options.train_cfg().sampler();
  sampling_ = !focal_type && !sampler_cfg.is_null() && type_of(sampler_cfg) != "PseudoSampler";
  assigner = build<AssignerBase>(options.train_cfg().assigner(), path + ".train_cfg.assigner");
  sampler = build<SamplerBase>(sampling_ ? sampler_cfg : component_cfg("PseudoSampler", {}),
                               path + ".train_cfg.sampler");

  const std::vector<int64_t> priors = anchor_generator->num_base_priors();
  if (priors.empty()) {
    throw InvalidParameter("anchor_generator", path + ".anchor_generator has no levels");
  }
  num_base_priors_ = priors[0];
  if (!input.empty()) {
    std::vector<int64_t> input_strides;
    for (const auto& shape : input)
      input_strides.push_back(shape.stride);
    const std::vector<int64_t> strides = anchor_generator->strides();
    if (strides != input_strides) {
      throw InvalidParameter("anchor_generator",
                             path + ".anchor_generator: strides " +
                                 ConfigValue<std::vector<int64_t>>::to(strides).to_flow() +
                                 " differ from the strides " +
                                 ConfigValue<std::vector<int64_t>>::to(input_strides).to_flow() +
                                 " of the levels of " + input_origin);
    }
  }
}

AnchorHead::~AnchorHead() = default;

BatchAnchors AnchorHead::get_anchors(const std::vector<std::pair<int64_t, int64_t>>& featmap_sizes,
                                     const std::vector<DetSample>& samples,
                                     const torch::TensorOptions& options) const {
  const std::vector<int64_t> strides = anchor_generator->strides();
  const std::vector<int64_t> priors = anchor_generator->num_base_priors();
  if (featmap_sizes.size() != strides.size()) {
    throw Error("AnchorHead: " + std::to_string(featmap_sizes.size()) +
                " feature levels, but the anchor generator has " + std::to_string(strides.size()) +
                " strides");
  }
  BatchAnchors anchors;
  anchors.multi_level = anchor_generator->grid_priors(featmap_sizes, options);
  const auto bool_options = options.dtype(torch::kBool);
  for (const auto& sample : samples) {
    std::vector<torch::Tensor> levels;
    for (size_t level = 0; level < featmap_sizes.size(); ++level) {
      // MMDetection's valid_flags: the locations covering the padded image.
      const auto [feat_h, feat_w] = featmap_sizes[level];
      const int64_t stride = strides[level];
      const int64_t valid_h = std::min(
          static_cast<int64_t>(std::ceil(double(sample.meta.pad_shape[0]) / stride)), feat_h);
      const int64_t valid_w = std::min(
          static_cast<int64_t>(std::ceil(double(sample.meta.pad_shape[1]) / stride)), feat_w);
      torch::Tensor valid_y = torch::zeros({feat_h}, bool_options);
      torch::Tensor valid_x = torch::zeros({feat_w}, bool_options);
      valid_y.slice(0, 0, valid_h).fill_(true);
      valid_x.slice(0, 0, valid_w).fill_(true);
      const torch::Tensor valid = (valid_y.unsqueeze(1) & valid_x.unsqueeze(0)).reshape({-1});
      levels.push_back(valid.unsqueeze(1).expand({valid.size(0), priors[level]}).reshape({-1}));
    }
    anchors.valid_flags.push_back(torch::cat(levels));
  }
  return anchors;
}

AnchorTargets AnchorHead::get_targets(const BatchAnchors& anchors,
                                      const std::vector<DetSample>& samples) const {
  const AnchorHeadTrainOptions& train_cfg = head_options_.train_cfg();
  const int64_t num_classes = head_options_.num_classes();
  const torch::Tensor flat_anchors = anchors.flat();
  const int64_t num_anchors = flat_anchors.size(0);
  const auto float_options = flat_anchors.options();
  const auto long_options = float_options.dtype(torch::kLong);

  std::vector<torch::Tensor> labels, label_weights, bbox_targets, bbox_weights;
  AnchorTargets targets;
  int64_t total_pos = 0, total_neg = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const DetSample& sample = samples[i];
    torch::Tensor image_labels = torch::full({num_anchors}, num_classes, long_options);
    torch::Tensor image_label_weights = torch::zeros({num_anchors}, float_options);
    torch::Tensor image_bbox_targets = torch::zeros({num_anchors, 4}, float_options);
    torch::Tensor image_bbox_weights = torch::zeros({num_anchors, 4}, float_options);
    torch::Tensor pos_inds = torch::empty({0}, long_options);
    torch::Tensor neg_inds = torch::empty({0}, long_options);

    const torch::Tensor inside =
        anchor_inside_flags(flat_anchors, anchors.valid_flags.at(i).to(flat_anchors.device()),
                            sample.meta, train_cfg.allowed_border());
    // No anchor inside the image: every anchor is ignored (MMDetection fails here).
    if (inside.any().item<bool>()) {
      const torch::Tensor inside_inds = inside.nonzero().select(1, 0);
      const torch::Tensor inside_anchors = flat_anchors.index_select(0, inside_inds);
      const Instances gt = sample.gt.to(flat_anchors.device());
      const torch::Tensor gt_boxes = gt.boxes().tensor().to(flat_anchors.dtype());
      torch::Tensor gt_ignore;
      if (!sample.gt_ignore.empty()) {
        gt_ignore = sample.gt_ignore.tensor().to(flat_anchors.device(), flat_anchors.dtype());
      }
      const AssignResult assignment =
          assigner->assign(inside_anchors, gt_boxes, gt.labels(), gt_ignore);
      const SamplingResult sampled = sampler->sample(assignment, inside_anchors, gt_boxes);

      pos_inds = inside_inds.index_select(0, sampled.pos_inds.to(torch::kLong));
      neg_inds = inside_inds.index_select(0, sampled.neg_inds.to(torch::kLong));
      if (pos_inds.numel() > 0) {
        const torch::Tensor pos_anchors = flat_anchors.index_select(0, pos_inds);
        const torch::Tensor pos_gt_boxes = sampled.pos_gt_bboxes.to(flat_anchors.dtype());
        const torch::Tensor encoded = head_options_.reg_decoded_bbox()
                                          ? pos_gt_boxes
                                          : bbox_coder->encode(pos_anchors, pos_gt_boxes);
        image_bbox_targets.index_put_({pos_inds}, encoded.to(flat_anchors.dtype()));
        image_bbox_weights.index_put_({pos_inds}, 1.0);
        image_labels.index_put_(
            {pos_inds}, gt.labels()
                            .to(torch::kLong)
                            .index_select(0, sampled.pos_assigned_gt_inds.to(torch::kLong)));
        image_label_weights.index_put_({pos_inds},
                                       train_cfg.pos_weight() <= 0 ? 1.0 : train_cfg.pos_weight());
      }
      if (neg_inds.numel() > 0) image_label_weights.index_put_({neg_inds}, 1.0);
    }
    total_pos += std::max<int64_t>(pos_inds.numel(), 1);
    total_neg += std::max<int64_t>(neg_inds.numel(), 1);
    labels.push_back(image_labels);
    label_weights.push_back(image_label_weights);
    bbox_targets.push_back(image_bbox_targets);
    bbox_weights.push_back(image_bbox_weights);
    targets.pos_inds.push_back(pos_inds);
    targets.neg_inds.push_back(neg_inds);
  }
  targets.labels = torch::stack(labels);
  targets.label_weights = torch::stack(label_weights);
  targets.bbox_targets = torch::stack(bbox_targets);
  targets.bbox_weights = torch::stack(bbox_weights);
  targets.avg_factor = static_cast<double>(sampling_ ? total_pos + total_neg : total_pos);
  return targets;
}

LossDict AnchorHead::loss(const MultiLevelOutputs& outputs, const std::vector<DetSample>& samples) {
  if (outputs.size() != 2 || outputs[0].size() != outputs[1].size() || outputs[0].empty()) {
    throw Error("AnchorHead::loss: expected {class scores, box deltas} per level");
  }
  if (static_cast<int64_t>(samples.size()) != outputs[0][0].size(0)) {
    throw Error("AnchorHead::loss: " + std::to_string(samples.size()) + " samples for a batch of " +
                std::to_string(outputs[0][0].size(0)) + " images");
  }
  std::vector<std::pair<int64_t, int64_t>> featmap_sizes;
  for (const auto& level : outputs[0])
    featmap_sizes.emplace_back(level.size(2), level.size(3));
  const torch::TensorOptions options = outputs[0][0].options();
  const BatchAnchors anchors = get_anchors(featmap_sizes, samples, options);
  const AnchorTargets targets = get_targets(anchors, samples);

  const torch::Tensor cls_scores =
      flatten_levels(outputs[0], cls_out_channels_).reshape({-1, cls_out_channels_});
  const torch::Tensor bbox_preds = flatten_levels(outputs[1], 4).reshape({-1, 4});
  LossDict losses;
  losses.insert("loss_cls",
                loss_cls->forward(cls_scores, targets.labels.reshape({-1}),
                                  targets.label_weights.reshape({-1}), targets.avg_factor));

  // Only positives carry box weight: the loss over them equals MMDetection's weighted loss
  // over every anchor.
  const torch::Tensor positive = targets.bbox_weights.reshape({-1, 4}).select(1, 0) > 0;
  const torch::Tensor pos_inds = positive.nonzero().select(1, 0);
  if (pos_inds.numel() == 0) {
    losses.insert("loss_bbox", bbox_preds.sum() * 0);
    return losses;
  }
  torch::Tensor pos_preds = bbox_preds.index_select(0, pos_inds);
  if (head_options_.reg_decoded_bbox()) {
    const torch::Tensor all_anchors =
        anchors.flat().repeat({static_cast<int64_t>(samples.size()), 1});
    pos_preds = bbox_coder->decode(all_anchors.index_select(0, pos_inds), pos_preds);
  }
  const torch::Tensor pos_targets = targets.bbox_targets.reshape({-1, 4}).index_select(0, pos_inds);
  const torch::Tensor pos_weights = targets.bbox_weights.reshape({-1, 4}).index_select(0, pos_inds);
  losses.insert("loss_bbox",
                loss_bbox->forward(pos_preds, pos_targets, pos_weights, targets.avg_factor));
  return losses;
}

Instances AnchorHead::predict_single(const std::vector<torch::Tensor>& cls_scores,
                                     const std::vector<torch::Tensor>& bbox_preds,
                                     const std::vector<torch::Tensor>& anchors,
                                     const ImageMeta& meta) const {
  const AnchorHeadTestOptions& cfg = head_options_.test_cfg();
  const std::pair<int64_t, int64_t> img_shape{meta.img_shape[0], meta.img_shape[1]};
  std::vector<torch::Tensor> all_boxes, all_scores, all_labels;
  for (size_t level = 0; level < cls_scores.size(); ++level) {
    const torch::Tensor deltas = bbox_preds[level].detach().permute({1, 2, 0}).reshape({-1, 4});
    torch::Tensor top_scores, anchor_inds, labels;
    if (use_sigmoid_cls_) {
      // MMDetection's filter_scores_and_topk on sigmoid scores, without a full-size pass:
      // sigmoid(x) > thr exactly where x > log(thr / (1 - thr)), so the threshold is applied to
      // the logits in their (A * C, H, W) layout and only the survivors are transformed. The
      // (anchor, class) of a logit at (a * C + c, y, x) is anchor (y * W + x) * A + a, class c.
      const torch::Tensor logits = cls_scores[level].detach().contiguous();
      const int64_t plane = logits.size(1) * logits.size(2);
      const double thr = cfg.score_thr();
      const torch::Tensor flat_logits = logits.reshape({-1});
      // Flat indices of the survivors (index_select on them, not masked_select: LibTorch's
      // masked_select costs a full broadcasting pass even when nothing survives).
      torch::Tensor where;
      if (thr <= 0.0) {
        where = torch::arange(flat_logits.size(0), flat_logits.options().dtype(torch::kLong));
      } else if (thr >= 1.0) {
        where = torch::empty({0}, flat_logits.options().dtype(torch::kLong));
      } else {
        where = (flat_logits > std::log(thr / (1.0 - thr))).nonzero().select(1, 0);
      }
      const torch::Tensor kept = flat_logits.index_select(0, where).sigmoid();
      // The boundary as MMDetection draws it (scores > thr after the sigmoid's rounding).
      const torch::Tensor exact = (kept > thr).nonzero().select(1, 0);
      const torch::Tensor kept_scores = kept.index_select(0, exact);
      const torch::Tensor kept_where = where.index_select(0, exact);
      const torch::Tensor channel = torch::div(kept_where, plane, "floor");
      const torch::Tensor location = torch::remainder(kept_where, plane);
      const int64_t per_location = logits.size(0) / cls_out_channels_;
      const torch::Tensor pair_anchor =
          location * per_location + torch::div(channel, cls_out_channels_, "floor");
      const torch::Tensor pair_label = torch::remainder(channel, cls_out_channels_);
      // Sort in MMDetection's (anchor, class) order first, so equal scores keep its order.
      const torch::Tensor flat = pair_anchor * cls_out_channels_ + pair_label;
      const torch::Tensor by_pair = std::get<1>(flat.sort());
      const torch::Tensor ordered_scores = kept_scores.index_select(0, by_pair);
      const int64_t num_topk = cfg.nms_pre() > 0 ? std::min(cfg.nms_pre(), ordered_scores.size(0))
                                                 : ordered_scores.size(0);
      auto [sorted, order] = ordered_scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
      order = by_pair.index_select(0, order.slice(0, 0, num_topk));
      top_scores = sorted.slice(0, 0, num_topk);
      anchor_inds = pair_anchor.index_select(0, order);
      labels = pair_label.index_select(0, order);
    } else {
      const torch::Tensor logits =
          cls_scores[level].detach().permute({1, 2, 0}).reshape({-1, cls_out_channels_});
      const torch::Tensor scores = logits.softmax(-1).slice(1, 0, cls_out_channels_ - 1);
      // MMDetection's filter_scores_and_topk: the (anchor, class) pairs above score_thr, the
      // nms_pre best of them by decreasing score.
      const torch::Tensor valid = scores > cfg.score_thr();
      const torch::Tensor pairs = valid.nonzero();  // (K, 2): anchor, class
      const torch::Tensor kept_scores = scores.masked_select(valid);
      const int64_t num_topk =
          cfg.nms_pre() > 0 ? std::min(cfg.nms_pre(), kept_scores.size(0)) : kept_scores.size(0);
      auto [sorted, order] = kept_scores.sort(/*dim=*/0, /*descending=*/true);
      const torch::Tensor top_pairs = pairs.index_select(0, order.slice(0, 0, num_topk));
      top_scores = sorted.slice(0, 0, num_topk);
      anchor_inds = top_pairs.select(1, 0);
      labels = top_pairs.select(1, 1);
    }
    all_scores.push_back(top_scores);
    all_labels.push_back(labels);
    all_boxes.push_back(bbox_coder->decode(anchors[level].index_select(0, anchor_inds),
                                           deltas.index_select(0, anchor_inds), img_shape));
  }
  torch::Tensor boxes = torch::cat(all_boxes), scores = torch::cat(all_scores);
  torch::Tensor labels = torch::cat(all_labels);
  const auto& f = meta.scale_factor;
  boxes = boxes / torch::tensor({f[0], f[1], f[2], f[3]}, boxes.options());
  if (boxes.size(0) == 0) return Instances(Boxes(boxes), labels, scores);
  torch::Tensor keep = ops::batched_nms(boxes, scores, labels, cfg.nms().iou_threshold());
  keep = keep.slice(0, 0, cfg.max_per_img());
  return Instances(Boxes(boxes.index_select(0, keep)), labels.index_select(0, keep),
                   scores.index_select(0, keep));
}

std::vector<Instances> AnchorHead::predict(const MultiLevelOutputs& outputs,
                                           const std::vector<DetSample>& samples) {
  if (outputs.size() != 2 || outputs[0].size() != outputs[1].size() || outputs[0].empty()) {
    throw Error("AnchorHead::predict: expected {class scores, box deltas} per level");
  }
  std::vector<std::pair<int64_t, int64_t>> featmap_sizes;
  for (const auto& level : outputs[0])
    featmap_sizes.emplace_back(level.size(2), level.size(3));
  const std::vector<torch::Tensor> anchors =
      anchor_generator->grid_priors(featmap_sizes, outputs[0][0].options());
  std::vector<Instances> results;
  for (size_t i = 0; i < samples.size(); ++i) {
    std::vector<torch::Tensor> cls_scores, bbox_preds;
    for (size_t level = 0; level < outputs[0].size(); ++level) {
      cls_scores.push_back(outputs[0][level][i]);
      bbox_preds.push_back(outputs[1][level][i]);
    }
    results.push_back(predict_single(cls_scores, bbox_preds, anchors, samples[i].meta));
  }
  return results;
}

void agree_anchor_head_context(const ComponentConfig& cfg, const HeadContext& context,
                               AnchorHeadOptions& options) {
  options.num_classes(cfg.agree("num_classes", context.num_classes));
  if (context.input_shapes.empty()) return;
  for (const auto& shape : context.input_shapes) {
    if (shape.channels != context.input_shapes[0].channels) {
      cfg.fail("in_channels", cfg.type() + " shares its convs across levels: every level of " +
                                  context.input_origin + " needs the same channels, got " +
                                  shapes_text(context.input_shapes));
    }
  }
  options.in_channels(cfg.agree(
      "in_channels", Known<int64_t>(context.input_shapes[0].channels, context.input_origin)));
}

}  // namespace detkit
