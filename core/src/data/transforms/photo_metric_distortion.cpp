// PhotoMetricDistortion: MMDetection 2.25's PhotoMetricDistortion (brightness, contrast,
// saturation, hue, channel swap), with mmcv.bgr2hsv / hsv2bgr (OpenCV's float HSV: H in
// degrees [0, 360), S in [0, 1], V as the input).
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of PhotoMetricDistortion; names and defaults as MMDetection's.
struct PhotoMetricDistortionOptions {
  TORCH_ARG(double, brightness_delta) = 32;
  TORCH_ARG(double, contrast_lower) = 0.5;
  TORCH_ARG(double, contrast_upper) = 1.5;
  TORCH_ARG(double, saturation_lower) = 0.5;
  TORCH_ARG(double, saturation_upper) = 1.5;
  TORCH_ARG(double, hue_delta) = 18;
};

/// Random photometric changes of a 3-channel BGR image, each with probability 0.5, in
/// MMDetection's order and with its draws (coin = randint(2)):
///   1. coin: add U(-brightness_delta, brightness_delta);
///   2. mode = randint(2); if mode == 1: coin: multiply by U(contrast_range) (contrast first);
///   3. BGR -> HSV; coin: S *= U(saturation_range); coin: H += U(-hue_delta, hue_delta), wrapped
///      into [0, 360]; HSV -> BGR;
///   4. if mode == 0: coin: multiply by U(contrast_range) (contrast last);
///   5. coin: permute the channels (a random permutation of 3).
/// The result is float32 (a uint8 image is converted first; MMDetection needs to_float32).
class PhotoMetricDistortion : public TransformBase {
 public:
  explicit PhotoMetricDistortion(PhotoMetricDistortionOptions options)
      : options(std::move(options)) {}

  static Schema schema() {
    Schema s(
        "Random brightness, contrast, saturation, hue and channel swap "
        "(MMDetection PhotoMetricDistortion).");
    s.add<double>("brightness_delta", 32, "brightness change drawn from [-delta, delta]").min(0);
    s.add<std::vector<double>>("contrast_range", std::vector<double>{0.5, 1.5},
                               "[low, high] of the contrast factor")
        .length(2)
        .min(0);
    s.add<std::vector<double>>("saturation_range", std::vector<double>{0.5, 1.5},
                               "[low, high] of the saturation factor")
        .length(2)
        .min(0);
    s.add<double>("hue_delta", 18, "hue change in degrees drawn from [-delta, delta]")
        .range(0, 360);
    return s;
  }

  static std::shared_ptr<PhotoMetricDistortion> create(const ComponentConfig& cfg) {
    const auto contrast = cfg.get<std::vector<double>>("contrast_range");
    const auto saturation = cfg.get<std::vector<double>>("saturation_range");
    if (contrast[0] > contrast[1])
      cfg.fail("contrast_range", "expected [low, high] with low <= high");
    if (saturation[0] > saturation[1])
      cfg.fail("saturation_range", "expected [low, high] with low <= high");
    return std::make_shared<PhotoMetricDistortion>(
        PhotoMetricDistortionOptions()
            .brightness_delta(cfg.get<double>("brightness_delta"))
            .contrast_lower(contrast[0])
            .contrast_upper(contrast[1])
            .saturation_lower(saturation[0])
            .saturation_upper(saturation[1])
            .hue_delta(cfg.get<double>("hue_delta")));
  }

  bool apply(PipelineSample& sample) override {
    const torch::Tensor& src = require_hwc_image(sample, "PhotoMetricDistortion");
    if (src.size(2) != 3) {
      throw DataError("PhotoMetricDistortion on " + sample_name(sample) +
                      ": needs a 3-channel BGR image, got " + std::to_string(src.size(2)) +
                      " channels");
    }
    // A new float32 image (the input tensor is never written).
    torch::Tensor out = new_image(src.size(0), src.size(1), 3, torch::kFloat32);
    cv::Mat img = as_mat(out);
    as_mat(src.contiguous()).convertTo(img, CV_32F);
    auto coin = [] { return random_int(0, 2) == 1; };

    if (coin())
      img += cv::Scalar::all(random_real(-options.brightness_delta(), options.brightness_delta()));
    const int64_t mode = random_int(0, 2);
    if (mode == 1 && coin()) img *= random_real(options.contrast_lower(), options.contrast_upper());

    cv::cvtColor(img, img, cv::COLOR_BGR2HSV);
    const int64_t pixels = out.size(0) * out.size(1);
    float* hsv = out.data_ptr<float>();
    if (coin()) {
      const auto factor =
          static_cast<float>(random_real(options.saturation_lower(), options.saturation_upper()));
      for (int64_t p = 0; p < pixels; ++p)
        hsv[3 * p + 1] *= factor;
    }
    if (coin()) {
      const auto delta = static_cast<float>(random_real(-options.hue_delta(), options.hue_delta()));
      for (int64_t p = 0; p < pixels; ++p) {
        float& hue = hsv[3 * p];
        hue += delta;
        if (hue > 360.0f) hue -= 360.0f;
        if (hue < 0.0f) hue += 360.0f;
      }
    }
    cv::cvtColor(img, img, cv::COLOR_HSV2BGR);

    if (mode == 0 && coin()) img *= random_real(options.contrast_lower(), options.contrast_upper());
    if (coin()) {
      // numpy's permutation(3): Fisher-Yates from the last position.
      std::array<int, 3> order{0, 1, 2};
      for (int i = 2; i > 0; --i)
        std::swap(order[i], order[random_int(0, i + 1)]);
      if (order != std::array<int, 3>{0, 1, 2}) {
        torch::Tensor swapped = new_image(out.size(0), out.size(1), 3, torch::kFloat32);
        const float* in = out.data_ptr<float>();
        float* dst = swapped.data_ptr<float>();
        for (int64_t p = 0; p < pixels; ++p, in += 3, dst += 3) {
          dst[0] = in[order[0]];
          dst[1] = in[order[1]];
          dst[2] = in[order[2]];
        }
        out = swapped;
      }
    }
    sample.img = out;
    return true;
  }

  std::string repr() const override {
    return "PhotoMetricDistortion(brightness_delta=" + number_text(options.brightness_delta()) +
           ", contrast_range=" +
           numbers_text({options.contrast_lower(), options.contrast_upper()}) +
           ", saturation_range=" +
           numbers_text({options.saturation_lower(), options.saturation_upper()}) +
           ", hue_delta=" + number_text(options.hue_delta()) + ")";
  }

  PhotoMetricDistortionOptions options;
};
DETKIT_REGISTER(transform, PhotoMetricDistortion);

}  // namespace detkit::transforms
