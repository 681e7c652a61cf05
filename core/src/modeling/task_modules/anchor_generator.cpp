// AnchorGenerator: MMDetection 2.x's standard anchor generator (kind `anchor_generator`), as
// RetinaNet (octave_base_scale 4, scales_per_octave 3, ratios [0.5, 1, 2], strides 8 ... 128)
// and Faster R-CNN's RPN (scales [8], strides 4 ... 64) configure it.
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "detkit/core/anchor_generators.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

constexpr const char* kName = "AnchorGenerator";

std::string join(const std::vector<double>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) text += ", ";
    text += ConfigNode(values[i]).to_flow();
  }
  return text + "]";
}

/// The (w, h) stride of each level from `strides` (ints or [w, h] pairs).
std::vector<std::pair<int64_t, int64_t>> parse_strides(const ConfigNode& strides) {
  if (!strides.is_list() || strides.size() == 0) {
    throw InvalidParameter("strides", std::string(kName) +
                                          ": strides must be a non-empty list of ints or [w, h] "
                                          "pairs, got " +
                                          strides.to_flow());
  }
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const ConfigNode& item : strides.items()) {
    if (item.is_int()) {
      out.emplace_back(item.as_int(), item.as_int());
    } else if (item.is_list() && item.size() == 2 && item.items()[0].is_int() &&
               item.items()[1].is_int()) {
      out.emplace_back(item.items()[0].as_int(), item.items()[1].as_int());
    } else {
      throw InvalidParameter("strides", std::string(kName) +
                                            ": each stride must be an int or a [w, h] pair, got " +
                                            item.to_flow());
    }
    if (out.back().first < 1 || out.back().second < 1) {
      throw InvalidParameter("strides",
                             std::string(kName) + ": strides must be >= 1, got " + item.to_flow());
    }
  }
  return out;
}

}  // namespace

ParamSpec AnchorGeneratorOptions::pair_spec() {
  ParamSpec pair = param_spec_of<std::vector<double>>();
  pair.length = 2;
  return pair;
}

ParamSpec AnchorGeneratorOptions::strides_spec() {
  ParamSpec stride = param_spec_of<int64_t>();
  stride.min = 1;
  ParamSpec stride_pair = param_spec_of<std::vector<int64_t>>();
  stride_pair.length = 2;
  stride_pair.min = 1;
  stride.alternatives = {stride_pair};
  ParamSpec list;
  list.type = ParamType::list;
  list.element = std::make_shared<const ParamSpec>(stride);
  return list;
}

AnchorGenerator::AnchorGenerator(const Options& options_) : options(options_) {
  check_options(options, kName);
  if (options.strides().is_null()) {
    throw InvalidParameter("strides", std::string(kName) + ": strides must be set");
  }
  strides_ = parse_strides(options.strides());
  if (!options.ratios() || options.ratios()->empty()) {
    throw InvalidParameter("ratios", std::string(kName) + ": ratios must be a non-empty list");
  }
  const bool octave = options.octave_base_scale().has_value();
  const bool per_octave = options.scales_per_octave().has_value();
  if (options.scales() && (octave || per_octave)) {
    throw InvalidParameter(
        "scales", std::string(kName) +
                      ": scales and octave_base_scale/scales_per_octave cannot "
                      "be set at the same time, got scales " +
                      join(*options.scales()) + " and octave_base_scale " +
                      (octave ? ConfigNode(*options.octave_base_scale()).to_flow() : "null"));
  }
  if (options.scales()) {
    if (options.scales()->empty()) {
      throw InvalidParameter("scales", std::string(kName) + ": scales must not be empty");
    }
    scales_ = *options.scales();
  } else if (octave && per_octave) {
    // MMDetection: octave_base_scale * 2 ** (i / scales_per_octave), in float64.
    const int64_t count = *options.scales_per_octave();
    for (int64_t i = 0; i < count; ++i) {
      scales_.push_back(std::pow(2.0, static_cast<double>(i) / static_cast<double>(count)) *
                        *options.octave_base_scale());
    }
  } else {
    throw InvalidParameter(
        octave ? "scales_per_octave" : "octave_base_scale",
        std::string(kName) +
            ": set either scales or both octave_base_scale and scales_per_octave (got " +
            (octave       ? "octave_base_scale without scales_per_octave"
             : per_octave ? "scales_per_octave without octave_base_scale"
                          : "none of them") +
            ")");
  }
  if (options.base_sizes()) {
    if (options.base_sizes()->size() != strides_.size()) {
      throw InvalidParameter("base_sizes",
                             std::string(kName) + ": base_sizes must have one value per level: " +
                                 std::to_string(options.base_sizes()->size()) + " base_sizes for " +
                                 std::to_string(strides_.size()) + " strides");
    }
    base_sizes_ = *options.base_sizes();
  } else {
    for (const auto& [stride_w, stride_h] : strides_)
      base_sizes_.push_back(static_cast<double>(std::min(stride_w, stride_h)));
  }
  if (options.centers()) {
    if (options.center_offset() != 0) {
      throw InvalidParameter("centers", std::string(kName) +
                                            ": centers cannot be set when center_offset != 0 "
                                            "(center_offset is " +
                                            ConfigNode(options.center_offset()).to_flow() + ")");
    }
    if (options.centers()->size() != strides_.size()) {
      throw InvalidParameter("centers",
                             std::string(kName) + ": centers must have one [x, y] per level: " +
                                 std::to_string(options.centers()->size()) + " centers for " +
                                 std::to_string(strides_.size()) + " strides");
    }
  }
}

std::vector<torch::Tensor> AnchorGenerator::base_anchors(const torch::Device& device) const {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor ratios = torch::tensor(*options.ratios(), f32);
  const torch::Tensor scales = torch::tensor(scales_, f32);
  const torch::Tensor h_ratios = torch::sqrt(ratios);
  const torch::Tensor w_ratios = 1 / h_ratios;
  std::vector<torch::Tensor> out;
  for (size_t level = 0; level < base_sizes_.size(); ++level) {
    const double size = base_sizes_[level];
    double x_center = options.center_offset() * size;
    double y_center = options.center_offset() * size;
    if (options.centers()) {
      x_center = (*options.centers())[level][0];
      y_center = (*options.centers())[level][1];
    }
    torch::Tensor ws;
    torch::Tensor hs;
    if (options.scale_major()) {
      ws = (w_ratios.unsqueeze(1) * size * scales.unsqueeze(0)).reshape(-1);
      hs = (h_ratios.unsqueeze(1) * size * scales.unsqueeze(0)).reshape(-1);
    } else {
      ws = (scales.unsqueeze(1) * size * w_ratios.unsqueeze(0)).reshape(-1);
      hs = (scales.unsqueeze(1) * size * h_ratios.unsqueeze(0)).reshape(-1);
    }
    const torch::Tensor half_w = ws * 0.5;
    const torch::Tensor half_h = hs * 0.5;
    out.push_back(torch::stack({torch::rsub(half_w, x_center), torch::rsub(half_h, y_center),
                                half_w + x_center, half_h + y_center},
                               -1));
  }
  return out;
}

std::vector<torch::Tensor> AnchorGenerator::grid_priors(const FeatmapSizes& featmap_sizes,
                                                        const torch::TensorOptions& options) const {
  if (featmap_sizes.size() != strides_.size()) {
    throw Error(std::string(kName) + ": grid_priors got " + std::to_string(featmap_sizes.size()) +
                " feature-map sizes for " + std::to_string(strides_.size()) + " levels (strides)");
  }
  const auto base = base_anchors(options.device());
  std::vector<torch::Tensor> out;
  for (size_t level = 0; level < strides_.size(); ++level) {
    const auto [feat_h, feat_w] = featmap_sizes[level];
    if (feat_h < 0 || feat_w < 0) {
      throw Error(std::string(kName) + ": feature-map size of level " + std::to_string(level) +
                  " is negative: (" + std::to_string(feat_h) + ", " + std::to_string(feat_w) + ")");
    }
    const auto [stride_w, stride_h] = strides_[level];
    const torch::Tensor shift_x = torch::arange(feat_w, options) * stride_w;
    const torch::Tensor shift_y = torch::arange(feat_h, options) * stride_h;
    // Row-major cells: x varies fastest.
    const torch::Tensor xx = shift_x.repeat({feat_h});
    const torch::Tensor yy = shift_y.view({-1, 1}).repeat({1, feat_w}).view({-1});
    const torch::Tensor shifts = torch::stack({xx, yy, xx, yy}, -1);
    const torch::Tensor anchors =
        base[level].to(options.dtype()).unsqueeze(0) + shifts.unsqueeze(1);
    out.push_back(anchors.view({-1, 4}));
  }
  return out;
}

std::vector<int64_t> AnchorGenerator::num_base_priors() const {
  const int64_t per_level = static_cast<int64_t>(options.ratios()->size() * scales_.size());
  return std::vector<int64_t>(strides_.size(), per_level);
}

std::vector<int64_t> AnchorGenerator::strides() const {
  std::vector<int64_t> out;
  for (const auto& stride : strides_)
    out.push_back(stride.first);
  return out;
}

DETKIT_REGISTER(anchor_generator, AnchorGenerator);

}  // namespace detkit
