// Helpers shared by the built-in transforms (core-private): images as OpenCV headers over
// tensors, image checks with clear errors, parameter parsing, random draws, and the presets
// MultiScaleFlipAug hands to Resize and RandomFlip.
//
// Rules every built-in transform follows:
//  - Images are (H, W, C) tensors (uint8 BGR after loading, float32 after to_float32 /
//    Normalize / PhotoMetricDistortion) until DefaultFormatBundle / ImageToTensor make them
//    (C, H, W).
//  - A transform never writes into a tensor it received: it writes a new one. MultiScaleFlipAug
//    copies a sample shallowly (tensors shared) for every augmented version, so an in-place
//    change would leak from one version into another.
//  - Image-sized work runs in OpenCV (its TBB pool) or plain loops, never in ATen's intra-op
//    pool, so loader threads do not fight the training thread for cores (data_loader.h).
#pragma once

#include <torch/torch.h>

#include <array>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detkit/component_config.h"
#include "detkit/data/transform.h"
#include "detkit/error.h"

namespace detkit::transforms {

/// A (width, height) pair as MMDetection writes image scales: `(1333, 800)`, YAML `[1333, 800]`.
using ScalePair = std::array<int64_t, 2>;

/// The name used for a sample in error messages: "'path/to/img.jpg'" or "(sample without a file
/// name)".
std::string sample_name(const PipelineSample& sample);

/// The sample's image, checked to be an (H, W, C) uint8 or float32 tensor; throws DataError
/// naming `transform` and the file otherwise (no image loaded, already (C, H, W), wrong dtype).
const torch::Tensor& require_hwc_image(const PipelineSample& sample, const char* transform);

/// (H, W, C) of an (H, W, C) tensor.
std::array<int64_t, 3> hwc_shape(const torch::Tensor& image);

/// An OpenCV header over the memory of a contiguous (H, W, C) uint8 / float32 tensor (no copy);
/// the tensor must outlive the header.
cv::Mat as_mat(const torch::Tensor& image);

/// A new uninitialised (H, W, C) tensor with the given dtype.
torch::Tensor new_image(int64_t height, int64_t width, int64_t channels, torch::ScalarType dtype);

/// An (H, W, C) tensor that shares the memory of `mat` (no copy; the tensor keeps the matrix
/// alive). A non-continuous matrix is copied first.
torch::Tensor tensor_from_mat(const cv::Mat& mat);

/// Reads an image scale parameter: null (when `allow_null`), one pair `[w, h]` or a list of
/// pairs `[[w, h], ...]`; every value a positive integer. Fails with a located ConfigError.
std::vector<ScalePair> scale_list(const ComponentConfig& cfg, const std::string& name,
                                  bool allow_null);

/// Reads a parameter that is a string or a list of strings, each one of `choices`.
std::vector<std::string> string_or_list(const ComponentConfig& cfg, const std::string& name,
                                        const std::vector<std::string>& choices);

/// "[[1333, 800], [1333, 640]]".
std::string scales_text(const std::vector<ScalePair>& scales);
/// "[1.5, 2]" (shortest round-trip formatting of each value).
std::string numbers_text(const std::vector<double>& values);
/// A number as Python would print it ("0.5", "32", "123.675").
std::string number_text(double value);

/// A uniform integer in [low, high) from random_engine() (numpy's randint(low, high)).
int64_t random_int(int64_t low, int64_t high);
/// A uniform real in [low, high) from random_engine() (numpy's uniform(low, high)).
double random_real(double low, double high);

/// MMDetection's default `pad_val`: {img: 0, masks: 0, seg: 255} (Pad, DefaultFormatBundle).
ConfigNode default_pad_values();

/// MMDetection's default `file_client_args`: {backend: disk}.
ConfigNode default_file_client_args();

/// The choices MultiScaleFlipAug fixes for one augmented version (MMDetection sets
/// results['scale'] or results['scale_factor'], and results['flip'] / ['flip_direction'],
/// before the inner transforms run).
struct AugmentPreset {
  /// Target scale (w, h) for Resize (img_scale mode).
  std::optional<ScalePair> scale;
  /// Scale factor for Resize (scale_factor mode).
  std::optional<double> scale_factor;
  /// Whether RandomFlip flips, and in which direction.
  bool flip = false;
  FlipDirection flip_direction = FlipDirection::horizontal;
};

/// Implemented by the transforms that honour an AugmentPreset (Resize, RandomFlip).
class PresetTransform {
 public:
  virtual ~PresetTransform();
  /// Applies the transform with the preset's choice instead of a random or configured one.
  virtual bool apply_preset(PipelineSample& sample, const AugmentPreset& preset) = 0;
};

}  // namespace detkit::transforms
