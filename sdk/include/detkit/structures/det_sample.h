// DetSample: what a model sees of one image besides its pixels (MMDetection 3's DetDataSample):
// meta, ground truth and predictions. Pipeline staging (the decoded image, the dataset's raw
// annotations) lives in PipelineSample (detkit/data/pipeline_sample.h), never here.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "detkit/structures/instances.h"

namespace detkit {

/// Image meta information (MMDetection's img_metas keys).
struct DETKIT_API ImageMeta {
  /// Full path of the image file, and the name as written in the annotation file.
  std::string filename;
  std::string ori_filename;
  /// The dataset's image id (COCO id), -1 if none.
  int64_t image_id = -1;
  /// Index of the sample in its dataset.
  int64_t index = -1;
  /// ori_shape: the decoded image (height, width, channels).
  std::array<int64_t, 3> ori_shape{0, 0, 3};
  /// img_shape: after resizing (before padding).
  std::array<int64_t, 3> img_shape{0, 0, 3};
  /// pad_shape: after padding.
  std::array<int64_t, 3> pad_shape{0, 0, 3};
  /// (w_scale, h_scale, w_scale, h_scale) of the resize.
  std::array<double, 4> scale_factor{1.0, 1.0, 1.0, 1.0};
  bool keep_ratio = true;
  bool flip = false;
  /// "horizontal", "vertical" or "diagonal" when flip is true.
  std::string flip_direction;
  /// img_norm_cfg: mean/std applied by Normalize (empty before), and whether BGR became RGB.
  std::vector<double> norm_mean;
  std::vector<double> norm_std;
  bool to_rgb = false;
};

/// One image's meta, ground truth and (after a model ran) predictions. Its pixels travel apart,
/// as one row of ImageBatch::images.
struct DETKIT_API DetSample {
  ImageMeta meta;
  /// gt_bboxes + gt_labels.
  Instances gt;
  /// gt_bboxes_ignore: crowd / ignored / difficult boxes (no labels needed).
  Boxes gt_ignore;
  /// Predictions in original-image coordinates (filled by models).
  Instances pred;
};

}  // namespace detkit
