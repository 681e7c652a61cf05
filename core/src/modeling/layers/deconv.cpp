// Transposed convolution, registered as the upsample layer deconv (MMCV's wrapper
// ConvTranspose2d, as FCNMaskHead builds it: kernel_size = stride = scale_factor). `weight`
// (in, out / groups, kh, kw) and `bias` are registered directly and initialised as PyTorch's
// _ConvNd.reset_parameters does.
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "detkit/modeling/init.h"
#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"

namespace detkit::layers {

/// deconv: ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, ...).
class DeconvUpsample : public UpsampleLayerBase {
 public:
  static Schema schema() {
    Schema s(
        "Transposed convolution (MMCV deconv = ConvTranspose2d); channels from the module that "
        "builds it. Parameters weight, bias.");
    s.add<std::optional<int64_t>>("scale_factor", std::nullopt,
                                  "upsampling ratio: the default kernel_size and stride")
        .min(1);
    s.add<std::optional<int64_t>>("kernel_size", std::nullopt, "kernel size (default scale_factor)")
        .min(1);
    s.add<std::optional<int64_t>>("stride", std::nullopt, "stride (default scale_factor, or 1)")
        .min(1);
    s.add<int64_t>("padding", 0, "implicit zero padding").min(0);
    s.add<int64_t>("output_padding", 0, "extra size on one side of the output").min(0);
    s.add<int64_t>("groups", 1, "blocked connections").min(1);
    s.add<bool>("bias", true, "learn a bias");
    s.add<int64_t>("dilation", 1, "kernel dilation").min(1);
    return s;
  }

  static std::shared_ptr<DeconvUpsample> create(const ComponentConfig& cfg,
                                                const UpsampleLayerContext& context) {
    const auto scale = cfg.get<std::optional<int64_t>>("scale_factor");
    const auto kernel = cfg.get<std::optional<int64_t>>("kernel_size");
    if (!kernel && !scale) cfg.fail("kernel_size", "deconv needs kernel_size or scale_factor");
    auto layer = std::make_shared<DeconvUpsample>();
    layer->in_ = context.in_channels;
    layer->out_ = context.out_channels;
    layer->kernel_ = kernel ? *kernel : *scale;
    layer->stride_ = cfg.get<std::optional<int64_t>>("stride").value_or(scale.value_or(1));
    layer->padding_ = cfg.get<int64_t>("padding");
    layer->output_padding_ = cfg.get<int64_t>("output_padding");
    layer->groups_ = cfg.get<int64_t>("groups");
    layer->dilation_ = cfg.get<int64_t>("dilation");
    if (layer->in_ <= 0 || layer->out_ <= 0) {
      cfg.fail("type", "deconv needs positive in_channels and out_channels, got " +
                           std::to_string(layer->in_) + " and " + std::to_string(layer->out_));
    }
    if (layer->in_ % layer->groups_ != 0 || layer->out_ % layer->groups_ != 0) {
      cfg.fail("groups", "in_channels and out_channels must be divisible by groups");
    }
    layer->weight = layer->register_parameter(
        "weight",
        torch::empty({layer->in_, layer->out_ / layer->groups_, layer->kernel_, layer->kernel_}));
    if (cfg.get<bool>("bias")) {
      layer->bias = layer->register_parameter("bias", torch::empty({layer->out_}));
    }
    layer->reset_parameters();
    return layer;
  }

  /// PyTorch's _ConvNd.reset_parameters (fan_in of a transposed weight is out/groups * k * k).
  void reset_parameters() {
    kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu");
    if (bias.defined()) {
      const int64_t fan_in = weight.size(1) * weight.size(2) * weight.size(3);
      if (fan_in != 0) {
        const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
        torch::NoGradGuard no_grad;
        bias.uniform_(-bound, bound);
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& input, at::IntArrayRef size = {}) override {
    int64_t extra = output_padding_;
    if (!size.empty()) {
      // nn.ConvTranspose2d(input, output_size): the output padding that reaches `size`.
      const int64_t natural =
          (input.size(-1) - 1) * stride_ - 2 * padding_ + dilation_ * (kernel_ - 1) + 1;
      extra = size.back() - natural;
      if (extra < 0 || extra >= std::max(stride_, dilation_)) {
        throw Error("deconv: cannot reach output size " + std::to_string(size.back()) +
                    " from input size " + std::to_string(input.size(-1)));
      }
    }
    return torch::conv_transpose2d(input, weight, bias, stride_, padding_, extra, groups_,
                                   dilation_);
  }

  std::string mmcv_class_name() const override { return "ConvTranspose2d"; }
  std::vector<std::string> mmcv_base_names() const override { return {"ConvTranspose2d"}; }
  void pretty_print(std::ostream& stream) const override {
    stream << "ConvTranspose2d(" << in_ << ", " << out_
           << ", kernel_size=" << py_tuple({kernel_, kernel_})
           << ", stride=" << py_tuple({stride_, stride_}) << ")";
  }

  torch::Tensor weight, bias;

 private:
  int64_t in_ = 0, out_ = 0, kernel_ = 1, stride_ = 1, padding_ = 0, output_padding_ = 0;
  int64_t groups_ = 1, dilation_ = 1;
};

DETKIT_REGISTER_AS(upsample_layer, DeconvUpsample, "deconv");

}  // namespace detkit::layers
