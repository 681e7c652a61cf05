// Bottleneck: MMDetection 2.x's 1x1-3x3-1x1 residual block (ResNet-50/101/152).
#include "res_blocks.h"

#include <detkit/error.h>

namespace resnet_plugin {

BottleneckImpl::BottleneckImpl(const ResBlockOptions& options, Downsample downsample) {
  const int64_t planes = options.planes();
  // style "pytorch" strides the 3x3 conv (ResNet v1.5, torchvision); "caffe" the first 1x1.
  bool caffe = false;
  if (options.style() == "caffe") {
    caffe = true;
  } else if (options.style() != "pytorch") {
    throw detkit::InvalidParameter(
        "style", "Bottleneck: style must be 'pytorch' or 'caffe', got '" + options.style() + "'");
  }
  const int64_t conv1_stride = caffe ? options.stride() : 1;
  const int64_t conv2_stride = caffe ? 1 : options.stride();
  const auto& conv_cfg = options.conv_cfg();
  conv1_ =
      register_module("conv1", make_conv(conv_cfg, options.inplanes(), planes, 1, conv1_stride));
  auto [norm1_name, norm1] = detkit::build_norm_layer(options.norm_cfg(), planes, 1);
  norm1_ = register_module(norm1_name, norm1);
  conv2_ = register_module("conv2", make_conv(conv_cfg, planes, planes, 3, conv2_stride,
                                              options.dilation(), options.dilation()));
  auto [norm2_name, norm2] = detkit::build_norm_layer(options.norm_cfg(), planes, 2);
  norm2_ = register_module(norm2_name, norm2);
  conv3_ = register_module("conv3", make_conv(conv_cfg, planes, planes * expansion, 1));
  auto [norm3_name, norm3] = detkit::build_norm_layer(options.norm_cfg(), planes * expansion, 3);
  norm3_ = register_module(norm3_name, norm3);
  norm3_name_ = norm3_name;
  if (downsample) downsample_ = register_module("downsample", downsample);
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  // In-place ReLUs and residual add, as MMDetection's Bottleneck (nn.ReLU(inplace=True),
  // `out += identity`): no full-size temporaries, which at 800x1216 dominate the time.
  torch::Tensor out = norm1_->forward(conv1_->forward(x));
  out.relu_();
  out = norm2_->forward(conv2_->forward(out));
  out.relu_();
  out = norm3_->forward(conv3_->forward(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return torch::relu_(out);
}

}  // namespace resnet_plugin
