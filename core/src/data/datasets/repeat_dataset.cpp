// RepeatDataset: one dataset repeated `times` times (MMDetection 2.x's dataset_wrappers.py).
#include <fmt/format.h>

#include <memory>

#include "detkit/component_config.h"
#include "detkit/core/text.h"
#include "detkit/data/dataset.h"

namespace detkit {

/// Index i is sample i % size of the inner dataset; an epoch then covers it `times` times
/// (fewer epoch boundaries when the dataset is small). meta.index is counted over the whole.
class RepeatDataset : public DatasetBase {
 public:
  RepeatDataset(std::shared_ptr<DatasetBase> dataset, int64_t times)
      : dataset_(std::move(dataset)), times_(static_cast<size_t>(times)) {
    if (!dataset_) throw Error("RepeatDataset needs a dataset");
    if (times < 1) throw Error("RepeatDataset: times must be >= 1");
  }

  size_t size() const override { return dataset_->size() * times_; }
  const std::vector<std::string>& classes() const override { return dataset_->classes(); }
  bool test_mode() const override { return dataset_->test_mode(); }
  std::string default_metric() const override { return dataset_->default_metric(); }
  std::vector<int64_t> category_ids() const override { return dataset_->category_ids(); }

  const DataInfo& data_info(size_t index) const override {
    return dataset_->data_info(inner_index(index));
  }

  std::vector<PipelineSample> prepare(size_t index) const override {
    std::vector<PipelineSample> samples = dataset_->prepare(inner_index(index));
    const size_t round_start = index - index % dataset_->size();
    for (PipelineSample& sample : samples)
      sample.meta.index += static_cast<int64_t>(round_start);
    return samples;
  }

  static Schema schema() {
    return Schema("One dataset repeated `times` times (MMDetection's RepeatDataset).")
        .required_component("dataset", Kind::dataset, "the dataset to repeat")
        .required<int64_t>("times", "how many times")
        .min(1);
  }

  static std::shared_ptr<RepeatDataset> create(const ComponentConfig& cfg) {
    return std::make_shared<RepeatDataset>(
        build<DatasetBase>(cfg.node("dataset"), child_path(cfg.path(), "dataset")),
        cfg.get<int64_t>("times"));
  }

 private:
  size_t inner_index(size_t index) const {
    if (index >= size())
      throw Error(fmt::format("dataset index {} is out of range (size {})", index, size()));
    return index % dataset_->size();
  }

  std::shared_ptr<DatasetBase> dataset_;
  size_t times_;
};

DETKIT_REGISTER(dataset, RepeatDataset);

}  // namespace detkit
