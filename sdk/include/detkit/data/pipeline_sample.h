// PipelineSample: one image while a data pipeline works on it (MMDetection 2's `results` dict,
// typed). What a model later sees is its DetSample part; the image and the dataset's raw
// annotations are staging that collate() turns into an ImageBatch and drops.
#pragma once

#include "detkit/structures/det_sample.h"

namespace detkit {

/// The model-facing DetSample plus what only transforms use. Transforms read and write the
/// DetSample fields (meta, gt, gt_ignore) directly; `take_model_sample()` hands the model part
/// on without the staging fields.
struct DETKIT_API PipelineSample : DetSample {
  /// The image: (H, W, C) uint8 BGR after loading (float32 after to_float32 / Normalize);
  /// (C, H, W) float32 after DefaultFormatBundle. Undefined before loading.
  torch::Tensor img;
  /// True once the image is (C, H, W) (DefaultFormatBundle / ImageToTensor).
  bool img_is_chw = false;
  /// The annotations the dataset read for this image; LoadAnnotations copies them into `gt`
  /// and `gt_ignore` (MMDetection's results["ann_info"]).
  Instances ann;
  Boxes ann_ignore;

  /// Moves the model-facing part out (meta, gt, gt_ignore, pred); the staging stays behind.
  DetSample take_model_sample() { return std::move(static_cast<DetSample&>(*this)); }
};

}  // namespace detkit
