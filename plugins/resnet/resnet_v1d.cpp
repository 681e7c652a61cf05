// ResNetV1d: MMDetection 2.x's ResNet-D variant (deep stem + average-pool shortcuts, Bag of
// Tricks, He et al., 2019), registered as the backbone type `ResNetV1d`.
#include <detkit/error.h>
#include <detkit/registry.h>

#include "resnet.h"

namespace resnet_plugin {

ResNetV1dImpl::ResNetV1dImpl(ResNetOptions options_, detkit::ConfigNode init_cfg)
    : ResNetImpl(options_.deep_stem(true).avg_down(true), std::move(init_cfg), "ResNetV1d") {}

detkit::Schema ResNetV1dImpl::schema() {
  const detkit::Schema resnet = ResNetImpl::schema();
  detkit::Schema schema(
      "ResNetV1d backbone (MMDetection 2.x): ResNet with deep_stem (three 3x3 stem convs) and "
      "avg_down (AvgPool2d + stride-1 conv shortcuts), which it sets itself.");
  for (const detkit::ParamSpec& spec : resnet.params()) {
    if (spec.name != "deep_stem" && spec.name != "avg_down") schema.add_spec(spec);
  }
  return schema;
}

std::shared_ptr<ResNetV1dImpl> ResNetV1dImpl::create(const detkit::ComponentConfig& cfg,
                                                     const detkit::BackboneContext& context) {
  auto options = detkit::options_from<ResNetOptions>(cfg);
  options.in_channels(cfg.agree<int64_t>("in_channels", context.in_channels));
  const detkit::ConfigNode* init_cfg = cfg.values().find("init_cfg");
  try {
    return std::make_shared<ResNetV1dImpl>(options, init_cfg ? *init_cfg : detkit::ConfigNode());
  } catch (const detkit::InvalidParameter& e) {
    cfg.fail(e.param(), e.what());
  }
}

DETKIT_REGISTER_MODULE(backbone, ResNetV1d);

}  // namespace resnet_plugin
