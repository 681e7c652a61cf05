// The built-in anchor generators (kind `anchor_generator`): MMDetection 2.x's AnchorGenerator
// and torchvision 0.14's AnchorGenerator. Configs build them through the registry
// (`anchor_generator: {type: AnchorGenerator, ...}`); this header exposes the classes to core's
// tools and tests (for their base anchors and torchvision's image-size rule).
#pragma once

#include <torch/types.h>

#include <optional>
#include <utility>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/export.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"

namespace detkit {

/// Feature-map sizes, (H, W) per level.
using FeatmapSizes = std::vector<std::pair<int64_t, int64_t>>;

/// Options of AnchorGenerator; names and defaults as MMDetection 2.x's class (strides and ratios
/// have no default there: they must be set).
struct DETKIT_API AnchorGeneratorOptions {
  /// Per level: an int stride, or a [w, h] pair.
  TORCH_ARG(ConfigNode, strides) = ConfigNode();
  /// Height / width ratios of the anchors of one location.
  TORCH_ARG(std::optional<std::vector<double>>, ratios) = std::nullopt;
  /// Anchor scales (exclusive with octave_base_scale + scales_per_octave).
  TORCH_ARG(std::optional<std::vector<double>>, scales) = std::nullopt;
  /// Base size of each level (default: the smaller of each level's strides).
  TORCH_ARG(std::optional<std::vector<double>>, base_sizes) = std::nullopt;
  /// Ratio outermost (true) or scale outermost (false) in the anchors of one location.
  TORCH_ARG(bool, scale_major) = true;
  /// Scales octave_base_scale * 2^(i / scales_per_octave), i < scales_per_octave (RetinaNet).
  TORCH_ARG(std::optional<double>, octave_base_scale) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, scales_per_octave) = std::nullopt;
  /// Per level: the (x, y) centre of the base anchors within a cell.
  TORCH_ARG(std::optional<std::vector<std::vector<double>>>, centers) = std::nullopt;
  /// The base anchors' centre as a fraction of the base size (exclusive with centers).
  TORCH_ARG(double, center_offset) = 0.0;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary(
        "MMDetection 2.x AnchorGenerator: per location, one anchor per (ratio, scale) of size "
        "base_size * scale, h/w = ratio, centred at (x * stride_w, y * stride_h) + the centre.");
    DETKIT_PARAM(p, strides, "per level: stride (int) or [w, h] (required)")
        .or_one_of({strides_spec()});
    DETKIT_PARAM(p, ratios, "height / width ratios (required)").greater_than(0);
    DETKIT_PARAM(p, scales, "anchor scales (or octave_base_scale + scales_per_octave)")
        .greater_than(0);
    DETKIT_PARAM(p, base_sizes, "base size per level (default: min of each stride)")
        .greater_than(0);
    DETKIT_PARAM(p, scale_major, "ratio outermost in the anchors of one location");
    DETKIT_PARAM(p, octave_base_scale, "base scale of the octave (with scales_per_octave)")
        .greater_than(0);
    DETKIT_PARAM(p, scales_per_octave, "scales per octave (with octave_base_scale)").min(1);
    DETKIT_PARAM(p, centers, "per level: [x, y] centre of the base anchors in a cell")
        .each(pair_spec());
    DETKIT_PARAM(p, center_offset, "centre as a fraction of the base size").range(0, 1);
  }

 private:
  static ParamSpec pair_spec();
  static ParamSpec strides_spec();
};

/// MMDetection 2.x AnchorGenerator (mmdet/core/anchor/anchor_generator.py). Base anchors are
/// computed in float32 as MMDetection does (not rounded): w = base_size * scale / sqrt(ratio),
/// h = base_size * scale * sqrt(ratio), (x1, y1, x2, y2) = centre -/+ (w, h) / 2; the anchors of
/// a level are the base anchors shifted to (x * stride_w, y * stride_h) of every cell, ordered
/// by location (row-major) then base anchor.
class DETKIT_API AnchorGenerator : public AnchorGeneratorBase {
 public:
  using Options = AnchorGeneratorOptions;
  /// Checks the options (InvalidParameter names the offending one).
  explicit AnchorGenerator(const Options& options);

  std::vector<torch::Tensor> grid_priors(const FeatmapSizes& featmap_sizes,
                                         const torch::TensorOptions& options) const override;
  std::vector<int64_t> num_base_priors() const override;
  /// The width strides (MMDetection's strides[i][0]).
  std::vector<int64_t> strides() const override;
  /// The (w, h) stride of each level.
  const std::vector<std::pair<int64_t, int64_t>>& level_strides() const { return strides_; }
  /// The base anchors (A_l, 4) of each level, float32, on `device`.
  std::vector<torch::Tensor> base_anchors(const torch::Device& device = torch::kCPU) const;

  Options options;

 private:
  std::vector<std::pair<int64_t, int64_t>> strides_;
  std::vector<double> base_sizes_;
  std::vector<double> scales_;
};

/// Options of TorchvisionAnchorGenerator; the defaults are torchvision's
/// retinanet_resnet50_fpn anchors (sizes int(x * 2^(k/3)), k < 3, x = 32 ... 512).
struct DETKIT_API TorchvisionAnchorGeneratorOptions {
  /// Per level: the anchor sizes (torchvision's `sizes`).
  TORCH_ARG(std::vector<std::vector<double>>, sizes) = std::vector<std::vector<double>>(
      {{32, 40, 50}, {64, 80, 101}, {128, 161, 203}, {256, 322, 406}, {512, 645, 812}});
  /// Per level (or one list for every level): height / width ratios.
  TORCH_ARG(std::vector<std::vector<double>>,
            aspect_ratios) = std::vector<std::vector<double>>({{0.5, 1.0, 2.0}});
  /// The nominal stride of each level (what strides() reports; the first one also gives the
  /// image size, see TorchvisionAnchorGenerator).
  TORCH_ARG(std::vector<int64_t>, strides) = std::vector<int64_t>({8, 16, 32, 64, 128});

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary(
        "torchvision 0.14 AnchorGenerator (retinanet_resnet50_fpn defaults): rounded base "
        "anchors, per-level stride = image size // feature-map size.");
    DETKIT_PARAM(p, sizes, "per level: anchor sizes").each(positive_list_spec());
    DETKIT_PARAM(p, aspect_ratios, "per level (or one for all): height / width ratios")
        .each(positive_list_spec());
    DETKIT_PARAM(p, strides, "nominal stride of each level").min(1);
  }

 private:
  static ParamSpec positive_list_spec();
};

/// torchvision 0.14's AnchorGenerator (torchvision/models/detection/anchor_utils.py). Base
/// anchors, per level: ws = sizes / sqrt(ratio), hs = sizes * sqrt(ratio) (ratio outermost),
/// round([-ws, -hs, ws, hs] / 2) in float32 (round half to even). The anchors of a level are the
/// base anchors shifted by (x * stride_w, y * stride_h), location-major, where torchvision's
/// stride is image_size // featmap_size with image_size the padded batch's (H, W).
///
/// grid_priors(featmap_sizes, options) has no image size: it takes image_size =
/// featmap_sizes[0] * strides[0] (the first level's size times its nominal stride), which is
/// torchvision's result whenever the padded image size is a multiple of strides[0] and the
/// first level has exactly image_size / strides[0] cells (as with a batch padded to a multiple
/// of 32 and a ResNet-FPN at strides 8 ... 128). For other image sizes call the overload that
/// takes the image size.
class DETKIT_API TorchvisionAnchorGenerator : public AnchorGeneratorBase {
 public:
  using Options = TorchvisionAnchorGeneratorOptions;
  /// Checks the options (InvalidParameter names the offending one).
  explicit TorchvisionAnchorGenerator(const Options& options);

  std::vector<torch::Tensor> grid_priors(const FeatmapSizes& featmap_sizes,
                                         const torch::TensorOptions& options) const override;
  /// torchvision's anchors for a padded batch of `image_size` (H, W).
  std::vector<torch::Tensor> grid_priors(const FeatmapSizes& featmap_sizes,
                                         std::pair<int64_t, int64_t> image_size,
                                         const torch::TensorOptions& options) const;
  std::vector<int64_t> num_base_priors() const override;
  std::vector<int64_t> strides() const override { return options.strides(); }
  /// The rounded base anchors (A_l, 4) of each level, float32, on `device`.
  std::vector<torch::Tensor> base_anchors(const torch::Device& device = torch::kCPU) const;

  Options options;

 private:
  /// The aspect ratios of `level` (the single list when one is given for all levels).
  const std::vector<double>& ratios_of(size_t level) const;
};

}  // namespace detkit
