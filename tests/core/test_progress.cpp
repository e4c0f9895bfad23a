#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "core/progress.h"

namespace {

// Everything written so far to a tmpfile().
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  int c;
  while ((c = std::fgetc(f)) != EOF) out += static_cast<char>(c);
  std::fseek(f, 0, SEEK_END);
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

struct TmpFile {
  std::FILE* f = std::tmpfile();
  ~TmpFile() {
    if (f) std::fclose(f);
  }
};

}  // namespace

TEST(Progress, FormatDuration) {
  EXPECT_EQ(r1::format_duration(0), "0.0s");
  EXPECT_EQ(r1::format_duration(12.34), "12.3s");
  EXPECT_EQ(r1::format_duration(59.9), "59.9s");
  EXPECT_EQ(r1::format_duration(59.96), "1m00s");  // rounding carries into minutes
  EXPECT_EQ(r1::format_duration(62), "1m02s");
  EXPECT_EQ(r1::format_duration(185), "3m05s");
  EXPECT_EQ(r1::format_duration(3599.4), "59m59s");
  EXPECT_EQ(r1::format_duration(3599.6), "1h00m");
  EXPECT_EQ(r1::format_duration(3720), "1h02m");
  EXPECT_EQ(r1::format_duration(100 * 3600 + 59 * 60 + 50), "101h00m");
  EXPECT_EQ(r1::format_duration(-1), "--");
  EXPECT_EQ(r1::format_duration(std::numeric_limits<double>::infinity()), "--");
  EXPECT_EQ(r1::format_duration(std::nan("")), "--");
}

TEST(Progress, FormatCount) {
  EXPECT_EQ(r1::format_count(0), "0");
  EXPECT_EQ(r1::format_count(7), "7");
  EXPECT_EQ(r1::format_count(950), "950");
  EXPECT_EQ(r1::format_count(950.4), "950");
  EXPECT_EQ(r1::format_count(1000), "1k");
  EXPECT_EQ(r1::format_count(999.6), "1k");  // rounding carries into the next unit
  EXPECT_EQ(r1::format_count(12345), "12.3k");
  EXPECT_EQ(r1::format_count(123456), "123k");
  EXPECT_EQ(r1::format_count(999999), "1M");
  EXPECT_EQ(r1::format_count(4.56e6), "4.56M");
  EXPECT_EQ(r1::format_count(1.2e9), "1.2G");
  EXPECT_EQ(r1::format_count(3.5e12), "3.5T");
  EXPECT_EQ(r1::format_count(2.5), "2.5");
  EXPECT_EQ(r1::format_count(0.5), "0.5");
  EXPECT_EQ(r1::format_count(0.0123), "0.0123");
  EXPECT_EQ(r1::format_count(-1500), "-1.5k");
  EXPECT_EQ(r1::format_count(std::nan("")), "nan");
  EXPECT_EQ(r1::format_count(std::numeric_limits<double>::infinity()), "inf");
}

TEST(Progress, FormatLine) {
  EXPECT_EQ(
      r1::format_progress_line("pretrain", 120, 1000, {{"loss", "2.3412"}, {"tok/s", "12.3k"}}, 62, 461),
      "pretrain  step 120/1000  loss 2.3412  tok/s 12.3k  elapsed 1m02s  eta 7m41s");
  EXPECT_EQ(r1::format_progress_line("sft", 0, 10, {}, 0, -1), "sft  step 0/10  elapsed 0.0s  eta --");
}

TEST(Progress, LogModePrintsFirstAndLastLines) {
  TmpFile tmp;
  ASSERT_NE(tmp.f, nullptr);
  {
    r1::Progress p("pretrain", 100, 0, tmp.f, /*terminal=*/false);
    // All within far less than 10 seconds: only the first and the last step are printed.
    for (int64_t s = 1; s <= 100; ++s) p.update(s, {{"loss", std::to_string(s)}});
    p.finish();
  }
  const std::string out = contents(tmp.f);
  EXPECT_EQ(count(out, "\n"), 2u) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.rfind("pretrain  step 1/100  loss 1  elapsed ", 0), 0u) << out;
  EXPECT_NE(out.find("pretrain  step 100/100  loss 100  elapsed "), std::string::npos) << out;
  EXPECT_NE(out.find("eta 0.0s\n"), std::string::npos) << out;
}

TEST(Progress, LogModeFinishShowsHeldBackUpdate) {
  TmpFile tmp;
  ASSERT_NE(tmp.f, nullptr);
  r1::Progress p("sft", 100, 40, tmp.f, false);
  p.update(41, {});
  p.update(45, {{"loss", "1.5"}});  // held back: less than 10 s since the last line
  EXPECT_EQ(count(contents(tmp.f), "\n"), 1u);
  p.finish();  // stopped early: the last state is still shown
  p.finish();  // twice is harmless
  const std::string out = contents(tmp.f);
  EXPECT_EQ(count(out, "\n"), 2u) << out;
  EXPECT_NE(out.find("sft  step 45/100  loss 1.5  elapsed "), std::string::npos) << out;
}

TEST(Progress, TerminalModeRedrawsOneLine) {
  TmpFile tmp;
  ASSERT_NE(tmp.f, nullptr);
  {
    r1::Progress p("pretrain", 1000, 0, tmp.f, /*terminal=*/true);
    for (int64_t s = 1; s <= 1000; ++s) p.update(s, {{"loss", s == 1 ? "3.0" : "2.0"}});
    p.finish();
  }
  const std::string out = contents(tmp.f);
  EXPECT_EQ(out.rfind("\rpretrain  step 1/1000  loss 3.0  elapsed ", 0), 0u) << out;
  EXPECT_NE(out.find("\rpretrain  step 1000/1000  loss 2.0  elapsed "), std::string::npos) << out;
  // A tight loop is redrawn at most ~10 times a second, not once per update (bounds kept
  // loose so a slow, loaded machine cannot make this fail).
  EXPECT_LT(count(out, "\r"), 100u) << out;
  EXPECT_EQ(count(out, "\x1b[K"), count(out, "\r"));  // every redraw clears the old tail
  EXPECT_EQ(count(out, "\n"), 1u);
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, TerminalFinishShowsLastUpdate) {
  TmpFile tmp;
  ASSERT_NE(tmp.f, nullptr);
  r1::Progress p("sft", 10, 0, tmp.f, true);
  p.update(1, {});
  p.update(2, {{"loss", "2.0"}});  // usually held back (within 0.1 s of the first draw)
  p.finish();
  const std::string out = contents(tmp.f);
  EXPECT_NE(out.find("\rsft  step 2/10  loss 2.0  elapsed "), std::string::npos) << out;
  EXPECT_LE(count(out, "\r"), 2u);
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, TerminalLineEndedWhenDestroyedWithoutFinish) {
  TmpFile tmp;
  ASSERT_NE(tmp.f, nullptr);
  { r1::Progress("x", 5, 0, tmp.f, true).update(1, {}); }
  const std::string out = contents(tmp.f);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(count(out, "\n"), 1u);
}
