// RandomCrop: MMDetection 2.25's RandomCrop (mmdet/datasets/pipelines/transforms.py).
#include <torch/torch.h>

#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

/// Options of RandomCrop; names and defaults as MMDetection's.
struct RandomCropOptions {
  /// (h, w): pixels for absolute / absolute_range, ratios in (0, 1] for relative*.
  TORCH_ARG(std::vector<double>, crop_size) = {};
  TORCH_ARG(std::string, crop_type) = "absolute";
  TORCH_ARG(bool, allow_negative_crop) = false;
  TORCH_ARG(bool, bbox_clip_border) = true;
};

/// Crops a random window of the image. The crop size (h, w) comes from crop_type:
///   absolute:        (min(crop_h, h), min(crop_w, w));
///   absolute_range:  crop_h ~ randint(min(h, lo), min(h, hi) + 1), crop_w likewise with w;
///   relative:        (int(h * rh + 0.5), int(w * rw + 0.5));
///   relative_range:  rh ~ U(crop_size[0], 1), rw ~ U(crop_size[1], 1), then as relative.
/// The offset is (randint(0, h - crop_h + 1), randint(0, w - crop_w + 1)). Boxes are shifted
/// by the offset, clipped to the crop when bbox_clip_border, and boxes left with no area are
/// removed (with their labels). When no gt box is left the sample is dropped (apply returns
/// false, the dataset draws another) unless allow_negative_crop. img_shape and pad_shape become
/// the crop's shape.
class RandomCrop : public TransformBase {
 public:
  explicit RandomCrop(RandomCropOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Crop a random window of the image and its boxes (MMDetection RandomCrop).");
    s.required<std::vector<double>>("crop_size",
                                    "[h, w]: pixels (absolute*) or ratios in (0, 1] (relative*)")
        .length(2);
    s.add<std::string>("crop_type", "absolute", "how crop_size is read")
        .choices({"absolute", "absolute_range", "relative", "relative_range"});
    s.add<bool>("allow_negative_crop", false, "keep a crop that contains no gt box");
    s.add<bool>("recompute_bbox", false, "recompute boxes from masks (masks unsupported: false)");
    s.add<bool>("bbox_clip_border", true, "clip boxes to the crop");
    return s;
  }

  static std::shared_ptr<RandomCrop> create(const ComponentConfig& cfg) {
    const auto size = cfg.get<std::vector<double>>("crop_size");
    const auto type = cfg.get<std::string>("crop_type");
    if (type == "absolute" || type == "absolute_range") {
      const ConfigNode& node = cfg.node("crop_size");
      if (!node.items()[0].is_int() || !node.items()[1].is_int() || size[0] <= 0 || size[1] <= 0) {
        cfg.fail("crop_size", "crop_type '" + type + "' needs two positive integers [h, w], got " +
                                  node.to_flow());
      }
      if (type == "absolute_range" && size[0] > size[1]) {
        cfg.fail("crop_size", "absolute_range needs [min, max] with min <= max");
      }
    } else if (!(size[0] > 0 && size[0] <= 1 && size[1] > 0 && size[1] <= 1)) {
      cfg.fail("crop_size",
               "crop_type '" + type + "' needs ratios in (0, 1], got " + numbers_text(size));
    }
    if (cfg.get<bool>("recompute_bbox")) {
      cfg.fail("recompute_bbox",
               "recompute_bbox needs instance masks, which detkit does not support");
    }
    return std::make_shared<RandomCrop>(
        RandomCropOptions()
            .crop_size(size)
            .crop_type(type)
            .allow_negative_crop(cfg.get<bool>("allow_negative_crop"))
            .bbox_clip_border(cfg.get<bool>("bbox_clip_border")));
  }

  bool apply(PipelineSample& sample) override {
    const torch::Tensor& img = require_hwc_image(sample, "RandomCrop");
    const int64_t h = img.size(0), w = img.size(1);
    const auto [crop_h, crop_w] = crop_size(h, w);
    if (crop_h <= 0 || crop_w <= 0) {
      throw DataError("RandomCrop on " + sample_name(sample) + ": the crop of the " +
                      std::to_string(w) + "x" + std::to_string(h) + " image is empty");
    }
    const int64_t offset_h = random_int(0, std::max<int64_t>(h - crop_h, 0) + 1);
    const int64_t offset_w = random_int(0, std::max<int64_t>(w - crop_w, 0) + 1);
    // Boxes: shift, clip, keep those with area. Without a gt box left, drop the sample.
    Instances gt = sample.gt;
    const torch::Tensor keep = shift_boxes(gt.boxes(), offset_w, offset_h, crop_h, crop_w);
    if (!options.allow_negative_crop() && !keep.any().item<bool>()) return false;
    gt = gt.index(keep);
    Boxes ignore = sample.gt_ignore;
    const torch::Tensor keep_ignore = shift_boxes(ignore, offset_w, offset_h, crop_h, crop_w);
    ignore = ignore.index(keep_ignore);

    // crop_h <= h - offset_h and crop_w <= w - offset_w by construction.
    const torch::Tensor src = img.contiguous();
    torch::Tensor out = new_image(crop_h, crop_w, img.size(2), img.scalar_type());
    cv::Mat dst = as_mat(out);
    as_mat(src)(cv::Rect(static_cast<int>(offset_w), static_cast<int>(offset_h),
                         static_cast<int>(crop_w), static_cast<int>(crop_h)))
        .copyTo(dst);
    sample.img = out;
    sample.gt = std::move(gt);
    sample.gt_ignore = std::move(ignore);
    sample.meta.img_shape = hwc_shape(sample.img);
    sample.meta.pad_shape = sample.meta.img_shape;
    return true;
  }

  std::string repr() const override {
    return "RandomCrop(crop_size=" + numbers_text(options.crop_size()) +
           ", crop_type=" + options.crop_type() +
           ", allow_negative_crop=" + (options.allow_negative_crop() ? "True" : "False") +
           ", bbox_clip_border=" + (options.bbox_clip_border() ? "True" : "False") + ")";
  }

  RandomCropOptions options;

 private:
  /// MMDetection's _get_crop_size: the absolute (crop_h, crop_w) for an image of (h, w).
  std::pair<int64_t, int64_t> crop_size(int64_t h, int64_t w) const {
    const auto& size = options.crop_size();
    const std::string& type = options.crop_type();
    if (type == "absolute") {
      return {std::min(static_cast<int64_t>(size[0]), h),
              std::min(static_cast<int64_t>(size[1]), w)};
    }
    if (type == "absolute_range") {
      const auto low = static_cast<int64_t>(size[0]), high = static_cast<int64_t>(size[1]);
      const int64_t crop_h = random_int(std::min(h, low), std::min(h, high) + 1);
      const int64_t crop_w = random_int(std::min(w, low), std::min(w, high) + 1);
      return {crop_h, crop_w};
    }
    double ratio_h = size[0], ratio_w = size[1];
    if (type == "relative_range") {
      // float32 arithmetic as numpy: crop_size (float32) + rand(2) * (1 - crop_size).
      ratio_h =
          static_cast<float>(size[0]) + random_uniform() * (1.0f - static_cast<float>(size[0]));
      ratio_w =
          static_cast<float>(size[1]) + random_uniform() * (1.0f - static_cast<float>(size[1]));
    }
    return {static_cast<int64_t>(static_cast<double>(h) * ratio_h + 0.5),
            static_cast<int64_t>(static_cast<double>(w) * ratio_w + 0.5)};
  }

  /// Shifts `boxes` by the crop offset and clips them; returns the (N,) mask of boxes with
  /// x2 > x1 and y2 > y1.
  torch::Tensor shift_boxes(Boxes& boxes, int64_t offset_w, int64_t offset_h, int64_t new_h,
                            int64_t new_w) const {
    boxes.translate(-static_cast<double>(offset_w), -static_cast<double>(offset_h));
    if (options.bbox_clip_border()) boxes.clip(new_h, new_w);
    const torch::Tensor& t = boxes.tensor();
    return (t.select(1, 2) > t.select(1, 0)).logical_and(t.select(1, 3) > t.select(1, 1));
  }
};
DETKIT_REGISTER(transform, RandomCrop);

}  // namespace detkit::transforms
