// Pretrained: loading a checkpoint written by torch::save (C++), torch::pickle_save (a dict of
// tensors) or save_checkpoint (MMDetection's .pth layout), whole or by `prefix`, non-strictly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "detkit/checkpoint.h"
#include "detkit/error.h"
#include "init_test_utils.h"

namespace detkit::testing {
namespace {

class PretrainedTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

/// A "detector" holding a Toy as `backbone`, written with torch::save after filling every
/// parameter of the backbone with `value`.
struct DetectorImpl : torch::nn::Module {
  DetectorImpl() { backbone = register_module("backbone", Toy()); }
  Toy backbone{nullptr};
};
TORCH_MODULE(Detector);

std::string save_detector(const TempDir& dir, float value) {
  Detector detector;
  torch::NoGradGuard no_grad;
  for (auto& p : detector->parameters())
    p.fill_(value);
  const std::string path = dir.file("detector.pt");
  torch::save(detector, path);
  return path;
}

TEST_F(PretrainedTest, PrefixLoadsTheSubmodulesKeys) {
  TempDir dir;
  const std::string path = save_detector(dir, 0.25f);
  Toy toy(yaml("{type: Pretrained, checkpoint: '" + path + "', prefix: backbone}"));
  MessageCapture capture;
  const InitLog log = init_weights(*toy);
  for (const auto& p : toy->named_parameters()) {
    EXPECT_TRUE(torch::all(p.value() == 0.25f).item<bool>()) << p.key();
  }
  EXPECT_EQ(log.front().info, "PretrainedInit: load from " + path);
  ASSERT_GE(capture.info.size(), 2u);
  EXPECT_EQ(capture.info[1], "load backbone in model from: " + path);
  EXPECT_TRUE(capture.warnings.empty()) << capture.warnings.front();
}

TEST_F(PretrainedTest, WithoutPrefixMismatchesAreAWarning) {
  TempDir dir;
  const std::string path = save_detector(dir, 0.5f);
  Toy toy(yaml("{type: Pretrained, checkpoint: '" + path + "'}"));
  MessageCapture capture;
  init_weights(*toy);
  ASSERT_EQ(capture.warnings.size(), 1u);
  const std::string& warning = capture.warnings[0];
  EXPECT_EQ(warning.rfind("The model and loaded state dict do not match exactly\n", 0), 0u);
  EXPECT_NE(warning.find("unexpected key in source state_dict: backbone.stem.weight"),
            std::string::npos);
  EXPECT_NE(warning.find("missing keys in source state_dict: stem.weight"), std::string::npos);
  // num_batches_tracked is never reported missing.
  const std::string missing = warning.substr(warning.find("missing keys"));
  EXPECT_NE(missing.find("bn.running_mean"), std::string::npos);
  EXPECT_EQ(missing.find("num_batches_tracked"), std::string::npos);
  EXPECT_FALSE(torch::all(toy->stem->named_parameters()["weight"] == 0.5f).item<bool>());
}

TEST_F(PretrainedTest, PickledStateDictWithDataParallelPrefix) {
  TempDir dir;
  Toy source;
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& p : source->named_parameters())
    state.insert("module." + p.key(), torch::full_like(p.value(), 2.0));
  state.insert_or_assign("module.head.cls.weight", torch::zeros({1, 1}));  // a size mismatch
  const std::vector<char> bytes = torch::pickle_save(state);
  const std::string path = dir.file("state.pth");
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  Toy toy(yaml("{type: Pretrained, checkpoint: '" + path + "'}"));
  MessageCapture capture;
  init_weights(*toy);
  EXPECT_TRUE(torch::all(toy->fc->weight == 2.0).item<bool>());
  EXPECT_FALSE(torch::all(toy->head->cls->named_parameters()["weight"] == 0).item<bool>());
  ASSERT_EQ(capture.warnings.size(), 1u);
  EXPECT_NE(capture.warnings[0].find(
                "size mismatch for head.cls.weight: copying a param with shape torch.Size([1, "
                "1]) from checkpoint, the shape in current model is torch.Size([3, 4, 1, 1])."),
            std::string::npos)
      << capture.warnings[0];
}

TEST_F(PretrainedTest, MmdetectionPthWithMetaLoadsByPrefix) {
  // An MMDetection-layout .pth ({meta, state_dict}, the zip format torch.load reads) whose
  // detector keys sit under "module." (DataParallel): prefix "backbone" finds them.
  TempDir dir;
  Toy source;
  StateDict state;
  for (const auto& p : named_tensors(*source))
    state.insert("module.backbone." + p.key(), torch::full_like(p.value(), 3.0));
  state.insert("module.neck.conv.weight", torch::zeros({1}));
  ConfigNode meta = ConfigNode::make_map();
  meta.set("mmdet_version", ConfigNode("2.25.0"));
  const std::string path = dir.file("detector.pth");
  save_checkpoint(path, state, meta);
  Toy toy(yaml("{type: Pretrained, checkpoint: '" + path + "', prefix: backbone.}"));
  MessageCapture capture;
  init_weights(*toy);
  for (const auto& p : named_tensors(*toy))
    EXPECT_TRUE(torch::all(p.value() == 3).item<bool>()) << p.key();
  EXPECT_TRUE(capture.warnings.empty()) << capture.warnings.front();
}

TEST_F(PretrainedTest, ErrorsSayWhatIsWrong) {
  TempDir dir;
  const std::string path = save_detector(dir, 1.0f);
  const auto error_of = [](const std::string& cfg) {
    Toy toy(yaml(cfg));
    try {
      init_weights(*toy);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("{type: Pretrained, checkpoint: '" + path + "', prefix: neck}")
                .find("neck. is not in the pretrained model"),
            std::string::npos);
  EXPECT_NE(error_of("{type: Pretrained, checkpoint: '" + dir.file("missing.pth") + "'}")
                .find("is not a file"),
            std::string::npos);
  const std::string garbage = dir.file("garbage.pth");
  write_file(garbage, "not a checkpoint");
  EXPECT_NE(
      error_of("{type: Pretrained, checkpoint: '" + garbage + "'}").find("cannot read checkpoint"),
      std::string::npos);
  EXPECT_NE(error_of("{type: Pretrained}").find("requires parameter 'checkpoint'"),
            std::string::npos);
}

TEST_F(PretrainedTest, TorchvisionUrlsReadTheTorchHubCache) {
  TempDir dir;
  const std::string folder = dir.file("hub/checkpoints");
  std::filesystem::create_directories(folder);
  // What torch.hub caches for torchvision://toy: <name>-<hash>.pth, a plain state dict.
  Toy source{ConfigNode()};
  {
    torch::NoGradGuard no_grad;
    for (auto& p : source->parameters())
      p.fill_(0.75f);
  }
  save_state_dict(folder + "/toy-0123abcd.pth", named_tensors(*source));
  write_file(folder + "/toyother-ffff.pth", "another model's file");
  ::setenv("TORCH_HOME", dir.path().c_str(), 1);
  Toy toy(yaml("{type: Pretrained, checkpoint: 'torchvision://toy'}"));
  init_weights(*toy);
  for (const auto& p : toy->named_parameters())
    EXPECT_TRUE(torch::all(p.value() == 0.75f).item<bool>()) << p.key();

  Toy missing(yaml("{type: Pretrained, checkpoint: 'torchvision://resnet50'}"));
  try {
    init_weights(*missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not in the torch.hub cache " + folder),
              std::string::npos)
        << e.what();
  }
  Toy url(yaml("{type: Pretrained, checkpoint: 'https://example.org/r50.pth'}"));
  try {
    init_weights(*url);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("downloads nothing"), std::string::npos) << e.what();
  }
  ::unsetenv("TORCH_HOME");
}

}  // namespace
}  // namespace detkit::testing
