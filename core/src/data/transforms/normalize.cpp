// Normalize: MMDetection 2.25's Normalize with mmcv.imnormalize.
#include <torch/torch.h>

#include <array>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of Normalize; names and defaults as MMDetection's.
struct NormalizeOptions {
  /// Per-channel mean, in the channel order after to_rgb.
  TORCH_ARG(std::vector<double>, mean) = {};
  /// Per-channel standard deviation, in the channel order after to_rgb.
  TORCH_ARG(std::vector<double>, std) = {};
  /// Convert BGR to RGB before normalising.
  TORCH_ARG(bool, to_rgb) = true;
};

/// Converts the image to float32, swaps BGR to RGB when to_rgb, then computes
/// (x - mean[c]) / std[c] per channel in float32 exactly as mmcv.imnormalize does
/// (x - float(mean)) * float(1 / std). Records img_norm_cfg (meta.norm_mean, norm_std, to_rgb).
/// One pass over the pixels (a lookup table for uint8 images).
class Normalize : public TransformBase {
 public:
  explicit Normalize(NormalizeOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Normalise the image per channel (MMDetection Normalize).");
    s.required<std::vector<double>>("mean",
                                    "per-channel mean (after to_rgb), e.g. "
                                    "[123.675, 116.28, 103.53]");
    s.required<std::vector<double>>("std",
                                    "per-channel std (after to_rgb), e.g. "
                                    "[58.395, 57.12, 57.375]");
    s.add<bool>("to_rgb", true, "convert BGR to RGB first");
    return s;
  }

  static std::shared_ptr<Normalize> create(const ComponentConfig& cfg) {
    const auto mean = cfg.get<std::vector<double>>("mean");
    const auto std = cfg.get<std::vector<double>>("std");
    if (mean.empty() || mean.size() > 4) cfg.fail("mean", "expected 1 to 4 channel values");
    if (std.size() != mean.size()) {
      cfg.fail("std", "std has " + std::to_string(std.size()) + " values but mean has " +
                          std::to_string(mean.size()));
    }
    for (double value : std) {
      if (!(value != 0.0)) cfg.fail("std", "std values must be non-zero");
    }
    return std::make_shared<Normalize>(
        NormalizeOptions().mean(mean).std(std).to_rgb(cfg.get<bool>("to_rgb")));
  }

  bool apply(PipelineSample& sample) override {
    const torch::Tensor src = require_hwc_image(sample, "Normalize").contiguous();
    const int64_t channels = src.size(2);
    if (static_cast<size_t>(channels) != options.mean().size()) {
      throw DataError("Normalize on " + sample_name(sample) + ": the image has " +
                      std::to_string(channels) + " channels but mean/std have " +
                      std::to_string(options.mean().size()));
    }
    if (options.to_rgb() && channels != 3) {
      throw DataError("Normalize on " + sample_name(sample) +
                      ": to_rgb needs a 3-channel image, "
                      "got " +
                      std::to_string(channels) + " channels");
    }
    // float32 constants as mmcv computes them: mean and 1 / std of the float32 arrays.
    std::array<float, 4> mean{}, scale{};
    std::array<int64_t, 4> source_channel{0, 1, 2, 3};
    for (int64_t c = 0; c < channels; ++c) {
      mean[c] = static_cast<float>(options.mean()[c]);
      scale[c] =
          static_cast<float>(1.0 / static_cast<double>(static_cast<float>(options.std()[c])));
      if (options.to_rgb()) source_channel[c] = 2 - c;
    }
    const int64_t pixels = src.size(0) * src.size(1);
    torch::Tensor out = new_image(src.size(0), src.size(1), channels, torch::kFloat32);
    float* dst = out.data_ptr<float>();
    if (src.scalar_type() == torch::kUInt8) {
      std::vector<float> table(static_cast<size_t>(256 * channels));
      for (int64_t c = 0; c < channels; ++c) {
        for (int v = 0; v < 256; ++v)
          table[c * 256 + v] = (static_cast<float>(v) - mean[c]) * scale[c];
      }
      const uint8_t* in = src.data_ptr<uint8_t>();
      for (int64_t p = 0; p < pixels; ++p, in += channels, dst += channels) {
        for (int64_t c = 0; c < channels; ++c)
          dst[c] = table[c * 256 + in[source_channel[c]]];
      }
    } else {
      const float* in = src.data_ptr<float>();
      for (int64_t p = 0; p < pixels; ++p, in += channels, dst += channels) {
        for (int64_t c = 0; c < channels; ++c)
          dst[c] = (in[source_channel[c]] - mean[c]) * scale[c];
      }
    }
    sample.img = out;
    sample.meta.norm_mean.clear();
    sample.meta.norm_std.clear();
    for (int64_t c = 0; c < channels; ++c) {
      sample.meta.norm_mean.push_back(static_cast<float>(options.mean()[c]));
      sample.meta.norm_std.push_back(static_cast<float>(options.std()[c]));
    }
    sample.meta.to_rgb = options.to_rgb();
    return true;
  }

  std::string repr() const override {
    return "Normalize(mean=" + numbers_text(options.mean()) +
           ", std=" + numbers_text(options.std()) +
           ", to_rgb=" + (options.to_rgb() ? "True" : "False") + ")";
  }

  NormalizeOptions options;
};
DETKIT_REGISTER(transform, Normalize);

}  // namespace detkit::transforms
