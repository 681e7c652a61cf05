// Helpers of the reference tests (see reference_support.h).
#include "reference_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "detkit/core/config.h"
#include "test_support.h"

namespace detkit::testing {

ConfigNode shipped_config(const std::string& relative, const std::vector<std::string>& options) {
  return load_config(std::string(DETKIT_SOURCE_DIR) + "/configs/" + relative, options);
}

void run_reference_script(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   std::string(DETKIT_SOURCE_DIR) + "/tests/reference/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult result = run_process(argv);
  if (result.exit_code != 0) {
    throw std::runtime_error(script + " failed (exit " + std::to_string(result.exit_code) + "):\n" +
                             result.out + result.err);
  }
}

ReferenceTensors::ReferenceTensors(const std::string& path)
    : tensors_(load_checkpoint(path).state_dict) {}

const torch::Tensor& ReferenceTensors::operator()(const std::string& key) const {
  const torch::Tensor* found = tensors_.find(key);
  if (found == nullptr) throw std::runtime_error("the reference has no tensor '" + key + "'");
  return *found;
}

c10::IValue reference_object(const std::string& path) {
  const std::string bytes = read_file(path);
  return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-6);
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() / scale;
}

std::string tensor_listing(const torch::nn::Module& module) {
  std::ostringstream listing;
  for (const auto& item : named_tensors(module)) {
    listing << item.key() << " [";
    for (int64_t d = 0; d < item.value().dim(); ++d)
      listing << (d ? "," : "") << item.value().size(d);
    listing << "]\n";
  }
  return listing.str();
}

void expect_same_detections(const Instances& found, const torch::Tensor& boxes,
                            const torch::Tensor& scores, const torch::Tensor& labels,
                            double tolerance) {
  ASSERT_EQ(found.size(), scores.size(0));
  if (found.size() == 0) return;
  EXPECT_LT((found.scores() - scores).abs().max().item<double>(), tolerance);
  int64_t displaced = 0;
  for (int64_t i = 0; i < found.size(); ++i) {
    const bool same = found.labels()[i].item<int64_t>() == labels[i].item<int64_t>() &&
                      (found.boxes().tensor()[i] - boxes[i]).abs().max().item<double>() <
                          tolerance * std::max(1.0, boxes[i].abs().max().item<double>());
    if (same) continue;
    ++displaced;
    const double gap_before = i > 0 ? (scores[i - 1] - scores[i]).item<double>() : 1.0;
    const double gap_after =
        i + 1 < found.size() ? (scores[i] - scores[i + 1]).item<double>() : 1.0;
    EXPECT_LT(std::min(gap_before, gap_after), 1e-5)
        << "detection " << i << " differs and is no score tie: " << found.boxes().tensor()[i]
        << " vs " << boxes[i];
  }
  EXPECT_LE(displaced, found.size() / 20) << "too many detections out of the reference's order";
}

}  // namespace detkit::testing
