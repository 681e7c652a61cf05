// ConcatDataset: several datasets one after another (MMDetection 2.x's dataset_wrappers.py).
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "detkit/component_config.h"
#include "detkit/core/text.h"
#include "detkit/data/dataset.h"

namespace detkit {

/// The samples of every dataset in order; all datasets must have the same classes and the same
/// test_mode. A sample keeps its dataset's meta, with meta.index counted over the whole.
class ConcatDataset : public DatasetBase {
 public:
  explicit ConcatDataset(std::vector<std::shared_ptr<DatasetBase>> datasets)
      : datasets_(std::move(datasets)) {
    if (datasets_.empty()) throw Error("ConcatDataset needs at least one dataset");
    size_t total = 0;
    for (size_t i = 0; i < datasets_.size(); ++i) {
      const DatasetBase& dataset = *datasets_[i];
      if (dataset.classes() != datasets_[0]->classes()) {
        throw Error(fmt::format(
            "datasets[{}] has classes [{}] but datasets[0] has [{}]; concatenated datasets must "
            "have the same classes (set `classes` on each)",
            i, join(dataset.classes(), ", "), join(datasets_[0]->classes(), ", ")));
      }
      if (dataset.test_mode() != datasets_[0]->test_mode())
        throw Error(fmt::format("datasets[{}] and datasets[0] differ in test_mode", i));
      total += dataset.size();
      ends_.push_back(total);
    }
  }

  size_t size() const override { return ends_.back(); }
  const std::vector<std::string>& classes() const override { return datasets_[0]->classes(); }
  bool test_mode() const override { return datasets_[0]->test_mode(); }
  std::string default_metric() const override { return datasets_[0]->default_metric(); }
  std::vector<int64_t> category_ids() const override { return datasets_[0]->category_ids(); }

  const DataInfo& data_info(size_t index) const override {
    const auto [dataset, local] = locate(index);
    return datasets_[dataset]->data_info(local);
  }

  std::vector<PipelineSample> prepare(size_t index) const override {
    const auto [dataset, local] = locate(index);
    std::vector<PipelineSample> samples = datasets_[dataset]->prepare(local);
    const size_t offset = dataset == 0 ? 0 : ends_[dataset - 1];
    for (PipelineSample& sample : samples)
      sample.meta.index += static_cast<int64_t>(offset);
    return samples;
  }

  static Schema schema() {
    return Schema("Several datasets one after another (MMDetection's ConcatDataset).")
        .required_component_list("datasets", Kind::dataset, "the datasets, each a dataset config")
        .add<bool>("separate_eval", true, "evaluate each dataset on its own (MMDetection option)");
  }

  static std::shared_ptr<ConcatDataset> create(const ComponentConfig& cfg) {
    const ConfigNode& list = cfg.node("datasets");
    if (list.size() == 0) cfg.fail("datasets", "needs at least one dataset");
    std::vector<std::shared_ptr<DatasetBase>> datasets;
    for (size_t i = 0; i < list.size(); ++i) {
      datasets.push_back(
          build<DatasetBase>(list.items()[i], index_path(child_path(cfg.path(), "datasets"), i)));
    }
    return std::make_shared<ConcatDataset>(std::move(datasets));
  }

 private:
  /// (dataset, index inside it) of a global index.
  std::pair<size_t, size_t> locate(size_t index) const {
    if (index >= size())
      throw Error(fmt::format("dataset index {} is out of range (size {})", index, size()));
    const size_t dataset = std::upper_bound(ends_.begin(), ends_.end(), index) - ends_.begin();
    return {dataset, dataset == 0 ? index : index - ends_[dataset - 1]};
  }

  std::vector<std::shared_ptr<DatasetBase>> datasets_;
  /// Cumulative sizes.
  std::vector<size_t> ends_;
};

DETKIT_REGISTER(dataset, ConcatDataset);

}  // namespace detkit
