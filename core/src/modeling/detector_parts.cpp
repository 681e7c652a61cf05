// The parts every detector builds first (see detkit/modeling/detector_parts.h).
#include "detkit/modeling/detector_parts.h"

#include "detkit/registry.h"

namespace detkit {

std::string component_origin(const ConfigNode& cfg, const std::string& path) {
  const ConfigNode* type = cfg.is_map() ? cfg.find("type") : nullptr;
  return (type != nullptr && type->is_string() ? type->as_string() : std::string("?")) + " (" +
         path + ")";
}

HeadContext build_feature_extractor(const ConfigNode& backbone_cfg, const ConfigNode& neck_cfg,
                                    const std::string& prefix,
                                    const Known<std::vector<std::string>>& classes,
                                    std::shared_ptr<BackboneBase>& backbone,
                                    std::shared_ptr<NeckBase>& neck) {
  const std::string backbone_path = prefix + "backbone";
  backbone = build<BackboneBase>(backbone_cfg, backbone_path, BackboneContext{});
  HeadContext context;
  context.input_shapes = backbone->output_shapes();
  context.input_origin = "backbone " + component_origin(backbone_cfg, backbone_path);
  neck = nullptr;
  if (!neck_cfg.is_null()) {
    const std::string neck_path = prefix + "neck";
    neck = build<NeckBase>(neck_cfg, neck_path,
                           NeckContext{context.input_shapes, context.input_origin});
    context.input_shapes = neck->output_shapes();
    context.input_origin = "neck " + component_origin(neck_cfg, neck_path);
  }
  if (classes) {
    const auto count = static_cast<int64_t>(classes.value->size());
    context.num_classes =
        Known<int64_t>(count, "the dataset's " + std::to_string(count) + " classes");
  }
  return context;
}

std::vector<torch::Tensor> extract_features(BackboneBase& backbone, NeckBase* neck,
                                            const torch::Tensor& images) {
  std::vector<torch::Tensor> features = backbone.forward(images);
  if (neck != nullptr) features = neck->forward(features);
  return features;
}

std::vector<std::string> index_class_names(int64_t count) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < count; ++i)
    names.push_back(std::to_string(i));
  return names;
}

}  // namespace detkit
