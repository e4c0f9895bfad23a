#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/metrics.h"
#include "test_util.h"

namespace {

using r1::testing::error_of;
using r1::testing::scratch_dir;
using r1::testing::write_file;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST(Metrics, WritesCompactLinesFlushedAtOnce) {
  const std::string path = scratch_dir() + "/metrics.jsonl";
  r1::MetricsWriter w(path, false);
  EXPECT_EQ(w.path(), path);
  w.write({{"step", 1}, {"loss", 2.5}});
  // Visible to another reader while the writer is still open: nothing waits in a buffer.
  EXPECT_EQ(slurp(path), "{\"loss\":2.5,\"step\":1}\n");
  w.write({{"step", 2}, {"note", "a b"}});
  EXPECT_EQ(slurp(path), "{\"loss\":2.5,\"step\":1}\n{\"note\":\"a b\",\"step\":2}\n");
}

TEST(Metrics, AppendContinuesAndTruncateModeStartsOver) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/metrics.jsonl";
  { r1::MetricsWriter(path, false).write({{"step", 1}}); }
  { r1::MetricsWriter(path, true).write({{"step", 2}}); }
  EXPECT_EQ(slurp(path), "{\"step\":1}\n{\"step\":2}\n");
  { r1::MetricsWriter(path, false).write({{"step", 9}}); }
  EXPECT_EQ(slurp(path), "{\"step\":9}\n");
  const std::string fresh = dir + "/m.jsonl";
  { r1::MetricsWriter(fresh, true).write({{"step", 1}}); }
  EXPECT_EQ(slurp(fresh), "{\"step\":1}\n");
}

TEST(Metrics, AppendAfterTornLineStartsFreshLine) {
  const std::string path = scratch_dir() + "/metrics.jsonl";
  write_file(path, "{\"step\":1}\n{\"step\":2,\"lo");
  { r1::MetricsWriter(path, true).write({{"step", 2}}); }
  EXPECT_EQ(slurp(path), "{\"step\":1}\n{\"step\":2,\"lo\n{\"step\":2}\n");
  r1::truncate_metrics(path, 100);  // the torn line is dropped
  EXPECT_EQ(slurp(path), "{\"step\":1}\n{\"step\":2}\n");
}

TEST(Metrics, NonFiniteAndBadUtf8StillWriteValidJson) {
  const std::string path = scratch_dir() + "/metrics.jsonl";
  r1::MetricsWriter w(path, false);
  w.write({{"loss", std::nan("")}, {"s", "a\xff"}});
  const std::string text = slurp(path);
  EXPECT_EQ(text, "{\"loss\":null,\"s\":\"a\xEF\xBF\xBD\"}\n");
  EXPECT_TRUE(nlohmann::json::accept(text));
}

TEST(Metrics, OpenFailureNamesFile) {
  const std::string path = scratch_dir() + "/no/such/dir/metrics.jsonl";
  const std::string msg = error_of([&] { r1::MetricsWriter w(path, false); });
  EXPECT_EQ(msg.rfind(path + ": cannot open metrics file for writing: ", 0), 0u) << msg;
}

TEST(Metrics, TruncateKeepsStepsThroughCheckpoint) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/metrics.jsonl";
  write_file(path,
             "{\"run\":\"header\"}\n"
             "{\"step\":10,\"loss\":3}\n"
             "\n"
             "{\"step\":20,\"loss\":2}\r\n"
             "{\"step\":30,\"loss\":1}\n"
             "{\"step\":20,\"eval\":1.5}\n"
             "{\"step\":40,\"loss\":0.5}");
  r1::truncate_metrics(path, 20);
  EXPECT_EQ(slurp(path),
            "{\"run\":\"header\"}\n"
            "{\"step\":10,\"loss\":3}\n"
            "{\"step\":20,\"loss\":2}\n"
            "{\"step\":20,\"eval\":1.5}\n");
  EXPECT_EQ(files_in(dir), 1u);  // no temporary file left behind
  r1::truncate_metrics(path, 0);
  EXPECT_EQ(slurp(path), "{\"run\":\"header\"}\n");
  // Then appending goes on from the checkpoint.
  { r1::MetricsWriter(path, true).write({{"step", 1}}); }
  EXPECT_EQ(slurp(path), "{\"run\":\"header\"}\n{\"step\":1}\n");
}

TEST(Metrics, TruncateMissingFileIsNoOp) {
  const std::string dir = scratch_dir();
  EXPECT_NO_THROW(r1::truncate_metrics(dir + "/metrics.jsonl", 5));
  EXPECT_EQ(files_in(dir), 0u);
}

TEST(Metrics, TruncateInCurrentDirectoryRelativePath) {
  const std::string dir = scratch_dir();
  {
    // Restores the working directory even if truncate_metrics throws, so later tests in
    // this process are not affected.
    struct Cwd {
      std::filesystem::path old = std::filesystem::current_path();
      ~Cwd() { std::filesystem::current_path(old); }
    } guard;
    std::filesystem::current_path(dir);
    write_file("m.jsonl", "{\"step\":1}\n{\"step\":2}\n");
    r1::truncate_metrics("m.jsonl", 1);
  }
  EXPECT_EQ(slurp(dir + "/m.jsonl"), "{\"step\":1}\n");
}
