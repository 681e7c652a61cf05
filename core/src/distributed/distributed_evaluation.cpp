// Evaluation in a distributed run (see detkit/core/dataset_evaluation.h): every rank predicts
// its share of the dataset, the predictions are gathered as pickled tensors over the process
// group (no shared file system needed), and rank 0 puts them back in dataset order.
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdio>
#include <sstream>

#include "detkit/core/data_loader.h"
#include "detkit/core/dataset_evaluation.h"
#include "detkit/core/distributed.h"
#include "detkit/core/samplers.h"
#include "detkit/error.h"

namespace detkit {

namespace {

/// One rank's predictions as bytes: a list of (boxes, labels, scores, {field: tensor}) per image.
std::string pack_predictions(const std::vector<Instances>& predictions) {
  c10::impl::GenericList list(c10::AnyType::get());
  for (const auto& instances : predictions) {
    c10::impl::GenericDict fields(c10::StringType::get(), c10::TensorType::get());
    for (const auto& name : instances.field_names())
      fields.insert(name, instances.field(name));
    list.push_back(c10::ivalue::Tuple::create(
        {instances.boxes().tensor(), instances.labels(),
         instances.has_scores() ? instances.scores() : torch::Tensor(), fields}));
  }
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(list));
  return std::string(bytes.begin(), bytes.end());
}

/// The inverse of pack_predictions.
std::vector<Instances> unpack_predictions(const std::string& bytes, int64_t rank) {
  std::vector<Instances> predictions;
  try {
    const c10::IValue value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    for (const auto& item : value.toListRef()) {
      const auto& parts = item.toTupleRef().elements();
      Instances instances(Boxes(parts[0].toTensor()), parts[1].toTensor(),
                          parts[2].isTensor() ? parts[2].toTensor() : torch::Tensor());
      for (const auto& entry : parts[3].toGenericDict())
        instances.set_field(entry.key().toStringRef(), entry.value().toTensor());
      predictions.push_back(std::move(instances));
    }
  } catch (const std::exception& e) {
    throw Error("distributed evaluation: the predictions of rank " + std::to_string(rank) +
                " could not be read: " + e.what());
  }
  return predictions;
}

}  // namespace

std::vector<Instances> predict_dataset_distributed(
    DetectorBase& model, const std::shared_ptr<const DatasetBase>& dataset,
    const DataLoaderOptions& options, ProcessGroup& group) {
  const size_t size = dataset->size();
  const int64_t world = group.world_size();
  auto share = [&](int64_t rank) {
    return std::make_shared<DistributedSampler>(size, world, rank, /*shuffle=*/false);
  };
  auto sampler = share(group.rank());
  DataLoader loader(dataset, sampler, options);
  const std::vector<Instances> mine = predict_dataset(model, loader);
  const std::vector<std::string> gathered = group.all_gather_bytes(pack_predictions(mine));
  if (group.rank() != 0) return {};
  std::vector<Instances> ordered(size);
  std::vector<bool> filled(size, false);
  for (int64_t rank = 0; rank < world; ++rank) {
    std::vector<Instances> theirs = unpack_predictions(gathered[static_cast<size_t>(rank)], rank);
    const std::vector<int64_t> indices = share(rank)->indices(0, 0);
    if (theirs.size() != indices.size()) {
      throw Error("distributed evaluation: rank " + std::to_string(rank) + " predicted " +
                  std::to_string(theirs.size()) + " images of the " +
                  std::to_string(indices.size()) + " it was given");
    }
    for (size_t k = 0; k < indices.size(); ++k) {
      const auto index = static_cast<size_t>(indices[k]);
      if (filled[index]) continue;  // the padding repeats the first indices
      ordered[index] = std::move(theirs[k]);
      filled[index] = true;
    }
  }
  return ordered;
}

NamedValues broadcast_named_values(const NamedValues& values, ProcessGroup& group) {
  std::ostringstream text;
  for (const auto& [name, value] : values) {
    char number[32];
    std::snprintf(number, sizeof number, "%.17g", value);
    text << name << '\t' << number << '\n';
  }
  const std::string shared = group.broadcast_bytes(text.str(), 0);
  NamedValues result;
  std::istringstream lines(shared);
  for (std::string line; std::getline(lines, line);) {
    const auto tab = line.rfind('\t');
    if (tab == std::string::npos) continue;
    result.emplace_back(line.substr(0, tab), std::strtod(line.c_str() + tab + 1, nullptr));
  }
  return result;
}

}  // namespace detkit
