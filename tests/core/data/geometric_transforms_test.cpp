// Resize, RandomFlip and RandomCrop against hand-computed boxes, shapes and pixels.
#include <set>

#include "data_test_utils.h"

namespace detkit::testing {
namespace {

// ---------------------------------------------------------------------------------- Resize

TEST(Resize, KeepRatioFitsInsideTheScaleAndScalesBoxes) {
  auto resize = make_transform("{type: Resize, img_scale: [100, 60], keep_ratio: true}");
  // 40x30 image: factor = min(100 / 40, 60 / 30) = 2 -> 80x60.
  PipelineSample sample = make_sample(30, 40, {{4, 3, 20, 15}, {30, 20, 45, 35}}, {{0, 0, 10, 10}});
  ASSERT_TRUE(resize->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({60, 80, 3}));
  EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{60, 80, 3}));
  EXPECT_EQ(sample.meta.pad_shape, (std::array<int64_t, 3>{60, 80, 3}));
  EXPECT_EQ(sample.meta.ori_shape, (std::array<int64_t, 3>{30, 40, 3}));
  EXPECT_EQ(sample.meta.scale_factor, (std::array<double, 4>{2, 2, 2, 2}));
  EXPECT_TRUE(sample.meta.keep_ratio);
  // The second box leaves the image: clipped to (80, 60).
  expect_boxes(sample.gt.boxes(), {{8, 6, 40, 30}, {60, 40, 80, 60}});
  expect_boxes(sample.gt_ignore, {{0, 0, 20, 20}});
  EXPECT_EQ(sample.gt.labels().size(0), 2);
}

TEST(Resize, ScaleFactorComesFromTheRoundedNewSize) {
  auto resize = make_transform("{type: Resize, img_scale: [50, 50]}");
  // factor = min(50 / 40, 50 / 30) = 1.25 -> w = int(50.5) = 50, h = int(37.5 + 0.5) = 38.
  PipelineSample sample = make_sample(30, 40, {{8, 6, 16, 12}});
  ASSERT_TRUE(resize->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({38, 50, 3}));
  const double h_scale = static_cast<float>(38.0 / 30.0);
  EXPECT_DOUBLE_EQ(sample.meta.scale_factor[0], 1.25);
  EXPECT_DOUBLE_EQ(sample.meta.scale_factor[1], h_scale);
  expect_boxes(sample.gt.boxes(), {{10, 6 * 38.0f / 30, 20, 12 * 38.0f / 30}});
}

TEST(Resize, WithoutKeepRatioResizesToExactlyTheScale) {
  auto resize = make_transform("{type: Resize, img_scale: [80, 45], keep_ratio: false}");
  PipelineSample sample = make_sample(30, 40, {{4, 3, 20, 15}});
  ASSERT_TRUE(resize->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({45, 80, 3}));
  EXPECT_EQ(sample.meta.scale_factor, (std::array<double, 4>{2, 1.5, 2, 1.5}));
  EXPECT_FALSE(sample.meta.keep_ratio);
  expect_boxes(sample.gt.boxes(), {{8, 4.5, 40, 22.5}});
}

TEST(Resize, BoxesAreNotClippedWithoutBboxClipBorder) {
  auto resize = make_transform("{type: Resize, img_scale: [100, 60], bbox_clip_border: false}");
  PipelineSample sample = make_sample(30, 40, {{30, 20, 45, 35}});
  ASSERT_TRUE(resize->apply(sample));
  expect_boxes(sample.gt.boxes(), {{60, 40, 90, 70}});
}

TEST(Resize, BilinearResizeKeepsAConstantImageConstant) {
  auto resize = make_transform("{type: Resize, img_scale: [33, 17], keep_ratio: false}");
  PipelineSample sample = make_sample(30, 40);
  sample.img = torch::full({30, 40, 3}, 77, torch::kUInt8);
  ASSERT_TRUE(resize->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({17, 33, 3}));
  EXPECT_TRUE(sample.img.eq(77).all().item<bool>());
}

TEST(Resize, ValueModePicksOneOfTheScales) {
  auto resize =
      make_transform("{type: Resize, img_scale: [[40, 32], [80, 64]], multiscale_mode: value}");
  std::set<int64_t> widths;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(16, 20);
    ASSERT_TRUE(resize->apply(sample));
    widths.insert(sample.img.size(1));
    // 20x16 scaled by 2 or 4.
    EXPECT_EQ(sample.img.size(0) * 20, sample.img.size(1) * 16);
  }
  EXPECT_EQ(widths, (std::set<int64_t>{40, 80}));
}

TEST(Resize, RangeModeSamplesLongAndShortEdgesBetweenTheBounds) {
  auto resize = make_transform(
      "{type: Resize, img_scale: [[40, 20], [80, 40]], multiscale_mode: range, keep_ratio: false}");
  std::set<int64_t> widths;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(16, 20);
    ASSERT_TRUE(resize->apply(sample));
    const int64_t w = sample.img.size(1), h = sample.img.size(0);
    EXPECT_GE(w, 40);
    EXPECT_LE(w, 80);
    EXPECT_GE(h, 20);
    EXPECT_LE(h, 40);
    widths.insert(w);
  }
  EXPECT_GT(widths.size(), 10u);
}

TEST(Resize, RatioRangeMultipliesTheScale) {
  auto resize = make_transform(
      "{type: Resize, img_scale: [40, 30], ratio_range: [0.5, 1.5], keep_ratio: false}");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(16, 20);
    ASSERT_TRUE(resize->apply(sample));
    const int64_t w = sample.img.size(1), h = sample.img.size(0);
    EXPECT_GE(w, 20);
    EXPECT_LE(w, 60);
    // w = int(40 r), h = int(30 r) for the same r.
    EXPECT_NEAR(static_cast<double>(w) / 40.0, static_cast<double>(h) / 30.0, 1.0 / 30 + 1e-9);
  }
}

TEST(Resize, BadParametersAreConfigErrors) {
  expect_error<ConfigError>([] { make_transform("{type: Resize, img_scale: [100]}"); },
                            {"pipeline.0.img_scale", "[width, height]"});
  expect_error<ConfigError>(
      [] { make_transform("{type: Resize, img_scale: [[1, 2], [3, 4]], ratio_range: [0.5, 2]}"); },
      {"ratio_range needs exactly one img_scale"});
  expect_error<ConfigError>(
      [] { make_transform("{type: Resize, img_scale: [[1, 2], [3, 4], [5, 6]]}"); },
      {"exactly two scales"});
  expect_error<ConfigError>([] { make_transform("{type: Resize, multiscale_mode: rang}"); },
                            {"did you mean 'range'"});
  expect_error<ConfigError>([] { make_transform("{type: Resize, backend: pillow}"); }, {"backend"});
  auto no_scale = make_transform("{type: Resize}");
  PipelineSample sample = make_sample(30, 40);
  expect_error<ConfigError>([&] { no_scale->apply(sample); }, {"no img_scale"});
}

// ------------------------------------------------------------------------------ RandomFlip

struct FlipCase {
  const char* direction;
  std::array<float, 4> box;
};

TEST(RandomFlip, FlipsBoxesAndPixelsInEveryDirection) {
  // 40x30 image, box (4, 3, 20, 15).
  const std::vector<FlipCase> cases = {{"horizontal", {20, 3, 36, 15}},
                                       {"vertical", {4, 15, 20, 27}},
                                       {"diagonal", {20, 15, 36, 27}}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.direction);
    auto flip = make_transform(std::string("{type: RandomFlip, flip_ratio: 1.0, direction: ") +
                               c.direction + "}");
    PipelineSample sample = make_sample(30, 40, {{4, 3, 20, 15}}, {{0, 0, 40, 30}});
    const torch::Tensor before = sample.img;
    ASSERT_TRUE(flip->apply(sample));
    expect_boxes(sample.gt.boxes(), {c.box});
    expect_boxes(sample.gt_ignore, {{0, 0, 40, 30}});
    EXPECT_TRUE(sample.meta.flip);
    EXPECT_EQ(sample.meta.flip_direction, c.direction);
    const std::string direction = c.direction;
    torch::Tensor expected = before;
    if (direction != "vertical") expected = expected.flip({1});
    if (direction != "horizontal") expected = expected.flip({0});
    EXPECT_TRUE(torch::equal(sample.img, expected));
    // The input image was not modified (samples may share it).
    EXPECT_TRUE(torch::equal(before, coordinate_image(30, 40)));
  }
}

TEST(RandomFlip, RatioZeroNeverFlipsAndHalfFlipsSometimes) {
  auto never = make_transform("{type: RandomFlip, flip_ratio: 0.0}");
  auto half = make_transform("{type: RandomFlip, flip_ratio: 0.5}");
  int flipped = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    random_engine().seed(seed);
    PipelineSample a = make_sample(8, 8, {{1, 1, 3, 3}});
    ASSERT_TRUE(never->apply(a));
    EXPECT_FALSE(a.meta.flip);
    expect_boxes(a.gt.boxes(), {{1, 1, 3, 3}});
    PipelineSample b = make_sample(8, 8, {{1, 1, 3, 3}});
    ASSERT_TRUE(half->apply(b));
    flipped += b.meta.flip ? 1 : 0;
    EXPECT_EQ(b.meta.flip_direction, b.meta.flip ? "horizontal" : "");
  }
  EXPECT_GT(flipped, 25);
  EXPECT_LT(flipped, 75);
}

TEST(RandomFlip, PerDirectionRatiosChooseAmongDirections) {
  auto flip =
      make_transform("{type: RandomFlip, flip_ratio: [0.5, 0.5], direction: [vertical, diagonal]}");
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(8, 8);
    ASSERT_TRUE(flip->apply(sample));
    EXPECT_TRUE(sample.meta.flip);  // probabilities sum to 1
    seen.insert(sample.meta.flip_direction);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"vertical", "diagonal"}));
}

TEST(RandomFlip, BadParametersAreConfigErrors) {
  expect_error<ConfigError>([] { make_transform("{type: RandomFlip, flip_ratio: 1.5}"); },
                            {"[0, 1]"});
  expect_error<ConfigError>(
      [] {
        make_transform(
            "{type: RandomFlip, flip_ratio: [0.7, 0.6], direction: [vertical, diagonal]}");
      },
      {"sum to"});
  expect_error<ConfigError>(
      [] {
        make_transform("{type: RandomFlip, flip_ratio: [0.5], direction: [vertical, diagonal]}");
      },
      {"one value per direction"});
  expect_error<ConfigError>([] { make_transform("{type: RandomFlip, direction: sideways}"); },
                            {"sideways", "horizontal|vertical|diagonal"});
}

// ------------------------------------------------------------------------------ RandomCrop

TEST(RandomCrop, ShiftsAndClipsBoxesAndDropsEmptyOnes) {
  auto crop = make_transform("{type: RandomCrop, crop_size: [20, 30]}");  // (h, w)
  for (uint64_t seed = 0; seed < 30; ++seed) {
    SCOPED_TRACE(seed);
    random_engine().seed(seed);
    // 40x30 image; the second box is near the bottom-right corner.
    PipelineSample sample = make_sample(30, 40, {{5, 5, 25, 25}, {36, 27, 40, 30}}, {{0, 0, 4, 4}});
    if (!crop->apply(sample)) continue;
    ASSERT_EQ(sample.img.sizes(), torch::IntArrayRef({20, 30, 3}));
    EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{20, 30, 3}));
    // The coordinate image tells where the crop started.
    const float ox = sample.img[0][0][0].item<uint8_t>(), oy = sample.img[0][0][1].item<uint8_t>();
    EXPECT_LE(ox, 10);
    EXPECT_LE(oy, 10);
    std::vector<std::array<float, 4>> expected;
    std::vector<int64_t> labels;
    const std::array<std::array<float, 4>, 2> boxes = {{{5, 5, 25, 25}, {36, 27, 40, 30}}};
    for (int i = 0; i < 2; ++i) {
      std::array<float, 4> b = {
          std::clamp(boxes[i][0] - ox, 0.f, 30.f), std::clamp(boxes[i][1] - oy, 0.f, 20.f),
          std::clamp(boxes[i][2] - ox, 0.f, 30.f), std::clamp(boxes[i][3] - oy, 0.f, 20.f)};
      if (b[2] > b[0] && b[3] > b[1]) {
        expected.push_back(b);
        labels.push_back(i);
      }
    }
    expect_boxes(sample.gt.boxes(), expected);
    EXPECT_EQ(sample.gt.labels().size(0), static_cast<int64_t>(labels.size()));
    for (size_t i = 0; i < labels.size(); ++i)
      EXPECT_EQ(sample.gt.labels()[i].item<int64_t>(), labels[i]);
    // The pixels are those of the window.
    EXPECT_TRUE(torch::equal(sample.img,
                             coordinate_image(30, 40).slice(0, oy, oy + 20).slice(1, ox, ox + 30)));
  }
}

TEST(RandomCrop, HandComputedCrop) {
  // crop [10, 40] of a 40x30 image: offset_w = 0, offset_h in [0, 20].
  auto crop = make_transform("{type: RandomCrop, crop_size: [10, 40], allow_negative_crop: true}");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40, {{2, 4, 12, 14}});
    ASSERT_TRUE(crop->apply(sample));
    const int oy = sample.img[0][0][1].item<uint8_t>();
    if (oy == 0) expect_boxes(sample.gt.boxes(), {{2, 4, 12, 10}});
    if (oy == 4) expect_boxes(sample.gt.boxes(), {{2, 0, 12, 10}});
    if (oy == 10) expect_boxes(sample.gt.boxes(), {{2, 0, 12, 4}});
    if (oy >= 14) expect_boxes(sample.gt.boxes(), {});
  }
}

TEST(RandomCrop, ACropWithoutBoxesDropsTheSampleUnlessAllowed) {
  auto allow = make_transform("{type: RandomCrop, crop_size: [10, 10], allow_negative_crop: true}");
  auto strict = make_transform("{type: RandomCrop, crop_size: [10, 10]}");
  int dropped = 0, kept = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    // Same seed, same offsets: the permissive crop shows what the strict one saw.
    random_engine().seed(seed);
    PipelineSample seen = make_sample(30, 40, {{0, 0, 12, 12}});
    ASSERT_TRUE(allow->apply(seen));
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40, {{0, 0, 12, 12}});
    const bool result = strict->apply(sample);
    EXPECT_EQ(result, seen.gt.size() == 1);
    (result ? kept : dropped)++;
  }
  EXPECT_GT(dropped, 0);
  EXPECT_GT(kept, 0);
  // No ground truth at all: dropped too (MMDetection's valid_inds.any() is False).
  PipelineSample empty = make_sample(30, 40);
  EXPECT_FALSE(strict->apply(empty));
}

TEST(RandomCrop, RelativeCropSizesAndNoClipping) {
  auto crop = make_transform(
      "{type: RandomCrop, crop_size: [0.5, 0.25], crop_type: relative, bbox_clip_border: false, "
      "allow_negative_crop: true}");
  random_engine().seed(3);
  PipelineSample sample = make_sample(30, 40, {{0, 0, 40, 30}});
  ASSERT_TRUE(crop->apply(sample));
  EXPECT_EQ(sample.img.sizes(), torch::IntArrayRef({15, 10, 3}));  // int(30*.5+.5), int(40*.25+.5)
  const float ox = sample.img[0][0][0].item<uint8_t>(), oy = sample.img[0][0][1].item<uint8_t>();
  expect_boxes(sample.gt.boxes(), {{-ox, -oy, 40 - ox, 30 - oy}});

  auto ranged = make_transform(
      "{type: RandomCrop, crop_size: [0.5, 0.5], crop_type: relative_range, "
      "allow_negative_crop: true}");
  auto absolute_range = make_transform(
      "{type: RandomCrop, crop_size: [5, 12], crop_type: absolute_range, "
      "allow_negative_crop: true}");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    random_engine().seed(seed);
    PipelineSample a = make_sample(30, 40);
    ASSERT_TRUE(ranged->apply(a));
    EXPECT_GE(a.img.size(0), 15);
    EXPECT_LE(a.img.size(0), 30);
    EXPECT_GE(a.img.size(1), 20);
    EXPECT_LE(a.img.size(1), 40);
    PipelineSample b = make_sample(30, 40);
    ASSERT_TRUE(absolute_range->apply(b));
    EXPECT_GE(b.img.size(0), 5);
    EXPECT_LE(b.img.size(0), 12);
    EXPECT_GE(b.img.size(1), 5);
    EXPECT_LE(b.img.size(1), 12);
  }
}

TEST(RandomCrop, BadParametersAreConfigErrors) {
  expect_error<ConfigError>([] { make_transform("{type: RandomCrop, crop_size: [0.5, 10]}"); },
                            {"two positive integers"});
  expect_error<ConfigError>(
      [] { make_transform("{type: RandomCrop, crop_size: [2, 10], crop_type: relative}"); },
      {"ratios in (0, 1]"});
  expect_error<ConfigError>([] { make_transform("{type: RandomCrop}"); },
                            {"requires parameter 'crop_size'"});
  expect_error<ConfigError>(
      [] { make_transform("{type: RandomCrop, crop_size: [2, 2], recompute_bbox: true}"); },
      {"masks"});
}

}  // namespace
}  // namespace detkit::testing
