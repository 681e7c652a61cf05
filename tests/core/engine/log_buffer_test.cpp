// MMCV's LogBuffer semantics (mmcv/runner/log_buffer.py): count-weighted averages of the last n
// values, `ready` after average(), output kept in first-recorded key order.
#include <gtest/gtest.h>

#include "detkit/core/host_runner.h"

namespace {

TEST(LogBufferTest, AveragesTheLastNValuesWeightedByCount) {
  detkit::LogBuffer buffer;
  buffer.update("loss", 1.0, 2);
  buffer.update("time", 0.5, 1);
  buffer.update("loss", 4.0, 1);
  buffer.update("loss", 7.0, 1);
  EXPECT_FALSE(buffer.ready());
  buffer.average(2);
  ASSERT_TRUE(buffer.ready());
  ASSERT_EQ(buffer.output().size(), 2u);
  EXPECT_EQ(buffer.output()[0].first, "loss");
  EXPECT_DOUBLE_EQ(buffer.output()[0].second, 5.5);  // (4 + 7) / 2
  EXPECT_DOUBLE_EQ(buffer.output()[1].second, 0.5);
  buffer.average(0);  // all: (1*2 + 4 + 7) / 4
  EXPECT_DOUBLE_EQ(buffer.output()[0].second, 13.0 / 4.0);
  buffer.clear_output();
  EXPECT_FALSE(buffer.ready());
  EXPECT_TRUE(buffer.output().empty());
  buffer.put_output("bbox_mAP", 0.25);
  EXPECT_TRUE(buffer.ready());
  buffer.clear();
  buffer.average(5);
  EXPECT_TRUE(buffer.output().empty());
}

}  // namespace
