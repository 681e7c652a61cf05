// TemplateGrayscale: with probability `prob`, replaces the image by its luma (ITU-R BT.601:
// 0.299 R + 0.587 G + 0.114 B) repeated in all three channels. The template's example
// transform (kind `transform`, registered as `TemplateGrayscale`).
//
//   train_pipeline:
//     - {type: LoadImageFromFile}
//     - {type: TemplateGrayscale, prob: 0.2}
//     ...
//
// It draws its random number from detkit::random_uniform(), which the loader seeds per sample,
// so a seeded run makes the same choices whatever the number of worker threads.
#include <detkit/data/transform.h>
#include <detkit/error.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <string>

namespace mobilenet_plugin {

/// Options of TemplateGrayscale; the config keys have the same names.
struct TemplateGrayscaleOptions {
  /// Probability of converting an image, in [0, 1].
  TORCH_ARG(double, prob) = 0.5;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary("Convert the image to 3-channel grayscale with probability prob.");
    DETKIT_PARAM(p, prob, "probability of converting an image").range(0, 1);
  }
};

/// The transform. Works on the image wherever it is in the pipeline: (H, W, 3) after loading
/// (BGR, or RGB after Normalize with to_rgb) or (3, H, W) after DefaultFormatBundle; keeps the
/// dtype (uint8 values are rounded). Boxes and meta are unchanged.
class TemplateGrayscale : public detkit::TransformBase {
 public:
  /// The declared options (the registry reads them from the config and calls the constructor).
  using Options = TemplateGrayscaleOptions;

  /// Checks the options against their declaration (InvalidParameter on a violation).
  explicit TemplateGrayscale(const TemplateGrayscaleOptions& options_ = {}) : options(options_) {
    detkit::check_options(options, "TemplateGrayscale");
  }

  /// Converts sample.img with probability prob; never drops the sample.
  bool apply(detkit::PipelineSample& sample) override {
    // Draw first, so every sample consumes one number whatever its image.
    if (!(detkit::random_uniform() < options.prob())) return true;
    torch::Tensor& img = sample.img;
    const int64_t channel_dim = sample.img_is_chw ? 0 : 2;
    if (!img.defined() || img.dim() != 3 || img.size(channel_dim) != 3) {
      throw detkit::DataError("TemplateGrayscale: expected a 3-channel image, got " +
                              (img.defined() ? c10::str(img.sizes()) : std::string("none")) + " (" +
                              sample.meta.filename + ")");
    }
    // Channel order: BGR as loaded, RGB once Normalize converted it.
    const bool rgb = sample.meta.to_rgb;
    const auto channel = [&](int64_t i) { return img.select(channel_dim, i).to(torch::kFloat); };
    const torch::Tensor red = channel(rgb ? 0 : 2), blue = channel(rgb ? 2 : 0);
    torch::Tensor gray = 0.299 * red + 0.587 * channel(1) + 0.114 * blue;
    if (!img.is_floating_point()) gray = gray.round();
    img = gray.to(img.dtype()).unsqueeze(channel_dim).expand_as(img).contiguous();
    return true;
  }

  /// "TemplateGrayscale(prob=0.5)".
  std::string repr() const override { return detkit::repr_of("TemplateGrayscale", options); }

  /// The options the transform was built with.
  TemplateGrayscaleOptions options;
};

DETKIT_REGISTER(transform, TemplateGrayscale);

}  // namespace mobilenet_plugin
