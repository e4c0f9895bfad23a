// printable / printable_middle: text from files or users quoted in one-line errors.
#include <gtest/gtest.h>

#include <string>

#include "core/strings.h"

namespace {

TEST(Strings, PrintableEscapesAndCuts) {
  EXPECT_EQ(r1::printable("a\nb\x7f"), "a\\x0ab\\x7f");
  EXPECT_EQ(r1::printable("abcdef", 3), "abc...");
  EXPECT_EQ(r1::printable("\xc3\xa9", 10, true), "\\xc3\\xa9");
  EXPECT_EQ(r1::printable("\xc3\xa9", 10), "\xc3\xa9");
}

TEST(Strings, PrintableMiddleKeepsBothEnds) {
  EXPECT_EQ(r1::printable_middle("short", 10), "short");
  EXPECT_EQ(r1::printable_middle("0123456789", 10), "0123456789");
  EXPECT_EQ(r1::printable_middle("0123456789A", 10), "01234...6789A");
  const std::string cmd = "python3 /" + std::string(300, 'd') + "/grader.py";
  const std::string shown = r1::printable_middle(cmd);
  EXPECT_EQ(shown.size(), 163u);
  EXPECT_EQ(shown.substr(0, 9), "python3 /");
  EXPECT_EQ(shown.substr(shown.size() - 10), "/grader.py");
  EXPECT_EQ(r1::printable_middle(std::string(200, 'x') + "\n", 20), "xxxxxxxxxx...xxxxxxxxx\\x0a");
}

}  // namespace
