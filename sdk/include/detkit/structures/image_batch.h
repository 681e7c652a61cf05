// ImageBatch: images padded into one (N, C, H, W) tensor, with their samples' meta and targets.
#pragma once

#include <vector>

#include "detkit/structures/det_sample.h"

namespace detkit {

/// A batch as the loader produces it: `images` padded with zeros to the largest image (and to
/// the pad size divisor); `samples[i]` keeps meta and ground truth of image i (its `img` is
/// released to save memory).
struct DETKIT_API ImageBatch {
  torch::Tensor images;
  std::vector<DetSample> samples;

  int64_t size() const { return static_cast<int64_t>(samples.size()); }
};

}  // namespace detkit
