// TorchvisionAnchorGenerator: torchvision 0.14's AnchorGenerator (kind `anchor_generator`), with
// retinanet_resnet50_fpn's sizes and aspect ratios as defaults, for models trained with
// torchvision's anchors.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "detkit/core/anchor_generators.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

constexpr const char* kName = "TorchvisionAnchorGenerator";

}  // namespace

ParamSpec TorchvisionAnchorGeneratorOptions::positive_list_spec() {
  ParamSpec list = param_spec_of<std::vector<double>>();
  list.min = 0;
  list.min_exclusive = true;
  return list;
}

TorchvisionAnchorGenerator::TorchvisionAnchorGenerator(const Options& options_)
    : options(options_) {
  check_options(options, kName);
  const size_t levels = options.sizes().size();
  if (levels == 0) {
    throw InvalidParameter("sizes", std::string(kName) + ": sizes must list at least one level");
  }
  for (size_t level = 0; level < levels; ++level) {
    if (options.sizes()[level].empty()) {
      throw InvalidParameter(
          "sizes", std::string(kName) + ": sizes of level " + std::to_string(level) + " is empty");
    }
  }
  const size_t ratio_levels = options.aspect_ratios().size();
  if (ratio_levels != 1 && ratio_levels != levels) {
    throw InvalidParameter("aspect_ratios", std::string(kName) +
                                                ": aspect_ratios must have one list per level or "
                                                "one for all levels: " +
                                                std::to_string(ratio_levels) + " lists for " +
                                                std::to_string(levels) + " levels of sizes");
  }
  for (const auto& ratios : options.aspect_ratios()) {
    if (ratios.empty()) {
      throw InvalidParameter("aspect_ratios",
                             std::string(kName) + ": aspect_ratios must not hold an empty list");
    }
  }
  if (options.strides().size() != levels) {
    throw InvalidParameter("strides", std::string(kName) +
                                          ": strides must have one value per "
                                          "level: " +
                                          std::to_string(options.strides().size()) +
                                          " strides for " + std::to_string(levels) +
                                          " levels of sizes");
  }
}

const std::vector<double>& TorchvisionAnchorGenerator::ratios_of(size_t level) const {
  const auto& ratios = options.aspect_ratios();
  return ratios.size() == 1 ? ratios.front() : ratios[level];
}

std::vector<torch::Tensor> TorchvisionAnchorGenerator::base_anchors(
    const torch::Device& device) const {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  std::vector<torch::Tensor> out;
  for (size_t level = 0; level < options.sizes().size(); ++level) {
    const torch::Tensor scales = torch::tensor(options.sizes()[level], f32);
    const torch::Tensor h_ratios = torch::sqrt(torch::tensor(ratios_of(level), f32));
    const torch::Tensor w_ratios = 1 / h_ratios;
    const torch::Tensor ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape(-1);
    const torch::Tensor hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape(-1);
    out.push_back((torch::stack({-ws, -hs, ws, hs}, 1) / 2).round());
  }
  return out;
}

std::vector<torch::Tensor> TorchvisionAnchorGenerator::grid_priors(
    const FeatmapSizes& featmap_sizes, const torch::TensorOptions& options_) const {
  if (featmap_sizes.empty()) {
    throw Error(std::string(kName) + ": grid_priors got no feature-map sizes for " +
                std::to_string(options.sizes().size()) + " levels");
  }
  // The padded image size torchvision divides by the feature-map sizes (see the header).
  const std::pair<int64_t, int64_t> image_size = {featmap_sizes[0].first * options.strides()[0],
                                                  featmap_sizes[0].second * options.strides()[0]};
  return grid_priors(featmap_sizes, image_size, options_);
}

std::vector<torch::Tensor> TorchvisionAnchorGenerator::grid_priors(
    const FeatmapSizes& featmap_sizes, std::pair<int64_t, int64_t> image_size,
    const torch::TensorOptions& options_) const {
  const size_t levels = options.sizes().size();
  if (featmap_sizes.size() != levels) {
    throw Error(std::string(kName) + ": grid_priors got " + std::to_string(featmap_sizes.size()) +
                " feature-map sizes for " + std::to_string(levels) + " levels (sizes)");
  }
  const auto base = base_anchors(options_.device());
  std::vector<torch::Tensor> out;
  for (size_t level = 0; level < levels; ++level) {
    const auto [feat_h, feat_w] = featmap_sizes[level];
    if (feat_h < 1 || feat_w < 1) {
      throw Error(std::string(kName) + ": feature-map size of level " + std::to_string(level) +
                  " must be at least 1x1 (torchvision divides the image size by it), got (" +
                  std::to_string(feat_h) + ", " + std::to_string(feat_w) + ")");
    }
    // torchvision: stride = image_size // featmap_size, per dimension.
    const int64_t stride_h = image_size.first / feat_h;
    const int64_t stride_w = image_size.second / feat_w;
    const auto i64 = options_.dtype(torch::kInt64);
    const torch::Tensor shift_x = (torch::arange(feat_w, i64) * stride_w).to(options_.dtype());
    const torch::Tensor shift_y = (torch::arange(feat_h, i64) * stride_h).to(options_.dtype());
    const std::vector<torch::Tensor> grid = torch::meshgrid({shift_y, shift_x}, "ij");
    const torch::Tensor yy = grid[0].reshape(-1);
    const torch::Tensor xx = grid[1].reshape(-1);
    const torch::Tensor shifts = torch::stack({xx, yy, xx, yy}, 1);
    out.push_back((shifts.view({-1, 1, 4}) + base[level].to(options_.dtype()).view({1, -1, 4}))
                      .reshape({-1, 4}));
  }
  return out;
}

std::vector<int64_t> TorchvisionAnchorGenerator::num_base_priors() const {
  std::vector<int64_t> out;
  for (size_t level = 0; level < options.sizes().size(); ++level)
    out.push_back(static_cast<int64_t>(options.sizes()[level].size() * ratios_of(level).size()));
  return out;
}

DETKIT_REGISTER(anchor_generator, TorchvisionAnchorGenerator);

}  // namespace detkit
