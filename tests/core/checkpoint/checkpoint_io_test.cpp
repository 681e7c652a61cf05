// load_checkpoint / save_checkpoint against Python: files torch.save wrote (generated at test time
// by tests/reference/gen_checkpoints.py) read exactly, files detkit wrote read by torch.load
// exactly, and every malformed file refused with a CheckpointError naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "checkpoint_test_utils.h"
#include "detkit/core/runtime.h"

namespace detkit::testing {
namespace {

class CheckpointIoTest : public ::testing::Test {
 protected:
  /// The Python-written files, generated once for the suite.
  static void SetUpTestSuite() {
    files_ = new TempDir();
    run_reference({"write", files_->path()});
  }
  static void TearDownTestSuite() {
    delete files_;
    files_ = nullptr;
  }
  void SetUp() override { initialize_runtime(); }
  static std::string file(const std::string& name) { return files_->file(name); }

  /// Checks that `checkpoint` holds exactly the manifest's tensors of `name`, in order.
  static void expect_matches_python(const std::string& name, const StateDict& state_dict) {
    std::vector<std::string> keys;
    for (const auto& e : read_manifest(file("expected.txt"))) {
      if (e.file != name) continue;
      keys.push_back(e.key);
      const torch::Tensor* tensor = state_dict.find(e.key);
      ASSERT_NE(tensor, nullptr) << name << ": " << e.key;
      EXPECT_EQ(describe(*tensor), (std::vector<std::string>{e.dtype, e.shape, e.hex}))
          << name << ": " << e.key;
    }
    ASSERT_FALSE(keys.empty()) << "no manifest lines for " << name;
    EXPECT_EQ(state_dict.keys(), keys) << name;
  }

  static TempDir* files_;
};
TempDir* CheckpointIoTest::files_ = nullptr;

TEST_F(CheckpointIoTest, ReadsPlainAndOrderedDictsExactly) {
  for (const char* name :
       {"plain_dict.pth", "ordered_dict.pth", "protocol4.pth", "dtypes.pth", "crafted_good.pth"}) {
    const Checkpoint checkpoint = load_checkpoint(file(name));
    expect_matches_python(name, checkpoint.state_dict);
    EXPECT_TRUE(checkpoint.meta.is_map() && checkpoint.meta.size() == 0) << name;
    EXPECT_TRUE(checkpoint.other_keys.empty()) << name;
  }
}

TEST_F(CheckpointIoTest, ViewsKeepTheirOffsetsStridesAndSharedStorage) {
  const StateDict sd = load_checkpoint(file("views.pth")).state_dict;
  expect_matches_python("views.pth", sd);
  EXPECT_TRUE(sd["row"].is_alias_of(sd["base"]));
  EXPECT_TRUE(sd["block"].is_alias_of(sd["base"]));
  EXPECT_EQ(sd["block"].storage_offset(), 8);
  EXPECT_EQ(sd["column"].strides(), (std::vector<int64_t>{6}));
  EXPECT_EQ(sd["transposed"].strides(), (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(sd["expanded"].strides(), (std::vector<int64_t>{0, 1}));
}

TEST_F(CheckpointIoTest, MmdetectionCheckpointGivesMetaStateDictAndStripsModule) {
  const Checkpoint checkpoint = load_checkpoint(file("mmdet.pth"));
  expect_matches_python("mmdet.pth", checkpoint.state_dict);  // keys without "module."
  EXPECT_EQ(checkpoint.other_keys, (std::vector<std::string>{"meta", "optimizer"}));
  const ConfigNode& meta = checkpoint.meta;
  EXPECT_EQ(meta.at("mmdet_version").as_string(), "2.25.0");
  EXPECT_EQ(meta.at("CLASSES").to_flow(), "[person, car]");
  EXPECT_EQ(meta.at("epoch").as_int(), 12);
  EXPECT_DOUBLE_EQ(meta.at("lr").as_double(), 0.02);
  EXPECT_TRUE(meta.at("flag").as_bool());
  EXPECT_TRUE(meta.at("seed").is_null());
  EXPECT_DOUBLE_EQ(meta.at("hook_msgs").at("best_score").as_double(), 0.375);
  EXPECT_EQ(meta.at("config").as_string(), "model = dict(type='RetinaNet')\n");
}

TEST_F(CheckpointIoTest, WrittenCheckpointIsReadExactlyByPython) {
  TempDir dir;
  StateDict sd;
  const torch::Tensor base = torch::arange(12, torch::kFloat32).reshape({3, 4});
  sd.insert("backbone.conv1.weight", torch::randn({2, 3, 1, 1}));
  sd.insert("backbone.bn1.num_batches_tracked", torch::tensor(7, torch::kLong));
  sd.insert("transposed", base.t());  // non-contiguous: saved compact
  sd.insert("column", base.select(1, 2));
  sd.insert("half", torch::randn({3}).to(torch::kHalf));
  sd.insert("double", torch::randn({2}, torch::kFloat64));
  sd.insert("mask", torch::tensor({true, false}));
  sd.insert("bytes", torch::tensor({0, 200, 255}, torch::kUInt8));
  ConfigNode meta = ConfigNode::make_map();
  meta.set("mmdet_version", ConfigNode("2.25.0"));
  ConfigNode classes = ConfigNode::make_list();
  classes.push_back(ConfigNode("person"));
  classes.push_back(ConfigNode("car"));
  meta.set("CLASSES", classes);
  meta.set("epoch", ConfigNode(12));
  meta.set("lr", ConfigNode(0.02));
  meta.set("flag", ConfigNode(true));
  meta.set("seed", ConfigNode());
  const std::string path = dir.file("detkit.pth");
  save_checkpoint(path, sd, meta);
  write_manifest(dir.file("expected.txt"), sd);
  const ProcessResult python = run_reference({"check", path, dir.file("expected.txt")});
  EXPECT_EQ(python.out,
            "[\"meta\", \"state_dict\"]\n"
            "{\"mmdet_version\": \"2.25.0\", \"CLASSES\": [\"person\", \"car\"], \"epoch\": 12, "
            "\"lr\": 0.02, \"flag\": true, \"seed\": null}\n");
  // detkit reads its own file back exactly, and no temporary file is left.
  const Checkpoint back = load_checkpoint(path);
  for (const auto& item : sd)
    EXPECT_EQ(describe(back.state_dict[item.key()]), describe(item.value())) << item.key();
  EXPECT_EQ(back.meta, meta);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    files += entry.path().filename().string().find(".tmp") == std::string::npos ? 1 : 100;
  EXPECT_EQ(files, 2u);

  const std::string plain = dir.file("plain.pth");
  save_state_dict(plain, sd);
  const ProcessResult plain_python = run_reference({"check", plain, dir.file("expected.txt")});
  EXPECT_EQ(plain_python.out.substr(0, plain_python.out.find('\n')),
            "[\"backbone.conv1.weight\", \"backbone.bn1.num_batches_tracked\", \"transposed\", "
            "\"column\", \"half\", \"double\", \"mask\", \"bytes\"]");
}

TEST_F(CheckpointIoTest, CppTorchSaveArchivesAreRead) {
  TempDir dir;
  torch::nn::Sequential model(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 2, 1)),
                              torch::nn::BatchNorm2d(2));
  const std::string path = dir.file("model.pt");
  torch::save(model, path);
  const StateDict sd = load_checkpoint(path).state_dict;
  const StateDict expected = named_tensors(*model);
  ASSERT_EQ(sd.size(), expected.size());
  for (const auto& item : expected) {
    ASSERT_NE(sd.find(item.key()), nullptr) << item.key();
    EXPECT_EQ(describe(sd[item.key()]), describe(item.value())) << item.key();
  }
}

TEST_F(CheckpointIoTest, MalformedFilesGiveClearErrors) {
  const std::map<std::string, std::string> expected_errors = {
      {"legacy.pth", "legacy (pre-1.6, non-zip) format"},
      {"torchscript.pt", "is a TorchScript module (__torch__."},
      {"list.pth", "holds a list, not a dict"},
      {"whole_module.pth",
       "holds a pickled torch.nn.modules.container.Sequential object, not a dict: save its "
       "state_dict()"},
      {"not_tensors.pth", "state_dict entry 'model' is a dict, not a tensor"},
      {"plain.zip", "is a zip archive without data.pkl"},
      {"huge_storage.pth", "storage '0' claims 1099511627776 elements of float32"},
      {"negative_storage.pth", "storage '0' has a negative size -1"},
      {"past_end.pth", "reads past the end of its storage"},
      {"offset_past_end.pth", "starts at offset 7, outside its storage"},
      {"stride_overflow.pth", "reads past the end of its storage"},
      {"negative_stride.pth", "negative size or stride in dimension 0"},
      {"huge_broadcast.pth", "claims more elements than it can hold"},
      {"missing_record.pth", "names storage '9' but has no record 'archive/data/9'"},
      {"rank_mismatch.pth", "has 2 sizes but 1 strides"},
      {"deep.pth", "meta nests deeper than 64 levels"},
      {"cycle.pth", "meta nests deeper than 64 levels"},
      {"bad_opcode.pth", "unsupported pickle opcode 0x50"},
      {"no_stop.pth", "the pickle ends inside an opcode"},
  };
  for (const auto& [name, expected] : expected_errors) {
    const std::string message = checkpoint_error([&] { load_checkpoint(file(name)); });
    EXPECT_NE(message.find(expected), std::string::npos) << name << ": " << message;
    EXPECT_NE(message.find(file(name)), std::string::npos) << name << ": " << message;
  }
}

TEST_F(CheckpointIoTest, TruncatedAndCorruptFilesGiveClearErrors) {
  TempDir dir;
  const std::string bytes = read_file(file("ordered_dict.pth"));
  // Cut anywhere: no end-of-directory record, or a directory/record past the end.
  for (const size_t length :
       {size_t{0}, size_t{3}, size_t{100}, bytes.size() / 2, bytes.size() - 30, bytes.size() - 1}) {
    const std::string path = dir.file("cut" + std::to_string(length) + ".pth");
    write_file(path, bytes.substr(0, length));
    const std::string message = checkpoint_error([&] { load_checkpoint(path); });
    EXPECT_NE(message.find("checkpoint '" + path + "'"), std::string::npos) << message;
    EXPECT_TRUE(message.find("truncated") != std::string::npos ||
                message.find("is empty") != std::string::npos ||
                message.find("not a torch.save file") != std::string::npos)
        << message;
  }
  // A flipped byte inside a storage: the record's CRC-32 no longer matches.
  std::string corrupt = bytes;
  const size_t data = corrupt.find("archive/data/0") + std::string("archive/data/0").size();
  corrupt[data + 120] ^= 0x5a;
  const std::string path = dir.file("corrupt.pth");
  write_file(path, corrupt);
  EXPECT_NE(checkpoint_error([&] { load_checkpoint(path); }).find("fails its CRC-32 check"),
            std::string::npos);
  write_file(dir.file("text.pth"), "not a checkpoint");
  EXPECT_NE(checkpoint_error([&] {
              load_checkpoint(dir.file("text.pth"));
            }).find("is not a torch.save file (not a zip archive; 16 bytes)"),
            std::string::npos);
  EXPECT_NE(checkpoint_error([&] {
              load_checkpoint(dir.file("missing.pth"));
            }).find("checkpoint '" + dir.file("missing.pth") + "' is not a file"),
            std::string::npos);
  EXPECT_NE(checkpoint_error([&] {
              save_checkpoint(dir.file("x.pth"), StateDict(), ConfigNode(1));
            }).find("meta is a"),
            std::string::npos);
  EXPECT_NE(checkpoint_error([&] {
              save_checkpoint(dir.file("no/such/dir/x.pth"), StateDict());
            }).find("cannot write checkpoint"),
            std::string::npos);
}

}  // namespace
}  // namespace detkit::testing
