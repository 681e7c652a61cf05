// The SyncBN layer and batch of the distributed SyncBN test, shared by syncbn_worker (one rank)
// and sync_batch_norm_test (the single-process reference).
#pragma once

#include <torch/torch.h>

#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include "detkit/core/config.h"
#include "detkit/modeling/layers.h"

namespace detkit::testing {

/// Channels of the batch.
constexpr int64_t kSyncBnChannels = 3;
/// Images of the whole batch: rank 0 gets the first kSyncBnRank0Images, rank 1 the rest.
constexpr int64_t kSyncBnImages = 5;
constexpr int64_t kSyncBnRank0Images = 3;

/// A `type` norm layer (BN, SyncBN) of kSyncBnChannels features built as ConvModule builds
/// one (build_norm_layer), with weight [1.5, -0.5, 2] and bias [0.1, 0.2, -0.3], in `dtype`.
inline std::shared_ptr<NormLayerBase> syncbn_layer(const std::string& type,
                                                   torch::ScalarType dtype = torch::kFloat) {
  auto layer = build_norm_layer(parse_yaml_text("{type: " + type + ", momentum: 0.1}", "<test>"),
                                kSyncBnChannels)
                   .second;
  layer->to(dtype);
  torch::NoGradGuard no_grad;
  layer->named_parameters()["weight"].copy_(torch::tensor({1.5, -0.5, 2.0}));
  layer->named_parameters()["bias"].copy_(torch::tensor({0.1, 0.2, -0.3}));
  return layer;
}

/// The whole batch (kSyncBnImages, C, 4, 5) in `dtype`: deterministic values of spread ~1 about
/// a per-channel mean `offset` + 3c (non-zero).
inline torch::Tensor syncbn_batch(torch::ScalarType dtype = torch::kFloat, double offset = 2.0) {
  const torch::Tensor i = torch::arange(kSyncBnImages * kSyncBnChannels * 20, torch::kDouble)
                              .view({kSyncBnImages, kSyncBnChannels, 4, 5});
  const torch::Tensor channel = torch::arange(kSyncBnChannels, torch::kDouble).view({1, -1, 1, 1});
  return (torch::sin(i * 0.7) + 0.5 * torch::cos(i * 1.3) + offset + 3.0 * channel).to(dtype);
}

/// The weights of the loss sum(output * weights) over the whole batch.
inline torch::Tensor syncbn_loss_weights(torch::ScalarType dtype = torch::kFloat) {
  const int64_t n = kSyncBnImages * kSyncBnChannels * 20;
  return torch::cos(torch::arange(n, torch::kDouble) * 0.37)
      .view({kSyncBnImages, kSyncBnChannels, 4, 5})
      .to(dtype);
}

/// Rank `rank`'s images of `batch` (with `empty_rank1`: all of them on rank 0, none on 1).
inline torch::Tensor syncbn_shard(const torch::Tensor& batch, int64_t rank,
                                  bool empty_rank1 = false) {
  const int64_t split = empty_rank1 ? kSyncBnImages : kSyncBnRank0Images;
  return rank == 0 ? batch.slice(0, 0, split) : batch.slice(0, split, kSyncBnImages);
}

/// Prints `label` and the values of `t` after a space each, with 17 significant digits.
inline void print_labelled(const std::string& label, const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().reshape({-1}).to(torch::kDouble);
  std::cout << label;
  for (int64_t i = 0; i < flat.numel(); ++i)
    std::cout << " " << std::setprecision(17) << flat[i].item<double>();
  std::cout << "\n";
}

}  // namespace detkit::testing
