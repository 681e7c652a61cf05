// VOCDataset, WIDERFaceDataset and XMLDataset on small hand-written XML trees.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

#include "dataset_test_utils.h"
#include "detkit/core/synthetic_data.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

std::string object(const std::string& name, const std::string& box, int difficult = 0) {
  return "<object><name>" + name + "</name><difficult>" + std::to_string(difficult) +
         "</difficult><bndbox>" + box + "</bndbox></object>\n";
}

std::string box(const std::string& x1, const std::string& y1, const std::string& x2,
                const std::string& y2) {
  return "<xmin>" + x1 + "</xmin><ymin>" + y1 + "</ymin><xmax>" + x2 + "</xmax><ymax>" + y2 +
         "</ymax>";
}

std::string annotation(const std::string& objects, int width = 100, int height = 80,
                       const std::string& folder = "VOC2007") {
  return "<annotation>\n<folder>" + folder + "</folder>\n<size><width>" + std::to_string(width) +
         "</width><height>" + std::to_string(height) + "</height><depth>3</depth></size>\n" +
         objects + "</annotation>\n";
}

class VOCDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 000001: a dog (float coordinates), a difficult person, a 9x9 cat.
    write_xml("000001", annotation(object("dog", box("11", "21", "50.7", "60")) +
                                   object("person", box("1", "1", "20", "30"), 1) +
                                   object("cat", box("71", "51", "80", "60"))));
    // 000002: only a difficult cat.
    write_xml("000002", annotation(object("cat", box("5", "5", "40", "40"), 1), 64, 96));
    write_ids({"000001", "000002"});
  }
  std::string root() const { return dir.file("VOCdevkit/VOC2007"); }
  void write_xml(const std::string& id, const std::string& text) const {
    write_file(root() + "/Annotations/" + id + ".xml", text);
  }
  void write_ids(const std::vector<std::string>& ids) const {
    std::string text;
    for (const auto& id : ids)
      text += id + "\n";
    write_file(root() + "/ImageSets/Main/train.txt", text);
  }
  std::shared_ptr<DatasetBase> build(const std::string& extra = "") const {
    return build_dataset("{type: VOCDataset, ann_file: '" + root() +
                         "/ImageSets/Main/train.txt', img_prefix: '" + root() + "'" + extra + "}");
  }
  std::string error_of(const std::string& extra = "") const {
    return error_message([&] { build(extra); });
  }
  TempDir dir;
};

TEST_F(VOCDatasetTest, ReadsBoxesAsMMDetection) {
  auto dataset = build();
  ASSERT_EQ(dataset->classes().size(), 20u);
  EXPECT_EQ(dataset->classes()[11], "dog");
  // 000002 has only a difficult cat: kept with no gt box (MMDetection's _filter_imgs looks at
  // the object names only).
  ASSERT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2}));
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(info.filename, "JPEGImages/000001.jpg");
  EXPECT_EQ(info.width, 100);
  EXPECT_EQ(info.height, 80);
  // int(float(text)) - 1.
  EXPECT_EQ(flat(info.gt.boxes()), (std::vector<float>{10, 20, 49, 59, 70, 50, 79, 59}));
  EXPECT_EQ(labels_of(info.gt), (std::vector<int64_t>{11, 7}));
  EXPECT_EQ(flat(info.gt_ignore), (std::vector<float>{0, 0, 19, 29}));  // difficult
  EXPECT_EQ(dataset->default_metric(), "VOCMetric");
}

TEST_F(VOCDatasetTest, TestModeKeepsImagesWithOnlyDifficultBoxes) {
  auto dataset = build(", test_mode: true");
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(dataset->data_info(1).gt_ignore.size(), 1);
}

TEST_F(VOCDatasetTest, MinSizeIgnoresSmallBoxes) {
  auto dataset = build(", min_size: 10");
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(labels_of(info.gt), (std::vector<int64_t>{11}));
  EXPECT_EQ(flat(info.gt_ignore), (std::vector<float>{0, 0, 19, 29, 70, 50, 79, 59}));
  EXPECT_NE(error_of(", min_size: 10, test_mode: true").find("test_mode"), std::string::npos);
}

TEST_F(VOCDatasetTest, ClassesSubsetDropsOtherObjects) {
  auto dataset = build(", classes: [cat, dog]");
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"cat", "dog"}));
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(labels_of(info.gt), (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(info.gt_ignore.empty());  // the difficult person is not a selected class
  EXPECT_NE(error_of(", classes: [cat, kitten]").find("'kitten' is not a class"),
            std::string::npos);
}

TEST_F(VOCDatasetTest, ObjectsOfOtherClassesAreSkippedWithOneSummaryLine) {
  // MMDetection's XMLDataset.get_ann_info skips objects whose name is not in CLASSES.
  write_xml("000002", annotation(object("cat", box("5", "5", "40", "40")) +
                                 object("dogs", box("5", "5", "40", "40")) +
                                 object("dogs", box("5", "5", "40", "40"))));
  struct Case {
    const char* extra;
    const char* warning;  // "" = nothing printed
    std::vector<int64_t> labels_of_000002;
  };
  const Case cases[] = {
      {"", "VOCDataset: skipped 2 objects of unknown classes in {}: 'dogs' (2)", {7}},
      {", classes: [cat]",
       "VOCDataset: skipped 4 objects of classes not in `classes` in {}: 'dogs' (2), 'dog' (1), "
       "'person' (1)",
       {0}},
      {", classes: [dog, cat]",
       "VOCDataset: skipped 3 objects of classes not in `classes` in {}: 'dogs' (2), "
       "'person' (1)",
       {1}},
  };
  const std::string ids = root() + "/ImageSets/Main/train.txt";
  for (const Case& c : cases) {
    ::testing::internal::CaptureStderr();
    auto dataset = build(c.extra);
    const std::string err = ::testing::internal::GetCapturedStderr();
    std::string expected = c.warning;
    expected.replace(expected.find("{}"), 2, ids);
    EXPECT_EQ(err, "warning: " + expected + "\n") << c.extra;
    ASSERT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2})) << c.extra;
    EXPECT_EQ(labels_of(dataset->data_info(1).gt), c.labels_of_000002) << c.extra;
  }
}

TEST_F(VOCDatasetTest, BadCoordinatesAndMissingFieldsAreNamed) {
  write_xml("000002", annotation(object("cat", box("abc", "5", "40", "40"))));
  std::string message = error_of();
  EXPECT_NE(message.find("000002.xml:4"), std::string::npos) << message;
  EXPECT_NE(message.find("<xmin> must be a number, got 'abc'"), std::string::npos) << message;
  EXPECT_NE(message.find("object 0 (image id '000002')"), std::string::npos) << message;

  write_xml("000002", annotation("<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                                 "<xmax>9</xmax></bndbox></object>"));
  message = error_of();
  EXPECT_NE(message.find("missing <ymax>"), std::string::npos) << message;

  write_xml("000002", annotation("<object><name>cat</name></object>"));
  EXPECT_NE(error_of().find("missing <bndbox>"), std::string::npos);

  write_xml("000002", "<annotation><size><width>ten</width><height>8</height></size></annotation>");
  message = error_of();
  EXPECT_NE(message.find("<width> must be a number, got 'ten'"), std::string::npos) << message;
}

TEST_F(VOCDatasetTest, InvalidBoxesAreNamed) {
  write_xml("000002", annotation(object("cat", box("40", "5", "30", "40"))));
  EXPECT_NE(error_of().find("width and height must be > 0"), std::string::npos);
  write_xml("000002", annotation(object("cat", box("201", "5", "250", "40"))));
  const std::string message = error_of();
  EXPECT_NE(message.find("outside the 100x80 image"), std::string::npos) << message;
  EXPECT_NE(message.find("object 0 (image id '000002')"), std::string::npos) << message;
}

TEST_F(VOCDatasetTest, TruncatedAndMissingFiles) {
  write_xml("000002", annotation(object("cat", box("5", "5", "40", "40"))).substr(0, 120));
  std::string message = error_of();
  EXPECT_NE(message.find("000002.xml:"), std::string::npos) << message;
  EXPECT_NE(message.find("invalid XML"), std::string::npos) << message;

  write_ids({"000001", "000009"});
  message = error_of();
  EXPECT_NE(message.find("000009.xml"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;

  message = error_message([&] {
    build_dataset("{type: VOCDataset, ann_file: '" + root() + "/none.txt', img_prefix: '" + root() +
                  "'}");
  });
  EXPECT_NE(message.find(root() + "/none.txt"), std::string::npos) << message;

  // A FIFO as the id list or as an annotation is refused by name, never read (it would block).
  std::filesystem::remove(root() + "/Annotations/000002.xml");
  ASSERT_EQ(::mkfifo((root() + "/Annotations/000002.xml").c_str(), 0600), 0);
  write_ids({"000001", "000002"});
  message = error_of();
  EXPECT_NE(message.find("000002.xml: the annotation of image id '000002'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("FIFO"), std::string::npos) << message;
  ASSERT_EQ(::mkfifo((root() + "/ImageSets/Main/fifo.txt").c_str(), 0600), 0);
  message = error_message([&] {
    build_dataset("{type: VOCDataset, ann_file: '" + root() + "/ImageSets/Main/fifo.txt', " +
                  "img_prefix: '" + root() + "'}");
  });
  EXPECT_NE(message.find("fifo.txt: the image id list"), std::string::npos) << message;
  EXPECT_NE(message.find("FIFO"), std::string::npos) << message;
}

TEST_F(VOCDatasetTest, SkipInvalidCountsTheDroppedObjects) {
  write_xml("000002", annotation(object("dgo", box("5", "5", "40", "40")) +
                                 object("cat", box("x", "5", "40", "40")) +
                                 object("cat", box("40", "5", "40", "40")) +
                                 object("cat", box("5", "5", "40", "40"))));
  ::testing::internal::CaptureStderr();
  auto dataset = build(", skip_invalid: true");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("skipped 2 invalid annotations"), std::string::npos) << err;
  EXPECT_NE(err.find("skipped 1 object of unknown classes"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
  ASSERT_EQ(dataset->size(), 2u);
  EXPECT_EQ(labels_of(dataset->data_info(1).gt), (std::vector<int64_t>{7}));
}

TEST_F(VOCDatasetTest, ImageSizesAndCoordinatesMustFit) {
  // MMDetection reads <width>/<height> with int(): '0.5' and '1e300' are errors there too.
  struct Case {
    const char* width;
    const char* xmax;
    const char* error;  // "" = read fine
  };
  const Case cases[] = {
      {"1e300", "40",
       "000002.xml:3: <width> must be a whole number of pixels from 1 to "
       "2147483647, got '1e300'"},
      {"0.5", "40",
       "000002.xml:3: <width> must be a whole number of pixels from 1 to "
       "2147483647, got '0.5'"},
      {"0", "40", "got '0'"},
      {"-64", "40", "got '-64'"},
      {"3000000000", "40", "got '3000000000'"},
      {"ten", "40", "000002.xml:3: <width> must be a number, got 'ten'"},
      {"64.0", "40", ""},
      {"64", "1e300",
       "000002.xml:4: <xmax> must be a number from -2147483647 to 2147483647, "
       "got '1e300' in object 0 (image id '000002')"},
      {"64", "-3e9", "got '-3e9'"},
  };
  for (const Case& c : cases) {
    write_xml("000002", std::string("<annotation>\n<folder>VOC2007</folder>\n<size><width>") +
                            c.width + "</width><height>64</height></size>\n" +
                            object("cat", box("5", "5", c.xmax, "40")) + "</annotation>\n");
    if (*c.error) {
      const std::string message = error_of();
      EXPECT_NE(message.find(root() + "/Annotations/"), std::string::npos) << message;
      EXPECT_NE(message.find(c.error), std::string::npos) << message;
    } else {
      EXPECT_EQ(build()->data_info(1).width, 64) << c.width;
    }
  }
}

TEST(VOCDatasetFilter, KeepsTheImagesMMDetectionKeeps) {
  // MMDetection 2.x's XMLDataset._filter_imgs (mmdet/datasets/xml_style.py): in training, an
  // image stays when its shorter side is >= 32 and (with filter_empty_gt) one of its objects
  // has a name in CLASSES, difficult or not.
  TempDir dir;
  const std::string root = dir.file("VOC2007");
  const std::string cat = object("cat", box("5", "5", "20", "20"));
  write_file(root + "/Annotations/1.xml", annotation(cat));
  write_file(root + "/Annotations/2.xml", annotation(object("cat", box("5", "5", "20", "20"), 1)));
  write_file(root + "/Annotations/3.xml", annotation(object("person", box("5", "5", "20", "20"))));
  write_file(root + "/Annotations/4.xml", annotation(""));
  write_file(root + "/Annotations/5.xml", annotation(cat, 20, 100));
  write_file(root + "/train.txt", "1\n2\n3\n4\n5\n");
  struct Case {
    const char* extra;
    std::vector<int64_t> kept;
  };
  const Case cases[] = {
      {"", {1, 2, 3}},
      {", classes: [cat, dog]", {1, 2}},
      {", filter_empty_gt: false", {1, 2, 3, 4}},
      {", test_mode: true", {1, 2, 3, 4, 5}},
  };
  for (const Case& c : cases) {
    ::testing::internal::CaptureStderr();
    auto dataset = build_dataset("{type: VOCDataset, ann_file: '" + root + "/train.txt', " +
                                 "img_prefix: '" + root + "'" + c.extra + "}");
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(image_ids(*dataset), c.kept) << c.extra;
  }
}

TEST_F(VOCDatasetTest, YearComesFromImgPrefix) {
  const std::string message = error_message([&] {
    build_dataset("{type: VOCDataset, ann_file: '" + root() +
                  "/ImageSets/Main/train.txt', img_prefix: '" + dir.path() + "'}");
  });
  EXPECT_NE(message.find("VOC2007 or VOC2012"), std::string::npos) << message;
}

TEST_F(VOCDatasetTest, ImageSizeFromTheImageWhenTheXmlHasNone) {
  SyntheticDatasetOptions synth;
  synth.out_dir = dir.file("synth");
  synth.num_train = 1;
  synth.num_val = 0;
  synth.image_width = 48;
  synth.image_height = 40;
  const auto summary = generate_synthetic_dataset(synth);
  const auto image = std::filesystem::directory_iterator(summary.train_dir)->path();
  std::filesystem::create_directories(root() + "/JPEGImages");
  std::filesystem::copy_file(image, root() + "/JPEGImages/000003.jpg");
  write_xml("000003", "<annotation>" + object("cat", box("5", "5", "20", "20")) + "</annotation>");
  write_ids({"000003"});
  auto dataset = build();
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(info.width, 48);
  EXPECT_EQ(info.height, 40);
}

TEST(WIDERFaceDataset, ImagesLiveInTheirFolder) {
  TempDir dir;
  const std::string root = dir.file("WIDER_train");
  write_file(root + "/Annotations/0_Parade_marchingband_1_5.xml",
             annotation(object("face", box("11", "11", "30", "40")) +
                            object("face", box("41", "11", "60", "40"), 1),
                        100, 80, "0--Parade"));
  write_file(dir.file("train.txt"), "0_Parade_marchingband_1_5\n");
  auto dataset = build_dataset("{type: WIDERFaceDataset, ann_file: '" + dir.file("train.txt") +
                               "', img_prefix: '" + root + "'}");
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"face"}));
  ASSERT_EQ(dataset->size(), 1u);
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(info.filename, "0--Parade/0_Parade_marchingband_1_5.jpg");
  EXPECT_EQ(info.image_id, 0);  // not a number: the position in the id list
  EXPECT_EQ(flat(info.gt.boxes()), (std::vector<float>{10, 10, 29, 39}));
  EXPECT_EQ(info.gt_ignore.size(), 1);
  EXPECT_EQ(dataset->prepare(0)[0].meta.filename,
            root + "/0--Parade/0_Parade_marchingband_1_5.jpg");

  // A 'head' is skipped (with one warning line), which leaves no training image.
  write_file(root + "/Annotations/0_Parade_marchingband_1_5.xml",
             annotation(object("head", box("11", "11", "30", "40")), 100, 80, "0--Parade"));
  ::testing::internal::CaptureStderr();
  const std::string message = error_message([&] {
    build_dataset("{type: WIDERFaceDataset, ann_file: '" + dir.file("train.txt") +
                  "', img_prefix: '" + root + "'}");
  });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("skipped 1 object of unknown classes"), std::string::npos) << err;
  EXPECT_NE(message.find("none of its 1 images has an annotation of the selected classes"),
            std::string::npos)
      << message;
}

TEST(XMLDataset, UsesTheGivenClasses) {
  TempDir dir;
  write_file(dir.file("Annotations/a1.xml"),
             annotation(object("head", box("11", "11", "30", "40")) +
                        object("helmet", box("41", "11", "60", "40"))));
  write_file(dir.file("ids.txt"), "a1\n");
  const std::string yaml = "{type: XMLDataset, ann_file: '" + dir.file("ids.txt") +
                           "', img_prefix: '" + dir.path() + "'";
  auto dataset = build_dataset(yaml + ", classes: [helmet, head]}");
  EXPECT_EQ(labels_of(dataset->data_info(0).gt), (std::vector<int64_t>{1, 0}));
  // Finetuning on a subset: the other objects are skipped, not an error.
  ::testing::internal::CaptureStderr();
  dataset = build_dataset(yaml + ", classes: [helmet]}");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("skipped 1 object of classes not in `classes`"), std::string::npos) << err;
  EXPECT_EQ(labels_of(dataset->data_info(0).gt), (std::vector<int64_t>{0}));
  EXPECT_NE(error_message([&] { build_dataset(yaml + "}"); }).find("needs `classes`"),
            std::string::npos);
}

}  // namespace
}  // namespace detkit::testing
