#include <gtest/gtest.h>

#include "core/error.h"

TEST(Error, FailFormatsMessage) {
  try {
    r1::fail("file {}: bad value {}", "x.json", 3);
    FAIL() << "fail() returned";
  } catch (const r1::Error& e) {
    EXPECT_STREQ(e.what(), "file x.json: bad value 3");
  }
}
