// r1 report: the HTML page built from a run directory (charts, samples, escaping), the errors for
// bad metrics files, the cut-short last line, the empty file, and the axis tick helpers.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/file.h"
#include "report/report.h"
#include "run_r1.h"
#include "test_util.h"
#include "tokenizer/utf8.h"

namespace r1::report {
namespace {

using r1::testing::expect_error;
using r1::testing::scratch_dir;
using r1::testing::write_file;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// The points of every raw polyline of a series, one entry per polyline (a null splits a line).
std::vector<size_t> polyline_points(const std::string& html, const std::string& series) {
  const std::string start = "<polyline class=\"series\" data-series=\"" + series + "\"", attr = " points=\"";
  std::vector<size_t> out;
  for (size_t p = html.find(start); p != std::string::npos; p = html.find(start, p + 1)) {
    const size_t from = html.find(attr, p) + attr.size();
    out.push_back(count(html.substr(from, html.find('"', from) - from), ","));
  }
  return out;
}

// A GRPO-like run: 10 training steps with nulls in accuracy at steps 3 and 7, evaluation rows at
// steps 0, 5 and 9 carrying only eval keys.
std::string grpo_run() {
  const std::string dir = scratch_dir() + "/run-7";
  std::filesystem::create_directories(dir);
  std::string m;
  for (int s = 0; s < 10; ++s) {
    const std::string acc = (s == 3 || s == 7) ? "null" : std::to_string(0.1 * s);
    m += fmt::format(
        "{{\"step\":{},\"reward_mean\":{},\"reward/accuracy\":{},\"reward/format\":0.9,\"accuracy\":{},"
        "\"response_length_mean\":{},\"kl\":0.001,\"entropy\":1.2,\"clip_fraction\":0.01,\"grad_norm\":0.5,"
        "\"lr\":1e-6,\"loss\":0.02,\"rollout_s\":3.5,\"update_s\":1.5,\"zero_variance_groups\":2,"
        "\"elapsed_s\":{},\"note\":\"text is ignored\"}}\n",
        s, 0.1 * s, 0.1 * s, acc, 100 + 10 * s, 65.0 * s);
    if (s == 0 || s == 5 || s == 9)
      m += fmt::format(
          "{{\"step\":{},\"eval/pass@1\":{},\"eval/cons@8\":0.2,\"eval/response_length_mean\":31.0}}\n", s,
          0.05 * s);
  }
  write_file(dir + "/metrics.jsonl", m);
  return dir;
}

TEST(ReportTest, ChartsOfASyntheticRun) {
  const std::string dir = grpo_run();
  write_file(
      dir + "/samples.jsonl",
      "{\"step\":9,\"prompt\":\"What is 6*7?\",\"completion\":\"<think>hmm</think> 42\",\"reward\":1.0,"
      "\"gold\":\"42\"}\n");
  write_file(dir + "/recipe.toml", "[grpo]\nname = \"<b>bold</b>\"\n");
  write_report(dir);
  const std::string html = read_file(dir + "/report.html");
  EXPECT_NE(html.find("<title>r1 report: run-7</title>"), std::string::npos);
  for (const char* title :
       {"Accuracy vs step", "Mean response length vs step", "Reward", "KL", "Entropy", "Clip fraction",
        "Grad norm", "Learning rate", "Loss", "Timings (s)", "Other metrics"})
    EXPECT_NE(html.find(title), std::string::npos) << title;
  // The remaining numeric keys get a small chart each; text does not.
  EXPECT_NE(html.find("<figcaption>zero_variance_groups</figcaption>"), std::string::npos);
  EXPECT_NE(html.find("<figcaption>elapsed_s</figcaption>"), std::string::npos);
  EXPECT_EQ(html.find("<figcaption>note</figcaption>"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), count(html, "<figure>"));
  EXPECT_EQ(count(html, "<svg"), 10u + 2u);
  // Figure 2 holds training accuracy and the eval curves; figure 3 both length curves.
  const size_t fig2 = html.find("Accuracy vs step"), fig3 = html.find("Mean response length vs step");
  ASSERT_LT(fig2, fig3);
  for (const char* key : {"\"accuracy\"", "\"eval/pass@1\"", "\"eval/cons@8\""})
    EXPECT_LT(html.find(std::string("data-series=") + key), fig3) << key;
  EXPECT_GT(html.find("data-series=\"eval/response_length_mean\""), fig3);
  // Summary, recipe (escaped), samples.
  EXPECT_NE(html.find("13 rows, steps 0 to 9"), std::string::npos);
  EXPECT_NE(html.find("elapsed 9m 45s"), std::string::npos);
  EXPECT_NE(
      html.find("<summary>recipe.toml</summary><pre>[grpo]\nname = &quot;&lt;b&gt;bold&lt;/b&gt;&quot;"),
      std::string::npos);
  EXPECT_NE(html.find("<h3>step 9</h3>"), std::string::npos);
  EXPECT_NE(html.find("&lt;think&gt;hmm&lt;/think&gt; 42"), std::string::npos);
  EXPECT_NE(html.find("<b>gold</b> 42"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

// Reflection curves get their own chart, and the run's first self-correcting rollout (a
// samples.jsonl row of kind kFirstSelfCorrection) its own section, before the samples.
TEST(ReportTest, ReflectionChartAndFirstSelfCorrection) {
  const std::string dir = scratch_dir() + "/run-reflect";
  std::filesystem::create_directories(dir);
  std::string m;
  for (int s = 1; s <= 4; ++s)
    m += fmt::format(
        "{{\"step\":{},\"accuracy\":0.5,\"response_length_mean\":60,\"response_length_correct\":70,"
        "\"response_length_wrong\":50,\"reflection_rate\":{},\"check_rate\":{},\"self_correction_rate\":0.01}"
        "}\n",
        s, 0.1 * s, 0.05 * s);
  m += "{\"step\":4,\"eval/pass@1\":0.5,\"eval/check_rate\":0.2,\"eval/reflection_rate\":0.3}\n";
  write_file(dir + "/metrics.jsonl", m);
  write_file(dir + "/samples.jsonl",
             "{\"step\":2,\"prompt\":\"p\",\"completion\":\"ordinary\",\"reward\":0.0}\n"
             "{\"step\":3,\"prompt\":\"p\",\"completion\":\"2+8=11 check 2+8=10\",\"reward\":1.5,"
             "\"kind\":\"first self-correction\"}\n"
             "{\"step\":4,\"prompt\":\"p\",\"completion\":\"later\",\"kind\":7}\n");
  write_report(dir);
  const std::string html = read_file(dir + "/report.html");
  const size_t len = html.find("Mean response length vs step"), refl = html.find("Reflection vs step");
  ASSERT_NE(refl, std::string::npos);
  ASSERT_LT(len, refl);
  for (const char* key : {"\"response_length_correct\"", "\"response_length_wrong\""}) {
    EXPECT_GT(html.find(std::string("data-series=") + key), len) << key;
    EXPECT_LT(html.find(std::string("data-series=") + key), refl) << key;
  }
  for (const char* key : {"\"reflection_rate\"", "\"check_rate\"", "\"self_correction_rate\"",
                          "\"eval/check_rate\"", "\"eval/reflection_rate\""})
    EXPECT_GT(html.find(std::string("data-series=") + key), refl) << key;
  const size_t first = html.find("<h2>First self-correction (step 3)</h2>");
  ASSERT_NE(first, std::string::npos);
  EXPECT_LT(first, html.find("<h2>Sample completions</h2>"));
  EXPECT_NE(html.find("2+8=11 check 2+8=10", first), std::string::npos);
}

TEST(ReportTest, PolylinePointsAreTheNonNullValues) {
  const std::string html = render_report(grpo_run());
  // accuracy: 10 rows, nulls at steps 3 and 7 split it into 3 + 3 + 2 points.
  EXPECT_EQ(polyline_points(html, "accuracy"), (std::vector<size_t>{3, 3, 2}));
  // Sparse eval rows: only the rows that carry the key, no gaps.
  EXPECT_EQ(polyline_points(html, "eval/pass@1"), (std::vector<size_t>{3}));
  EXPECT_EQ(polyline_points(html, "reward_mean"), (std::vector<size_t>{10}));
  // Few points: dots too; no moving average.
  EXPECT_GT(count(html, "<circle"), 0u);
  EXPECT_EQ(count(html, "class=\"ma\""), 0u);
}

TEST(ReportTest, LongSeriesGetAMovingAverage) {
  const std::string dir = scratch_dir();
  std::string m;
  for (int s = 0; s < 80; ++s)
    m += fmt::format("{{\"step\":{},\"loss\":{}}}\n", s, 3.0 - 0.01 * s + (s % 2) * 0.2);
  write_file(dir + "/metrics.jsonl", m);
  const std::string html = render_report(dir);
  EXPECT_EQ(polyline_points(html, "loss"), (std::vector<size_t>{80}));
  EXPECT_EQ(count(html, "<polyline class=\"ma\" data-series=\"loss\""), 1u);
  EXPECT_EQ(count(html, "<circle"), 0u);
}

TEST(ReportTest, EscapesSampleTextAndInvalidUtf8) {
  const std::string dir = scratch_dir();
  write_file(dir + "/metrics.jsonl", "{\"step\":1,\"accuracy\":0.5}\n");
  // Raw invalid bytes in a string (\xff, a cut 3-byte sequence) and a control character.
  write_file(dir + "/samples.jsonl",
             "{\"step\":1,\"prompt\":\"a & b\",\"completion\":\"<script>alert('x')</script>\xff\xe2\x82 ok\","
             "\"reward\":0,\"gold\":{\"numbers\":[1,2],\"target\":\"<3\"},\"extra\":\"\\u0001\"}\n");
  const std::string html = render_report(dir);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(
      html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok"),
      std::string::npos);
  EXPECT_NE(html.find("a &amp; b"), std::string::npos);
  EXPECT_NE(html.find("&quot;target&quot;:&quot;&lt;3&quot;"), std::string::npos);
  EXPECT_NE(html.find("<b>extra</b> \xEF\xBF\xBD"), std::string::npos);
  EXPECT_TRUE(utf8::is_valid(html));

  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("caf\xC3\xA9 \xC3 \xED\xA0\x80\n"),
            "caf\xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\n");
}

TEST(ReportTest, SamplesShowTheLatestStepsFirst) {
  const std::string dir = scratch_dir();
  write_file(dir + "/metrics.jsonl", "{\"step\":0,\"loss\":1}\n");
  std::string s;
  for (int step = 0; step < 25; ++step)
    s += fmt::format("{{\"step\":{},\"completion\":\"c{}\"}}\n", step, step);
  write_file(dir + "/samples.jsonl", s);
  const std::string html = render_report(dir);
  EXPECT_EQ(count(html, "<h3>step "), 20u);
  EXPECT_LT(html.find("<h3>step 24</h3>"), html.find("<h3>step 23</h3>"));
  EXPECT_NE(html.find("<h3>step 5</h3>"), std::string::npos);
  EXPECT_EQ(html.find("<h3>step 4</h3>"), std::string::npos);
}

TEST(ReportTest, CutShortLastLineIsSkipped) {
  const std::string dir = scratch_dir();
  write_file(dir + "/metrics.jsonl", "{\"step\":0,\"loss\":2}\n{\"step\":1,\"loss\":1.5}\n{\"step\":2,\"lo");
  const std::string html = render_report(dir);
  EXPECT_EQ(polyline_points(html, "loss"), (std::vector<size_t>{2}));
  // A complete last line without a newline is kept.
  write_file(dir + "/metrics.jsonl", "{\"step\":0,\"loss\":2}\n{\"step\":1,\"loss\":1.5}");
  EXPECT_EQ(polyline_points(render_report(dir), "loss"), (std::vector<size_t>{2}));
  // The same cut line followed by a newline is an error.
  write_file(dir + "/metrics.jsonl", "{\"step\":0,\"loss\":2}\n{\"step\":2,\"lo\n");
  expect_error([&] { render_report(dir); }, {"metrics.jsonl:2:", "malformed JSON"});
}

TEST(ReportTest, Errors) {
  const std::string dir = scratch_dir();
  expect_error([&] { write_report(dir + "/nope"); }, {dir + "/nope", "no such run directory"});
  expect_error([&] { write_report(dir); }, {dir + "/metrics.jsonl", "no metrics.jsonl"});
  write_file(dir + "/metrics.jsonl", "{\"step\":0}\n\nnot json\n{\"step\":1}\n");
  expect_error([&] { write_report(dir); }, {"metrics.jsonl:3:", "malformed JSON"});
  write_file(dir + "/metrics.jsonl", "{\"step\":0}\n[1,2]\n");
  expect_error([&] { write_report(dir); }, {"metrics.jsonl:2:", "not a JSON object (got array)"});
  write_file(dir + "/metrics.jsonl", "{\"step\":0}\n{\"step\":1}\n{\"loss\":1}\n");
  expect_error([&] { write_report(dir); }, {"metrics.jsonl:3:", "no numeric \"step\""});
  write_file(dir + "/metrics.jsonl", "{\"step\":\"4\",\"loss\":1}\n");
  expect_error([&] { write_report(dir); }, {"metrics.jsonl:1:", "no numeric \"step\""});
  write_file(dir + "/metrics.jsonl", "{\"step\":0}\n");
  write_file(dir + "/samples.jsonl", "{\"step\":0}\n{\"completion\":\"x\"}\n");
  expect_error([&] { write_report(dir); }, {"samples.jsonl:2:", "no numeric \"step\""});
  EXPECT_FALSE(std::filesystem::exists(dir + "/report.html"));
}

TEST(ReportTest, EmptyMetricsSaysNothingToPlot) {
  const std::string dir = scratch_dir();
  write_file(dir + "/metrics.jsonl", "");
  write_report(dir);
  const std::string html = read_file(dir + "/report.html");
  EXPECT_NE(html.find("Nothing to plot: metrics.jsonl has no rows."), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(ReportTest, CommandLine) {
  const std::string dir = grpo_run();
  r1::testing::RunResult r = r1::testing::run_r1({"report", dir});
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_EQ(r.err, "report: wrote " + dir + "/report.html\n");
  EXPECT_NE(read_file(dir + "/report.html").find("Accuracy vs step"), std::string::npos);
  write_file(dir + "/metrics.jsonl", "{\"step\":0}\n{}\n");
  r = r1::testing::run_r1({"report", dir});
  EXPECT_TRUE(r1::testing::IsOneLineError(r, {"metrics.jsonl:2:", "no numeric \"step\""}));
}

TEST(ReportTest, NiceTicks) {
  auto near = [](const std::vector<double>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
  };
  near(nice_ticks(0, 0.93), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  near(nice_ticks(0.013, 0.087), {0, 0.02, 0.04, 0.06, 0.08, 0.1});
  near(nice_ticks(0, 1000), {0, 200, 400, 600, 800, 1000});
  near(nice_ticks(37, 512, 5), {0, 100, 200, 300, 400, 500, 600});
  near(nice_ticks(-0.3, 0.3, 4), {-0.4, -0.2, 0, 0.2, 0.4});
  near(nice_ticks(0, 3, 10, 1), {0, 1, 2, 3});  // steps: never less than 1 apart
  // One value: widened around it.
  near(nice_ticks(5, 5), {4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6});
  near(nice_ticks(0, 0), {-1, -0.5, 0, 0.5, 1});

  EXPECT_EQ(format_tick(0.30000000000000004, 0.1), "0.3");
  EXPECT_EQ(format_tick(0.05, 0.01), "0.05");
  EXPECT_EQ(format_tick(1500, 500), "1500");
  EXPECT_EQ(format_tick(-2e-17, 0.2), "0");
  EXPECT_EQ(format_tick(3e-5, 1e-5), "3e-05");
  EXPECT_EQ(format_tick(2.5e-6, 5e-7), "2.5e-06");
  EXPECT_EQ(format_tick(3e7, 1e7), "3e+07");
}

}  // namespace
}  // namespace r1::report
