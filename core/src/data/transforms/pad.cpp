// Pad: MMDetection 2.25's Pad with mmcv.impad / impad_to_multiple.
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of Pad; names and defaults as MMDetection's.
struct PadOptions {
  /// Fixed size (h, w); 0 = unused.
  TORCH_ARG(int64_t, height) = 0;
  TORCH_ARG(int64_t, width) = 0;
  /// Pad each side to a multiple of this; 0 = unused.
  TORCH_ARG(int64_t, size_divisor) = 0;
  /// Pad to a square of the longer side (YOLOX).
  TORCH_ARG(bool, pad_to_square) = false;
  /// Value of the padded pixels: one value, or one per channel.
  TORCH_ARG(std::vector<double>, pad_val) = {0.0};
};

/// Pads the image at the bottom and right (never crops) to a fixed size (h, w), to the next
/// multiple of size_divisor, or to a square; records meta.pad_shape. Boxes are unchanged.
class Pad : public TransformBase {
 public:
  explicit Pad(PadOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Pad the image at the bottom and right (MMDetection Pad).");
    s.add<std::optional<std::vector<int64_t>>>("size", std::nullopt, "fixed padded size [h, w]")
        .length(2)
        .min(1);
    s.add<std::optional<int64_t>>("size_divisor", std::nullopt,
                                  "pad height and width to multiples of this")
        .min(1);
    s.add<bool>("pad_to_square", false, "pad to a square of the longer side");
    s.any("pad_val", default_pad_values(),
          "padding value: a number, or {img: v or [v per channel], masks: v, seg: v}");
    return s;
  }

  static std::shared_ptr<Pad> create(const ComponentConfig& cfg) {
    PadOptions options;
    options.pad_to_square(cfg.get<bool>("pad_to_square"));
    const bool has_size = cfg.has("size"), has_divisor = cfg.has("size_divisor");
    if (options.pad_to_square()) {
      if (has_size || has_divisor) {
        cfg.fail("pad_to_square", "size and size_divisor must be null when pad_to_square is true");
      }
    } else if (has_size == has_divisor) {
      cfg.fail(has_size ? "size" : "size_divisor", "set exactly one of size and size_divisor");
    }
    if (has_size) {
      const auto size = cfg.get<std::vector<int64_t>>("size");
      options.height(size[0]).width(size[1]);
    }
    if (has_divisor) options.size_divisor(cfg.get<int64_t>("size_divisor"));
    ConfigNode value = cfg.node("pad_val");
    if (value.is_map()) {
      for (const auto& entry : value.entries()) {
        if (entry.key != "img" && entry.key != "masks" && entry.key != "seg") {
          cfg.fail("pad_val", "unknown pad_val key '" + entry.key + "' (keys: img, masks, seg)");
        }
      }
      const ConfigNode* img = value.find("img");
      value = img ? *img : ConfigNode(0);
    }
    std::vector<double> pad_val;
    if (value.is_number()) {
      pad_val.push_back(value.as_double());
    } else if (value.is_list() && value.size() >= 1 && value.size() <= 4) {
      for (const auto& item : value.items()) {
        if (!item.is_number()) cfg.fail("pad_val", "expected numbers, got " + value.to_flow());
        pad_val.push_back(item.as_double());
      }
    } else {
      cfg.fail("pad_val",
               "expected a number, a list of 1 to 4 numbers, or a map, got " + value.to_flow());
    }
    options.pad_val(pad_val);
    return std::make_shared<Pad>(std::move(options));
  }

  bool apply(PipelineSample& sample) override {
    const torch::Tensor& img = require_hwc_image(sample, "Pad");
    const int64_t h = img.size(0), w = img.size(1), channels = img.size(2);
    int64_t target_h = h, target_w = w;
    if (options.pad_to_square()) {
      target_h = target_w = std::max(h, w);
    } else if (options.size_divisor() > 0) {
      const int64_t d = options.size_divisor();
      target_h = (h + d - 1) / d * d;
      target_w = (w + d - 1) / d * d;
    } else {
      target_h = std::max(h, options.height());
      target_w = std::max(w, options.width());
    }
    const auto& pad_val = options.pad_val();
    if (pad_val.size() != 1 && static_cast<int64_t>(pad_val.size()) != channels) {
      throw DataError("Pad on " + sample_name(sample) + ": pad_val has " +
                      std::to_string(pad_val.size()) + " values but the image has " +
                      std::to_string(channels) + " channels");
    }
    if (target_h != h || target_w != w) {
      cv::Scalar value = cv::Scalar::all(pad_val[0]);
      for (size_t c = 0; c < pad_val.size(); ++c)
        value[static_cast<int>(c)] = pad_val[c];
      const torch::Tensor src = img.contiguous();
      torch::Tensor out = new_image(target_h, target_w, channels, img.scalar_type());
      cv::Mat dst = as_mat(out);
      cv::copyMakeBorder(as_mat(src), dst, 0, static_cast<int>(target_h - h), 0,
                         static_cast<int>(target_w - w), cv::BORDER_CONSTANT, value);
      sample.img = out;
    }
    sample.meta.pad_shape = hwc_shape(sample.img);
    return true;
  }

  std::string repr() const override {
    const std::string size = options.height() > 0 ? "[" + std::to_string(options.height()) + ", " +
                                                        std::to_string(options.width()) + "]"
                                                  : "None";
    const std::string divisor =
        options.size_divisor() > 0 ? std::to_string(options.size_divisor()) : "None";
    const std::string value = options.pad_val().size() == 1 ? number_text(options.pad_val()[0])
                                                            : numbers_text(options.pad_val());
    return "Pad(size=" + size + ", size_divisor=" + divisor +
           ", pad_to_square=" + (options.pad_to_square() ? "True" : "False") +
           ", pad_val={'img': " + value + "})";
  }

  PadOptions options;
};
DETKIT_REGISTER(transform, Pad);

}  // namespace detkit::transforms
