// InvertedResidual: MMDetection 2.x's MobileNetV2 block.
#include "inverted_residual.h"

#include <detkit/error.h>

namespace mobilenet_v2_plugin {

InvertedResidualImpl::InvertedResidualImpl(const InvertedResidualOptions& options) {
  const int64_t in = options.in_channels(), mid = options.mid_channels();
  const int64_t out = options.out_channels(), stride = options.stride();
  if (stride != 1 && stride != 2) {
    throw detkit::InvalidParameter(
        "stride", "InvertedResidual: stride must be 1 or 2, got " + std::to_string(stride));
  }
  if (!options.with_expand_conv() && mid != in) {
    throw detkit::InvalidParameter("mid_channels",
                                   "InvertedResidual: without an expand conv mid_channels (" +
                                       std::to_string(mid) + ") must equal in_channels (" +
                                       std::to_string(in) + ")");
  }
  with_res_shortcut_ = stride == 1 && in == out;
  const auto conv = [&](int64_t from, int64_t to, int64_t kernel) {
    return detkit::ConvModuleOptions(from, to, kernel)
        .padding(kernel / 2)
        .conv_cfg(options.conv_cfg())
        .norm_cfg(options.norm_cfg())
        .act_cfg(options.act_cfg());
  };
  if (options.with_expand_conv()) {
    expand_conv_ = register_module("expand_conv", detkit::ConvModule(conv(in, mid, 1)));
  }
  depthwise_conv_ = register_module(
      "depthwise_conv", detkit::ConvModule(conv(mid, mid, 3).stride(stride).groups(mid)));
  linear_conv_ = register_module(
      "linear_conv", detkit::ConvModule(conv(mid, out, 1).act_cfg(detkit::ConfigNode())));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = expand_conv_ ? expand_conv_->forward(x) : x;
  out = linear_conv_->forward(depthwise_conv_->forward(out));
  return with_res_shortcut_ ? x + out : out;
}

}  // namespace mobilenet_v2_plugin
