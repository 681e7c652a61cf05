// MMCV's layer builders over the layer registries: build_norm_layer (with the child name
// "bn1"), build_conv_layer (null cfg: Conv2d), build_activation_layer, build_upsample_layer.
#include <memory>
#include <string>
#include <utility>

#include "detkit/core/runtime.h"
#include "detkit/modeling/layers.h"
#include "detkit/registry.h"

namespace detkit {

std::pair<std::string, std::shared_ptr<NormLayerBase>> build_norm_layer(const ConfigNode& cfg,
                                                                        int64_t num_features,
                                                                        const std::string& postfix,
                                                                        const std::string& path) {
  initialize_runtime();
  auto layer = build<NormLayerBase>(cfg, path, NormLayerContext{num_features});
  return {layer->abbreviation() + postfix, std::move(layer)};
}

std::pair<std::string, std::shared_ptr<NormLayerBase>> build_norm_layer(const ConfigNode& cfg,
                                                                        int64_t num_features,
                                                                        int64_t postfix,
                                                                        const std::string& path) {
  return build_norm_layer(cfg, num_features, std::to_string(postfix), path);
}

std::shared_ptr<ConvLayerBase> build_conv_layer(const ConfigNode& cfg,
                                                const ConvLayerContext& context,
                                                const std::string& path) {
  initialize_runtime();
  if (cfg.is_null()) {
    ConfigNode conv2d = ConfigNode::make_map();
    conv2d.set("type", ConfigNode("Conv2d"));
    return build<ConvLayerBase>(conv2d, path, context);
  }
  return build<ConvLayerBase>(cfg, path, context);
}

std::shared_ptr<ActivationLayerBase> build_activation_layer(const ConfigNode& cfg,
                                                            const std::string& path) {
  initialize_runtime();
  return build<ActivationLayerBase>(cfg, path);
}

std::shared_ptr<UpsampleLayerBase> build_upsample_layer(const ConfigNode& cfg,
                                                        const UpsampleLayerContext& context,
                                                        const std::string& path) {
  initialize_runtime();
  return build<UpsampleLayerBase>(cfg, path, context);
}

}  // namespace detkit
