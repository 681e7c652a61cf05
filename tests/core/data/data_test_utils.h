// Helpers of the data pipeline tests: transforms built from YAML through the registry (as a
// user's config builds them), tiny synthetic samples and box comparisons.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/runtime.h"
#include "detkit/data/dataset.h"
#include "detkit/registry.h"

namespace detkit::testing {

/// Builds one transform from a YAML flow map, e.g. "{type: Resize, img_scale: [100, 60]}".
inline std::shared_ptr<TransformBase> make_transform(const std::string& yaml) {
  initialize_runtime();
  return build<TransformBase>(parse_yaml_text(yaml, "test"), "pipeline.0");
}

/// Builds a pipeline from a YAML list of transforms.
inline Pipeline make_pipeline(const std::string& yaml) {
  initialize_runtime();
  return Pipeline::from_config(parse_yaml_text(yaml, "test"), "pipeline");
}

/// An (H, W, 3) uint8 image whose channel 0 holds x, channel 1 holds y and channel 2 holds
/// (x + y) % 256, so the position a pixel came from can be read back.
inline torch::Tensor coordinate_image(int64_t height, int64_t width) {
  auto xs = torch::arange(width, torch::kInt64).view({1, width}).expand({height, width});
  auto ys = torch::arange(height, torch::kInt64).view({height, 1}).expand({height, width});
  return torch::stack({xs, ys, (xs + ys) % 256}, 2).to(torch::kUInt8).contiguous();
}

/// (N, 4) float boxes.
inline torch::Tensor box_tensor(const std::vector<std::array<float, 4>>& boxes) {
  torch::Tensor out = torch::zeros({static_cast<int64_t>(boxes.size()), 4}, torch::kFloat32);
  for (size_t i = 0; i < boxes.size(); ++i) {
    for (int j = 0; j < 4; ++j)
      out[static_cast<int64_t>(i)][j] = boxes[i][j];
  }
  return out;
}

/// A loaded sample: the coordinate image, ground truth boxes with labels 0, 1, ... and the
/// image meta LoadImageFromFile would set.
inline PipelineSample make_sample(int64_t height, int64_t width,
                             const std::vector<std::array<float, 4>>& boxes = {},
                             const std::vector<std::array<float, 4>>& ignore = {}) {
  PipelineSample sample;
  sample.meta.filename = "/data/sample.png";
  sample.meta.ori_filename = "sample.png";
  sample.img = coordinate_image(height, width);
  sample.meta.ori_shape = sample.meta.img_shape = sample.meta.pad_shape = {height, width, 3};
  const auto n = static_cast<int64_t>(boxes.size());
  sample.gt = Instances(Boxes(box_tensor(boxes)), torch::arange(n, torch::kInt64));
  sample.gt_ignore = Boxes(box_tensor(ignore));
  sample.ann = sample.gt;
  sample.ann_ignore = sample.gt_ignore;
  return sample;
}

/// Expects `actual` to hold exactly the boxes `expected` (to 1e-4).
inline void expect_boxes(const Boxes& actual, const std::vector<std::array<float, 4>>& expected) {
  ASSERT_EQ(actual.size(), static_cast<int64_t>(expected.size())) << actual.tensor();
  if (expected.empty()) return;
  EXPECT_TRUE(torch::allclose(actual.tensor(), box_tensor(expected), 1e-5, 1e-4))
      << "actual:\n"
      << actual.tensor() << "\nexpected:\n"
      << box_tensor(expected);
}

/// Runs `body` and expects it to throw E whose message contains every one of `parts`.
template <class E, class F>
void expect_error(F&& body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message lacks '" << part << "': " << message;
    }
  }
}

}  // namespace detkit::testing
