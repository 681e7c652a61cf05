// Expand: MMDetection 2.25's Expand (mmdet/datasets/pipelines/transforms.py), the "zoom out"
// augmentation of SSD: the image is placed at a random position on a larger canvas filled with
// the dataset mean.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of Expand; names and defaults as MMDetection's.
struct ExpandOptions {
  /// The fill value per channel, in RGB order when to_rgb (as img_norm_cfg's mean).
  TORCH_ARG(std::vector<double>, mean) = {0, 0, 0};
  /// `mean` is in RGB order: it is reversed to fill the BGR image.
  TORCH_ARG(bool, to_rgb) = true;
  /// The canvas is `ratio` times the image, ratio ~ U(ratio_low, ratio_high).
  TORCH_ARG(double, ratio_low) = 1;
  TORCH_ARG(double, ratio_high) = 4;
  /// Probability of expanding a sample.
  TORCH_ARG(double, prob) = 0.5;
};

/// With probability `prob` (MMDetection skips when uniform(0, 1) > prob), draws
/// ratio ~ U(ratio_range), builds an (int(h * ratio), int(w * ratio), c) canvas of the image's
/// dtype filled with the mean (reversed when to_rgb; truncated to an integer for a uint8 image,
/// as numpy's cast does), and copies the image to (left, top) with
/// left = int(U(0, w * ratio - w)) and top = int(U(0, h * ratio - h)), drawn in that order.
/// Every box (gt and ignored) moves by (left, top); labels are unchanged; nothing is dropped.
/// img_shape and pad_shape become the canvas's shape (MMDetection leaves img_shape stale until
/// the next Resize or crop sets it; detkit keeps the meta true to the image).
/// seg_ignore_label is accepted for MMDetection configs: detkit samples carry no segmentation
/// map for it to fill.
class Expand : public TransformBase {
 public:
  explicit Expand(ExpandOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Place the image on a larger canvas filled with the mean (MMDetection Expand).");
    s.add<std::vector<double>>("mean", std::vector<double>{0, 0, 0},
                               "fill value per channel (RGB order when to_rgb)");
    s.add<bool>("to_rgb", true, "mean is in RGB order (reversed for the BGR image)");
    s.add<std::vector<double>>("ratio_range", std::vector<double>{1, 4},
                               "[low, high] of the canvas / image size ratio")
        .length(2)
        .min(1);
    s.add<std::optional<int64_t>>("seg_ignore_label", std::nullopt,
                                  "fill label of segmentation maps (none in detkit samples)");
    s.add<double>("prob", 0.5, "probability of expanding").range(0, 1);
    return s;
  }

  static std::shared_ptr<Expand> create(const ComponentConfig& cfg) {
    const auto mean = cfg.get<std::vector<double>>("mean");
    const auto ratio = cfg.get<std::vector<double>>("ratio_range");
    if (mean.empty() || mean.size() > 4) {
      cfg.fail("mean", "expected 1 to 4 channel values, got " + numbers_text(mean));
    }
    if (ratio[0] > ratio[1]) {
      cfg.fail("ratio_range", "expected [low, high] with low <= high, got " + numbers_text(ratio));
    }
    return std::make_shared<Expand>(ExpandOptions()
                                        .mean(mean)
                                        .to_rgb(cfg.get<bool>("to_rgb"))
                                        .ratio_low(ratio[0])
                                        .ratio_high(ratio[1])
                                        .prob(cfg.get<double>("prob")));
  }

  bool apply(PipelineSample& sample) override {
    if (random_real(0, 1) > options.prob()) return true;
    const torch::Tensor src = require_hwc_image(sample, "Expand").contiguous();
    const int64_t h = src.size(0), w = src.size(1), channels = src.size(2);
    if (static_cast<size_t>(channels) != options.mean().size()) {
      throw DataError("Expand on " + sample_name(sample) + ": the image has " +
                      std::to_string(channels) + " channels but mean has " +
                      std::to_string(options.mean().size()) + " values");
    }
    const double ratio = random_real(options.ratio_low(), options.ratio_high());
    const auto canvas_h = static_cast<int64_t>(static_cast<double>(h) * ratio);
    const auto canvas_w = static_cast<int64_t>(static_cast<double>(w) * ratio);
    // int() of the draws; the min() only guards against a rounding that would push the image
    // past the canvas (where numpy's assignment would fail).
    const int64_t left = std::min(static_cast<int64_t>(random_real(
                                      0, static_cast<double>(w) * ratio - static_cast<double>(w))),
                                  canvas_w - w);
    const int64_t top = std::min(static_cast<int64_t>(random_real(
                                     0, static_cast<double>(h) * ratio - static_cast<double>(h))),
                                 canvas_h - h);

    torch::Tensor out = new_image(canvas_h, canvas_w, channels, src.scalar_type());
    cv::Mat canvas = as_mat(out);
    canvas.setTo(fill_value(src.scalar_type()));
    as_mat(src).copyTo(canvas(cv::Rect(static_cast<int>(left), static_cast<int>(top),
                                       static_cast<int>(w), static_cast<int>(h))));
    sample.img = out;
    sample.gt.boxes().translate(static_cast<double>(left), static_cast<double>(top));
    sample.gt_ignore.translate(static_cast<double>(left), static_cast<double>(top));
    sample.meta.img_shape = hwc_shape(out);
    sample.meta.pad_shape = sample.meta.img_shape;
    return true;
  }

  std::string repr() const override {
    return "Expand(mean=" + numbers_text(options.mean()) +
           ", to_rgb=" + (options.to_rgb() ? "True" : "False") +
           ", ratio_range=" + numbers_text({options.ratio_low(), options.ratio_high()}) +
           ", prob=" + number_text(options.prob()) + ")";
  }

  ExpandOptions options;

 private:
  /// The canvas colour in the image's channel order: the mean, reversed when to_rgb; for a
  /// uint8 image truncated toward zero (numpy's float -> uint8 cast) and kept in [0, 255].
  cv::Scalar fill_value(torch::ScalarType dtype) const {
    std::vector<double> values = options.mean();
    if (options.to_rgb()) std::reverse(values.begin(), values.end());
    cv::Scalar fill;
    for (size_t c = 0; c < values.size(); ++c) {
      fill[static_cast<int>(c)] =
          dtype == torch::kUInt8 ? std::clamp(std::trunc(values[c]), 0.0, 255.0) : values[c];
    }
    return fill;
  }
};
DETKIT_REGISTER(transform, Expand);

}  // namespace detkit::transforms
