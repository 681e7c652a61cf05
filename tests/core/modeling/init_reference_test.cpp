// init_weights() against tests/data/init/reference.pt (tests/reference/gen_init.py: MMCV
// 1.7.2's semantics over Python's torch.nn.init): for each init_cfg case of the Toy model, the
// parameters after init_weights (the same seed draws the same numbers), the init log text and
// the "initialize X with init_cfg {...}" messages must equal Python's exactly.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "init_test_utils.h"

namespace detkit::testing {
namespace {

class InitReference : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

TEST_F(InitReference, ToyModelHasThePythonParameterNames) {
  Toy toy;
  std::vector<std::string> names;
  for (const auto& p : toy->named_parameters())
    names.push_back(p.key());
  std::vector<std::string> expected;
  for (const auto& name : init_reference().at("toy_names").toListRef())
    expected.push_back(name.toStringRef());
  EXPECT_EQ(names, expected);
  EXPECT_EQ(flat_parameters(*toy).numel(), init_reference().at("toy_before").toTensor().numel());
}

TEST_F(InitReference, EveryCaseMatchesPython) {
  const torch::Tensor before = init_reference().at("toy_before").toTensor();
  const auto cases = reference_list("cases");
  ASSERT_GE(cases.size(), 15u);
  for (const auto& c : cases) {
    const std::string name = c.at("name").toStringRef();
    SCOPED_TRACE(name);
    Toy toy(yaml(c.at("root_cfg").toStringRef()), yaml(c.at("head_cfg").toStringRef()),
            yaml(c.at("blocks_cfg").toStringRef()));
    load_flat_parameters(*toy, before);
    MessageCapture capture;
    torch::manual_seed(c.at("seed").toInt());
    const InitLog log = init_weights(*toy);

    const torch::Tensor expected = c.at("after").toTensor();
    const torch::Tensor actual = flat_parameters(*toy);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    // The same torch.nn.init arithmetic and the same RNG draws: bit for bit.
    EXPECT_TRUE(torch::equal(actual, expected))
        << "max |diff| " << (actual - expected).abs().max().item<double>();
    EXPECT_EQ(format_init_log(log), c.at("log").toStringRef());
    EXPECT_EQ(format_init_log(init_log(*toy)), c.at("log").toStringRef());

    std::vector<std::string> messages;
    std::istringstream lines(c.at("messages").toStringRef());
    for (std::string line; std::getline(lines, line);)
      messages.push_back(line);
    EXPECT_EQ(capture.info_without_dump(), messages);
    EXPECT_TRUE(capture.warnings.empty()) << capture.warnings.front();
  }
}

TEST_F(InitReference, TheLogIsDumpedThroughInfoAsPrintLogWritesIt) {
  Toy toy(yaml("{type: Kaiming, layer: Conv2d}"));
  MessageCapture capture;
  const InitLog log = init_weights(*toy);
  ASSERT_EQ(log.size(), 15u);
  std::vector<std::string> dump;
  for (const auto& text : capture.info) {
    if (text.rfind("\n", 0) == 0) dump.push_back(text);
  }
  ASSERT_EQ(dump.size(), log.size());
  EXPECT_EQ(dump[0],
            "\nstem.weight - torch.Size([4, 3, 3, 3]): \nKaimingInit: a=0, mode=fan_out, "
            "nonlinearity=relu, distribution =normal, bias=0 \n ");
  EXPECT_EQ(log[2].name, "bn.weight");
  EXPECT_EQ(log[2].info, "The value is the same before and after calling `init_weights` of Toy ");
}

}  // namespace
}  // namespace detkit::testing
