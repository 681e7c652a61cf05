// Upsampling by interpolation, registered as the upsample layers nearest and bilinear (MMCV's
// UPSAMPLE_LAYERS map both to nn.Upsample with `mode` set to the type name).
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"

namespace detkit::layers {

/// nearest / bilinear: nn.Upsample(size, scale_factor, mode=<type>, align_corners).
class InterpolateUpsample : public UpsampleLayerBase {
 public:
  static Schema schema() {
    Schema s(
        "Upsampling by interpolation (MMCV nearest / bilinear = nn.Upsample with that mode). "
        "Set scale_factor or size (or pass the size to forward).");
    s.add<std::optional<double>>("scale_factor", std::nullopt, "output size / input size")
        .greater_than(0);
    s.add<std::optional<std::vector<int64_t>>>("size", std::nullopt, "output (H, W)").length(2);
    s.add<std::optional<bool>>("align_corners", std::nullopt,
                               "bilinear only: align the corner pixels");
    return s;
  }

  static std::shared_ptr<InterpolateUpsample> create(const ComponentConfig& cfg,
                                                     const UpsampleLayerContext&) {
    auto layer = std::make_shared<InterpolateUpsample>();
    layer->mode_ = cfg.type();
    layer->scale_factor_ = cfg.get<std::optional<double>>("scale_factor");
    if (auto size = cfg.get<std::optional<std::vector<int64_t>>>("size")) layer->size_ = *size;
    layer->align_corners_ = cfg.get<std::optional<bool>>("align_corners");
    if (layer->mode_ == "nearest" && layer->align_corners_) {
      cfg.fail("align_corners", "align_corners can only be set with bilinear interpolation");
    }
    return layer;
  }

  torch::Tensor forward(const torch::Tensor& input, at::IntArrayRef size = {}) override {
    namespace F = torch::nn::functional;
    auto options = F::InterpolateFuncOptions();
    options.mode(mode_ == "nearest" ? F::InterpolateFuncOptions::mode_t(torch::kNearest)
                                    : F::InterpolateFuncOptions::mode_t(torch::kBilinear));
    if (!size.empty()) {
      options.size(size.vec());
    } else if (!size_.empty()) {
      options.size(size_);
    } else if (scale_factor_) {
      options.scale_factor(std::vector<double>{*scale_factor_, *scale_factor_});
    } else {
      throw Error("Upsample (" + mode_ +
                  "): either size or scale_factor should be defined (set one in upsample_cfg)");
    }
    if (align_corners_) options.align_corners(*align_corners_);
    return F::interpolate(input, options);
  }

  std::string mmcv_class_name() const override { return "Upsample"; }
  std::vector<std::string> mmcv_base_names() const override { return {"Module"}; }
  void pretty_print(std::ostream& stream) const override {
    stream << "Upsample(";
    if (!size_.empty()) {
      stream << "size=" << py_tuple(size_);
    } else if (scale_factor_) {
      stream << "scale_factor=" << *scale_factor_;
    }
    stream << ", mode=" << mode_ << ")";
  }

 private:
  std::string mode_;
  std::optional<double> scale_factor_;
  std::vector<int64_t> size_;
  std::optional<bool> align_corners_;
};

DETKIT_REGISTER_AS(upsample_layer, InterpolateUpsample, "nearest");
DETKIT_REGISTER_AS(upsample_layer, InterpolateUpsample, "bilinear");

}  // namespace detkit::layers
