// SingleRoIExtractor: MMDetection 2.25's RoI feature extractor (kind `roi_extractor`, type
// `SingleRoIExtractor`). Each RoI is pooled from one feature level, chosen by its scale
// sqrt(w * h):
//   mmdet (default)  lvl = floor(log2(scale / finest_scale + 1e-6)), clamped to [0, L - 1]
//   torchvision      lvl = floor(canonical_level + log2(scale / canonical_scale) + 1e-6),
//                    clamped to [k_min, k_max] minus k_min, k = log2(stride) of the first and
//                    last level (torchvision's MultiScaleRoIAlign / LevelMapper)
// with one RoI layer per level (`roi_layer`: MMCV's RoIAlign or RoIPool, spatial_scale
// 1 / stride). The level is chosen on the given RoIs; with `roi_scale_factor` the RoIs are then
// scaled about their centres before pooling (BaseRoIExtractor.roi_rescale). No parameters.
//
// Built with a NeckContext: `featmap_strides` must be the strides of the first levels of the
// neck (MMDetection's RoI heads pass the first len(featmap_strides) levels; forward() does the
// same), `out_channels` their channels.
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/roi_extractor.h>
#include <detkit/ops/roi_align.h>
#include <detkit/ops/roi_pool.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace roi_heads_plugin {

namespace {

/// MMDetection's default roi_layer: {type: RoIAlign, output_size: 7, sampling_ratio: 0}.
detkit::ConfigNode default_roi_layer() {
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", detkit::ConfigNode("RoIAlign"));
  cfg.set("output_size", detkit::ConfigNode(int64_t{7}));
  cfg.set("sampling_ratio", detkit::ConfigNode(int64_t{0}));
  return cfg;
}

/// "[4, 8, 16]": a list of integers as messages print it.
std::string ints_text(const std::vector<int64_t>& values) {
  return detkit::ConfigValue<std::vector<int64_t>>::to(values).to_flow();
}

/// The RoI layer of a `roi_layer` config: MMCV's RoIAlign (output_size, sampling_ratio,
/// aligned, pool_mode avg) or RoIPool (output_size); spatial_scale comes from the level.
struct RoILayerSpec {
  bool align = true;
  int64_t output_size = 7;
  int64_t sampling_ratio = 0;
  bool aligned = true;

  /// Reads `cfg`; throws InvalidParameter("roi_layer", ...) for anything it does not support.
  static RoILayerSpec parse(const detkit::ConfigNode& cfg) {
    auto refuse = [](const std::string& message) {
      throw detkit::InvalidParameter("roi_layer", "SingleRoIExtractor: roi_layer " + message);
    };
    if (!cfg.is_map()) refuse("must be a map such as {type: RoIAlign, output_size: 7}");
    const detkit::ConfigNode* type = cfg.find("type");
    if (!type || !type->is_string()) refuse("needs a type (RoIAlign or RoIPool)");
    RoILayerSpec spec;
    const std::string& name = type->as_string();
    if (name != "RoIAlign" && name != "RoIPool") {
      refuse("type '" + name + "' is not supported (RoIAlign or RoIPool)");
    }
    spec.align = name == "RoIAlign";
    for (const auto& entry : cfg.entries()) {
      const std::string& key = entry.key;
      const detkit::ConfigNode& value = entry.value;
      if (key == "type") continue;
      if (key == "output_size") {
        if (!value.is_int() || value.as_int() < 1) refuse("output_size must be an integer >= 1");
        spec.output_size = value.as_int();
      } else if (spec.align && key == "sampling_ratio") {
        if (!value.is_int()) refuse("sampling_ratio must be an integer");
        spec.sampling_ratio = value.as_int();
      } else if (spec.align && key == "aligned") {
        if (!value.is_bool()) refuse("aligned must be true or false");
        spec.aligned = value.as_bool();
      } else if (spec.align && key == "pool_mode") {
        if (!value.is_string() || value.as_string() != "avg") refuse("pool_mode must be 'avg'");
      } else if (key == "spatial_scale") {
        refuse("spatial_scale is set per level from featmap_strides; remove it");
      } else {
        refuse("has no parameter '" + key + "' for " + name);
      }
    }
    return spec;
  }
};

}  // namespace

/// Options of SingleRoIExtractor; the config keys have the same names (MMDetection's).
struct SingleRoIExtractorOptions {
  /// The RoI layer of every level: {type: RoIAlign | RoIPool, output_size, ...}.
  TORCH_ARG(detkit::ConfigNode, roi_layer) = default_roi_layer();
  /// Channels of the features pooled (those of the levels).
  TORCH_ARG(int64_t, out_channels) = 256;
  /// Strides of the levels pooled from, finest first.
  TORCH_ARG(std::vector<int64_t>, featmap_strides) = std::vector<int64_t>{4, 8, 16, 32};
  /// Scale mapped to level 0 (mmdet level mapping).
  TORCH_ARG(double, finest_scale) = 56;
  /// RoIs are scaled by this about their centres before pooling; null: not scaled.
  TORCH_ARG(std::optional<double>, roi_scale_factor) = std::nullopt;
  /// "mmdet" (finest_scale) or "torchvision" (canonical_scale, canonical_level).
  TORCH_ARG(std::string, level_mapping) = "mmdet";
  /// torchvision mapping: the scale mapped to canonical_level.
  TORCH_ARG(double, canonical_scale) = 224;
  /// torchvision mapping: the level k (stride 2^k) of canonical_scale.
  TORCH_ARG(int64_t, canonical_level) = 4;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary(
        "RoI features pooled (RoIAlign / RoIPool) from the level that fits each RoI's "
        "scale.");
    DETKIT_PARAM(p, roi_layer,
                 "RoI layer of every level: {type: RoIAlign, output_size, sampling_ratio, "
                 "aligned, pool_mode: avg} or {type: RoIPool, output_size}");
    DETKIT_PARAM(p, out_channels, "channels of the levels (default: the neck's)").min(1);
    DETKIT_PARAM(p, featmap_strides, "strides of the levels pooled from (the neck's first)").min(1);
    DETKIT_PARAM(p, finest_scale, "RoI scale mapped to level 0 (mmdet mapping)").greater_than(0);
    DETKIT_PARAM(p, roi_scale_factor, "scale RoIs about their centres before pooling; null: no")
        .nullable()
        .greater_than(0);
    DETKIT_PARAM(p, level_mapping, "RoI scale -> level: mmdet or torchvision (LevelMapper)")
        .choices({"mmdet", "torchvision"});
    DETKIT_PARAM(p, canonical_scale, "torchvision mapping: scale of canonical_level")
        .greater_than(0);
    DETKIT_PARAM(p, canonical_level, "torchvision mapping: level k (stride 2^k) of it").min(0);
  }
};

/// The extractor (see the file comment).
class SingleRoIExtractorImpl : public detkit::RoIExtractorBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = SingleRoIExtractorOptions;

  /// Builds one RoI layer per stride. Throws detkit::InvalidParameter for bad options.
  explicit SingleRoIExtractorImpl(const SingleRoIExtractorOptions& options_)
      : options(options_), layer_(RoILayerSpec::parse(options_.roi_layer())) {
    detkit::check_options(options, "SingleRoIExtractor");
    const auto& strides = options.featmap_strides();
    if (strides.empty()) {
      throw detkit::InvalidParameter("featmap_strides",
                                     "SingleRoIExtractor: featmap_strides is empty");
    }
    if (options.level_mapping() == "torchvision") {
      for (int64_t stride : strides) {
        if ((stride & (stride - 1)) != 0) {
          throw detkit::InvalidParameter(
              "featmap_strides",
              "SingleRoIExtractor: level_mapping torchvision needs strides "
              "that are powers of 2, got " +
                  ints_text(strides));
        }
      }
    }
  }

  /// Builds the extractor from its validated config and the neck's shapes: featmap_strides
  /// must be the strides of the neck's first levels and out_channels their channels (a
  /// contradiction is a ConfigError naming both).
  static std::shared_ptr<SingleRoIExtractorImpl> create(const detkit::ComponentConfig& cfg,
                                                        const detkit::NeckContext& context) {
    auto options = detkit::options_from<SingleRoIExtractorOptions>(cfg);
    const auto& strides = options.featmap_strides();
    const auto& shapes = context.input_shapes;
    if (!shapes.empty() && !strides.empty()) {
      std::vector<int64_t> neck_strides;
      for (const auto& shape : shapes)
        neck_strides.push_back(shape.stride);
      bool prefix = strides.size() <= shapes.size();
      for (size_t i = 0; prefix && i < strides.size(); ++i)
        prefix = strides[i] == neck_strides[i];
      if (!prefix) {
        cfg.fail("featmap_strides", "featmap_strides " + ints_text(strides) +
                                        " do not match the strides " + ints_text(neck_strides) +
                                        " of the levels from " + context.input_origin);
      }
      std::vector<int64_t> channels;
      for (size_t i = 0; i < strides.size(); ++i)
        channels.push_back(shapes[i].channels);
      for (int64_t c : channels) {
        if (c != channels[0]) {
          cfg.fail("out_channels", "the levels pooled from have different channels " +
                                       ints_text(channels) + " (from " + context.input_origin +
                                       "); SingleRoIExtractor needs one out_channels");
        }
      }
      options.out_channels(
          cfg.agree("out_channels", detkit::Known<int64_t>(channels[0], context.input_origin)));
    }
    try {
      return std::make_shared<SingleRoIExtractorImpl>(options);
    } catch (const detkit::InvalidParameter& e) {
      cfg.fail(e.param(), e.what());
    }
  }

  /// (K, out_channels, S, S) features of (K, 5) `rois` [image, x1, y1, x2, y2] from the first
  /// len(featmap_strides) of `features` (each (N, out_channels, H, W)); rows follow the RoIs.
  torch::Tensor forward(const std::vector<torch::Tensor>& features,
                        const torch::Tensor& rois) override {
    const auto levels = static_cast<int64_t>(options.featmap_strides().size());
    if (static_cast<int64_t>(features.size()) < levels) {
      throw detkit::Error("SingleRoIExtractor: expected " + std::to_string(levels) +
                          " feature levels (featmap_strides " +
                          ints_text(options.featmap_strides()) + "), got " +
                          std::to_string(features.size()));
    }
    for (int64_t i = 0; i < levels; ++i) {
      const auto& f = features[i];
      if (!f.defined() || f.dim() != 4 || f.size(1) != options.out_channels()) {
        throw detkit::Error("SingleRoIExtractor: feature level " + std::to_string(i) +
                            " must be (N, " + std::to_string(options.out_channels()) +
                            ", H, W) as out_channels says, got " +
                            (f.defined() ? ints_text(f.sizes().vec()) : "undefined"));
      }
    }
    if (!rois.defined() || rois.dim() != 2 || rois.size(1) != 5) {
      throw detkit::Error("SingleRoIExtractor: rois must be (K, 5) [image, x1, y1, x2, y2], got " +
                          (rois.defined() ? ints_text(rois.sizes().vec()) : "undefined"));
    }
    if (!torch::isfinite(rois).all().item<bool>()) {
      // A NaN scale maps to no level: without this check the RoI would silently pool zeros.
      throw detkit::Error(
          "SingleRoIExtractor: RoIs with NaN or infinite coordinates (row " +
          std::to_string(
              torch::nonzero(~torch::isfinite(rois).all(1)).select(1, 0)[0].item<int64_t>()) +
          ")");
    }
    const int64_t size = layer_.output_size;
    torch::Tensor output =
        torch::zeros({rois.size(0), options.out_channels(), size, size}, features[0].options());
    if (rois.size(0) == 0) return output;
    const torch::Tensor target_levels = map_levels(rois);
    const torch::Tensor scaled = rescaled(rois);
    for (int64_t i = 0; i < levels; ++i) {
      const torch::Tensor index = torch::nonzero(target_levels == i).squeeze(1);
      if (index.numel() == 0) continue;
      output.index_put_({index}, pool(features[i], scaled.index_select(0, index), i));
    }
    return output;
  }

  /// Level index (0-based) of each of the (K, 5) `rois`, per `level_mapping`.
  torch::Tensor map_levels(const torch::Tensor& rois) const {
    const auto levels = static_cast<int64_t>(options.featmap_strides().size());
    const torch::Tensor scale = torch::sqrt((rois.select(1, 3) - rois.select(1, 1)) *
                                            (rois.select(1, 4) - rois.select(1, 2)));
    if (options.level_mapping() == "torchvision") {
      const auto k_min = static_cast<int64_t>(std::log2(options.featmap_strides().front()));
      const auto k_max = static_cast<int64_t>(std::log2(options.featmap_strides().back()));
      const torch::Tensor k = torch::floor(static_cast<double>(options.canonical_level()) +
                                           torch::log2(scale / options.canonical_scale()) + 1e-6);
      return (k.clamp(k_min, k_max) - k_min).to(torch::kLong);
    }
    const torch::Tensor k = torch::floor(torch::log2(scale / options.finest_scale() + 1e-6));
    return k.clamp(0, levels - 1).to(torch::kLong);
  }

  int64_t out_channels() const override { return options.out_channels(); }
  int64_t output_size() const override { return layer_.output_size; }

  /// "SingleRoIExtractor(roi_layer={type: RoIAlign, ...}, out_channels=256, ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("SingleRoIExtractor", options);
  }

  SingleRoIExtractorOptions options;

 private:
  /// `rois` scaled by roi_scale_factor about their centres (unchanged without one).
  torch::Tensor rescaled(const torch::Tensor& rois) const {
    if (!options.roi_scale_factor()) return rois;
    const double factor = *options.roi_scale_factor();
    const torch::Tensor centre_x = (rois.select(1, 1) + rois.select(1, 3)) * 0.5;
    const torch::Tensor centre_y = (rois.select(1, 2) + rois.select(1, 4)) * 0.5;
    const torch::Tensor half_w = (rois.select(1, 3) - rois.select(1, 1)) * (factor * 0.5);
    const torch::Tensor half_h = (rois.select(1, 4) - rois.select(1, 2)) * (factor * 0.5);
    return torch::stack({rois.select(1, 0), centre_x - half_w, centre_y - half_h, centre_x + half_w,
                         centre_y + half_h},
                        1);
  }

  /// The RoI layer of level `level` applied to `rois` of `feature`.
  torch::Tensor pool(const torch::Tensor& feature, const torch::Tensor& rois, int64_t level) const {
    const double spatial_scale = 1.0 / static_cast<double>(options.featmap_strides()[level]);
    const int64_t size = layer_.output_size;
    if (layer_.align) {
      return detkit::ops::roi_align(feature, rois, {size, size}, spatial_scale,
                                    layer_.sampling_ratio, layer_.aligned);
    }
    return detkit::ops::roi_pool(feature, rois, {size, size}, spatial_scale);
  }

  RoILayerSpec layer_;
};

DETKIT_REGISTER_MODULE(roi_extractor, SingleRoIExtractor);

}  // namespace roi_heads_plugin
