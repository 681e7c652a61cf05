// Normalize, Pad, PhotoMetricDistortion, DefaultFormatBundle, ImageToTensor, Collect,
// MultiScaleFlipAug and Pipeline: pixel values, shapes, meta and errors.
#include "data_test_utils.h"
#include "detkit/core/text.h"

namespace detkit::testing {
namespace {

PipelineSample bgr_sample(int64_t height, int64_t width, uint8_t b, uint8_t g, uint8_t r) {
  PipelineSample sample = make_sample(height, width, {{1, 1, 3, 3}});
  sample.img = torch::tensor({b, g, r}, torch::kUInt8)
                   .view({1, 1, 3})
                   .expand({height, width, 3})
                   .contiguous();
  return sample;
}

// ------------------------------------------------------------------------------- Normalize

TEST(Normalize, SwapsToRgbThenNormalisesPerChannel) {
  auto normalize =
      make_transform("{type: Normalize, mean: [1, 2, 3], std: [2, 4, 5], to_rgb: true}");
  PipelineSample sample = bgr_sample(4, 6, 10, 20, 30);
  ASSERT_TRUE(normalize->apply(sample));
  ASSERT_EQ(sample.img.scalar_type(), torch::kFloat32);
  ASSERT_EQ(sample.img.sizes(), torch::IntArrayRef({4, 6, 3}));
  // RGB = (30, 20, 10): ((30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 5).
  EXPECT_TRUE(torch::allclose(sample.img[2][3], torch::tensor({14.5f, 4.5f, 1.4f})));
  EXPECT_EQ(sample.meta.norm_mean, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(sample.meta.norm_std, (std::vector<double>{2, 4, 5}));
  EXPECT_TRUE(sample.meta.to_rgb);

  auto keep_bgr =
      make_transform("{type: Normalize, mean: [1, 2, 3], std: [2, 4, 5], to_rgb: false}");
  PipelineSample other = bgr_sample(4, 6, 10, 20, 30);
  ASSERT_TRUE(keep_bgr->apply(other));
  EXPECT_TRUE(torch::allclose(other.img[0][0], torch::tensor({4.5f, 4.5f, 5.4f})));
  EXPECT_FALSE(other.meta.to_rgb);
}

TEST(Normalize, MatchesTheFormulaOnEveryPixelOfFloatAndByteImages) {
  auto normalize = make_transform(
      "{type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}");
  PipelineSample sample = make_sample(9, 11);
  const torch::Tensor rgb = sample.img.flip({2}).to(torch::kFloat32);
  const torch::Tensor expected = (rgb - torch::tensor({123.675f, 116.28f, 103.53f})) /
                                 torch::tensor({58.395f, 57.12f, 57.375f});
  ASSERT_TRUE(normalize->apply(sample));
  EXPECT_TRUE(torch::allclose(sample.img, expected, 1e-5, 1e-5));
  PipelineSample float_sample = make_sample(9, 11);
  float_sample.img = float_sample.img.to(torch::kFloat32);
  ASSERT_TRUE(normalize->apply(float_sample));
  EXPECT_TRUE(torch::allclose(float_sample.img, expected, 1e-5, 1e-5));
}

TEST(Normalize, ChannelMismatchesAreErrors) {
  expect_error<ConfigError>(
      [] { make_transform("{type: Normalize, mean: [1, 2, 3], std: [1, 2]}"); },
      {"std has 2 values"});
  expect_error<ConfigError>([] { make_transform("{type: Normalize, mean: [1, 2, 3]}"); },
                            {"requires parameter 'std'"});
  auto gray = make_transform("{type: Normalize, mean: [1], std: [2], to_rgb: false}");
  PipelineSample sample = make_sample(4, 4);
  expect_error<DataError>([&] { gray->apply(sample); }, {"3 channels but mean/std have 1"});
}

// ------------------------------------------------------------------------------------- Pad

TEST(Pad, SizeDivisorPadsBottomRightWithPadVal) {
  auto pad = make_transform("{type: Pad, size_divisor: 32, pad_val: 7}");
  PipelineSample sample = make_sample(30, 40, {{1, 2, 3, 4}});
  ASSERT_TRUE(pad->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({32, 64, 3}));
  EXPECT_EQ(sample.meta.pad_shape, (std::array<int64_t, 3>{32, 64, 3}));
  EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{30, 40, 3}));
  EXPECT_TRUE(torch::equal(sample.img.slice(0, 0, 30).slice(1, 0, 40), coordinate_image(30, 40)));
  EXPECT_TRUE(sample.img.slice(0, 30).eq(7).all().item<bool>());
  EXPECT_TRUE(sample.img.slice(1, 40).eq(7).all().item<bool>());
  expect_boxes(sample.gt.boxes(), {{1, 2, 3, 4}});
}

TEST(Pad, FixedSizePerChannelValuesAndDefaults) {
  auto pad = make_transform("{type: Pad, size: [50, 45], pad_val: {img: [1, 2, 3], seg: 255}}");
  PipelineSample sample = make_sample(30, 40);
  ASSERT_TRUE(pad->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({50, 45, 3}));
  EXPECT_TRUE(torch::equal(sample.img[49][44], torch::tensor({1, 2, 3}, torch::kUInt8)));
  // Default pad_val {img: 0}; an image already aligned is left as it is.
  auto aligned = make_transform("{type: Pad, size_divisor: 8}");
  PipelineSample same = make_sample(16, 24);
  const torch::Tensor before = same.img;
  ASSERT_TRUE(aligned->apply(same));
  EXPECT_TRUE(torch::equal(same.img, before));
  auto zero = make_transform("{type: Pad, size_divisor: 16}");
  PipelineSample float_sample = make_sample(10, 10);
  float_sample.img = float_sample.img.to(torch::kFloat32) + 0.5;
  ASSERT_TRUE(zero->apply(float_sample));
  EXPECT_EQ(float_sample.img.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(float_sample.img.slice(0, 10).eq(0).all().item<bool>());
}

TEST(Pad, SizeAndSizeDivisorAreExclusive) {
  expect_error<ConfigError>([] { make_transform("{type: Pad}"); }, {"exactly one of size"});
  expect_error<ConfigError>([] { make_transform("{type: Pad, size: [4, 4], size_divisor: 32}"); },
                            {"exactly one of size"});
  expect_error<ConfigError>(
      [] { make_transform("{type: Pad, size_divisor: 32, pad_val: {im: 0}}"); },
      {"unknown pad_val key 'im'"});
}

// ------------------------------------------------------------------- PhotoMetricDistortion

TEST(PhotoMetricDistortion, KeepsShapeGivesFloatAndIsReproducibleWithASeed) {
  auto distort = make_transform("{type: PhotoMetricDistortion}");
  auto run = [&](uint64_t seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(12, 16, {{1, 1, 5, 5}});
    EXPECT_TRUE(distort->apply(sample));
    EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({12, 16, 3}));
    EXPECT_EQ(sample.img.scalar_type(), torch::kFloat32);
    expect_boxes(sample.gt.boxes(), {{1, 1, 5, 5}});
    return sample.img;
  };
  const torch::Tensor input = coordinate_image(12, 16).to(torch::kFloat32);
  int changed = 0;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const torch::Tensor a = run(seed);
    EXPECT_TRUE(torch::equal(a, run(seed))) << "seed " << seed;
    if (!torch::allclose(a, input, 1e-3, 1e-2)) ++changed;
  }
  EXPECT_GE(changed, 6);  // each step has probability 1/2; 8 seeds all unchanged is ~0
  EXPECT_FALSE(torch::equal(run(1), run(2)));
}

TEST(PhotoMetricDistortion, NeutralRangesLeaveTheImageUnchanged) {
  auto identity = make_transform(
      "{type: PhotoMetricDistortion, brightness_delta: 0, contrast_range: [1, 1], "
      "saturation_range: [1, 1], hue_delta: 0}");
  PipelineSample sample = bgr_sample(4, 4, 200, 100, 50);  // distinct channels: a swap would show
  for (uint64_t seed = 0; seed < 10; ++seed) {
    random_engine().seed(seed);
    PipelineSample copy = sample;
    ASSERT_TRUE(identity->apply(copy));
    // Either unchanged (to HSV rounding) or a pure channel permutation.
    const torch::Tensor pixel = std::get<0>(copy.img[0][0].sort());
    EXPECT_TRUE(torch::allclose(pixel, torch::tensor({50.f, 100.f, 200.f}), 1e-3, 1e-2))
        << copy.img[0][0];
  }
  PipelineSample gray = make_sample(4, 4);
  gray.img = gray.img.slice(2, 0, 1).contiguous();
  expect_error<DataError>([&] { identity->apply(gray); }, {"3-channel"});
}

// --------------------------------------------------------------- formatting and Collect

TEST(DefaultFormatBundle, MakesAFloatChwImageAndFillsDefaultMeta) {
  auto bundle = make_transform("{type: DefaultFormatBundle}");
  PipelineSample sample = make_sample(5, 7);
  sample.meta.pad_shape = {0, 0, 3};
  ASSERT_TRUE(bundle->apply(sample));
  EXPECT_TRUE(sample.img_is_chw);
  EXPECT_EQ(sample.img.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(
      torch::equal(sample.img, coordinate_image(5, 7).permute({2, 0, 1}).to(torch::kFloat32)));
  EXPECT_EQ(sample.meta.pad_shape, (std::array<int64_t, 3>{5, 7, 3}));
  EXPECT_EQ(sample.meta.norm_mean, (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(sample.meta.norm_std, (std::vector<double>{1, 1, 1}));
  // A second bundle is an error (the image is CHW already).
  expect_error<DataError>([&] { bundle->apply(sample); }, {"already (C, H, W)"});
  expect_error<ConfigError>(
      [] { make_transform("{type: DefaultFormatBundle, pad_val: {img: 3}}"); },
      {"pad_val.img must be 0"});
}

TEST(ImageToTensor, KeepsTheDtype) {
  auto to_tensor = make_transform("{type: ImageToTensor, keys: [img]}");
  PipelineSample sample = make_sample(5, 7);
  ASSERT_TRUE(to_tensor->apply(sample));
  EXPECT_EQ(sample.img.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(sample.img, coordinate_image(5, 7).permute({2, 0, 1})));
  expect_error<ConfigError>([] { make_transform("{type: ImageToTensor, keys: [image]}"); },
                            {"'image' is not allowed"});
}

TEST(Collect, ValidatesKeyNames) {
  expect_error<ConfigError>([] { make_transform("{type: Collect, keys: [img, gt_boxes]}"); },
                            {"unknown key 'gt_boxes'", "did you mean 'gt_bboxes'"});
  expect_error<ConfigError>([] { make_transform("{type: Collect, keys: [img, gt_masks]}"); },
                            {"'gt_masks' is not supported"});
  expect_error<ConfigError>(
      [] { make_transform("{type: Collect, keys: [img], meta_keys: [filename, flipp]}"); },
      {"unknown key 'flipp'", "did you mean 'flip'"});
  expect_error<ConfigError>([] { make_transform("{type: Collect}"); },
                            {"requires parameter 'keys'"});
  expect_error<ConfigError>([] { make_transform("{type: Collect, keys: []}"); },
                            {"at least one key"});
}

TEST(Collect, ClearsWhatIsNotCollected) {
  auto collect_all = make_transform("{type: Collect, keys: [img, gt_bboxes, gt_labels]}");
  PipelineSample sample = make_sample(5, 7, {{1, 1, 2, 2}}, {{0, 0, 1, 1}});
  sample.meta.flip = true;
  sample.meta.flip_direction = "horizontal";
  sample.meta.image_id = 42;
  ASSERT_TRUE(collect_all->apply(sample));
  EXPECT_TRUE(sample.img.defined());
  EXPECT_EQ(sample.gt.size(), 1);
  EXPECT_EQ(sample.gt_ignore.size(), 0);  // gt_bboxes_ignore not collected
  EXPECT_EQ(sample.ann.size(), 0);
  EXPECT_TRUE(sample.meta.flip);  // in the default meta_keys
  EXPECT_EQ(sample.meta.filename, "/data/sample.png");

  auto image_only = make_transform("{type: Collect, keys: [img], meta_keys: [img_shape]}");
  ASSERT_TRUE(image_only->apply(sample));
  EXPECT_EQ(sample.gt.size(), 0);
  EXPECT_FALSE(sample.meta.flip);
  EXPECT_EQ(sample.meta.flip_direction, "");
  EXPECT_EQ(sample.meta.filename, "");
  EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{5, 7, 3}));
  EXPECT_EQ(sample.meta.image_id, 42);  // bookkeeping is kept

  auto no_image = make_transform("{type: Collect, keys: [gt_bboxes, gt_bboxes_ignore]}");
  PipelineSample other = make_sample(5, 7, {{1, 1, 2, 2}}, {{0, 0, 1, 1}});
  ASSERT_TRUE(no_image->apply(other));
  EXPECT_FALSE(other.img.defined());
  EXPECT_EQ(other.gt_ignore.size(), 1);
}

// ------------------------------------------------------------------------ MultiScaleFlipAug

TEST(MultiScaleFlipAug, MakesOneVersionPerScaleAndFlip) {
  auto aug = make_transform(
      "{type: MultiScaleFlipAug, img_scale: [[40, 30], [80, 60]], flip: true, "
      "flip_direction: [horizontal, vertical], transforms: [{type: Resize, keep_ratio: true}, "
      "{type: RandomFlip}, {type: ImageToTensor, keys: [img]}]}");
  // 20x15 image with a box; scale factors 2 and 4.
  PipelineSample sample = make_sample(15, 20, {{2, 3, 6, 9}});
  const std::vector<PipelineSample> versions = aug->apply_multi(sample);
  ASSERT_EQ(versions.size(), 6u);
  const std::vector<std::string> directions = {"", "horizontal", "vertical"};
  for (size_t i = 0; i < versions.size(); ++i) {
    SCOPED_TRACE(i);
    const PipelineSample& v = versions[i];
    const float f = i < 3 ? 2.f : 4.f;
    const float w = 20 * f, h = 15 * f;
    EXPECT_EQ(v.img.sizes(),
              torch::IntArrayRef({3, static_cast<int64_t>(h), static_cast<int64_t>(w)}));
    EXPECT_TRUE(v.img_is_chw);
    EXPECT_EQ(v.meta.flip, i % 3 != 0);
    EXPECT_EQ(v.meta.flip_direction, directions[i % 3]);
    EXPECT_EQ(v.meta.scale_factor[0], f);
    const std::array<float, 4> scaled = {2 * f, 3 * f, 6 * f, 9 * f};
    if (i % 3 == 0) expect_boxes(v.gt.boxes(), {scaled});
    if (i % 3 == 1)
      expect_boxes(v.gt.boxes(), {{w - scaled[2], scaled[1], w - scaled[0], scaled[3]}});
    if (i % 3 == 2)
      expect_boxes(v.gt.boxes(), {{scaled[0], h - scaled[3], scaled[2], h - scaled[1]}});
  }
  // The input sample is untouched.
  EXPECT_TRUE(torch::equal(sample.img, coordinate_image(15, 20)));
  expect_boxes(sample.gt.boxes(), {{2, 3, 6, 9}});
}

TEST(MultiScaleFlipAug, ScaleFactorsAndTheCocoTestPipeline) {
  Pipeline pipeline = make_pipeline(R"([
    {type: MultiScaleFlipAug, scale_factor: [0.5, 1.0], flip: false, transforms: [
      {type: Resize, keep_ratio: true}, {type: RandomFlip},
      {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_rgb: true},
      {type: Pad, size_divisor: 32}, {type: ImageToTensor, keys: [img]}, {type: Collect, keys: [img]}]}])");
  const std::vector<PipelineSample> versions = pipeline(make_sample(30, 40, {{1, 1, 4, 4}}));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].meta.img_shape, (std::array<int64_t, 3>{15, 20, 3}));
  EXPECT_EQ(versions[0].img.sizes(), torch::IntArrayRef({3, 32, 32}));
  EXPECT_EQ(versions[1].meta.img_shape, (std::array<int64_t, 3>{30, 40, 3}));
  EXPECT_EQ(versions[1].img.sizes(), torch::IntArrayRef({3, 32, 64}));
  EXPECT_FALSE(versions[0].meta.flip);
  EXPECT_EQ(versions[0].gt.size(), 0);  // Collect kept only the image
}

TEST(MultiScaleFlipAug, ConfigErrors) {
  expect_error<ConfigError>(
      [] { make_transform("{type: MultiScaleFlipAug, transforms: [{type: Resize}]}"); },
      {"exactly one of img_scale and scale_factor"});
  expect_error<ConfigError>(
      [] {
        make_transform(
            "{type: MultiScaleFlipAug, img_scale: [4, 4], scale_factor: 1.0, "
            "transforms: [{type: Resize}]}");
      },
      {"exactly one of img_scale and scale_factor"});
  expect_error<ConfigError>(
      [] {
        make_transform(
            "{type: MultiScaleFlipAug, img_scale: [4, 4], flip: true, "
            "transforms: [{type: Resize}]}");
      },
      {"without a RandomFlip"});
  expect_error<ConfigError>(
      [] {
        make_transform(
            "{type: MultiScaleFlipAug, img_scale: [4, 4], "
            "transforms: [{type: Rezise}]}");
      },
      {"pipeline.0.transforms.0", "did you mean 'Resize'"});
  expect_error<ConfigError>([] { make_transform("{type: MultiScaleFlipAug, img_scale: [4, 4]}"); },
                            {"requires parameter 'transforms'"});
}

// -------------------------------------------------------------------------------- Pipeline

TEST(Pipeline, RunsTheCocoTrainingPipelineOnALoadedSample) {
  Pipeline pipeline = make_pipeline(R"([
    {type: LoadAnnotations, with_bbox: true},
    {type: Resize, img_scale: [1333, 800], keep_ratio: true},
    {type: RandomFlip, flip_ratio: 0.5},
    {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_rgb: true},
    {type: Pad, size_divisor: 32},
    {type: DefaultFormatBundle},
    {type: Collect, keys: [img, gt_bboxes, gt_labels]}])");
  ASSERT_EQ(pipeline.transforms().size(), 7u);
  PipelineSample sample = make_sample(48, 64, {{8, 8, 16, 24}});
  sample.gt = Instances();  // LoadAnnotations fills it from ann
  random_engine().seed(0);
  const std::vector<PipelineSample> out = pipeline(sample);
  ASSERT_EQ(out.size(), 1u);
  // 64x48 -> factor min(1333 / 64, 800 / 48) = 16.666 -> 1067x800, padded to 1088x800.
  EXPECT_EQ(out[0].meta.img_shape, (std::array<int64_t, 3>{800, 1067, 3}));
  EXPECT_EQ(out[0].img.sizes(), torch::IntArrayRef({3, 800, 1088}));
  EXPECT_EQ(out[0].gt.size(), 1);
  const double s = 1067.0 / 64.0;
  const torch::Tensor box = out[0].gt.boxes().tensor()[0];
  const double x1 = out[0].meta.flip ? 1067 - 16 * s : 8 * s;
  EXPECT_NEAR(box[0].item<float>(), x1, 1e-2);
  EXPECT_NEAR(box[1].item<float>(), 8 * 800.0 / 48.0, 1e-2);
}

TEST(Pipeline, DropsAndErrorsNameTheStep) {
  Pipeline crop =
      make_pipeline("[{type: RandomCrop, crop_size: [2, 2]}, {type: Pad, size_divisor: 4}]");
  EXPECT_TRUE(crop(make_sample(30, 40)).empty());  // no box in any crop: dropped

  Pipeline bad = make_pipeline(
      "[{type: Pad, size_divisor: 4}, {type: Normalize, mean: [1], std: [1], to_rgb: false}]");
  expect_error<DataError>([&] { bad(make_sample(4, 4)); },
                          {"Normalize (pipeline step 2)", "'/data/sample.png'", "3 channels"});
  expect_error<ConfigError>([] { make_pipeline("{type: Resize}"); }, {"a pipeline is a list"});
  expect_error<ConfigError>(
      [] { make_pipeline("[{type: Resize, img_scale: [1, 1]}, {type: Reszie}]"); },
      {"pipeline.1", "did you mean 'Resize'"});
  expect_error<ConfigError>([] { make_pipeline("[{type: Pad, size_divisor: 4, size_divisr: 3}]"); },
                            {"unknown parameter 'size_divisr'"});
}

TEST(Pipeline, ReprPrintsParameters) {
  EXPECT_EQ(make_transform("{type: Resize, img_scale: [1333, 800]}")->repr(),
            "Resize(img_scale=[[1333, 800]], multiscale_mode=range, ratio_range=None, "
            "keep_ratio=True, bbox_clip_border=True)");
  EXPECT_EQ(make_transform("{type: RandomFlip, flip_ratio: 0.5}")->repr(),
            "RandomFlip(flip_ratio=0.5, direction=['horizontal'])");
  EXPECT_EQ(make_transform("{type: Pad, size_divisor: 32}")->repr(),
            "Pad(size=None, size_divisor=32, pad_to_square=False, pad_val={'img': 0})");
  EXPECT_EQ(make_transform("{type: Normalize, mean: [123.675, 116.28, 103.53], "
                           "std: [58.395, 57.12, 57.375]}")
                ->repr(),
            "Normalize(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)");
}

TEST(Registry, EveryTransformIsABuiltIn) {
  initialize_runtime();
  for (const char* type :
       {"LoadImageFromFile", "LoadAnnotations", "Resize", "RandomFlip", "Normalize", "Pad",
        "PhotoMetricDistortion", "RandomCrop", "Expand", "MinIoURandomCrop", "MultiScaleFlipAug",
        "DefaultFormatBundle", "ImageToTensor", "Collect"}) {
    const ComponentInfo* info = Registry::of(Kind::transform).find(type);
    ASSERT_NE(info, nullptr) << type;
    EXPECT_EQ(info->origin, "libdetkit");
    for (const auto& param : info->schema.params())
      EXPECT_FALSE(param.doc.empty()) << type << "." << param.name;
  }
}

}  // namespace
}  // namespace detkit::testing
