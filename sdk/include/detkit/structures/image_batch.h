// ImageBatch: images padded into one (N, C, H, W) tensor, with their samples' meta and targets.
#pragma once

#include <vector>

#include "detkit/structures/det_sample.h"

namespace detkit {

/// A batch as the loader produces it and a model takes it: `images` padded with zeros to the
/// largest image (and to the pad size divisor), (N, C, H, W); `samples[i]` holds meta and
/// ground truth of image i (no pixels, no pipeline staging).
struct DETKIT_API ImageBatch {
  torch::Tensor images;
  std::vector<DetSample> samples;

  int64_t size() const { return static_cast<int64_t>(samples.size()); }
};

}  // namespace detkit
