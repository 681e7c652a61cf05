// Key functions and defaults of the data, metric and model interfaces.
#include <torch/torch.h>

#include "detkit/data/dataset.h"
#include "detkit/error.h"
#include "detkit/evaluation/metric.h"
#include "detkit/modeling/backbone.h"

namespace detkit {

TransformBase::~TransformBase() = default;

std::vector<PipelineSample> TransformBase::apply_multi(PipelineSample sample) {
  std::vector<PipelineSample> out;
  if (apply(sample)) out.push_back(std::move(sample));
  return out;
}

std::string TransformBase::repr() const {
  return typeid(*this).name();
}

std::mt19937_64& random_engine() {
  thread_local std::mt19937_64 engine(0x5eed);
  return engine;
}

double random_uniform() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_engine());
}

DatasetBase::~DatasetBase() = default;

std::vector<uint8_t> DatasetBase::group_flags() const {
  std::vector<uint8_t> flags(size());
  for (size_t i = 0; i < flags.size(); ++i) {
    const DataInfo& info = data_info(i);
    flags[i] = info.width > info.height ? 1 : 0;
  }
  return flags;
}

std::string DatasetBase::default_metric() const {
  return "CocoMetric";
}

std::vector<int64_t> DatasetBase::category_ids() const {
  std::vector<int64_t> ids(classes().size());
  for (size_t k = 0; k < ids.size(); ++k)
    ids[k] = static_cast<int64_t>(k) + 1;
  return ids;
}

double MetricResult::at(const std::string& key) const {
  for (const auto& [name, value] : values) {
    if (name == key) return value;
  }
  throw Error("metric result has no value '" + key + "'");
}

MetricBase::~MetricBase() = default;
BackboneBase::~BackboneBase() = default;

}  // namespace detkit
