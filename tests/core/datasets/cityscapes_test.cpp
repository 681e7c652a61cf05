// The Cityscapes converter on a tiny hand-made gtFine tree, and CityscapesDataset on its output.
#include <gtest/gtest.h>

#include "dataset_test_utils.h"
#include "detkit/core/cityscapes_converter.h"
#include "detkit/core/coco_json.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

std::string polygon_object(const std::string& label, const std::string& points) {
  return "{\"label\": \"" + label + "\", \"polygon\": " + points + "}";
}

std::string polygons_file(const std::vector<std::string>& objects) {
  std::string text = "{\"imgHeight\": 64, \"imgWidth\": 128, \"objects\": [";
  for (size_t i = 0; i < objects.size(); ++i)
    text += (i ? ", " : "") + objects[i];
  return text + "]}";
}

/// gtFine/{train,val}/<city>/*_gtFine_polygons.json: aachen has a car, a person crowd, a rider
/// crossing the right border, a bicycle triangle, road and a caravan (not an instance class);
/// bochum has one image without instances and one with only a car crowd.
class CityscapesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string train = dir.file("gtFine/train");
    write_file(
        train + "/aachen/aachen_000000_000019_gtFine_polygons.json",
        polygons_file({polygon_object("road", "[[0, 40], [127, 40], [127, 63], [0, 63]]"),
                       polygon_object("car", "[[10, 20], [30, 20], [30, 35], [10, 35]]"),
                       polygon_object("persongroup", "[[50, 10], [60, 10], [60, 40], [50, 40]]"),
                       polygon_object("caravan", "[[0, 0], [5, 0], [5, 5]]"),
                       polygon_object("rider", "[[100, 5], [140, 5], [140, 20], [100, 20]]"),
                       polygon_object("bicycle", "[[70, 50], [80, 60], [70, 60]]")}));
    write_file(train + "/bochum/bochum_000000_000313_gtFine_polygons.json",
               polygons_file({polygon_object("sky", "[[0, 0], [127, 0], [127, 10]]")}));
    write_file(train + "/bochum/bochum_000000_000400_gtFine_polygons.json",
               polygons_file({polygon_object("cargroup", "[[1, 1], [20, 1], [20, 9], [1, 9]]")}));
    write_file(train + "/bochum/bochum_000000_000400_gtFine_labelIds.png", "not read");
    write_file(dir.file("gtFine/val/lindau/lindau_000000_000019_gtFine_polygons.json"),
               polygons_file({}));
  }
  CityscapesConvertSummary convert(const std::string& input, const std::string& split = "") const {
    CityscapesConvertOptions options;
    options.gtfine_dir = input;
    options.split = split;
    options.out_json = out();
    return convert_cityscapes(options);
  }
  std::string out() const { return dir.file("instances.json"); }
  TempDir dir;
};

TEST_F(CityscapesTest, ConvertsPolygonsToCocoBoxes) {
  const CityscapesConvertSummary summary = convert(dir.file("gtFine/train"));
  EXPECT_EQ(summary.images, 3u);
  EXPECT_EQ(summary.annotations, 5u);
  EXPECT_EQ(summary.crowd, 2u);
  const CocoGroundTruth gt = read_coco_annotations(out());
  ASSERT_EQ(gt.images.size(), 3u);
  EXPECT_EQ(gt.images[0].id, 0);
  EXPECT_EQ(gt.images[0].file_name, "aachen/aachen_000000_000019_leftImg8bit.png");
  EXPECT_EQ(gt.images[0].width, 128);
  EXPECT_EQ(gt.images[0].height, 64);
  EXPECT_EQ(gt.images[2].file_name, "bochum/bochum_000000_000400_leftImg8bit.png");
  std::vector<int64_t> category_ids;
  std::vector<std::string> names;
  for (const auto& c : gt.categories) {
    category_ids.push_back(c.id);
    names.push_back(c.name);
  }
  EXPECT_EQ(category_ids, (std::vector<int64_t>{24, 25, 26, 27, 28, 31, 32, 33}));
  EXPECT_EQ(names, (std::vector<std::string>{"person", "rider", "car", "truck", "bus", "train",
                                             "motorcycle", "bicycle"}));
  ASSERT_EQ(gt.annotations.size(), 5u);
  const CocoAnnotation& car = gt.annotations[0];
  EXPECT_EQ(car.category_id, 26);
  EXPECT_EQ(car.bbox, (std::array<double, 4>{10, 20, 21, 16}));  // pixels 10..30 x 20..35
  EXPECT_EQ(car.area, 21 * 16);
  EXPECT_FALSE(car.iscrowd);
  const CocoAnnotation& crowd = gt.annotations[1];
  EXPECT_EQ(crowd.category_id, 24);
  EXPECT_TRUE(crowd.iscrowd);
  EXPECT_EQ(crowd.bbox, (std::array<double, 4>{50, 10, 11, 31}));
  const CocoAnnotation& rider = gt.annotations[2];
  EXPECT_EQ(rider.bbox, (std::array<double, 4>{100, 5, 28, 16}));  // clipped at x = 127
  const CocoAnnotation& bicycle = gt.annotations[3];
  EXPECT_EQ(bicycle.category_id, 33);
  EXPECT_EQ(bicycle.bbox, (std::array<double, 4>{70, 50, 11, 11}));
  EXPECT_GT(bicycle.area, 50);
  EXPECT_LT(bicycle.area, 80);
  EXPECT_EQ(gt.annotations[4].image_id, 2);
  EXPECT_TRUE(gt.annotations[4].iscrowd);
  EXPECT_NE(
      read_file(out()).find("\"segm_file\": \"aachen/aachen_000000_000019_gtFine_labelIds.png\""),
      std::string::npos);
}

TEST_F(CityscapesTest, SplitFolderIsRequiredAtTheGtFineLevel) {
  const std::string message = error_message([&] { convert(dir.file("gtFine")); });
  EXPECT_NE(message.find("train, val"), std::string::npos) << message;
  EXPECT_NE(message.find("--split"), std::string::npos) << message;
  EXPECT_EQ(convert(dir.file("gtFine"), "train").images, 3u);
  EXPECT_EQ(convert(dir.file("gtFine"), "val").images, 1u);
  EXPECT_NE(error_message([&] { convert(dir.file("gtFine"), "test"); }).find("no such folder"),
            std::string::npos);
}

TEST_F(CityscapesTest, BadFilesAreNamed) {
  const std::string bad = dir.file("gtFine/train/bochum/bochum_000000_000313_gtFine_polygons.json");
  write_file(bad, "{\"imgHeight\": 64,\n \"imgWidth\": 128,\n \"objects\": [\n");
  std::string message = error_message([&] { convert(dir.file("gtFine/train")); });
  EXPECT_NE(message.find(bad), std::string::npos) << message;
  EXPECT_NE(message.find("line"), std::string::npos) << message;

  write_file(bad, polygons_file({polygon_object("sky", "[]"), "{\"label\": \"car\"}"}));
  message = error_message([&] { convert(dir.file("gtFine/train")); });
  EXPECT_NE(message.find(bad + ": objects[1] ('car')"), std::string::npos) << message;
  EXPECT_NE(message.find("polygon"), std::string::npos) << message;

  write_file(bad, polygons_file({polygon_object("car", "[[1, 2], [3, \"x\"], [5, 6]]")}));
  message = error_message([&] { convert(dir.file("gtFine/train")); });
  EXPECT_NE(message.find("polygon point 1"), std::string::npos) << message;

  write_file(bad, "{\"objects\": []}");
  EXPECT_NE(error_message([&] { convert(dir.file("gtFine/train")); }).find("'imgHeight'"),
            std::string::npos);
  TempDir empty;
  EXPECT_NE(error_message([&] { convert(empty.path()); }).find("_gtFine_polygons.json"),
            std::string::npos);
}

TEST_F(CityscapesTest, ValuesBeyondInt32OrDoubleAreNamed) {
  const std::string bad = dir.file("gtFine/train/bochum/bochum_000000_000313_gtFine_polygons.json");
  const std::string car = polygon_object("car", "[[1, 2], [30, 2], [30, 20]]");
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"{\"imgHeight\": 64, \"imgWidth\": 1000000000000, \"objects\": []}",
       ": 'imgWidth' must be a whole number of pixels from 1 to 2147483647, got 1000000000000"},
      {"{\"imgHeight\": 64, \"imgWidth\": 3000000000, \"objects\": []}", "got 3000000000"},
      {"{\"imgHeight\": 64, \"imgWidth\": 0.5, \"objects\": []}", "'imgWidth' must be a whole"},
      {"{\"imgHeight\": -5, \"imgWidth\": 128, \"objects\": []}", "'imgHeight' must be a whole"},
      {"{\"imgHeight\": 64, \"imgWidth\": \"128\", \"objects\": []}", "got \"128\""},
      {polygons_file({polygon_object("car", "[[1, 2], [1e12, 2], [30, 20]]")}),
       ": objects[0] ('car'): polygon point 1: x = 1000000000000 is beyond the int32 range"},
      {polygons_file({car, polygon_object("bus", "[[1, 2], [30, -5e9], [30, 20]]")}),
       ": objects[1] ('bus'): polygon point 1: y = -5000000000 is beyond the int32 range"},
      {polygons_file({polygon_object("car", "[[1, 2], [1e999, 2], [30, 20]]")}),
       ": invalid JSON: line 1, column 86 (byte 85), at objects[0].polygon[1][0]: the number "
       "1e999 is beyond the range of a double"},
  };
  for (const Case& c : cases) {
    write_file(bad, c.text);
    const std::string message = error_message([&] { convert(dir.file("gtFine/train")); });
    EXPECT_EQ(message.rfind(bad + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(c.error), std::string::npos) << message;
  }
}

TEST_F(CityscapesTest, DatasetFiltersImagesWithoutInstancesAndCrowdOnly) {
  convert(dir.file("gtFine/train"));
  auto dataset = build_dataset("{type: CityscapesDataset, ann_file: '" + out() +
                               "', img_prefix: leftImg8bit/train}");
  ASSERT_EQ(dataset->classes().size(), 8u);
  EXPECT_EQ(dataset->classes()[7], "bicycle");
  ASSERT_EQ(image_ids(*dataset), (std::vector<int64_t>{0}));
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(labels_of(info.gt), (std::vector<int64_t>{2, 1, 7}));
  EXPECT_EQ(flat(info.gt.boxes()),
            (std::vector<float>{10, 20, 31, 36, 100, 5, 128, 21, 70, 50, 81, 61}));
  EXPECT_EQ(flat(info.gt_ignore), (std::vector<float>{50, 10, 61, 41}));
  EXPECT_EQ(dataset->prepare(0)[0].meta.filename,
            "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png");

  auto test =
      build_dataset("{type: CityscapesDataset, test_mode: true, ann_file: '" + out() + "'}");
  EXPECT_EQ(test->size(), 3u);
}

}  // namespace
}  // namespace detkit::testing
