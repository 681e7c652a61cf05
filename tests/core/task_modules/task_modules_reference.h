// Helpers of the task-module tests: building components from YAML through the registry, and
// the reference cases tests/reference/gen_task_modules.py writes at test time (a ctest fixture
// runs it; a test binary run by hand runs it itself when the file is missing or older than the
// script).
#pragma once

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/runtime.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit::testing {

/// Builds the component of the kind whose base class is Base from a YAML flow map.
template <class Base>
std::shared_ptr<Base> build_yaml(const std::string& yaml, const std::string& path = "test") {
  initialize_runtime();
  return build<Base>(parse_yaml_text(yaml, "<test>"), path);
}

/// One reference case: a view over its dict.
struct TaskModuleCase {
  std::string name;
  c10::Dict<c10::IValue, c10::IValue> values;

  bool has(const std::string& key) const { return values.contains(key); }
  torch::Tensor tensor(const std::string& key) const { return values.at(key).toTensor(); }
  std::string text(const std::string& key) const { return values.at(key).toStringRef(); }
  std::vector<torch::Tensor> tensors(const std::string& key) const {
    std::vector<torch::Tensor> out;
    for (const c10::IValue& item : values.at(key).toListRef())
      out.push_back(item.toTensor());
    return out;
  }
  std::vector<std::vector<double>> nested_reals(const std::string& key) const {
    std::vector<std::vector<double>> out;
    for (const c10::IValue& row : values.at(key).toListRef()) {
      out.emplace_back();
      for (const c10::IValue& value : row.toListRef())
        out.back().push_back(value.toDouble());
    }
    return out;
  }
  /// An (L, 2) int64 tensor as (H, W) pairs.
  std::vector<std::pair<int64_t, int64_t>> sizes(const std::string& key) const {
    const torch::Tensor t = tensor(key);
    std::vector<std::pair<int64_t, int64_t>> out;
    for (int64_t i = 0; i < t.size(0); ++i)
      out.emplace_back(t[i][0].item<int64_t>(), t[i][1].item<int64_t>());
    return out;
  }
};

/// The reference file, generated if it is missing or older than its script.
inline std::string task_modules_reference_file() {
  namespace fs = std::filesystem;
  const std::string file = DETKIT_TASK_MODULES_REFERENCE;
  const std::string script =
      std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_task_modules.py";
  if (!fs::exists(file) || fs::last_write_time(file) < fs::last_write_time(script)) {
    const ProcessResult run = run_process({"/usr/bin/python3", script, file});
    if (run.exit_code != 0 || !fs::exists(file)) {
      throw std::runtime_error("running " + script + " failed: " + run.out + run.err);
    }
  }
  return file;
}

/// The cases of one module ("anchor_generator", "assigner_tv", ...), in the file's order; fails
/// the test when there are none.
inline std::vector<TaskModuleCase> load_task_module_cases(const std::string& module) {
  static const c10::IValue all = [] {
    const std::string bytes = read_file(task_modules_reference_file());
    return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  }();
  std::vector<TaskModuleCase> cases;
  for (const c10::IValue& item : all.toListRef()) {
    auto dict = item.toGenericDict();
    if (dict.at("module").toStringRef() != module) continue;
    cases.push_back({dict.at("name").toStringRef(), dict});
  }
  EXPECT_FALSE(cases.empty()) << "no '" << module << "' case in the reference file";
  return cases;
}

}  // namespace detkit::testing
