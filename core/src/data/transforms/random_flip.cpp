// RandomFlip: MMDetection 2.25's RandomFlip (mmdet/datasets/pipelines/transforms.py) with
// mmcv.imflip.
#include <torch/torch.h>

#include <numeric>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of RandomFlip; names and defaults as MMDetection's.
struct RandomFlipOptions {
  /// Flip probabilities: one value for all directions, or one per direction; empty = None (the
  /// choice must come from MultiScaleFlipAug).
  TORCH_ARG(std::vector<double>, flip_ratio) = {};
  /// Whether flip_ratio was written as a list (one probability per direction).
  TORCH_ARG(bool, flip_ratio_per_direction) = false;
  TORCH_ARG(std::vector<FlipDirection>, direction) = {FlipDirection::horizontal};
};

/// Flips the image and boxes. With one flip_ratio p and k directions, each direction is chosen
/// with probability p / k and no flip with 1 - p; with a list, direction i is chosen with
/// flip_ratio[i] (MMDetection's np.random.choice over directions + [None]). Boxes map as
/// mmdet's bbox_flip: horizontal x -> W - x, vertical y -> H - y, diagonal both, W and H being
/// the image's own size. Records meta.flip and meta.flip_direction.
class RandomFlip : public TransformBase, public PresetTransform {
 public:
  explicit RandomFlip(RandomFlipOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Flip the image and boxes at random (MMDetection RandomFlip).");
    s.any("flip_ratio", ConfigNode(),
          "probability in [0, 1], or one per direction (sum <= 1); null inside MultiScaleFlipAug");
    s.any("direction", "horizontal",
          "horizontal, vertical or diagonal, or a list of them (one per flip_ratio)");
    return s;
  }

  static std::shared_ptr<RandomFlip> create(const ComponentConfig& cfg) {
    RandomFlipOptions options;
    std::vector<FlipDirection> directions;
    for (const auto& name :
         string_or_list(cfg, "direction", {"horizontal", "vertical", "diagonal"})) {
      directions.push_back(flip_direction_from_string(name));
    }
    options.direction(directions);
    const ConfigNode& ratio = cfg.node("flip_ratio");
    auto check_probability = [&](const ConfigNode& value) {
      if (!value.is_number()) {
        cfg.fail("flip_ratio", "expected a probability or a list of them, got " + ratio.to_flow());
      }
      const double p = value.as_double();
      if (!(p >= 0.0 && p <= 1.0)) {
        cfg.fail("flip_ratio", "flip probabilities must be in [0, 1], got " + value.to_flow());
      }
      return p;
    };
    if (ratio.is_list()) {
      std::vector<double> ratios;
      for (const auto& item : ratio.items())
        ratios.push_back(check_probability(item));
      const double sum = std::accumulate(ratios.begin(), ratios.end(), 0.0);
      if (sum > 1.0 + 1e-9) {
        cfg.fail("flip_ratio", "the flip probabilities sum to " + number_text(sum) + " > 1");
      }
      if (ratios.size() != directions.size()) {
        cfg.fail("flip_ratio", "a list of flip_ratio needs one value per direction: " +
                                   std::to_string(ratios.size()) + " ratios for " +
                                   std::to_string(directions.size()) + " directions");
      }
      options.flip_ratio(ratios).flip_ratio_per_direction(true);
    } else if (!ratio.is_null()) {
      options.flip_ratio({check_probability(ratio)});
    }
    return std::make_shared<RandomFlip>(std::move(options));
  }

  bool apply(PipelineSample& sample) override {
    if (options.flip_ratio().empty()) {
      throw ConfigError("RandomFlip on " + sample_name(sample) +
                        ": flip_ratio is None; set flip_ratio, or use RandomFlip inside "
                        "MultiScaleFlipAug");
    }
    // np.random.choice(directions + [None], p=...): the first cumulative probability > u.
    const auto& directions = options.direction();
    std::vector<double> probabilities;
    if (options.flip_ratio_per_direction()) {
      probabilities = options.flip_ratio();
    } else {
      probabilities.assign(directions.size(),
                           options.flip_ratio()[0] / static_cast<double>(directions.size()));
    }
    const double no_flip =
        1.0 - (options.flip_ratio_per_direction()
                   ? std::accumulate(probabilities.begin(), probabilities.end(), 0.0)
                   : options.flip_ratio()[0]);
    probabilities.push_back(no_flip);
    std::vector<double> cumulative(probabilities.size());
    std::partial_sum(probabilities.begin(), probabilities.end(), cumulative.begin());
    const double u = random_uniform() * cumulative.back();
    size_t choice = 0;
    while (choice + 1 < cumulative.size() && cumulative[choice] <= u)
      ++choice;
    if (choice < directions.size()) {
      flip(sample, directions[choice]);
    } else {
      sample.meta.flip = false;
      sample.meta.flip_direction.clear();
    }
    return true;
  }

  bool apply_preset(PipelineSample& sample, const AugmentPreset& preset) override {
    if (preset.flip) {
      flip(sample, preset.flip_direction);
    } else {
      require_hwc_image(sample, "RandomFlip");
      sample.meta.flip = false;
      sample.meta.flip_direction.clear();
    }
    return true;
  }

  std::string repr() const override {
    std::string ratio = "None";
    if (options.flip_ratio_per_direction()) {
      ratio = numbers_text(options.flip_ratio());
    } else if (!options.flip_ratio().empty()) {
      ratio = number_text(options.flip_ratio()[0]);
    }
    std::string directions;
    for (auto d : options.direction()) {
      directions += (directions.empty() ? "'" : ", '") + std::string(flip_direction_name(d)) + "'";
    }
    return "RandomFlip(flip_ratio=" + ratio + ", direction=[" + directions + "])";
  }

  RandomFlipOptions options;

 private:
  static void flip(PipelineSample& sample, FlipDirection direction) {
    const torch::Tensor src = require_hwc_image(sample, "RandomFlip").contiguous();
    torch::Tensor out = new_image(src.size(0), src.size(1), src.size(2), src.scalar_type());
    cv::Mat dst = as_mat(out);
    const int code = direction == FlipDirection::horizontal ? 1
                     : direction == FlipDirection::vertical ? 0
                                                            : -1;
    cv::flip(as_mat(src), dst, code);
    sample.img = out;
    const int64_t h = out.size(0), w = out.size(1);
    if (!sample.gt.boxes().empty()) sample.gt.boxes().flip(h, w, direction);
    if (!sample.gt_ignore.empty()) sample.gt_ignore.flip(h, w, direction);
    sample.meta.flip = true;
    sample.meta.flip_direction = flip_direction_name(direction);
  }
};
DETKIT_REGISTER(transform, RandomFlip);

}  // namespace detkit::transforms
