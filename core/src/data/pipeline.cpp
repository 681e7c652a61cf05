// Pipeline: MMDetection's Compose, with fan-out (MultiScaleFlipAug) support.
#include <torch/torch.h>

#include <typeinfo>

#include "detkit/core/text.h"
#include "detkit/data/dataset.h"
#include "detkit/error.h"

namespace detkit {

namespace {

/// "Resize (pipeline step 3)": names a transform in error messages. The type name is the
/// first word of its repr ("Resize(img_scale=...)").
std::string step_name(const TransformBase& transform, size_t step) {
  std::string name = transform.repr();
  const size_t paren = name.find('(');
  if (paren != std::string::npos) name = name.substr(0, paren);
  return name + " (pipeline step " + std::to_string(step + 1) + ")";
}

}  // namespace

Pipeline::Pipeline(std::vector<std::shared_ptr<TransformBase>> transforms)
    : transforms_(std::move(transforms)) {
  for (size_t i = 0; i < transforms_.size(); ++i) {
    if (!transforms_[i]) throw Error("Pipeline: transform " + std::to_string(i) + " is null");
  }
}

Pipeline Pipeline::from_config(const ConfigNode& list, const std::string& path) {
  if (list.is_null()) return Pipeline();
  if (!list.is_list()) {
    throw ConfigError(located_message(list.mark(), path,
                                      std::string("a pipeline is a list of transforms "
                                                  "({type: ..., ...}), got ") +
                                          list.type_name() + " " + list.to_flow()));
  }
  std::vector<std::shared_ptr<TransformBase>> transforms;
  for (size_t i = 0; i < list.size(); ++i) {
    transforms.push_back(build<TransformBase>(list.items()[i], index_path(path, i)));
  }
  return Pipeline(std::move(transforms));
}

std::vector<PipelineSample> Pipeline::operator()(PipelineSample sample) const {
  std::vector<PipelineSample> samples;
  samples.push_back(std::move(sample));
  for (size_t step = 0; step < transforms_.size(); ++step) {
    TransformBase& transform = *transforms_[step];
    std::vector<PipelineSample> next;
    for (auto& current : samples) {
      try {
        for (auto& out : transform.apply_multi(std::move(current)))
          next.push_back(std::move(out));
      } catch (const ConfigError& e) {
        throw ConfigError(step_name(transform, step) + ": " + e.what());
      } catch (const DataError& e) {
        throw DataError(step_name(transform, step) + ": " + e.what());
      } catch (const std::exception& e) {
        // LibTorch / OpenCV errors inside a transform are data errors of this sample.
        throw DataError(step_name(transform, step) + ": " + exception_message(e));
      }
    }
    samples = std::move(next);
    if (samples.empty()) break;  // dropped (MMDetection's `return None`)
  }
  return samples;
}

}  // namespace detkit
