// ResLayer: MMDetection 2.x's stage of residual blocks (mmdet/models/utils/res_layer.py), with
// the downsample shortcut of its first block (strided 1x1 conv + norm, or with avg_down
// ResNet-D's AvgPool2d + 1x1 conv + norm).
#include "res_blocks.h"

namespace resnet_plugin {

namespace {

/// The shortcut of a block from `inplanes` to `out` channels with `stride`, or null when the
/// identity fits (stride 1 and equal widths).
Downsample make_downsample(const ResBlockOptions& block, int64_t out, bool avg_down) {
  const int64_t stride = block.stride();
  if (stride == 1 && block.inplanes() == out) return Downsample(nullptr);
  Downsample downsample;
  int64_t conv_stride = stride;
  if (avg_down) {
    conv_stride = 1;
    downsample->push_back(torch::nn::AvgPool2d(
        torch::nn::AvgPool2dOptions(stride).stride(stride).ceil_mode(true).count_include_pad(
            false)));
  }
  downsample->push_back(make_conv(block.conv_cfg(), block.inplanes(), out, 1, conv_stride));
  downsample->push_back(detkit::build_norm_layer(block.norm_cfg(), out).second);
  return downsample;
}

/// {type: Constant, val: 0, override: {name: <norm_name>}}: zeroes the last norm's weight.
detkit::ConfigNode zero_last_norm_cfg(const std::string& norm_name) {
  detkit::ConfigNode override_cfg = detkit::ConfigNode::make_map();
  override_cfg.set("name", norm_name);
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", "Constant");
  cfg.set("val", 0);
  cfg.set("override", override_cfg);
  return cfg;
}

/// Appends one block of type Block to `layer`, with the zero_init_residual init_cfg if asked.
template <class Block>
void append_block(detkit::Sequential& layer, const ResBlockOptions& options, Downsample downsample,
                  bool zero_init_residual) {
  Block block(options, std::move(downsample));
  if (zero_init_residual) block->set_init_cfg(zero_last_norm_cfg(block->last_norm_name()));
  layer->push_back(block);
}

}  // namespace

int64_t expansion_of(BlockType block) {
  return block == BlockType::basic ? BasicBlockImpl::expansion : BottleneckImpl::expansion;
}

detkit::Sequential make_res_layer(BlockType block, const ResLayerOptions& options) {
  const int64_t out = options.block.planes() * expansion_of(block);
  detkit::Sequential layer;
  ResBlockOptions block_options = options.block;
  for (int64_t i = 0; i < options.num_blocks; ++i) {
    Downsample downsample(nullptr);
    if (i == 0) {
      downsample = make_downsample(block_options, out, options.avg_down);
    } else {
      block_options.inplanes(out).stride(1);
    }
    if (block == BlockType::basic) {
      append_block<BasicBlock>(layer, block_options, downsample, options.zero_init_residual);
    } else {
      append_block<Bottleneck>(layer, block_options, downsample, options.zero_init_residual);
    }
  }
  return layer;
}

}  // namespace resnet_plugin
