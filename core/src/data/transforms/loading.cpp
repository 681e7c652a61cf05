// LoadImageFromFile and LoadAnnotations: MMDetection 2.25's mmdet/datasets/pipelines/loading.py.
#include <torch/torch.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "detkit/registry.h"
#include "image_decoding.h"
#include "transform_utils.h"

namespace detkit::transforms {

namespace {

/// Whether a JPEG stream ends before its End-Of-Image marker. libjpeg decodes such a file
/// "successfully" (the missing rows grey) with only a warning, so we check the marker structure
/// ourselves: segments from SOI, entropy-coded data after each SOS, until EOI.
bool jpeg_is_truncated(const uint8_t* data, size_t size) {
  size_t pos = 2;  // after SOI
  while (pos + 1 < size) {
    if (data[pos] != 0xFF) return false;  // not a marker where one must be: let the decoder judge
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD9) return false;                            // EOI: complete
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      pos += 2;
      continue;
    }
    if (pos + 3 >= size) return true;
    const size_t length = (static_cast<size_t>(data[pos + 2]) << 8) | data[pos + 3];
    pos += 2 + length;
    if (marker != 0xDA) continue;
    // Entropy-coded data: runs until a marker other than a stuffed 0xFF00 or a restart marker.
    while (pos + 1 < size) {
      if (data[pos] == 0xFF && data[pos + 1] != 0x00 &&
          !(data[pos + 1] >= 0xD0 && data[pos + 1] <= 0xD7)) {
        break;
      }
      ++pos;
    }
  }
  return true;  // ran out of data before EOI
}

/// Whether a PNG stream lacks its final IEND chunk.
bool png_is_truncated(const uint8_t* data, size_t size) {
  static const uint8_t iend[8] = {0, 0, 0, 0, 'I', 'E', 'N', 'D'};
  if (size < 20) return true;
  // IEND is the last chunk; a few trailing bytes after it are tolerated.
  const size_t lowest = size > 4096 + 8 ? size - 4096 : 8;
  for (size_t start = size - 12;; --start) {
    if (std::memcmp(data + start, iend, 8) == 0) return false;
    if (start == lowest) break;
  }
  return true;
}

std::string read_image_bytes(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw DataError("cannot read image file '" + path + "': it is a folder");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw DataError("cannot read image file '" + path + "': " + std::strerror(errno));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError("cannot read image file '" + path + "' (read error)");
  return bytes;
}

/// "30000x30000 (900.0 megapixels)".
std::string pixels_text(int64_t width, int64_t height) {
  char text[96];
  std::snprintf(text, sizeof(text), "%lldx%lld (%.1f megapixels)", static_cast<long long>(width),
                static_cast<long long>(height), 1e-6 * double(width) * double(height));
  return text;
}

/// Prints a decoder's warnings about a file that decoded (libpng's "iCCP: known incorrect sRGB
/// profile", libjpeg's "Corrupt JPEG data: 2 extraneous bytes ...") as detkit warnings naming
/// the file; the first 20 in the process, then one line saying that the rest are not shown.
void report_decoder_warnings(const std::string& path, const std::vector<std::string>& messages) {
  static std::atomic<int> printed{0};
  constexpr int kMaxPrinted = 20;
  for (const auto& message : messages) {
    const int index = printed++;
    if (index < kMaxPrinted) {
      std::cerr << "warning: image file '" + path + "': " + message + "\n";
    } else if (index == kMaxPrinted) {
      std::cerr << "warning: further image decoder warnings are not shown\n";
    }
  }
}

}  // namespace

/// Options of LoadImageFromFile; names and defaults as MMDetection's.
struct LoadImageFromFileOptions {
  /// Convert the decoded image to float32.
  TORCH_ARG(bool, to_float32) = false;
  /// color, grayscale, unchanged (+ the *_ignore_orientation variants of mmcv).
  TORCH_ARG(std::string, color_type) = "color";
  /// bgr (OpenCV's order) or rgb.
  TORCH_ARG(std::string, channel_order) = "bgr";
  /// Files whose header declares more pixels are refused before decoding (detkit's guard
  /// against decompression bombs); 0 = default_max_image_pixels() (DETKIT_MAX_IMAGE_PIXELS or
  /// 100 megapixels).
  TORCH_ARG(int64_t, max_pixels) = 0;
};

/// Reads `meta.filename` and decodes it with OpenCV (mmcv.imfrombytes, cv2 backend): an
/// (H, W, C) uint8 tensor, C = 3 for color, 1 for grayscale, as stored for unchanged (16-bit and
/// other depths become float32 with their values). Missing, empty, corrupt and truncated files
/// (JPEG without its end marker, PNG without IEND) are DataErrors naming the file, and so are
/// PNG, JPEG, BMP, WebP and TIFF files whose header declares more than max_pixels pixels (checked
/// before decoding). libjpeg's and libpng's messages are caught: a failed decode's reason joins
/// the error, a decoded file's warnings become detkit warnings naming it. Sets ori_shape,
/// img_shape and pad_shape.
class LoadImageFromFile : public TransformBase {
 public:
  explicit LoadImageFromFile(LoadImageFromFileOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Load an image from meta.filename (MMDetection LoadImageFromFile).");
    s.add<bool>("to_float32", false, "convert the decoded image to float32");
    s.add<std::string>("color_type", "color",
                       "how to decode: 3-channel color, 1-channel "
                       "grayscale, or as stored")
        .choices({"color", "grayscale", "unchanged", "color_ignore_orientation",
                  "grayscale_ignore_orientation"});
    s.add<std::string>("channel_order", "bgr", "channel order of color images")
        .choices({"bgr", "rgb"});
    s.dict("file_client_args", default_file_client_args(),
           "file access; only {backend: disk} is supported");
    s.add<int64_t>("max_pixels", 0,
                   "refuse files whose header declares more pixels (detkit; 0 = "
                   "DETKIT_MAX_IMAGE_PIXELS or 100 megapixels)")
        .min(0);
    return s;
  }

  static std::shared_ptr<LoadImageFromFile> create(const ComponentConfig& cfg) {
    const ConfigNode& client = cfg.node("file_client_args");
    const ConfigNode* backend = client.find("backend");
    if (!backend || !backend->is_string() || backend->as_string() != "disk" || client.size() != 1) {
      cfg.fail("file_client_args", "only {backend: disk} is supported, got " + client.to_flow());
    }
    return std::make_shared<LoadImageFromFile>(
        LoadImageFromFileOptions()
            .to_float32(cfg.get<bool>("to_float32"))
            .color_type(cfg.get<std::string>("color_type"))
            .channel_order(cfg.get<std::string>("channel_order"))
            .max_pixels(cfg.get<int64_t>("max_pixels")));
  }

  bool apply(PipelineSample& sample) override {
    const std::string& path = sample.meta.filename;
    if (path.empty()) throw DataError("LoadImageFromFile: the sample has no file name");
    const std::string bytes = read_image_bytes(path);
    if (bytes.empty()) throw DataError("image file '" + path + "' is empty");
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    const bool jpeg = bytes.size() >= 2 && data[0] == 0xFF && data[1] == 0xD8;
    const bool png = bytes.size() >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0;
    if ((jpeg && jpeg_is_truncated(data, bytes.size())) ||
        (png && png_is_truncated(data, bytes.size()))) {
      throw DataError("image file '" + path + "' is truncated (" + (jpeg ? "JPEG" : "PNG") +
                      " data ends before its end marker)");
    }
    check_declared_size(path, data, bytes.size());
    cv::Mat image;
    clear_decoder_messages();
    try {
      image = cv::imdecode(
          cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(data)),
          decode_flags());
    } catch (const cv::Exception& e) {
      throw DataError("cannot decode image file '" + path + "': " + e.what());
    } catch (const std::bad_alloc&) {
      throw DataError("cannot decode image file '" + path + "': out of memory");
    }
    const std::vector<std::string> messages = decoder_messages();
    if (image.empty()) {
      std::string reason = "not an image in a format OpenCV reads, corrupt, or too large";
      if (!messages.empty()) reason = messages.front();
      throw DataError("cannot decode image file '" + path + "': " + reason);
    }
    report_decoder_warnings(path, messages);
    if (image.depth() != CV_8U || options.to_float32()) image.convertTo(image, CV_32F);
    if (options.channel_order() == "rgb" && image.channels() == 3 &&
        options.color_type().rfind("color", 0) == 0) {
      cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
    }
    sample.img = tensor_from_mat(image);
    sample.img_is_chw = false;
    const auto shape = hwc_shape(sample.img);
    sample.meta.ori_shape = shape;
    sample.meta.img_shape = shape;
    sample.meta.pad_shape = shape;
    return true;
  }

  std::string repr() const override {
    return "LoadImageFromFile(to_float32=" + std::string(options.to_float32() ? "True" : "False") +
           ", color_type='" + options.color_type() + "', channel_order='" +
           options.channel_order() + "', file_client_args={'backend': 'disk'})";
  }

  LoadImageFromFileOptions options;

 private:
  /// Refuses a file whose header declares more than max_pixels pixels (before decoding).
  void check_declared_size(const std::string& path, const uint8_t* data, size_t size) const {
    const auto declared = declared_image_size(data, size);
    if (!declared) return;
    const int64_t limit =
        options.max_pixels() > 0 ? options.max_pixels() : default_max_image_pixels();
    if (declared->height == 0 || declared->width <= limit / declared->height) return;
    throw DataError("image file '" + path + "' declares " +
                    pixels_text(declared->width, declared->height) + " in its " + declared->format +
                    " header, more than the limit of " + std::to_string(limit) +
                    " pixels (LoadImageFromFile max_pixels, or DETKIT_MAX_IMAGE_PIXELS)");
  }

  int decode_flags() const {
    const std::string& type = options.color_type();
    if (type == "grayscale") return cv::IMREAD_GRAYSCALE;
    if (type == "unchanged") return cv::IMREAD_UNCHANGED;
    if (type == "color_ignore_orientation") return cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION;
    if (type == "grayscale_ignore_orientation")
      return cv::IMREAD_GRAYSCALE | cv::IMREAD_IGNORE_ORIENTATION;
    return cv::IMREAD_COLOR;
  }
};
DETKIT_REGISTER(transform, LoadImageFromFile);

/// Options of LoadAnnotations; names and defaults as MMDetection's.
struct LoadAnnotationsOptions {
  TORCH_ARG(bool, with_bbox) = true;
  TORCH_ARG(bool, with_label) = true;
  /// Boxes in the annotations are relative ([0, 1]); multiply by the image size.
  TORCH_ARG(bool, denorm_bbox) = false;
};

/// Copies the dataset's annotations (PipelineSample::ann / ann_ignore) into the ground truth
/// (gt / gt_ignore), as MMDetection's LoadAnnotations copies ann_info into gt_bboxes,
/// gt_bboxes_ignore and gt_labels. Labels live with their boxes in detkit's Instances, so
/// with_bbox=false leaves the ground truth empty, and with_label=false keeps the boxes with
/// label 0 (class-agnostic, e.g. RPN). Masks and segmentation maps are not supported.
class LoadAnnotations : public TransformBase {
 public:
  explicit LoadAnnotations(LoadAnnotationsOptions options) : options(std::move(options)) {}

  static Schema schema() {
    Schema s("Copy the dataset's annotations into the ground truth (MMDetection LoadAnnotations).");
    s.add<bool>("with_bbox", true, "load boxes (gt_bboxes, gt_bboxes_ignore)");
    s.add<bool>("with_label", true, "load labels (gt_labels); false gives label 0 to every box");
    s.add<bool>("with_mask", false, "load instance masks (not supported: must be false)");
    s.add<bool>("with_seg", false, "load semantic segmentation (not supported: must be false)");
    s.add<bool>("poly2mask", true, "convert polygons to bitmaps (only with masks; unused)");
    s.add<bool>("denorm_bbox", false, "boxes are relative to the image size: multiply by it");
    s.dict("file_client_args", default_file_client_args(),
           "file access (unused: annotations come from the dataset)");
    return s;
  }

  static std::shared_ptr<LoadAnnotations> create(const ComponentConfig& cfg) {
    if (cfg.get<bool>("with_mask")) {
      cfg.fail("with_mask", "instance masks are not supported by detkit's data pipeline");
    }
    if (cfg.get<bool>("with_seg")) {
      cfg.fail("with_seg",
               "semantic segmentation maps are not supported by detkit's data pipeline");
    }
    return std::make_shared<LoadAnnotations>(LoadAnnotationsOptions()
                                                 .with_bbox(cfg.get<bool>("with_bbox"))
                                                 .with_label(cfg.get<bool>("with_label"))
                                                 .denorm_bbox(cfg.get<bool>("denorm_bbox")));
  }

  bool apply(PipelineSample& sample) override {
    if (!options.with_bbox()) {
      sample.gt = Instances();
      sample.gt_ignore = Boxes();
      return true;
    }
    Instances gt = sample.ann;
    Boxes ignore = sample.ann_ignore;
    if (!options.with_label()) gt.set_labels(torch::zeros({gt.size()}, torch::kInt64));
    if (options.denorm_bbox()) {
      const auto& shape = sample.meta.img_shape;
      if (shape[0] <= 0 || shape[1] <= 0) {
        throw DataError("LoadAnnotations on " + sample_name(sample) +
                        ": denorm_bbox needs the image size (put LoadImageFromFile first)");
      }
      gt.boxes().scale(static_cast<double>(shape[1]), static_cast<double>(shape[0]));
      ignore.scale(static_cast<double>(shape[1]), static_cast<double>(shape[0]));
    }
    sample.gt = std::move(gt);
    sample.gt_ignore = std::move(ignore);
    return true;
  }

  std::string repr() const override {
    auto flag = [](bool value) { return value ? std::string("True") : std::string("False"); };
    return "LoadAnnotations(with_bbox=" + flag(options.with_bbox()) +
           ", with_label=" + flag(options.with_label()) +
           ", with_mask=False, with_seg=False, poly2mask=True, denorm_bbox=" +
           flag(options.denorm_bbox()) + ")";
  }

  LoadAnnotationsOptions options;
};
DETKIT_REGISTER(transform, LoadAnnotations);

}  // namespace detkit::transforms
