// BasicBlock: MMDetection 2.x's two-conv residual block (ResNet-18/34).
#include "res_blocks.h"

#include <detkit/build_context.h>

namespace resnet_plugin {

std::shared_ptr<detkit::ConvLayerBase> make_conv(const detkit::ConfigNode& conv_cfg, int64_t in,
                                                 int64_t out, int64_t kernel, int64_t stride,
                                                 int64_t padding, int64_t dilation) {
  detkit::ConvLayerContext context;
  context.in_channels = in;
  context.out_channels = out;
  context.kernel_size = {kernel, kernel};
  context.stride = {stride, stride};
  context.padding = {padding, padding};
  context.dilation = {dilation, dilation};
  context.bias = false;
  return detkit::build_conv_layer(conv_cfg, context);
}

BasicBlockImpl::BasicBlockImpl(const ResBlockOptions& options, Downsample downsample) {
  // As MMDetection: the first 3x3 carries stride and dilation, the second is plain (padding 1).
  const int64_t planes = options.planes();
  conv1_ =
      register_module("conv1", make_conv(options.conv_cfg(), options.inplanes(), planes, 3,
                                         options.stride(), options.dilation(), options.dilation()));
  auto [norm1_name, norm1] = detkit::build_norm_layer(options.norm_cfg(), planes, 1);
  norm1_ = register_module(norm1_name, norm1);
  conv2_ = register_module("conv2", make_conv(options.conv_cfg(), planes, planes, 3, 1, 1));
  auto [norm2_name, norm2] = detkit::build_norm_layer(options.norm_cfg(), planes, 2);
  norm2_ = register_module(norm2_name, norm2);
  norm2_name_ = norm2_name;
  if (downsample) downsample_ = register_module("downsample", downsample);
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  // In-place ReLUs and residual add, as MMDetection's BasicBlock.
  torch::Tensor out = norm1_->forward(conv1_->forward(x));
  out.relu_();
  out = norm2_->forward(conv2_->forward(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return torch::relu_(out);
}

}  // namespace resnet_plugin
