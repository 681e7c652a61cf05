// `detkit checkpoint info|convert`: output, exit codes (2 for a bad command line, 1 for a bad
// file) and messages.
#include <gtest/gtest.h>

#include <filesystem>

#include "checkpoint_test_utils.h"
#include "detkit/core/checkpoint_convert.h"
#include "detkit/core/runtime.h"

namespace detkit::testing {
namespace {

class CheckpointCliTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

/// A small torchvision-named ResNet state dict (stem + one block + fc) saved plainly.
std::string save_torchvision_resnet(const TempDir& dir) {
  StateDict sd;
  sd.insert("conv1.weight", torch::ones({4, 3, 7, 7}));
  for (const char* name : {"bn1", "layer1.0.bn1"}) {
    const std::string prefix = name;
    sd.insert(prefix + ".weight", torch::ones({4}));
    sd.insert(prefix + ".bias", torch::zeros({4}));
    sd.insert(prefix + ".running_mean", torch::zeros({4}));
    sd.insert(prefix + ".running_var", torch::ones({4}));
  }
  sd.insert("layer1.0.conv1.weight", torch::ones({4, 4, 3, 3}));
  sd.insert("fc.weight", torch::ones({10, 4}));
  sd.insert("fc.bias", torch::zeros({10}));
  const std::string path = dir.file("resnet.pth");
  save_state_dict(path, sd);
  return path;
}

TEST_F(CheckpointCliTest, InfoListsMetaTensorsAndTotals) {
  TempDir dir;
  StateDict sd;
  sd.insert("backbone.conv1.weight", torch::zeros({2, 3, 1, 1}));
  sd.insert("backbone.bn1.num_batches_tracked", torch::zeros({}, torch::kLong));
  ConfigNode meta = ConfigNode::make_map();
  meta.set("mmdet_version", ConfigNode("2.25.0"));
  meta.set("epoch", ConfigNode(12));
  meta.set("config", ConfigNode("model = dict(\n    type='RetinaNet')\n"));
  save_checkpoint(dir.file("c.pth"), sd, meta);
  const ProcessResult result = run_detkit({"checkpoint", "info", dir.file("c.pth")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(
      result.out.find("meta:\n  mmdet_version: 2.25.0\n  epoch: 12\n  config: (2 lines of text)\n"),
      std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("backbone.conv1.weight             [2, 3, 1, 1]  float32\n"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("backbone.bn1.num_batches_tracked  []            int64\n"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("total: 2 tensors, 7 elements, 32 bytes (0.00 MiB)"), std::string::npos)
      << result.out;
}

TEST_F(CheckpointCliTest, ConvertWritesMmdetectionNamesAndNeverOverwritesWithoutForce) {
  TempDir dir;
  const std::string in = save_torchvision_resnet(dir);
  const std::string out = dir.file("out.pth");
  ProcessResult result =
      run_detkit({"checkpoint", "convert", "--from", "torchvision", "--model", "resnet", in, out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("converted 12 torchvision resnet tensors to 12 MMDetection-named"),
            std::string::npos)
      << result.out;
  const Checkpoint converted = load_checkpoint(out);
  EXPECT_EQ(converted.state_dict.find("fc.weight"), nullptr);
  EXPECT_NE(converted.state_dict.find("layer1.0.bn1.num_batches_tracked"), nullptr);
  EXPECT_EQ(converted.meta.at("source").as_string(), "torchvision resnet");

  result =
      run_detkit({"checkpoint", "convert", "--from", "torchvision", "--model", "resnet", in, out});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("'" + out + "' exists; pass --force to overwrite it"),
            std::string::npos)
      << result.err;
  result = run_detkit(
      {"checkpoint", "convert", "--from", "torchvision", "--model", "resnet", in, out, "--force"});
  EXPECT_EQ(result.exit_code, 0) << result.err;

  // A retinanet conversion of a ResNet: every key is unknown, nothing is written.
  result = run_detkit({"checkpoint", "convert", "--from", "torchvision", "--model", "retinanet", in,
                       dir.file("r.pth")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("is not a torchvision retinanet one: 12 unknown keys: conv1.weight"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.pth")));
}

TEST_F(CheckpointCliTest, BadCommandLinesExit2AndBadFilesExit1) {
  TempDir dir;
  const std::string in = save_torchvision_resnet(dir);
  const auto expect = [](const std::vector<std::string>& args, int code, const std::string& text) {
    const ProcessResult result = run_detkit(args);
    EXPECT_EQ(result.exit_code, code) << result.err;
    EXPECT_NE(result.err.find(text), std::string::npos) << result.err;
  };
  expect({"checkpoint"}, 2, "missing action (info or convert)");
  expect({"checkpoint", "inf"}, 2, "unknown action 'inf'");
  expect({"checkpoint", "info"}, 2, "missing argument FILE");
  expect({"checkpoint", "convert", "--from", "detectron2", "--model", "resnet", in, "o.pth"}, 2,
         "--from 'detectron2' is not supported (supported: torchvision)");
  expect({"checkpoint", "convert", "--from", "torchvision", "--model", "yolo", in, "o.pth"}, 2,
         "--model 'yolo' is not supported (supported: retinanet, fasterrcnn, resnet)");
  expect({"checkpoint", "convert", "--from", "torchvision", in, "o.pth"}, 2,
         "the option '--model' is required");
  write_file(dir.file("bad.pth"), "garbage");
  expect({"checkpoint", "info", dir.file("bad.pth")}, 1,
         "detkit checkpoint: error: checkpoint '" + dir.file("bad.pth") +
             "' is not a torch.save file");
}

}  // namespace
}  // namespace detkit::testing
