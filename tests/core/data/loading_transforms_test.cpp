// LoadImageFromFile on good and bad files (missing, empty, corrupt, truncated) and
// LoadAnnotations.
#include <chrono>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "data_test_utils.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

/// A 32x24 BGR test image with distinct channels.
cv::Mat test_image() {
  cv::Mat image(24, 32, CV_8UC3);
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      image.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uint8_t>(x * 8), static_cast<uint8_t>(y * 10), 200);
    }
  }
  return image;
}

std::string encode(const cv::Mat& image, const std::string& extension) {
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(extension, image, bytes));
  return std::string(bytes.begin(), bytes.end());
}

PipelineSample sample_for(const std::string& path) {
  PipelineSample sample;
  sample.meta.filename = path;
  sample.meta.ori_filename = "image";
  return sample;
}

TEST(LoadImageFromFile, DecodesPngExactlyAsBgrUint8) {
  TempDir dir;
  write_file(dir.file("a.png"), encode(test_image(), ".png"));
  auto load = make_transform("{type: LoadImageFromFile}");
  PipelineSample sample = sample_for(dir.file("a.png"));
  ASSERT_TRUE(load->apply(sample));
  ASSERT_EQ(sample.img.sizes(), torch::IntArrayRef({24, 32, 3}));
  EXPECT_EQ(sample.img.scalar_type(), torch::kUInt8);
  EXPECT_FALSE(sample.img_is_chw);
  EXPECT_TRUE(torch::equal(sample.img[5][3], torch::tensor({24, 50, 200}, torch::kUInt8)));
  EXPECT_EQ(sample.meta.ori_shape, (std::array<int64_t, 3>{24, 32, 3}));
  EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{24, 32, 3}));
  EXPECT_EQ(sample.meta.pad_shape, (std::array<int64_t, 3>{24, 32, 3}));
}

TEST(LoadImageFromFile, ColorTypesFloatAndChannelOrder) {
  TempDir dir;
  write_file(dir.file("a.png"), encode(test_image(), ".png"));
  write_file(dir.file("b.jpg"), encode(test_image(), ".jpg"));
  PipelineSample gray = sample_for(dir.file("a.png"));
  ASSERT_TRUE(make_transform("{type: LoadImageFromFile, color_type: grayscale}")->apply(gray));
  EXPECT_EQ(gray.img.sizes(), torch::IntArrayRef({24, 32, 1}));
  PipelineSample as_float = sample_for(dir.file("b.jpg"));
  ASSERT_TRUE(make_transform("{type: LoadImageFromFile, to_float32: true}")->apply(as_float));
  EXPECT_EQ(as_float.img.scalar_type(), torch::kFloat32);
  EXPECT_EQ(as_float.img.sizes(), torch::IntArrayRef({24, 32, 3}));
  EXPECT_NEAR(as_float.img[10][10][2].item<float>(), 200, 15);  // JPEG is lossy
  PipelineSample rgb = sample_for(dir.file("a.png"));
  ASSERT_TRUE(make_transform("{type: LoadImageFromFile, channel_order: rgb}")->apply(rgb));
  EXPECT_TRUE(torch::equal(rgb.img[5][3], torch::tensor({200, 50, 24}, torch::kUInt8)));
  expect_error<ConfigError>([] { make_transform("{type: LoadImageFromFile, color_type: colour}"); },
                            {"did you mean 'color'"});
  expect_error<ConfigError>(
      [] { make_transform("{type: LoadImageFromFile, file_client_args: {backend: petrel}}"); },
      {"only {backend: disk}"});
}

TEST(LoadImageFromFile, BadFilesAreDataErrorsNamingTheFile) {
  TempDir dir;
  auto load = make_transform("{type: LoadImageFromFile}");
  auto expect_bad = [&](const std::string& name, const std::string& reason) {
    SCOPED_TRACE(name);
    PipelineSample sample = sample_for(dir.file(name));
    expect_error<DataError>([&] { load->apply(sample); }, {dir.file(name), reason});
  };
  expect_bad("missing.jpg", "No such file");
  write_file(dir.file("empty.jpg"), "");
  expect_bad("empty.jpg", "is empty");
  write_file(dir.file("corrupt.jpg"), "this is not an image at all, just some text");
  expect_bad("corrupt.jpg", "cannot decode");
  // A JPEG header followed by garbage.
  const std::string jpeg = encode(test_image(), ".jpg");
  write_file(dir.file("garbage.jpg"), jpeg.substr(0, 2) + std::string(200, '\x42'));
  expect_bad("garbage.jpg", "cannot decode");
  write_file(dir.file("truncated.jpg"), jpeg.substr(0, jpeg.size() * 2 / 3));
  expect_bad("truncated.jpg", "truncated");
  const std::string png = encode(test_image(), ".png");
  write_file(dir.file("truncated.png"), png.substr(0, png.size() - 20));
  expect_bad("truncated.png", "truncated");
  std::filesystem::create_directories(dir.file("folder.jpg"));
  PipelineSample folder = sample_for(dir.file("folder.jpg"));
  EXPECT_THROW(load->apply(folder), DataError);
  PipelineSample nameless;
  expect_error<DataError>([&] { load->apply(nameless); }, {"no file name"});
}

TEST(LoadImageFromFile, TrailingBytesAfterTheEndMarkerAreFine) {
  TempDir dir;
  write_file(dir.file("padded.jpg"), encode(test_image(), ".jpg") + std::string(64, '\0'));
  PipelineSample sample = sample_for(dir.file("padded.jpg"));
  ASSERT_TRUE(make_transform("{type: LoadImageFromFile}")->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({24, 32, 3}));
}

/// PNG's chunk CRC (CRC-32 over the chunk type and data).
uint32_t png_crc(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

void put_be(std::string& bytes, size_t at, uint32_t value, int length) {
  for (int i = 0; i < length; ++i)
    bytes[at + i] = static_cast<char>((value >> (8 * (length - 1 - i))) & 0xFF);
}
void put_le(std::string& bytes, size_t at, uint32_t value, int length) {
  for (int i = 0; i < length; ++i)
    bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

/// A valid PNG whose IHDR declares width x height (its CRC recomputed, so libpng accepts it).
std::string png_declaring(uint32_t width, uint32_t height) {
  std::string png = encode(test_image(), ".png");
  put_be(png, 16, width, 4);
  put_be(png, 20, height, 4);
  put_be(png, 29, png_crc(png.substr(12, 17)), 4);
  return png;
}

/// Offset of the first SOF0 marker of a baseline JPEG.
size_t sof0_offset(const std::string& jpeg) {
  const size_t at = jpeg.find("\xFF\xC0");
  EXPECT_NE(at, std::string::npos);
  return at;
}

TEST(LoadImageFromFile, HugeDeclaredSizesAreRefusedBeforeDecoding) {
  TempDir dir;
  std::string jpeg = encode(test_image(), ".jpg");
  put_be(jpeg, sof0_offset(jpeg) + 5, 60000, 2);  // height
  put_be(jpeg, sof0_offset(jpeg) + 7, 60000, 2);  // width
  std::string bmp = encode(test_image(), ".bmp");
  put_le(bmp, 18, 20000, 4);
  put_le(bmp, 22, 20000, 4);
  std::vector<uint8_t> webp_bytes;
  ASSERT_TRUE(cv::imencode(".webp", test_image(), webp_bytes, {cv::IMWRITE_WEBP_QUALITY, 101}));
  std::string webp(webp_bytes.begin(), webp_bytes.end());
  ASSERT_EQ(webp.substr(12, 4), "VP8L");  // lossless: 14-bit width - 1 and height - 1
  put_le(
      webp, 21,
      (static_cast<uint32_t>(static_cast<uint8_t>(webp[24])) & 0xF0u) << 24 | 16383u << 14 | 16383u,
      4);
  // TIFF: ImageWidth (256) and ImageLength (257) in the first IFD, little-endian here.
  std::string tiff = encode(test_image(), ".tiff");
  ASSERT_EQ(tiff.substr(0, 4), std::string("II*\0", 4));
  const size_t ifd = static_cast<uint8_t>(tiff[4]) | static_cast<uint8_t>(tiff[5]) << 8 |
                     static_cast<uint8_t>(tiff[6]) << 16 | static_cast<uint8_t>(tiff[7]) << 24;
  const size_t entries = static_cast<uint8_t>(tiff[ifd]) | static_cast<uint8_t>(tiff[ifd + 1]) << 8;
  for (size_t i = 0; i < entries; ++i) {
    const size_t entry = ifd + 2 + 12 * i;
    const int tag = static_cast<uint8_t>(tiff[entry]) | static_cast<uint8_t>(tiff[entry + 1]) << 8;
    const int type = static_cast<uint8_t>(tiff[entry + 2]);
    if (tag == 256 || tag == 257) put_le(tiff, entry + 8, 30000, type == 3 ? 2 : 4);
  }
  // (file, bytes, declared size, format)
  const std::vector<std::array<std::string, 4>> cases = {
      {"bomb.png", png_declaring(30000, 30000), "30000x30000 (900.0 megapixels)", "PNG header"},
      {"bomb.jpg", jpeg, "60000x60000 (3600.0 megapixels)", "JPEG header"},
      {"bomb.bmp", bmp, "20000x20000 (400.0 megapixels)", "BMP header"},
      {"bomb.webp", webp, "16384x16384 (268.4 megapixels)", "WebP header"},
      {"bomb.tiff", tiff, "30000x30000 (900.0 megapixels)", "TIFF header"},
  };
  auto load = make_transform("{type: LoadImageFromFile}");
  for (const auto& [name, bytes, size, format] : cases) {
    SCOPED_TRACE(name);
    write_file(dir.file(name), bytes);
    PipelineSample sample = sample_for(dir.file(name));
    const auto start = std::chrono::steady_clock::now();
    expect_error<DataError>([&] { load->apply(sample); },
                            {dir.file(name), "declares " + size, format, "100000000 pixels"});
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }

  // The limit: max_pixels, else DETKIT_MAX_IMAGE_PIXELS, else 100 megapixels. (32x24 = 768.)
  write_file(dir.file("small.png"), encode(test_image(), ".png"));
  PipelineSample small = sample_for(dir.file("small.png"));
  expect_error<DataError>(
      [&] { make_transform("{type: LoadImageFromFile, max_pixels: 767}")->apply(small); },
      {"declares 32x24", "limit of 767 pixels"});
  EXPECT_TRUE(make_transform("{type: LoadImageFromFile, max_pixels: 768}")->apply(small));
  setenv("DETKIT_MAX_IMAGE_PIXELS", "700", 1);
  expect_error<DataError>([&] { load->apply(small); }, {"declares 32x24", "limit of 700"});
  unsetenv("DETKIT_MAX_IMAGE_PIXELS");
  EXPECT_TRUE(load->apply(small));
}

TEST(LoadImageFromFile, DecoderLibraryMessagesComeOnlyInDetkitsWords) {
  TempDir dir;
  auto load = make_transform("{type: LoadImageFromFile}");
  const std::string jpeg = encode(test_image(), ".jpg");
  // Decode with libjpeg warnings: bytes before a marker, a scan cut short (EOI kept).
  std::string extraneous = jpeg;
  extraneous.insert(jpeg.find("\xFF\xDA"), std::string("\x12\x34", 2));
  write_file(dir.file("extraneous.jpg"), extraneous);
  const size_t scan = jpeg.find("\xFF\xDA"), end = jpeg.rfind("\xFF\xD9");
  write_file(dir.file("short.jpg"), jpeg.substr(0, (scan + end) / 2) + "\xFF\xD9");
  // Fail in the decoder: libjpeg (OpenCV keeps its error quiet) and libpng (caught, reported).
  std::string precision = jpeg;
  precision[sof0_offset(jpeg) + 4] = 7;
  write_file(dir.file("precision.jpg"), precision);
  std::string bad_crc = encode(test_image(), ".png");
  bad_crc[29] = static_cast<char>(bad_crc[29] ^ 0x55);
  write_file(dir.file("crc.png"), bad_crc);

  ::testing::internal::CaptureStderr();
  PipelineSample sample = sample_for(dir.file("extraneous.jpg"));
  EXPECT_TRUE(load->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({24, 32, 3}));
  PipelineSample short_sample = sample_for(dir.file("short.jpg"));
  EXPECT_TRUE(load->apply(short_sample));
  PipelineSample precision_sample = sample_for(dir.file("precision.jpg"));
  expect_error<DataError>([&] { load->apply(precision_sample); },
                          {dir.file("precision.jpg"), "cannot decode"});
  PipelineSample crc_sample = sample_for(dir.file("crc.png"));
  expect_error<DataError>([&] { load->apply(crc_sample); },
                          {dir.file("crc.png"), "libpng: IHDR: CRC error"});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: image file '" + dir.file("extraneous.jpg") +
                     "': libjpeg: Corrupt JPEG data: 2 extraneous bytes before marker 0xda"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("warning: image file '" + dir.file("short.jpg") +
                     "': libjpeg: Corrupt JPEG data: premature end of data segment"),
            std::string::npos)
      << err;
  // Every line is detkit's: no "Corrupt JPEG data" / "libpng error" / OpenCV lines of their own.
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);)
    EXPECT_EQ(line.rfind("warning: image file '", 0), 0u) << line;
}

TEST(LoadAnnotations, CopiesTheAnnotationsIntoTheGroundTruth) {
  PipelineSample sample = make_sample(30, 40, {{1, 2, 3, 4}, {5, 6, 7, 8}}, {{0, 0, 1, 1}});
  sample.gt = Instances();
  sample.gt_ignore = Boxes();
  ASSERT_TRUE(make_transform("{type: LoadAnnotations}")->apply(sample));
  expect_boxes(sample.gt.boxes(), {{1, 2, 3, 4}, {5, 6, 7, 8}});
  EXPECT_TRUE(torch::equal(sample.gt.labels(), torch::tensor({0, 1}, torch::kInt64)));
  expect_boxes(sample.gt_ignore, {{0, 0, 1, 1}});

  PipelineSample no_labels = make_sample(30, 40, {{1, 2, 3, 4}, {5, 6, 7, 8}});
  no_labels.ann.set_labels(torch::tensor({3, 4}, torch::kInt64));
  ASSERT_TRUE(make_transform("{type: LoadAnnotations, with_label: false}")->apply(no_labels));
  EXPECT_TRUE(torch::equal(no_labels.gt.labels(), torch::tensor({0, 0}, torch::kInt64)));

  PipelineSample no_boxes = make_sample(30, 40, {{1, 2, 3, 4}});
  ASSERT_TRUE(make_transform("{type: LoadAnnotations, with_bbox: false}")->apply(no_boxes));
  EXPECT_EQ(no_boxes.gt.size(), 0);

  PipelineSample relative = make_sample(30, 40, {{0.25, 0.5, 0.5, 1.0}});
  ASSERT_TRUE(make_transform("{type: LoadAnnotations, denorm_bbox: true}")->apply(relative));
  expect_boxes(relative.gt.boxes(), {{10, 15, 20, 30}});

  expect_error<ConfigError>([] { make_transform("{type: LoadAnnotations, with_mask: true}"); },
                            {"with_mask", "not supported"});
}

TEST(CocoConfig, TheBaseConfigPipelinesRunOnAnImageFile) {
  // configs/_base_/datasets/coco_detection.yaml, as a user's config reaches the pipelines.
  initialize_runtime();
  const ConfigNode config =
      load_config(std::string(DETKIT_SOURCE_DIR) + "/configs/_base_/datasets/coco_detection.yaml");
  const ConfigNode& data = config.at("data");
  const Pipeline train =
      Pipeline::from_config(data.at("train").at("pipeline"), "data.train.pipeline");
  const Pipeline test = Pipeline::from_config(data.at("test").at("pipeline"), "data.test.pipeline");
  ASSERT_EQ(train.transforms().size(), 8u);
  ASSERT_EQ(test.transforms().size(), 2u);

  TempDir dir;
  write_file(dir.file("a.png"), encode(test_image(), ".png"));
  PipelineSample sample = sample_for(dir.file("a.png"));
  sample.ann = Instances(Boxes(box_tensor({{4, 4, 20, 16}})), torch::tensor({2}, torch::kInt64));
  random_engine().seed(1);
  const auto trained = train(sample);
  ASSERT_EQ(trained.size(), 1u);
  // 32x24 -> factor min(1333 / 32, 800 / 24) = 33.33 -> 1067x800, padded to 1088x800.
  EXPECT_EQ(trained[0].img.sizes(), torch::IntArrayRef({3, 800, 1088}));
  EXPECT_EQ(trained[0].gt.size(), 1);
  EXPECT_EQ(trained[0].gt.labels()[0].item<int64_t>(), 2);
  const auto tested = test(sample);
  ASSERT_EQ(tested.size(), 1u);
  EXPECT_EQ(tested[0].img.sizes(), torch::IntArrayRef({3, 800, 1088}));
  EXPECT_EQ(tested[0].gt.size(), 0);  // Collect(keys=[img])
  EXPECT_EQ(tested[0].meta.ori_shape, (std::array<int64_t, 3>{24, 32, 3}));
  EXPECT_FALSE(tested[0].meta.flip);
}

}  // namespace
}  // namespace detkit::testing
