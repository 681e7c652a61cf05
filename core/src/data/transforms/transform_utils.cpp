// Helpers shared by the built-in transforms.
#include "transform_utils.h"

#include <cstdio>
#include <cstdlib>
#include <random>

#include "detkit/core/samplers.h"

namespace detkit::transforms {

PresetTransform::~PresetTransform() = default;

std::string sample_name(const PipelineSample& sample) {
  if (sample.meta.filename.empty()) return "(sample without a file name)";
  return "'" + sample.meta.filename + "'";
}

const torch::Tensor& require_hwc_image(const PipelineSample& sample, const char* transform) {
  const torch::Tensor& img = sample.img;
  const std::string where = std::string(transform) + " on " + sample_name(sample) + ": ";
  if (!img.defined()) {
    throw DataError(where + "the sample has no image (put LoadImageFromFile first)");
  }
  if (sample.img_is_chw) {
    throw DataError(where +
                    "the image is already (C, H, W); DefaultFormatBundle / ImageToTensor must "
                    "come after every image transform");
  }
  if (img.dim() != 3) {
    throw DataError(where + "expected an (H, W, C) image, got a " + std::to_string(img.dim()) +
                    "-d tensor");
  }
  if (img.scalar_type() != torch::kUInt8 && img.scalar_type() != torch::kFloat32) {
    throw DataError(where + "expected a uint8 or float32 image, got " +
                    std::string(c10::toString(img.scalar_type())));
  }
  if (img.size(2) < 1 || img.size(2) > 4) {
    throw DataError(where + "expected 1 to 4 channels, got " + std::to_string(img.size(2)));
  }
  return img;
}

std::array<int64_t, 3> hwc_shape(const torch::Tensor& image) {
  return {image.size(0), image.size(1), image.size(2)};
}

cv::Mat as_mat(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.is_contiguous(), "as_mat needs a contiguous HWC tensor");
  const int channels = static_cast<int>(image.size(2));
  const int type = image.scalar_type() == torch::kUInt8 ? CV_8UC(channels) : CV_32FC(channels);
  TORCH_CHECK(image.scalar_type() == torch::kUInt8 || image.scalar_type() == torch::kFloat32,
              "as_mat supports uint8 and float32 images");
  return cv::Mat(static_cast<int>(image.size(0)), static_cast<int>(image.size(1)), type,
                 image.data_ptr());
}

torch::Tensor new_image(int64_t height, int64_t width, int64_t channels, torch::ScalarType dtype) {
  return torch::empty({height, width, channels}, torch::TensorOptions().dtype(dtype));
}

torch::Tensor tensor_from_mat(const cv::Mat& mat) {
  cv::Mat owned = mat.isContinuous() ? mat : mat.clone();
  torch::ScalarType dtype;
  switch (owned.depth()) {
    case CV_8U:
      dtype = torch::kUInt8;
      break;
    case CV_32F:
      dtype = torch::kFloat32;
      break;
    default:
      throw DataError("unsupported OpenCV matrix depth " + std::to_string(owned.depth()));
  }
  auto* keeper = new cv::Mat(owned);  // shares the pixels; freed with the tensor
  return torch::from_blob(
      keeper->data, {keeper->rows, keeper->cols, keeper->channels()},
      [keeper](void*) { delete keeper; }, torch::TensorOptions().dtype(dtype));
}

namespace {
ScalePair scale_pair(const ComponentConfig& cfg, const std::string& name, const ConfigNode& node) {
  if (!node.is_list() || node.size() != 2 || !node.items()[0].is_int() ||
      !node.items()[1].is_int()) {
    cfg.fail(name,
             "expected an image scale [width, height] of two integers, or a list of them, "
             "got " +
                 node.to_flow());
  }
  const ScalePair pair{node.items()[0].as_int(), node.items()[1].as_int()};
  if (pair[0] <= 0 || pair[1] <= 0) {
    cfg.fail(name, "image scale values must be positive, got " + node.to_flow());
  }
  return pair;
}
}  // namespace

std::vector<ScalePair> scale_list(const ComponentConfig& cfg, const std::string& name,
                                  bool allow_null) {
  const ConfigNode& node = cfg.node(name);
  if (node.is_null()) {
    if (!allow_null) cfg.fail(name, "an image scale [width, height] is required");
    return {};
  }
  if (node.is_list() && node.size() > 0 && node.items()[0].is_list()) {
    std::vector<ScalePair> scales;
    for (const auto& item : node.items())
      scales.push_back(scale_pair(cfg, name, item));
    return scales;
  }
  return {scale_pair(cfg, name, node)};
}

std::vector<std::string> string_or_list(const ComponentConfig& cfg, const std::string& name,
                                        const std::vector<std::string>& choices) {
  const ConfigNode& node = cfg.node(name);
  std::vector<std::string> values;
  if (node.is_string()) {
    values.push_back(node.as_string());
  } else if (node.is_list() && node.size() > 0) {
    for (const auto& item : node.items()) {
      if (!item.is_string()) cfg.fail(name, "expected strings, got " + node.to_flow());
      values.push_back(item.as_string());
    }
  } else {
    cfg.fail(name, "expected a string or a non-empty list of strings, got " + node.to_flow());
  }
  for (const auto& value : values) {
    bool known = false;
    for (const auto& choice : choices)
      known |= choice == value;
    if (!known) {
      std::string allowed;
      for (const auto& choice : choices)
        allowed += (allowed.empty() ? "" : "|") + choice;
      cfg.fail(name, "'" + value + "' is not allowed: one of " + allowed);
    }
  }
  return values;
}

std::string number_text(double value) {
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::string numbers_text(const std::vector<double>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i)
    text += (i ? ", " : "") + number_text(values[i]);
  return text + "]";
}

std::string scales_text(const std::vector<ScalePair>& scales) {
  std::string text = "[";
  for (size_t i = 0; i < scales.size(); ++i) {
    text += (i ? ", [" : "[") + std::to_string(scales[i][0]) + ", " + std::to_string(scales[i][1]) +
            "]";
  }
  return text + "]";
}

int64_t random_int(int64_t low, int64_t high) {
  if (high <= low + 1) return low;
  return low +
         static_cast<int64_t>(uniform_index(random_engine(), static_cast<uint64_t>(high - low)));
}

double random_real(double low, double high) {
  return low + (high - low) * random_uniform();
}

ConfigNode default_file_client_args() {
  ConfigNode args = ConfigNode::make_map();
  args.set("backend", "disk");
  return args;
}

ConfigNode default_pad_values() {
  ConfigNode values = ConfigNode::make_map();
  values.set("img", 0);
  values.set("masks", 0);
  values.set("seg", 255);
  return values;
}

}  // namespace detkit::transforms
