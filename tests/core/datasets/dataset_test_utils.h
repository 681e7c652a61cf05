// Helpers of the dataset tests: building datasets from YAML text, reading boxes back, and
// catching the message of an expected error.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/runtime.h"
#include "detkit/data/dataset.h"
#include "detkit/error.h"
#include "test_support.h"

namespace detkit::testing {

/// Builds a dataset from a YAML map (`type: CocoDataset ...`).
inline std::shared_ptr<DatasetBase> build_dataset(const std::string& yaml) {
  initialize_runtime();
  const ConfigNode cfg = parse_yaml_text(yaml, "test.yaml");
  return build<DatasetBase>(cfg, "data.train");
}

/// The message of the detkit::Error `action` throws; fails the test when it throws none.
inline std::string error_message(const std::function<void()>& action) {
  return error_of(action);
}

/// The boxes as a flat list x1, y1, x2, y2, ...
inline std::vector<float> flat(const Boxes& boxes) {
  const torch::Tensor t = boxes.tensor().contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

/// The labels as a list.
inline std::vector<int64_t> labels_of(const Instances& instances) {
  const torch::Tensor t = instances.labels().contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

/// The image ids of every sample, in order.
inline std::vector<int64_t> image_ids(const DatasetBase& dataset) {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < dataset.size(); ++i)
    ids.push_back(dataset.data_info(i).image_id);
  return ids;
}

}  // namespace detkit::testing
