// MinIoURandomCrop: MMDetection 2.25's MinIoURandomCrop (mmdet/datasets/pipelines/transforms.py),
// SSD's crop: a random window whose IoU with every box reaches a randomly chosen threshold.
#include <torch/torch.h>

#include <array>

#include "detkit/ops/box_iou.h"
#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of MinIoURandomCrop; names and defaults as MMDetection's.
struct MinIoURandomCropOptions {
  /// The IoU thresholds one of which is drawn per attempt.
  TORCH_ARG(std::vector<double>, min_ious) = {0.1, 0.3, 0.5, 0.7, 0.9};
  /// The crop's width and height are at least this fraction of the image's.
  TORCH_ARG(double, min_crop_size) = 0.3;
  /// Clip kept boxes to the crop.
  TORCH_ARG(bool, bbox_clip_border) = true;
};

/// MMDetection's sampling loop, draw for draw:
///   repeat: mode = choice([1, *min_ious, 0]); mode 1 keeps the sample as it is. Otherwise, up
///   to 50 trials: new_w ~ U(min_crop_size * w, w), new_h ~ U(min_crop_size * h, h); skip unless
///   new_h / new_w is in [0.5, 2]; left ~ numpy uniform(w - new_w) and top ~ uniform(h - new_h)
///   (numpy's one-argument uniform: low = w - new_w, high = 1.0, so left lies between 1 and
///   w - new_w, as in MMDetection); patch = (int(left), int(top), int(left + new_w),
///   int(top + new_h)); skip an empty patch; skip when any box (gt and ignored together) has
///   IoU < mode with the patch; skip when no box centre is strictly inside the patch. A patch
///   that passes is the crop.
/// Then for the gt boxes and, separately, the ignored boxes: keep those whose centre is strictly
/// inside the patch (gt labels with them), clip (x2, y2) to the patch's far corner and (x1, y1)
/// to its near one when bbox_clip_border, and shift by (-left, -top). No other box is removed.
/// An image without any box is cropped by the first patch of acceptable shape. img_shape and
/// pad_shape become the crop's shape. The sample is never dropped.
class MinIoURandomCrop : public TransformBase {
 public:
  explicit MinIoURandomCrop(MinIoURandomCropOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s(
        "Crop a random window whose IoU with every box reaches a random threshold "
        "(MMDetection MinIoURandomCrop).");
    s.add<std::vector<double>>("min_ious", std::vector<double>{0.1, 0.3, 0.5, 0.7, 0.9},
                               "IoU thresholds to draw from (1 keeps the image uncropped)")
        .range(0, 1);
    s.add<double>("min_crop_size", 0.3, "smallest crop side as a fraction of the image's")
        .range(0, 1);
    s.add<bool>("bbox_clip_border", true, "clip kept boxes to the crop");
    return s;
  }

  static std::shared_ptr<MinIoURandomCrop> create(const ComponentConfig& cfg) {
    return std::make_shared<MinIoURandomCrop>(
        MinIoURandomCropOptions()
            .min_ious(cfg.get<std::vector<double>>("min_ious"))
            .min_crop_size(cfg.get<double>("min_crop_size"))
            .bbox_clip_border(cfg.get<bool>("bbox_clip_border")));
  }

  bool apply(PipelineSample& sample) override {
    const torch::Tensor& img = require_hwc_image(sample, "MinIoURandomCrop");
    const int64_t h = img.size(0), w = img.size(1);
    const torch::Tensor boxes = Boxes::cat({sample.gt.boxes(), sample.gt_ignore}).tensor();
    // MMDetection's sample_mode: (1, *min_ious, 0).
    std::vector<double> modes{1.0};
    modes.insert(modes.end(), options.min_ious().begin(), options.min_ious().end());
    modes.push_back(0.0);
    while (true) {
      const double min_iou = modes[random_int(0, static_cast<int64_t>(modes.size()))];
      if (min_iou == 1.0) return true;
      for (int trial = 0; trial < 50; ++trial) {
        const double new_w =
            random_real(options.min_crop_size() * static_cast<double>(w), static_cast<double>(w));
        const double new_h =
            random_real(options.min_crop_size() * static_cast<double>(h), static_cast<double>(h));
        // h / w in [0.5, 2] (a NaN from 0 / 0 passes, as in numpy; the patch is then empty).
        if (new_h / new_w < 0.5 || new_h / new_w > 2) continue;
        const double left = random_real(static_cast<double>(w) - new_w, 1.0);
        const double top = random_real(static_cast<double>(h) - new_h, 1.0);
        const std::array<int64_t, 4> patch{static_cast<int64_t>(left), static_cast<int64_t>(top),
                                           static_cast<int64_t>(left + new_w),
                                           static_cast<int64_t>(top + new_h)};
        if (patch[2] == patch[0] || patch[3] == patch[1]) continue;  // a line or a point
        if (boxes.size(0) > 0) {
          const torch::Tensor patch_box =
              torch::tensor({static_cast<float>(patch[0]), static_cast<float>(patch[1]),
                             static_cast<float>(patch[2]), static_cast<float>(patch[3])})
                  .view({1, 4});
          const torch::Tensor overlaps = ops::bbox_overlaps(patch_box, boxes);
          if (overlaps.min().item<double>() < min_iou) continue;
          if (!centres_inside(boxes, patch).any().item<bool>()) continue;
          crop_boxes(sample, patch);
        }
        crop_image(sample, patch);
        return true;
      }
    }
  }

  std::string repr() const override {
    return "MinIoURandomCrop(min_ious=" + numbers_text(options.min_ious()) +
           ", min_crop_size=" + number_text(options.min_crop_size()) +
           ", bbox_clip_border=" + (options.bbox_clip_border() ? "True" : "False") + ")";
  }

  MinIoURandomCropOptions options;

 private:
  /// (N,) bool: box centres strictly inside the patch.
  static torch::Tensor centres_inside(const torch::Tensor& boxes,
                                      const std::array<int64_t, 4>& patch) {
    const torch::Tensor cx = (boxes.select(1, 0) + boxes.select(1, 2)) / 2;
    const torch::Tensor cy = (boxes.select(1, 1) + boxes.select(1, 3)) / 2;
    return (cx > patch[0])
        .logical_and(cy > patch[1])
        .logical_and(cx < patch[2])
        .logical_and(cy < patch[3]);
  }

  /// Keeps the boxes centred in the patch, clips them to it (bbox_clip_border) and moves them
  /// into its frame.
  Boxes crop_field(const Boxes& boxes, const torch::Tensor& keep,
                   const std::array<int64_t, 4>& patch) const {
    torch::Tensor kept = boxes.tensor().index({keep}).clone();
    if (options.bbox_clip_border()) {
      kept.select(1, 0).clamp_min_(static_cast<double>(patch[0]));
      kept.select(1, 1).clamp_min_(static_cast<double>(patch[1]));
      kept.select(1, 2).clamp_max_(static_cast<double>(patch[2]));
      kept.select(1, 3).clamp_max_(static_cast<double>(patch[3]));
    }
    Boxes out(kept);
    out.translate(-static_cast<double>(patch[0]), -static_cast<double>(patch[1]));
    return out;
  }

  void crop_boxes(PipelineSample& sample, const std::array<int64_t, 4>& patch) const {
    const torch::Tensor keep = centres_inside(sample.gt.boxes().tensor(), patch);
    Instances gt = sample.gt.index(keep);
    gt.set_boxes(crop_field(sample.gt.boxes(), keep, patch));
    sample.gt = std::move(gt);
    const torch::Tensor keep_ignore = centres_inside(sample.gt_ignore.tensor(), patch);
    sample.gt_ignore = crop_field(sample.gt_ignore, keep_ignore, patch);
  }

  /// img[top:bottom, left:right] (numpy's slice, limited to the image), as a new tensor.
  static void crop_image(PipelineSample& sample, const std::array<int64_t, 4>& patch) {
    const torch::Tensor src = sample.img.contiguous();
    const int64_t right = std::min(patch[2], src.size(1));
    const int64_t bottom = std::min(patch[3], src.size(0));
    torch::Tensor out =
        new_image(bottom - patch[1], right - patch[0], src.size(2), src.scalar_type());
    cv::Mat dst = as_mat(out);
    as_mat(src)(cv::Rect(static_cast<int>(patch[0]), static_cast<int>(patch[1]),
                         static_cast<int>(right - patch[0]), static_cast<int>(bottom - patch[1])))
        .copyTo(dst);
    sample.img = out;
    sample.meta.img_shape = hwc_shape(out);
    sample.meta.pad_shape = sample.meta.img_shape;
  }
};
DETKIT_REGISTER(transform, MinIoURandomCrop);

}  // namespace detkit::transforms
