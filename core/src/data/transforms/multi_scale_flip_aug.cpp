// MultiScaleFlipAug: MMDetection 2.25's test-time augmentation wrapper
// (mmdet/datasets/pipelines/test_time_aug.py), a fan-out transform.
#include <torch/torch.h>

#include "detkit/core/text.h"
#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of MultiScaleFlipAug; names and defaults as MMDetection's.
struct MultiScaleFlipAugOptions {
  /// The inner pipeline, applied to every augmented version.
  TORCH_ARG(std::vector<std::shared_ptr<TransformBase>>, transforms) = {};
  /// Target scales (w, h) handed to Resize; empty when scale_factor is used.
  TORCH_ARG(std::vector<ScalePair>, img_scale) = {};
  /// Scale factors handed to Resize; empty when img_scale is used.
  TORCH_ARG(std::vector<double>, scale_factor) = {};
  TORCH_ARG(bool, flip) = false;
  TORCH_ARG(std::vector<FlipDirection>, flip_direction) = {FlipDirection::horizontal};
};

/// Runs its transforms once per (scale, flip) combination, in MMDetection's order: for each
/// scale (or scale factor), first without flip, then (when flip) once per flip_direction.
/// Resize receives the scale and RandomFlip the flip choice (MMDetection's results['scale'] /
/// ['flip']); every version starts from the same input sample. apply_multi returns the versions
/// (a version an inner transform drops is left out).
class MultiScaleFlipAug : public TransformBase {
 public:
  explicit MultiScaleFlipAug(MultiScaleFlipAugOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Test-time augmentation over scales and flips (MMDetection MultiScaleFlipAug).");
    ParamSpec transforms;
    transforms.name = "transforms";
    transforms.type = ParamType::component_list;
    transforms.kind = Kind::transform;
    transforms.required = true;
    transforms.doc = "transforms applied to every version (Resize, RandomFlip, Normalize, ...)";
    s.add_spec(std::move(transforms));
    s.any("img_scale", ConfigNode(), "scale [w, h] or list of scales (or use scale_factor)");
    s.any("scale_factor", ConfigNode(), "scale factor or list of them (or use img_scale)");
    s.add<bool>("flip", false, "also run flipped versions");
    s.any("flip_direction", "horizontal",
          "horizontal, vertical or diagonal, or a list: one flipped version each");
    return s;
  }

  static std::shared_ptr<MultiScaleFlipAug> create(const ComponentConfig& cfg) {
    MultiScaleFlipAugOptions options;
    const ConfigNode& list = cfg.node("transforms");
    if (!list.is_list()) cfg.fail("transforms", "a list of transforms is required");
    const std::string list_path = child_path(cfg.path(), "transforms");
    bool has_flip = false;
    for (size_t i = 0; i < list.size(); ++i) {
      auto transform = build<TransformBase>(list.items()[i], index_path(list_path, i));
      if (dynamic_cast<MultiScaleFlipAug*>(transform.get()) != nullptr) {
        cfg.fail("transforms", "MultiScaleFlipAug cannot be nested");
      }
      has_flip |= list.items()[i].at("type").as_string() == "RandomFlip";
      options.transforms().push_back(std::move(transform));
    }
    const bool has_scale = cfg.has("img_scale"), has_factor = cfg.has("scale_factor");
    if (has_scale == has_factor) {
      cfg.fail(has_scale ? "scale_factor" : "img_scale",
               "set exactly one of img_scale and scale_factor");
    }
    if (has_scale) options.img_scale(scale_list(cfg, "img_scale", false));
    if (has_factor) {
      const ConfigNode& node = cfg.node("scale_factor");
      std::vector<double> factors;
      auto add = [&](const ConfigNode& value) {
        if (!value.is_number() || !(value.as_double() > 0)) {
          cfg.fail("scale_factor", "expected positive numbers, got " + node.to_flow());
        }
        factors.push_back(value.as_double());
      };
      if (node.is_list()) {
        for (const auto& item : node.items())
          add(item);
      } else {
        add(node);
      }
      if (factors.empty()) cfg.fail("scale_factor", "expected at least one scale factor");
      options.scale_factor(factors);
    }
    options.flip(cfg.get<bool>("flip"));
    std::vector<FlipDirection> directions;
    for (const auto& name :
         string_or_list(cfg, "flip_direction", {"horizontal", "vertical", "diagonal"})) {
      directions.push_back(flip_direction_from_string(name));
    }
    options.flip_direction(directions);
    if (options.flip() && !has_flip) {
      cfg.fail("flip", "flip: true has no effect without a RandomFlip in transforms");
    }
    return std::make_shared<MultiScaleFlipAug>(std::move(options));
  }

  std::vector<PipelineSample> apply_multi(PipelineSample sample) override {
    std::vector<AugmentPreset> presets;
    const size_t count =
        options.img_scale().empty() ? options.scale_factor().size() : options.img_scale().size();
    for (size_t i = 0; i < count; ++i) {
      AugmentPreset preset;
      if (options.img_scale().empty()) {
        preset.scale_factor = options.scale_factor()[i];
      } else {
        preset.scale = options.img_scale()[i];
      }
      presets.push_back(preset);
      if (!options.flip()) continue;
      for (FlipDirection direction : options.flip_direction()) {
        preset.flip = true;
        preset.flip_direction = direction;
        presets.push_back(preset);
      }
    }
    std::vector<PipelineSample> versions;
    for (const auto& preset : presets) {
      PipelineSample version = sample;  // tensors are shared; transforms never write in place
      bool kept = true;
      for (const auto& transform : options.transforms()) {
        auto* preset_transform = dynamic_cast<PresetTransform*>(transform.get());
        kept = preset_transform ? preset_transform->apply_preset(version, preset)
                                : transform->apply(version);
        if (!kept) break;
      }
      if (kept) versions.push_back(std::move(version));
    }
    return versions;
  }

  bool apply(PipelineSample& sample) override {
    std::vector<PipelineSample> versions = apply_multi(sample);
    if (versions.size() > 1) {
      throw Error("MultiScaleFlipAug makes " + std::to_string(versions.size()) +
                  " versions of a sample; run it through a Pipeline (apply_multi)");
    }
    if (versions.empty()) return false;
    sample = std::move(versions.front());
    return true;
  }

  std::string repr() const override {
    std::string inner;
    for (const auto& transform : options.transforms()) {
      inner += (inner.empty() ? "" : ", ") + transform->repr();
    }
    std::string directions;
    for (auto d : options.flip_direction()) {
      directions += (directions.empty() ? "'" : ", '") + std::string(flip_direction_name(d)) + "'";
    }
    const std::string scales = options.img_scale().empty()
                                   ? "scale_factor=" + numbers_text(options.scale_factor())
                                   : "img_scale=" + scales_text(options.img_scale());
    return "MultiScaleFlipAug(transforms=[" + inner + "], " + scales +
           ", flip=" + (options.flip() ? "True" : "False") + ", flip_direction=[" + directions +
           "])";
  }

  MultiScaleFlipAugOptions options;
};
DETKIT_REGISTER(transform, MultiScaleFlipAug);

}  // namespace detkit::transforms
