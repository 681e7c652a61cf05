// ResNet: MMDetection 2.x's ResNet backbone, registered as the backbone type `ResNet`.
#include "resnet.h"

#include <detkit/error.h>
#include <detkit/modeling/freezing.h>
#include <detkit/registry.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>

namespace resnet_plugin {

namespace {

/// MMDetection's ResNet.arch_settings: the block type and blocks per stage of each depth.
const std::map<int64_t, std::pair<BlockType, std::vector<int64_t>>>& arch_settings() {
  static const std::map<int64_t, std::pair<BlockType, std::vector<int64_t>>> settings = {
      {18, {BlockType::basic, {2, 2, 2, 2}}},
      {34, {BlockType::basic, {3, 4, 6, 3}}},
      {50, {BlockType::bottleneck, {3, 4, 6, 3}}},
      {101, {BlockType::bottleneck, {3, 4, 23, 3}}},
      {152, {BlockType::bottleneck, {3, 8, 36, 3}}}};
  return settings;
}

/// "18, 34, 50, 101, 152".
std::string valid_depths() {
  std::string text;
  for (const auto& entry : arch_settings()) {
    text += (text.empty() ? "" : ", ") + std::to_string(entry.first);
  }
  return text;
}

/// "[0, 1, 2]".
std::string list_str(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(values[i]);
  }
  return text + "]";
}

/// MMDetection's default ResNet init_cfg: [{type: Kaiming, layer: Conv2d}, {type: Constant,
/// val: 1, layer: [_BatchNorm, GroupNorm]}].
detkit::ConfigNode default_init_cfg() {
  detkit::ConfigNode kaiming = detkit::ConfigNode::make_map();
  kaiming.set("type", "Kaiming");
  kaiming.set("layer", "Conv2d");
  detkit::ConfigNode norm_layers = detkit::ConfigNode::make_list();
  norm_layers.push_back("_BatchNorm");
  norm_layers.push_back("GroupNorm");
  detkit::ConfigNode constant = detkit::ConfigNode::make_map();
  constant.set("type", "Constant");
  constant.set("val", 1);
  constant.set("layer", norm_layers);
  detkit::ConfigNode init_cfg = detkit::ConfigNode::make_list();
  init_cfg.push_back(kaiming);
  init_cfg.push_back(constant);
  return init_cfg;
}

}  // namespace

detkit::ConfigNode default_resnet_norm_cfg() {
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", "BN");
  cfg.set("requires_grad", true);
  return cfg;
}

ResNetImpl::ResNetImpl(const ResNetOptions& options_, detkit::ConfigNode init_cfg)
    : ResNetImpl(options_, std::move(init_cfg), "ResNet") {}

ResNetImpl::ResNetImpl(const ResNetOptions& options_, detkit::ConfigNode init_cfg,
                       std::string type_name)
    : options(options_), type_name_(std::move(type_name)) {
  build(std::move(init_cfg));
}

detkit::Schema ResNetImpl::schema() {
  const detkit::Schema declared = detkit::schema_of<ResNetOptions>();
  detkit::Schema schema(declared.summary());
  for (detkit::ParamSpec spec : declared.params()) {
    if (spec.name == "depth") {
      spec.required = true;
      spec.nullable = false;
      spec.default_value = detkit::ConfigNode();
    }
    schema.add_spec(std::move(spec));
  }
  return schema;
}

std::shared_ptr<ResNetImpl> ResNetImpl::create(const detkit::ComponentConfig& cfg,
                                               const detkit::BackboneContext& context) {
  auto options = detkit::options_from<ResNetOptions>(cfg);
  options.in_channels(cfg.agree<int64_t>("in_channels", context.in_channels));
  const detkit::ConfigNode* init_cfg = cfg.values().find("init_cfg");
  try {
    return std::make_shared<ResNetImpl>(options, init_cfg ? *init_cfg : detkit::ConfigNode());
  } catch (const detkit::InvalidParameter& e) {
    cfg.fail(e.param(), e.what());
  }
}

void ResNetImpl::check() const {
  const std::string name = type_name_ + ": ";
  auto fail = [&](const char* param, const std::string& message) {
    throw detkit::InvalidParameter(param, name + message);
  };
  detkit::check_options(options, type_name_);
  if (!options.depth()) fail("depth", "depth is required; valid depths: " + valid_depths());
  if (arch_settings().count(*options.depth()) == 0) {
    fail("depth", "invalid depth " + std::to_string(*options.depth()) +
                      " for resnet; valid depths: " + valid_depths());
  }
  const int64_t stages = options.num_stages();
  if (stages < 1 || stages > 4) {
    fail("num_stages", "num_stages must be in 1..4, got " + std::to_string(stages));
  }
  const auto length_check = [&](const char* param, size_t length) {
    if (static_cast<int64_t>(length) != stages) {
      fail(param, std::string(param) + " has " + std::to_string(length) +
                      " entries but num_stages is " + std::to_string(stages));
    }
  };
  length_check("strides", options.strides().size());
  length_check("dilations", options.dilations().size());
  const auto& out = options.out_indices();
  if (out.empty()) fail("out_indices", "out_indices must not be empty");
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] < 0 || out[i] >= stages) {
      fail("out_indices", "out_indices " + list_str(out) + ": index " + std::to_string(out[i]) +
                              " is out of range 0.." + std::to_string(stages - 1) +
                              " (num_stages " + std::to_string(stages) + ")");
    }
    if (i > 0 && out[i] <= out[i - 1]) {
      fail("out_indices", "out_indices " + list_str(out) +
                              " must be strictly increasing (outputs come in stage order)");
    }
  }
  if (options.frozen_stages() > stages) {
    fail("frozen_stages", "frozen_stages " + std::to_string(options.frozen_stages()) +
                              " exceeds num_stages " + std::to_string(stages) +
                              " (use -1..num_stages)");
  }
  if (options.with_cp()) {
    fail("with_cp",
         "with_cp (gradient checkpointing) is not supported: it needs "
         "torch.utils.checkpoint's recomputation in the backward pass, which LibTorch's C++ "
         "autograd does not provide; set with_cp: false");
  }
  if (!options.dcn().is_null()) {
    fail("dcn",
         "dcn (deformable convolution) is not supported: detkit has no DCN operator; "
         "got " +
             options.dcn().to_flow() + ", use null");
  }
  const auto& with_dcn = options.stage_with_dcn();
  if (std::find(with_dcn.begin(), with_dcn.end(), true) != with_dcn.end()) {
    fail("stage_with_dcn", "stage_with_dcn needs dcn, which is not supported; use all false");
  }
  if (!options.plugins().is_null()) {
    fail("plugins", "plugins (extra modules inside the blocks) are not supported; got " +
                        options.plugins().to_flow() + ", use null");
  }
  if (options.pretrained() && !init_cfg().is_null()) {
    fail("pretrained", "init_cfg and pretrained cannot be specified at the same time");
  }
}

void ResNetImpl::build(detkit::ConfigNode init_cfg) {
  set_init_cfg(std::move(init_cfg), type_name_ + ".init_cfg");
  check();
  if (!options.stem_channels()) options.stem_channels(options.base_channels());
  const auto& [block, stage_blocks] = arch_settings().at(*options.depth());
  block_ = block;
  // MMDetection: the class default init_cfg (and the blocks' zero_init_residual) only apply
  // when neither init_cfg nor pretrained is given.
  bool zero_init_residual = false;
  if (options.pretrained()) {
    detkit::model_warning(
        "DeprecationWarning: pretrained is deprecated, please use \"init_cfg\" instead");
    detkit::ConfigNode pretrained = detkit::ConfigNode::make_map();
    pretrained.set("type", "Pretrained");
    pretrained.set("checkpoint", *options.pretrained());
    set_init_cfg(pretrained, type_name_ + ".init_cfg");
  } else if (this->init_cfg().is_null()) {
    set_init_cfg(default_init_cfg(), type_name_ + ".init_cfg");
    zero_init_residual = options.zero_init_residual();
  }

  make_stem();
  int64_t inplanes = *options.stem_channels();
  for (int64_t i = 0; i < options.num_stages(); ++i) {
    ResLayerOptions layer;
    layer.block.inplanes(inplanes)
        .planes(options.base_channels() << i)
        .stride(options.strides()[i])
        .dilation(options.dilations()[i])
        .style(options.style())
        .conv_cfg(options.conv_cfg())
        .norm_cfg(options.norm_cfg());
    layer.num_blocks = stage_blocks[i];
    layer.avg_down = options.avg_down();
    layer.zero_init_residual = zero_init_residual;
    res_layers_.push_back(
        register_module("layer" + std::to_string(i + 1), make_res_layer(block_, layer)));
    inplanes = layer.block.planes() * expansion_of(block_);
  }
  freeze_stages();
}

void ResNetImpl::make_stem() {
  const int64_t in = options.in_channels(), stem = *options.stem_channels();
  const auto& conv_cfg = options.conv_cfg();
  const auto& norm_cfg = options.norm_cfg();
  if (options.deep_stem()) {
    // stem.0..8: three (3x3 conv, norm, ReLU); the first conv has stride 2.
    stem_ = torch::nn::Sequential();
    const int64_t widths[] = {stem / 2, stem / 2, stem};
    int64_t from = in;
    for (int64_t i = 0; i < 3; ++i) {
      stem_->push_back(make_conv(conv_cfg, from, widths[i], 3, i == 0 ? 2 : 1, 1));
      stem_->push_back(detkit::build_norm_layer(norm_cfg, widths[i]).second);
      stem_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
      from = widths[i];
    }
    register_module("stem", stem_);
  } else {
    conv1_ = register_module("conv1", make_conv(conv_cfg, in, stem, 7, 2, 3));
    auto [norm1_name, norm1] = detkit::build_norm_layer(norm_cfg, stem, 1);
    norm1_ = register_module(norm1_name, norm1);
  }
}

std::vector<torch::Tensor> ResNetImpl::forward(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != options.in_channels()) {
    throw detkit::Error(type_name_ + ": expected images of shape (N, " +
                        std::to_string(options.in_channels()) + ", H, W), got " +
                        c10::str(images.sizes()));
  }
  torch::Tensor x = options.deep_stem() ? stem_->forward(images)
                                        : norm1_->forward(conv1_->forward(images)).relu_();
  x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  std::vector<torch::Tensor> outs;
  const auto& wanted = options.out_indices();
  for (int64_t i = 0; i < static_cast<int64_t>(res_layers_.size()); ++i) {
    x = res_layers_[i]->forward(x);
    if (std::find(wanted.begin(), wanted.end(), i) != wanted.end()) outs.push_back(x);
  }
  return outs;
}

std::vector<detkit::ShapeSpec> ResNetImpl::output_shapes() const {
  std::vector<int64_t> strides;
  int64_t stride = 4;  // the stem conv and the max-pool halve the resolution
  for (int64_t s : options.strides()) {
    stride *= s;
    strides.push_back(stride);
  }
  std::vector<detkit::ShapeSpec> shapes;
  for (int64_t i : options.out_indices()) {
    detkit::ShapeSpec shape;
    shape.channels = (options.base_channels() << i) * expansion_of(block_);
    shape.stride = strides[i];
    shapes.push_back(shape);
  }
  return shapes;
}

void ResNetImpl::freeze_stages() {
  const auto freeze = [](torch::nn::Module& module) { detkit::freeze_module(module); };
  if (options.frozen_stages() >= 0) {
    if (options.deep_stem()) {
      freeze(*stem_);
    } else {
      freeze(*norm1_);
      freeze(*conv1_);
    }
  }
  for (int64_t i = 0; i < options.frozen_stages(); ++i)
    freeze(*res_layers_[i]);
}

void ResNetImpl::train(bool on) {
  detkit::BackboneBase::train(on);
  freeze_stages();
  if (on && options.norm_eval()) detkit::batch_norms_to_eval(*this);
}

void ResNetImpl::pretty_print(std::ostream& stream) const {
  stream << detkit::repr_of(type_name_, options);
}

DETKIT_REGISTER_MODULE(backbone, ResNet);

}  // namespace resnet_plugin
