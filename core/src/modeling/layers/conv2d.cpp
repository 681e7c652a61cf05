// 2-D convolution, registered as the conv layers Conv2d (MMCV: nn.Conv2d) and Conv (MMCV's
// wrapper Conv2d, a subclass of nn.Conv2d). The geometry comes from the build context (MMCV's
// positional build_conv_layer arguments); `weight` and `bias` are registered directly and
// initialised as PyTorch's _ConvNd.reset_parameters does (kaiming_uniform_ with a = sqrt(5),
// bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in))), drawing the same numbers for the same seed.
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "detkit/modeling/init.h"
#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"

namespace detkit::layers {

/// Conv2d / Conv.
class Conv2dLayer : public ConvLayerBase {
 public:
  static Schema schema() {
    return Schema(
        "2-D convolution (MMCV Conv2d = nn.Conv2d; Conv = MMCV's Conv2d wrapper). Channels, "
        "kernel, stride, padding, dilation, groups and bias come from the module that builds "
        "it. Parameters weight, bias.");
  }

  static std::shared_ptr<Conv2dLayer> create(const ComponentConfig& cfg,
                                             const ConvLayerContext& context) {
    try {
      return std::make_shared<Conv2dLayer>(cfg.type(), context);
    } catch (const ConfigError& e) {
      cfg.fail("type", e.what());
    }
  }

  Conv2dLayer(std::string type, const ConvLayerContext& context)
      : type_(std::move(type)),
        in_channels_(context.in_channels),
        out_channels_(context.out_channels),
        kernel_size_(pair_of(context.kernel_size, "kernel_size")),
        stride_(pair_of(context.stride, "stride")),
        padding_(pair_of(context.padding, "padding")),
        dilation_(pair_of(context.dilation, "dilation")),
        groups_(context.groups) {
    if (in_channels_ <= 0 || out_channels_ <= 0 || groups_ <= 0) {
      throw ConfigError("a convolution needs positive in_channels, out_channels and groups, got " +
                        std::to_string(in_channels_) + ", " + std::to_string(out_channels_) + ", " +
                        std::to_string(groups_));
    }
    if (in_channels_ % groups_ != 0) throw ConfigError("in_channels must be divisible by groups");
    if (out_channels_ % groups_ != 0) {
      throw ConfigError("out_channels must be divisible by groups");
    }
    weight = register_parameter("weight", torch::empty({out_channels_, in_channels_ / groups_,
                                                        kernel_size_[0], kernel_size_[1]}));
    if (context.bias) bias = register_parameter("bias", torch::empty({out_channels_}));
    reset_parameters();
  }

  /// PyTorch's _ConvNd.reset_parameters.
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

  torch::Tensor forward(const torch::Tensor& input) override {
    return torch::conv2d(input, weight, bias, stride_, padding_, dilation_, groups_);
  }

  std::string mmcv_class_name() const override { return "Conv2d"; }
  std::vector<std::string> mmcv_base_names() const override {
    return {type_ == "Conv" ? "Conv2d" : "_ConvNd"};
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "Conv2d(" << in_channels_ << ", " << out_channels_
           << ", kernel_size=" << py_tuple(kernel_size_) << ", stride=" << py_tuple(stride_);
    if (padding_ != std::vector<int64_t>{0, 0}) stream << ", padding=" << py_tuple(padding_);
    if (dilation_ != std::vector<int64_t>{1, 1}) stream << ", dilation=" << py_tuple(dilation_);
    if (groups_ != 1) stream << ", groups=" << groups_;
    if (!bias.defined()) stream << ", bias=False";
    stream << ")";
  }

  torch::Tensor weight, bias;

 private:
  std::string type_;
  int64_t in_channels_, out_channels_;
  std::vector<int64_t> kernel_size_, stride_, padding_, dilation_;
  int64_t groups_;
};

DETKIT_REGISTER_AS(conv_layer, Conv2dLayer, "Conv2d");
DETKIT_REGISTER_AS(conv_layer, Conv2dLayer, "Conv");

}  // namespace detkit::layers
