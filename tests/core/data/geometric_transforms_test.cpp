// Resize, RandomFlip, RandomCrop, Expand and MinIoURandomCrop against hand-computed boxes, shapes
// and pixels.
#include <set>

#include "data_test_utils.h"
#include "detkit/core/samplers.h"
#include "detkit/ops/box_iou.h"

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

// ---------------------------------------------------------------------------------- Expand
// Expected values follow MMDetection 2.25's Expand.__call__ (mmdet/datasets/pipelines/
// transforms.py): canvas (int(h * r), int(w * r)) filled with the (reversed when to_rgb) mean,
// the image at (left, top), every box moved by (left, top).

TEST(Expand, PlacesTheImageOnAMeanCanvasAndShiftsBoxes) {
  auto expand = make_transform(
      "{type: Expand, mean: [10.7, 20, 30], to_rgb: true, ratio_range: [2, 3], prob: 1.0}");
  std::set<int64_t> lefts;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SCOPED_TRACE(seed);
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40, {{4, 3, 20, 15}, {30, 20, 40, 30}}, {{0, 0, 8, 8}});
    ASSERT_TRUE(expand->apply(sample));
    const int64_t canvas_h = sample.img.size(0), canvas_w = sample.img.size(1);
    EXPECT_GE(canvas_h, 60);
    EXPECT_LE(canvas_h, 90);
    EXPECT_GE(canvas_w, 80);
    EXPECT_LE(canvas_w, 120);
    // Both sides come from one ratio: h = int(30 r), w = int(40 r).
    EXPECT_NEAR(canvas_h / 30.0, canvas_w / 40.0, 1.0 / 30);
    EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{canvas_h, canvas_w, 3}));
    EXPECT_EQ(sample.meta.pad_shape, sample.meta.img_shape);
    EXPECT_EQ(sample.meta.ori_shape, (std::array<int64_t, 3>{30, 40, 3}));
    // The offset, read from the first box, is the same for every box, ignored ones included.
    const float left = sample.gt.boxes().tensor()[0][0].item<float>() - 4;
    const float top = sample.gt.boxes().tensor()[0][1].item<float>() - 3;
    EXPECT_EQ(left, std::floor(left));
    EXPECT_GE(left, 0);
    EXPECT_GE(top, 0);
    EXPECT_LE(left + 40, canvas_w);
    EXPECT_LE(top + 30, canvas_h);
    lefts.insert(static_cast<int64_t>(left));
    expect_boxes(sample.gt.boxes(), {{4 + left, 3 + top, 20 + left, 15 + top},
                                     {30 + left, 20 + top, 40 + left, 30 + top}});
    expect_boxes(sample.gt_ignore, {{left, top, 8 + left, 8 + top}});
    EXPECT_TRUE(torch::equal(sample.gt.labels(), torch::tensor({0, 1}, torch::kInt64)));
    // BGR canvas: the RGB mean reversed, 10.7 truncated to 10 in a uint8 image.
    torch::Tensor expected = torch::empty({canvas_h, canvas_w, 3}, torch::kUInt8);
    expected.select(2, 0).fill_(30);
    expected.select(2, 1).fill_(20);
    expected.select(2, 2).fill_(10);
    const auto l = static_cast<int64_t>(left), t = static_cast<int64_t>(top);
    expected.slice(0, t, t + 30).slice(1, l, l + 40).copy_(coordinate_image(30, 40));
    EXPECT_TRUE(torch::equal(sample.img, expected));
  }
  EXPECT_GT(lefts.size(), 5u);  // the position is random
}

TEST(Expand, FloatImagesGetTheExactMeanAndRatioOneKeepsTheImage) {
  auto expand = make_transform(
      "{type: Expand, mean: [123.675, 116.28, 103.53], to_rgb: false, ratio_range: [1.5, 1.5], "
      "prob: 1}");
  random_engine().seed(1);
  PipelineSample sample = make_sample(10, 20);
  sample.img = sample.img.to(torch::kFloat32);
  ASSERT_TRUE(expand->apply(sample));
  ASSERT_EQ(sample.img.sizes(), torch::IntArrayRef({15, 30, 3}));
  EXPECT_EQ(sample.img.scalar_type(), torch::kFloat32);
  // A corner pixel is canvas: the left and top offsets are at most 10 and 5.
  const torch::Tensor corner = sample.img[14][29];
  EXPECT_TRUE(torch::equal(corner, torch::tensor({123.675f, 116.28f, 103.53f})));

  // ratio 1: the canvas is the image, the offset (int(U(0, 0)), int(U(0, 0))) = (0, 0).
  auto same = make_transform("{type: Expand, ratio_range: [1, 1], prob: 1}");
  PipelineSample kept = make_sample(10, 20, {{1, 2, 3, 4}});
  ASSERT_TRUE(same->apply(kept));
  EXPECT_TRUE(torch::equal(kept.img, coordinate_image(10, 20)));
  expect_boxes(kept.gt.boxes(), {{1, 2, 3, 4}});
}

TEST(Expand, ProbDecidesHowOftenTheImageIsExpanded) {
  auto never = make_transform("{type: Expand, ratio_range: [2, 2], prob: 0}");
  auto half = make_transform("{type: Expand, ratio_range: [2, 2]}");  // prob 0.5
  int expanded = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    random_engine().seed(seed);
    PipelineSample a = make_sample(8, 6, {{1, 1, 3, 3}});
    const torch::Tensor before = a.img;
    ASSERT_TRUE(never->apply(a));
    EXPECT_TRUE(a.img.is_same(before));
    expect_boxes(a.gt.boxes(), {{1, 1, 3, 3}});
    PipelineSample b = make_sample(8, 6);
    ASSERT_TRUE(half->apply(b));
    expanded += b.img.size(0) == 16 ? 1 : 0;
  }
  EXPECT_GT(expanded, 25);
  EXPECT_LT(expanded, 75);
}

TEST(Expand, BadParametersAndImagesAreClearErrors) {
  expect_error<ConfigError>([] { make_transform("{type: Expand, ratio_range: [0.5, 2]}"); },
                            {"pipeline.0.ratio_range", "out of range"});
  expect_error<ConfigError>([] { make_transform("{type: Expand, ratio_range: [3, 2]}"); },
                            {"ratio_range", "low <= high"});
  expect_error<ConfigError>([] { make_transform("{type: Expand, ratio_range: [2]}"); },
                            {"ratio_range"});
  expect_error<ConfigError>([] { make_transform("{type: Expand, mean: []}"); },
                            {"pipeline.0.mean", "1 to 4"});
  expect_error<ConfigError>([] { make_transform("{type: Expand, prob: 1.5}"); },
                            {"pipeline.0.prob", "out of range"});
  expect_error<ConfigError>([] { make_transform("{type: Expand, min_ious: [0.5]}"); },
                            {"min_ious"});
  auto expand = make_transform("{type: Expand, mean: [1, 2, 3], prob: 1}");
  PipelineSample gray = make_sample(4, 4);
  gray.img = torch::zeros({4, 4, 1}, torch::kUInt8);
  expect_error<DataError>([&] { expand->apply(gray); },
                          {"Expand on '/data/sample.png'", "1 channels but mean has 3"});
}

// ------------------------------------------------------------------------ MinIoURandomCrop
// Expected values follow MMDetection 2.25's MinIoURandomCrop.__call__: the crop is where the
// coordinate image's first pixel came from, and the boxes are derived from that patch.

/// The patch (x1, y1, x2, y2) a cropped coordinate image came from.
std::array<int64_t, 4> patch_of(const torch::Tensor& img) {
  const int64_t x = img[0][0][0].item<uint8_t>(), y = img[0][0][1].item<uint8_t>();
  return {x, y, x + img.size(1), y + img.size(0)};
}

/// MMDetection's result for `boxes` and a patch: centre strictly inside, clipped, shifted.
std::vector<std::array<float, 4>> expected_crop(const std::vector<std::array<float, 4>>& boxes,
                                                const std::array<int64_t, 4>& p, bool clip,
                                                std::vector<int64_t>* kept = nullptr) {
  std::vector<std::array<float, 4>> out;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    const float cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
    if (!(cx > p[0] && cy > p[1] && cx < p[2] && cy < p[3])) continue;
    std::array<float, 4> c = b;
    if (clip) {
      c = {std::max<float>(b[0], p[0]), std::max<float>(b[1], p[1]), std::min<float>(b[2], p[2]),
           std::min<float>(b[3], p[3])};
    }
    out.push_back({c[0] - p[0], c[1] - p[1], c[2] - p[0], c[3] - p[1]});
    if (kept != nullptr) kept->push_back(static_cast<int64_t>(i));
  }
  return out;
}

TEST(MinIoURandomCrop, KeepsBoxesCentredInThePatchClippedAndShifted) {
  auto crop = make_transform("{type: MinIoURandomCrop, min_ious: [0.1, 0.3], min_crop_size: 0.3}");
  const std::vector<std::array<float, 4>> boxes = {
      {2, 2, 14, 12}, {10, 8, 30, 24}, {25, 15, 39, 29}, {0, 0, 40, 30}};
  const std::vector<std::array<float, 4>> ignore = {{18, 10, 26, 20}, {1, 25, 5, 29}};
  int cropped = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    SCOPED_TRACE(seed);
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40, boxes, ignore);
    const torch::Tensor before = sample.img;
    ASSERT_TRUE(crop->apply(sample));  // never drops a sample
    if (sample.img.is_same(before)) {  // mode 1: untouched
      expect_boxes(sample.gt.boxes(), boxes);
      expect_boxes(sample.gt_ignore, ignore);
      continue;
    }
    ++cropped;
    const auto p = patch_of(sample.img);
    EXPECT_TRUE(torch::equal(sample.img,
                             coordinate_image(30, 40).slice(0, p[1], p[3]).slice(1, p[0], p[2])));
    EXPECT_EQ(sample.meta.img_shape, (std::array<int64_t, 3>{p[3] - p[1], p[2] - p[0], 3}));
    EXPECT_EQ(sample.meta.pad_shape, sample.meta.img_shape);
    std::vector<int64_t> kept;
    expect_boxes(sample.gt.boxes(), expected_crop(boxes, p, true, &kept));
    EXPECT_TRUE(torch::equal(sample.gt.labels(), torch::tensor(kept, torch::kInt64)));
    expect_boxes(sample.gt_ignore, expected_crop(ignore, p, true));
    // At least one box (gt or ignored) is centred in the patch.
    EXPECT_GE(sample.gt.size() + sample.gt_ignore.size(), 1);
    // Crop sides: at least min_crop_size of the image, aspect h / w in [0.5, 2].
    const double cw = static_cast<double>(p[2] - p[0]), ch = static_cast<double>(p[3] - p[1]);
    EXPECT_GE(cw, 0.3 * 40 - 1);
    EXPECT_GE(ch, 0.3 * 30 - 1);
  }
  EXPECT_GT(cropped, 20);
}

TEST(MinIoURandomCrop, TheDrawnThresholdBoundsTheIoUOfEveryBox) {
  // min_ious [0.5]: the modes are [1, 0.5, 0]. When the first draw picks 0.5 (peeked with the
  // same engine), every box, ignored ones included, has IoU >= 0.5 with the crop.
  auto crop = make_transform("{type: MinIoURandomCrop, min_ious: [0.5]}");
  const std::vector<std::array<float, 4>> boxes = {{0, 0, 40, 30}, {5, 5, 35, 28}};
  const std::vector<std::array<float, 4>> ignore = {{4, 2, 36, 26}};
  int checked = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    SCOPED_TRACE(seed);
    random_engine().seed(seed);
    if (uniform_index(random_engine(), 3) != 1) continue;
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40, boxes, ignore);
    ASSERT_TRUE(crop->apply(sample));
    const auto p = patch_of(sample.img);
    const torch::Tensor patch =
        torch::tensor({float(p[0]), float(p[1]), float(p[2]), float(p[3])}).view({1, 4});
    const torch::Tensor all = torch::cat({box_tensor(boxes), box_tensor(ignore)});
    EXPECT_GE(ops::bbox_overlaps(patch, all).min().item<float>(), 0.5f);
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

TEST(MinIoURandomCrop, CropsImagesWithoutBoxesAndKeepsMMDetectionsOffsetDraw) {
  // No boxes: the first patch of acceptable shape is the crop. The offset is numpy's
  // uniform(w - new_w) = U(w - new_w, 1.0): a crop starts at x = 0 only when it is at least
  // w - 1 wide (likewise for y).
  auto crop = make_transform("{type: MinIoURandomCrop, min_ious: [0.5], min_crop_size: 0.3}");
  int cropped = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    SCOPED_TRACE(seed);
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40);
    ASSERT_TRUE(crop->apply(sample));
    const auto p = patch_of(sample.img);
    EXPECT_GE(p[0], 0);
    EXPECT_GE(p[1], 0);
    EXPECT_LE(p[2], 40);
    EXPECT_LE(p[3], 30);
    if (p[0] == 0) {
      EXPECT_GE(p[2], 39);
    }
    if (p[1] == 0) {
      EXPECT_GE(p[3], 29);
    }
    const double ratio = static_cast<double>(p[3] - p[1]) / static_cast<double>(p[2] - p[0]);
    EXPECT_GT(ratio, 0.4);  // new_h / new_w in [0.5, 2] before int()
    EXPECT_LT(ratio, 2.5);
    cropped += sample.img.size(1) < 40 ? 1 : 0;
  }
  EXPECT_GT(cropped, 40);
}

TEST(MinIoURandomCrop, WithoutBboxClipBorderBoxesAreOnlyShifted) {
  auto crop = make_transform("{type: MinIoURandomCrop, min_ious: [0.1], bbox_clip_border: false}");
  const std::vector<std::array<float, 4>> boxes = {{0, 0, 40, 30}, {2, 2, 38, 28}};
  int cropped = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    random_engine().seed(seed);
    PipelineSample sample = make_sample(30, 40, boxes);
    const torch::Tensor before = sample.img;
    ASSERT_TRUE(crop->apply(sample));
    if (sample.img.is_same(before)) continue;
    ++cropped;
    expect_boxes(sample.gt.boxes(), expected_crop(boxes, patch_of(sample.img), false));
  }
  EXPECT_GT(cropped, 10);
}

TEST(MinIoURandomCrop, BadParametersAreConfigErrors) {
  expect_error<ConfigError>(
      [] { make_transform("{type: MinIoURandomCrop, min_ious: [0.5, 1.5]}"); },
      {"pipeline.0.min_ious", "out of range"});
  expect_error<ConfigError>([] { make_transform("{type: MinIoURandomCrop, min_ious: 0.5}"); },
                            {"pipeline.0.min_ious"});
  expect_error<ConfigError>([] { make_transform("{type: MinIoURandomCrop, min_crop_size: 1.2}"); },
                            {"pipeline.0.min_crop_size", "out of range"});
  expect_error<ConfigError>([] { make_transform("{type: MinIoURandomCrop, min_crop_size: -0.1}"); },
                            {"pipeline.0.min_crop_size", "out of range"});
  expect_error<ConfigError>([] { make_transform("{type: MinIoURandomCrop, min_iou: [0.5]}"); },
                            {"did you mean 'min_ious'"});
}

TEST(MinIoURandomCrop, TheWiderFaceTrainPipelineRunsEndToEnd) {
  // configs/_base_/datasets/wider_face.yaml's train pipeline after loading (the sample is a
  // loaded float image): PhotoMetricDistortion, Expand, MinIoURandomCrop, Resize 300x300,
  // Normalize, RandomFlip, DefaultFormatBundle, Collect.
  initialize_runtime();
  const ConfigNode config =
      load_config(std::string(DETKIT_SOURCE_DIR) + "/configs/_base_/datasets/wider_face.yaml");
  ConfigNode steps = ConfigNode::make_list();
  const auto& items = config.at("data").at("train").at("dataset").at("pipeline").items();
  for (size_t i = 2; i < items.size(); ++i)
    steps.push_back(items[i]);
  const Pipeline pipeline = Pipeline::from_config(steps, "pipeline");
  ASSERT_EQ(pipeline.transforms().size(), 8u);
  std::set<int64_t> box_counts;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SCOPED_TRACE(seed);
    random_engine().seed(seed);
    PipelineSample sample = make_sample(60, 80, {{10, 10, 30, 40}, {40, 20, 70, 50}});
    sample.img = sample.img.to(torch::kFloat32);
    const std::vector<PipelineSample> out = pipeline(sample);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].img.sizes(), torch::IntArrayRef({3, 300, 300}));
    const torch::Tensor boxes = out[0].gt.boxes().tensor();
    EXPECT_TRUE(boxes.ge(0).all().item<bool>()) << boxes;
    EXPECT_TRUE(boxes.le(300).all().item<bool>()) << boxes;
    EXPECT_EQ(out[0].gt.labels().size(0), out[0].gt.size());
    box_counts.insert(out[0].gt.size());
  }
  EXPECT_GT(box_counts.size(), 1u);  // some crops dropped a face
}

}  // namespace
}  // namespace detkit::testing
