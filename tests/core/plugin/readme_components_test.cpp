// The README's "Supported components" table is what `detkit plugins list --markdown` prints for
// this build (libdetkit's built-ins and the official plugins): a component added, renamed or
// re-described without updating the README fails here, with the command that regenerates it.
#include <gtest/gtest.h>

#include <string>

#include "test_support.h"

namespace detkit {
namespace {

constexpr const char* kBegin = "<!-- components:begin (detkit plugins list --markdown) -->\n";
constexpr const char* kEnd = "<!-- components:end -->";

TEST(ReadmeComponents, TableIsWhatPluginsListPrints) {
  const std::string readme = testing::read_file(std::string(DETKIT_SOURCE_DIR) + "/README.md");
  const size_t begin = readme.find(kBegin);
  ASSERT_NE(begin, std::string::npos) << "README.md lacks the line " << kBegin;
  const size_t start = begin + std::string(kBegin).size();
  const size_t end = readme.find(kEnd, start);
  ASSERT_NE(end, std::string::npos) << "README.md lacks the line " << kEnd;
  const std::string in_readme = readme.substr(start, end - start);

  const auto r = testing::run_detkit({"plugins", "list", "--markdown"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| backbone | `ResNet` | libdetkit-resnet.so |"), std::string::npos)
      << r.out;
  EXPECT_EQ(in_readme, r.out)
      << "README.md's components table is out of date: replace the lines between the markers "
         "with the output of `build/bin/detkit plugins list --markdown`";
}

}  // namespace
}  // namespace detkit
