// DefaultFormatBundle, ImageToTensor and Collect: MMDetection 2.25's
// mmdet/datasets/pipelines/formatting.py.
#include <torch/torch.h>

#include <algorithm>

#include "detkit/core/text.h"
#include "detkit/registry.h"
#include "transform_utils.h"

namespace detkit::transforms {

namespace {

/// (H, W, C) -> a new contiguous (C, H, W) tensor of `dtype` (uint8 -> float32 converts values).
/// OpenCV's split writes straight into the planes of the result (no ATen intra-op threads; see
/// transform_utils.h).
torch::Tensor to_chw(const torch::Tensor& hwc, torch::ScalarType dtype) {
  const torch::Tensor src = hwc.contiguous();
  const int height = static_cast<int>(src.size(0)), width = static_cast<int>(src.size(1));
  const int channels = static_cast<int>(src.size(2));
  torch::Tensor out = torch::empty({channels, height, width}, torch::TensorOptions().dtype(dtype));
  const bool convert = src.scalar_type() != dtype;
  // Planes in the source's depth: the result's own memory, or temporaries to convert from.
  const int depth = src.scalar_type() == torch::kUInt8 ? CV_8U : CV_32F;
  std::vector<cv::Mat> planes;
  auto* base = static_cast<uint8_t*>(out.data_ptr());
  const size_t plane_bytes = static_cast<size_t>(height) * width * out.element_size();
  for (int c = 0; c < channels; ++c) {
    planes.push_back(convert ? cv::Mat(height, width, depth)
                             : cv::Mat(height, width, depth, base + c * plane_bytes));
  }
  cv::split(as_mat(src), planes.data());
  if (convert) {
    for (int c = 0; c < channels; ++c) {
      cv::Mat target(height, width, CV_32F, base + c * plane_bytes);
      planes[static_cast<size_t>(c)].convertTo(target, CV_32F);
    }
  }
  return out;
}

}  // namespace

/// Options of DefaultFormatBundle; names and defaults as MMDetection's.
struct DefaultFormatBundleOptions {
  /// Convert a uint8 image to float32.
  TORCH_ARG(bool, img_to_float) = true;
};

/// Makes the image the (C, H, W) tensor models take (float32 unless img_to_float is false and
/// it is uint8) and sets img_is_chw; fills the meta MMDetection defaults when no transform set
/// them: pad_shape = img shape, img_norm_cfg = (mean 0, std 1, to_rgb false). Boxes and labels
/// are tensors already. The loader pads batches with 0 (MMDetection's pad_val img=0).
class DefaultFormatBundle : public TransformBase {
 public:
  explicit DefaultFormatBundle(DefaultFormatBundleOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Image to a (C, H, W) float tensor, default meta (MMDetection DefaultFormatBundle).");
    s.add<bool>("img_to_float", true, "convert a uint8 image to float32");
    s.dict("pad_val", default_pad_values(),
           "batch padding values; the loader pads images with 0, so img must be 0");
    return s;
  }

  static std::shared_ptr<DefaultFormatBundle> create(const ComponentConfig& cfg) {
    const ConfigNode& pad_val = cfg.node("pad_val");
    for (const auto& entry : pad_val.entries()) {
      if (entry.key != "img" && entry.key != "masks" && entry.key != "seg") {
        cfg.fail("pad_val", "unknown pad_val key '" + entry.key + "' (keys: img, masks, seg)");
      }
    }
    if (const ConfigNode* img = pad_val.find("img")) {
      if (!img->is_number() || img->as_double() != 0.0) {
        cfg.fail("pad_val",
                 "detkit's loader pads batch images with 0; pad_val.img must be 0 (use "
                 "Pad(pad_val=...) before DefaultFormatBundle for another value)");
      }
    }
    return std::make_shared<DefaultFormatBundle>(
        DefaultFormatBundleOptions().img_to_float(cfg.get<bool>("img_to_float")));
  }

  bool apply(PipelineSample& sample) override {
    if (!sample.img.defined()) return true;  // MMDetection: only `if 'img' in results`
    const torch::Tensor& img = require_hwc_image(sample, "DefaultFormatBundle");
    const auto shape = hwc_shape(img);
    ImageMeta& meta = sample.meta;
    if (meta.pad_shape[0] == 0 && meta.pad_shape[1] == 0) meta.pad_shape = shape;
    if (meta.norm_mean.empty()) {
      meta.norm_mean.assign(static_cast<size_t>(shape[2]), 0.0);
      meta.norm_std.assign(static_cast<size_t>(shape[2]), 1.0);
      meta.to_rgb = false;
    }
    const bool to_float = options.img_to_float() && img.scalar_type() == torch::kUInt8;
    sample.img = to_chw(img, to_float ? torch::kFloat32 : img.scalar_type());
    sample.img_is_chw = true;
    return true;
  }

  std::string repr() const override {
    return std::string("DefaultFormatBundle(img_to_float=") +
           (options.img_to_float() ? "True" : "False") + ")";
  }

  DefaultFormatBundleOptions options;
};
DETKIT_REGISTER(transform, DefaultFormatBundle);

/// Options of ImageToTensor.
struct ImageToTensorOptions {
  /// The image keys to convert (only "img" exists in detkit's samples).
  TORCH_ARG(std::vector<std::string>, keys) = {"img"};
};

/// Makes the image (C, H, W) keeping its dtype and sets img_is_chw (MMDetection ImageToTensor,
/// used by test pipelines).
class ImageToTensor : public TransformBase {
 public:
  explicit ImageToTensor(ImageToTensorOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Image to a (C, H, W) tensor, dtype kept (MMDetection ImageToTensor).");
    s.required<std::vector<std::string>>("keys", "image keys to convert: [img]").choices({"img"});
    return s;
  }

  static std::shared_ptr<ImageToTensor> create(const ComponentConfig& cfg) {
    return std::make_shared<ImageToTensor>(
        ImageToTensorOptions().keys(cfg.get<std::vector<std::string>>("keys")));
  }

  bool apply(PipelineSample& sample) override {
    if (options.keys().empty()) return true;
    const torch::Tensor& img = require_hwc_image(sample, "ImageToTensor");
    sample.img = to_chw(img, img.scalar_type());
    sample.img_is_chw = true;
    return true;
  }

  std::string repr() const override {
    std::string keys;
    for (const auto& key : options.keys())
      keys += (keys.empty() ? "'" : ", '") + key + "'";
    return "ImageToTensor(keys=[" + keys + "])";
  }

  ImageToTensorOptions options;
};
DETKIT_REGISTER(transform, ImageToTensor);

namespace {
const std::vector<std::string>& collectable_keys() {
  static const std::vector<std::string> keys = {"img", "gt_bboxes", "gt_labels",
                                                "gt_bboxes_ignore"};
  return keys;
}
const std::vector<std::string>& collectable_meta_keys() {
  static const std::vector<std::string> keys = {
      "filename",     "ori_filename", "ori_shape",      "img_shape",    "pad_shape",
      "scale_factor", "flip",         "flip_direction", "img_norm_cfg", "keep_ratio"};
  return keys;
}
bool contains(const std::vector<std::string>& list, const std::string& key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}
}  // namespace

/// Options of Collect; names and defaults as MMDetection's.
struct CollectOptions {
  TORCH_ARG(std::vector<std::string>, keys) = {};
  TORCH_ARG(std::vector<std::string>, meta_keys) = {};
};

/// Keeps what the model receives and clears the rest (MMDetection's Collect builds a new dict
/// of `keys` plus img_metas of `meta_keys`): the image unless "img" is collected, the ground
/// truth unless "gt_bboxes" or "gt_labels" is (they are stored together), the ignored boxes
/// unless "gt_bboxes_ignore" is, the raw annotations always, and every meta field not in
/// meta_keys (reset to its default). meta.image_id and meta.index are detkit's bookkeeping and
/// always kept. Unknown key names are config errors.
class Collect : public TransformBase {
 public:
  explicit Collect(CollectOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Keep the keys a model takes, clear the rest (MMDetection Collect).");
    s.required<std::vector<std::string>>("keys",
                                         "data keys: img, gt_bboxes, gt_labels, "
                                         "gt_bboxes_ignore");
    s.add<std::vector<std::string>>(
        "meta_keys",
        std::vector<std::string>{"filename", "ori_filename", "ori_shape", "img_shape", "pad_shape",
                                 "scale_factor", "flip", "flip_direction", "img_norm_cfg"},
        "image meta keys to keep (img_metas)");
    return s;
  }

  static std::shared_ptr<Collect> create(const ComponentConfig& cfg) {
    const auto keys = cfg.get<std::vector<std::string>>("keys");
    const auto meta_keys = cfg.get<std::vector<std::string>>("meta_keys");
    if (keys.empty()) cfg.fail("keys", "Collect needs at least one key (e.g. [img])");
    check_names(cfg, "keys", keys, collectable_keys(),
                {"gt_masks", "gt_semantic_seg", "proposals", "gt_labels_ignore"});
    check_names(cfg, "meta_keys", meta_keys, collectable_meta_keys(), {});
    return std::make_shared<Collect>(CollectOptions().keys(keys).meta_keys(meta_keys));
  }

  bool apply(PipelineSample& sample) override {
    const auto& keys = options.keys();
    if (!contains(keys, "img")) {
      sample.img = torch::Tensor();
      sample.img_is_chw = false;
    } else if (!sample.img.defined()) {
      throw DataError("Collect on " + sample_name(sample) +
                      ": key 'img' is collected but the sample has no image");
    }
    if (!contains(keys, "gt_bboxes") && !contains(keys, "gt_labels")) sample.gt = Instances();
    if (!contains(keys, "gt_bboxes_ignore")) sample.gt_ignore = Boxes();
    sample.ann = Instances();
    sample.ann_ignore = Boxes();

    const auto& meta_keys = options.meta_keys();
    const ImageMeta defaults;
    ImageMeta& meta = sample.meta;
    auto keep = [&](const char* key) { return contains(meta_keys, key); };
    if (!keep("filename")) meta.filename = defaults.filename;
    if (!keep("ori_filename")) meta.ori_filename = defaults.ori_filename;
    if (!keep("ori_shape")) meta.ori_shape = defaults.ori_shape;
    if (!keep("img_shape")) meta.img_shape = defaults.img_shape;
    if (!keep("pad_shape")) meta.pad_shape = defaults.pad_shape;
    if (!keep("scale_factor")) meta.scale_factor = defaults.scale_factor;
    if (!keep("keep_ratio")) meta.keep_ratio = defaults.keep_ratio;
    if (!keep("flip")) meta.flip = defaults.flip;
    if (!keep("flip_direction")) meta.flip_direction = defaults.flip_direction;
    if (!keep("img_norm_cfg")) {
      meta.norm_mean.clear();
      meta.norm_std.clear();
      meta.to_rgb = defaults.to_rgb;
    }
    return true;
  }

  std::string repr() const override {
    auto list = [](const std::vector<std::string>& items) {
      std::string text;
      for (const auto& item : items)
        text += (text.empty() ? "'" : ", '") + item + "'";
      return "(" + text + ")";
    };
    return "Collect(keys=" + list(options.keys()) + ", meta_keys=" + list(options.meta_keys()) +
           ")";
  }

  CollectOptions options;

 private:
  static void check_names(const ComponentConfig& cfg, const std::string& param,
                          const std::vector<std::string>& names,
                          const std::vector<std::string>& known,
                          const std::vector<std::string>& unsupported) {
    for (const auto& name : names) {
      if (contains(known, name)) continue;
      if (contains(unsupported, name)) {
        cfg.fail(param, "'" + name + "' is not supported by detkit's data pipeline (supported: " +
                            join(known, ", ") + ")");
      }
      cfg.fail(param, "unknown key '" + name + "'" + did_you_mean(name, known) +
                          " (known: " + join(known, ", ") + ")");
    }
  }
};
DETKIT_REGISTER(transform, Collect);

}  // namespace detkit::transforms
