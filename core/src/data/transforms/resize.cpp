// Resize: MMDetection 2.25's Resize (mmdet/datasets/pipelines/transforms.py) with mmcv's
// imrescale / imresize (cv2 backend, bilinear).
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of Resize; names and defaults as MMDetection's.
struct ResizeOptions {
  /// Candidate scales (w, h); empty = the scale comes from MultiScaleFlipAug.
  TORCH_ARG(std::vector<ScalePair>, img_scale) = {};
  /// "range": sample long and short edges between two scales; "value": pick one scale.
  TORCH_ARG(std::string, multiscale_mode) = "range";
  /// (min, max) ratio multiplying the single img_scale; empty = unused.
  TORCH_ARG(std::vector<double>, ratio_range) = {};
  TORCH_ARG(bool, keep_ratio) = true;
  TORCH_ARG(bool, bbox_clip_border) = true;
};

/// Resizes the image (cv::resize, bilinear) and the boxes.
///
/// keep_ratio: the image is scaled by min(long_max / long_edge, short_max / short_edge) where
/// long_max / short_max are the larger / smaller values of the scale, to
/// (int(w * f + 0.5), int(h * f + 0.5)) (mmcv.imrescale). Otherwise it is resized to exactly
/// (w, h) = scale (mmcv.imresize). As in MMDetection, scale_factor is recorded from the actual
/// new size: (new_w / w, new_h / h, new_w / w, new_h / h) as float32, and boxes are multiplied by
/// it and clipped to the new image when bbox_clip_border.
class Resize : public TransformBase, public PresetTransform {
 public:
  explicit Resize(ResizeOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Resize the image and boxes (MMDetection Resize, cv2 bilinear).");
    s.any("img_scale", ConfigNode(),
          "scale [w, h] or list of scales; null inside MultiScaleFlipAug (it sets the scale)");
    s.add<std::string>("multiscale_mode", "range",
                       "with several scales: 'range' samples edges between two scales, 'value' "
                       "picks one")
        .choices({"range", "value"});
    s.add<std::optional<std::vector<double>>>("ratio_range", std::nullopt,
                                              "[min, max]: multiply the single scale by a random "
                                              "ratio")
        .length(2)
        .min(0);
    s.add<bool>("keep_ratio", true, "keep the aspect ratio (fit inside the scale)");
    s.add<bool>("bbox_clip_border", true, "clip boxes to the resized image");
    s.add<std::string>("backend", "cv2", "resize backend (only cv2)").choices({"cv2"});
    s.add<bool>(
        "override", false,
        "MMDetection's switch to allow a second Resize; detkit always allows it (no effect)");
    return s;
  }

  static std::shared_ptr<Resize> create(const ComponentConfig& cfg) {
    ResizeOptions options;
    options.img_scale(scale_list(cfg, "img_scale", /*allow_null=*/true))
        .multiscale_mode(cfg.get<std::string>("multiscale_mode"))
        .keep_ratio(cfg.get<bool>("keep_ratio"))
        .bbox_clip_border(cfg.get<bool>("bbox_clip_border"));
    if (cfg.has("ratio_range")) {
      options.ratio_range(cfg.get<std::vector<double>>("ratio_range"));
      if (options.img_scale().size() != 1) {
        cfg.fail("ratio_range", "ratio_range needs exactly one img_scale, got " +
                                    std::to_string(options.img_scale().size()));
      }
      if (options.ratio_range()[0] > options.ratio_range()[1]) {
        cfg.fail("ratio_range", "ratio_range must be [min, max] with min <= max");
      }
    } else if (options.img_scale().size() > 1 && options.multiscale_mode() == "range" &&
               options.img_scale().size() != 2) {
      cfg.fail("img_scale", "multiscale_mode 'range' needs exactly two scales (the bounds), got " +
                                std::to_string(options.img_scale().size()));
    }
    return std::make_shared<Resize>(std::move(options));
  }

  bool apply(PipelineSample& sample) override {
    if (options.img_scale().empty()) {
      throw ConfigError("Resize on " + sample_name(sample) +
                        ": no img_scale; set img_scale, or use Resize inside MultiScaleFlipAug");
    }
    resize(sample, random_scale());
    return true;
  }

  bool apply_preset(PipelineSample& sample, const AugmentPreset& preset) override {
    if (preset.scale) {
      resize(sample, *preset.scale);
    } else if (preset.scale_factor) {
      // MMDetection: scale = (int(w * factor), int(h * factor)), then resized as usual.
      const auto& img = require_hwc_image(sample, "Resize");
      const double factor = *preset.scale_factor;
      resize(sample, {static_cast<int64_t>(static_cast<double>(img.size(1)) * factor),
                      static_cast<int64_t>(static_cast<double>(img.size(0)) * factor)});
    } else {
      return apply(sample);
    }
    return true;
  }

  std::string repr() const override {
    return "Resize(img_scale=" +
           (options.img_scale().empty() ? std::string("None") : scales_text(options.img_scale())) +
           ", multiscale_mode=" + options.multiscale_mode() + ", ratio_range=" +
           (options.ratio_range().empty() ? std::string("None")
                                          : numbers_text(options.ratio_range())) +
           ", keep_ratio=" + (options.keep_ratio() ? "True" : "False") +
           ", bbox_clip_border=" + (options.bbox_clip_border() ? "True" : "False") + ")";
  }

  ResizeOptions options;

 private:
  /// MMDetection's _random_scale: ratio_range, single scale, 'range' or 'value' mode.
  ScalePair random_scale() const {
    const auto& scales = options.img_scale();
    if (!options.ratio_range().empty()) {
      const double low = options.ratio_range()[0], high = options.ratio_range()[1];
      const double ratio = random_uniform() * (high - low) + low;
      return {static_cast<int64_t>(static_cast<double>(scales[0][0]) * ratio),
              static_cast<int64_t>(static_cast<double>(scales[0][1]) * ratio)};
    }
    if (scales.size() == 1) return scales[0];
    if (options.multiscale_mode() == "range") {
      const int64_t long_low =
          std::min(std::max(scales[0][0], scales[0][1]), std::max(scales[1][0], scales[1][1]));
      const int64_t long_high =
          std::max(std::max(scales[0][0], scales[0][1]), std::max(scales[1][0], scales[1][1]));
      const int64_t short_low =
          std::min(std::min(scales[0][0], scales[0][1]), std::min(scales[1][0], scales[1][1]));
      const int64_t short_high =
          std::max(std::min(scales[0][0], scales[0][1]), std::min(scales[1][0], scales[1][1]));
      const int64_t long_edge = random_int(long_low, long_high + 1);
      const int64_t short_edge = random_int(short_low, short_high + 1);
      return {long_edge, short_edge};
    }
    return scales[static_cast<size_t>(random_int(0, static_cast<int64_t>(scales.size())))];
  }

  void resize(PipelineSample& sample, const ScalePair& scale) const {
    const torch::Tensor& img = require_hwc_image(sample, "Resize");
    const int64_t h = img.size(0), w = img.size(1);
    int64_t new_w = scale[0], new_h = scale[1];
    if (options.keep_ratio()) {
      // mmcv.rescale_size: as large as possible inside (long_max, short_max).
      const double long_max = static_cast<double>(std::max(scale[0], scale[1]));
      const double short_max = static_cast<double>(std::min(scale[0], scale[1]));
      const double factor = std::min(long_max / static_cast<double>(std::max(h, w)),
                                     short_max / static_cast<double>(std::min(h, w)));
      new_w = static_cast<int64_t>(static_cast<double>(w) * factor + 0.5);
      new_h = static_cast<int64_t>(static_cast<double>(h) * factor + 0.5);
    }
    if (new_w <= 0 || new_h <= 0) {
      throw DataError("Resize on " + sample_name(sample) + ": the image (" + std::to_string(w) +
                      "x" + std::to_string(h) + ") would be resized to an empty " +
                      std::to_string(new_w) + "x" + std::to_string(new_h) + " image");
    }
    torch::Tensor out;
    if (new_w == w && new_h == h) {
      out = img;  // cv2.resize to the same size is a copy; images are never written in place
    } else {
      const torch::Tensor src = img.contiguous();
      out = new_image(new_h, new_w, img.size(2), img.scalar_type());
      cv::Mat dst = as_mat(out);
      cv::resize(as_mat(src), dst, dst.size(), 0, 0, cv::INTER_LINEAR);
    }
    const float w_scale = static_cast<float>(static_cast<double>(new_w) / static_cast<double>(w));
    const float h_scale = static_cast<float>(static_cast<double>(new_h) / static_cast<double>(h));
    sample.img = out;
    sample.meta.img_shape = hwc_shape(out);
    sample.meta.pad_shape = sample.meta.img_shape;
    sample.meta.scale_factor = {w_scale, h_scale, w_scale, h_scale};
    sample.meta.keep_ratio = options.keep_ratio();
    resize_boxes(sample.gt.boxes(), w_scale, h_scale, new_h, new_w);
    resize_boxes(sample.gt_ignore, w_scale, h_scale, new_h, new_w);
  }

  void resize_boxes(Boxes& boxes, float w_scale, float h_scale, int64_t new_h,
                    int64_t new_w) const {
    if (boxes.empty()) return;
    boxes.scale(w_scale, h_scale);
    if (options.bbox_clip_border()) boxes.clip(new_h, new_w);
  }
};
DETKIT_REGISTER(transform, Resize);

}  // namespace detkit::transforms
