// Reading tests/data/ops/reference.pt (written by tests/reference/gen_ops.py with torch.save):
// a list of cases, each a dict of the op's name, inputs, parameters and expected output.
#pragma once

#include <torch/serialize.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "test_support.h"

namespace detkit::testing {

/// One reference case: a view over its dict.
struct OpsCase {
  std::string name;
  c10::Dict<c10::IValue, c10::IValue> values;

  torch::Tensor tensor(const std::string& key) const { return values.at(key).toTensor(); }
  double number(const std::string& key) const { return values.at(key).toDouble(); }
  bool flag(const std::string& key) const { return values.at(key).toBool(); }
  std::string text(const std::string& key) const { return values.at(key).toStringRef(); }
};

/// The cases of one op ("box_iou", "nms", ...), in the file's order; fails the test when there
/// are none.
inline std::vector<OpsCase> load_ops_cases(const std::string& op) {
  static const c10::IValue all = [] {
    const std::string bytes = read_file(data_path("ops/reference.pt"));
    return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  }();
  std::vector<OpsCase> cases;
  for (const c10::IValue& item : all.toListRef()) {
    auto dict = item.toGenericDict();
    if (dict.at("op").toStringRef() != op) continue;
    cases.push_back({dict.at("name").toStringRef(), dict});
  }
  EXPECT_FALSE(cases.empty()) << "no '" << op << "' case in ops/reference.pt";
  return cases;
}

}  // namespace detkit::testing
