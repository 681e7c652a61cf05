// ProgressBar: its text, one line per item off a terminal (throttled by min_interval), and
// redrawing in place on a terminal.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "detkit/core/progress.h"

namespace detkit {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

TEST(ProgressBar, FormatsCountRateElapsedAndEta) {
  ProgressBar bar(500, ProgressOptions().label("test").width(10));
  EXPECT_EQ(bar.format(120, 10.0), "test [##........] 120/500, 12.0 img/s, elapsed 10s, ETA 32s");
  EXPECT_EQ(bar.format(500, 40.0), "test [##########] 500/500, 12.5 img/s, elapsed 40s");
  EXPECT_EQ(bar.format(0, 0.0), "test [..........] 0/500, elapsed 0s");
  // No rate from the first milliseconds (it would read "250000 img/s").
  EXPECT_EQ(bar.format(1, 0.004), "test [..........] 1/500, elapsed 0s");
  EXPECT_EQ(ProgressBar::format_duration(7), "7s");
  EXPECT_EQ(ProgressBar::format_duration(65), "1m05s");
  EXPECT_EQ(ProgressBar::format_duration(7380), "2h03m");
}

TEST(ProgressBar, OffATerminalPrintsOneLinePerItem) {
  std::ostringstream out;
  {
    ProgressBar bar(5, ProgressOptions().label("infer").interactive(false).min_interval(0), &out);
    for (int i = 0; i < 5; ++i)
      bar.update();
  }
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 5u) << out.str();
  for (int i = 0; i < 5; ++i)
    EXPECT_NE(lines[i].find(" " + std::to_string(i + 1) + "/5"), std::string::npos) << lines[i];
  EXPECT_EQ(lines[4].rfind("infer [####################] 5/5, ", 0), 0u) << lines[4];
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(ProgressBar, OffATerminalLinesAreThrottledButTheFirstAndLastPrint) {
  std::ostringstream out;
  ProgressBar bar(50, ProgressOptions().interactive(false).min_interval(3600), &out);
  for (int i = 0; i < 50; ++i)
    bar.update();
  bar.finish();
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_NE(lines[0].find(" 1/50"), std::string::npos);
  EXPECT_NE(lines[1].find(" 50/50"), std::string::npos);
}

TEST(ProgressBar, StoppedEarlyPrintsItsLastStateOnce) {
  std::ostringstream out;
  ProgressBar bar(10, ProgressOptions().interactive(false).min_interval(3600), &out);
  bar.update(3);
  bar.update(2);
  bar.finish();
  bar.finish();
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_NE(lines[1].find(" 5/10"), std::string::npos);
}

TEST(ProgressBar, OnATerminalRedrawsInPlaceAndWritesAboveTheBar) {
  std::ostringstream out, messages;
  {
    ProgressBar bar(3, ProgressOptions().interactive(true), &out);
    bar.update();
    bar.write("image 1: 2 detections", messages);
    bar.update(2);
    EXPECT_EQ(out.str().find('\n'), std::string::npos) << "the line ends only at the end";
  }
  EXPECT_EQ(messages.str(), "image 1: 2 detections\n");
  const std::string drawn = out.str();
  EXPECT_EQ(drawn.back(), '\n');
  EXPECT_GE(std::count(drawn.begin(), drawn.end(), '\r'), 3);
  EXPECT_NE(drawn.find("3/3"), std::string::npos);
}

TEST(ProgressBar, NothingToCountDrawsNothing) {
  std::ostringstream out;
  {
    ProgressBar bar(0, ProgressOptions().interactive(false), &out);
    bar.update();
  }
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace detkit
