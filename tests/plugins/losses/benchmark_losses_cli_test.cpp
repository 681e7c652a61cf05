// `detkit benchmark losses` in a child process: it runs every registered loss (from any plugin,
// none known to the host by name) on the inputs the loss declares, and where it has no
// reference it says why instead of printing a number.
#include <gtest/gtest.h>

#include <string>

#include "test_support.h"

namespace {

using detkit::testing::run_detkit;

/// The fixture plugin file of `case_name` (tests/fixtures/CMakeLists.txt).
std::string fixture_plugin(const std::string& case_name, const std::string& name) {
  return std::string(DETKIT_FIXTURE_DIR) + "/" + case_name + "/libdetkit-" + name + ".so";
}

/// Whether `out` has a table row for `type` with a detkit time ("TYPE   0.0012 s ...").
bool has_timed_row(const std::string& out, const std::string& type) {
  const size_t row = out.find("\n" + type + " ");
  if (row == std::string::npos) return false;
  const std::string line = out.substr(row + 1, out.find('\n', row + 1) - row - 1);
  return line.find(" s ") != std::string::npos;
}

TEST(BenchmarkLosses, RunsEveryRegisteredLossOnTheInputsItDeclares) {
  const auto r =
      run_detkit({"benchmark", "losses", "--plugin", fixture_plugin("customop", "customop"),
                  "--plugin", fixture_plugin("good", "fixturegood"), "--num", "64", "--classes",
                  "3", "--repeat", "1", "--no-reference"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The losses plugin's five, on class scores with labels, boxes or plain tensors, and a
  // fixture's loss the host knows nothing about (default form: element-wise).
  for (const char* type :
       {"FocalLoss", "CrossEntropyLoss", "L1Loss", "SmoothL1Loss", "GIoULoss", "DoubledLoss"})
    EXPECT_TRUE(has_timed_row(r.out, type)) << type << " in\n" << r.out;
  // A loss with a required parameter cannot be built from its defaults: said, not timed.
  EXPECT_FALSE(has_timed_row(r.out, "FixtureLoss")) << r.out;
  EXPECT_NE(r.out.find("FixtureLoss: not built from its defaults ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("num_classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reference: not run (--no-reference)"), std::string::npos) << r.out;
}

TEST(BenchmarkLosses, ALossWithoutAPyTorchEquivalentHasNoReferenceNumber) {
  const auto r =
      run_detkit({"benchmark", "losses", "--plugin", fixture_plugin("customop", "customop"),
                  "--num", "32", "--classes", "3", "--repeat", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(has_timed_row(r.out, "DoubledLoss")) << r.out;
  EXPECT_NE(r.out.find("DoubledLoss: reference not available (no PyTorch equivalent known for "
                       "DoubledLoss)"),
            std::string::npos)
      << r.out;
  // The others were measured now beside it, or the reason they were not is given.
  const bool measured = r.out.find("x ") != std::string::npos;
  EXPECT_TRUE(measured || r.out.find("reference not available (") != std::string::npos) << r.out;
}

}  // namespace
