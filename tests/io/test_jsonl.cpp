#include <gtest/gtest.h>

#include "core/error.h"
#include "io/jsonl.h"
#include "test_util.h"

namespace {

using r1::testing::error_of;
using r1::testing::scratch_dir;
using r1::testing::write_file;

// Every row's "i" field with the line it came from.
std::vector<std::pair<int, size_t>> rows_and_lines(const std::string& path) {
  r1::JsonlReader reader(path);
  std::vector<std::pair<int, size_t>> out;
  nlohmann::json row;
  while (reader.next(row)) out.emplace_back(row.at("i").get<int>(), reader.line());
  EXPECT_FALSE(reader.next(row));  // stays at the end
  return out;
}

using Rows = std::vector<std::pair<int, size_t>>;

}  // namespace

TEST(Jsonl, ReadsRowsWithLineNumbers) {
  const auto path = write_file(scratch_dir() + "/basic.jsonl",
                               "{\"i\":1}\n\n  \t\n{\"i\":2, \"text\":\"a\\nb\"}\n{\"i\":3}\n");
  EXPECT_EQ(rows_and_lines(path), (Rows{{1, 1}, {2, 4}, {3, 5}}));
  r1::JsonlReader reader(path);
  EXPECT_EQ(reader.path(), path);
  EXPECT_EQ(reader.line(), 0u);
}

TEST(Jsonl, CrlfBomAndNoFinalNewline) {
  const std::string dir = scratch_dir();
  const auto path = write_file(dir + "/crlf.jsonl", "\xEF\xBB\xBF{\"i\":1}\r\n\r\n{\"i\":2}\r\n{\"i\":3}");
  EXPECT_EQ(rows_and_lines(path), (Rows{{1, 1}, {2, 3}, {3, 4}}));
  const auto no_nl = write_file(dir + "/nonl.jsonl", "{\"i\":1}\n{\"i\":2}");
  EXPECT_EQ(rows_and_lines(no_nl), (Rows{{1, 1}, {2, 2}}));
  const auto bom_only = write_file(dir + "/bomblank.jsonl", "\xEF\xBB\xBF\n{\"i\":5}\n");
  EXPECT_EQ(rows_and_lines(bom_only), (Rows{{5, 2}}));
}

TEST(Jsonl, EmptyAndBlankFiles) {
  const std::string dir = scratch_dir();
  EXPECT_TRUE(rows_and_lines(write_file(dir + "/empty.jsonl", "")).empty());
  EXPECT_TRUE(rows_and_lines(write_file(dir + "/blank.jsonl", "\n\r\n  \n")).empty());
}

TEST(Jsonl, KeepsUtf8Text) {
  const auto path =
      write_file(scratch_dir() + "/utf8.jsonl", "{\"text\":\"h\xC3\xA9llo \\u00e9 \xF0\x9F\x99\x82\"}\n");
  const auto rows = r1::read_jsonl(path);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["text"], "h\xC3\xA9llo \xC3\xA9 \xF0\x9F\x99\x82");
}

TEST(Jsonl, MalformedJsonNamesLine) {
  const std::string dir = scratch_dir();
  const auto path = write_file(dir + "/bad.jsonl", "{\"i\":1}\n{\"i\":2}\n{\"i\": 3,}\n");
  r1::JsonlReader reader(path);
  nlohmann::json row;
  EXPECT_TRUE(reader.next(row));
  EXPECT_TRUE(reader.next(row));
  const std::string msg = error_of([&] { reader.next(row); });
  EXPECT_EQ(msg.rfind(path + ":3: malformed JSON: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;

  const auto truncated = write_file(dir + "/trunc.jsonl", "{\"i\":1}\r\n{\"text\":\"abc");
  const std::string msg2 = error_of([&] { r1::read_jsonl(truncated); });
  EXPECT_EQ(msg2.rfind(truncated + ":2: malformed JSON: ", 0), 0u) << msg2;

  const auto two = write_file(dir + "/two.jsonl", "{} {}\n");
  EXPECT_EQ(error_of([&] { r1::read_jsonl(two); }).rfind(two + ":1: malformed JSON: ", 0), 0u);

  // Number overflow is nlohmann's out_of_range, not a parse_error: still a data error.
  const auto huge = write_file(dir + "/huge.jsonl", "{\"x\":1e999}\n");
  const std::string msg4 = error_of([&] { r1::read_jsonl(huge); });
  EXPECT_EQ(msg4.rfind(huge + ":1: malformed JSON: number overflow", 0), 0u) << msg4;

  const auto bad_utf8 = write_file(dir + "/badutf8.jsonl", "{\"text\":\"\xFF\"}\n");
  const std::string msg3 = error_of([&] { r1::read_jsonl(bad_utf8); });
  EXPECT_EQ(msg3.rfind(bad_utf8 + ":1: malformed JSON: ", 0), 0u) << msg3;
}

TEST(Jsonl, RowMustBeAnObject) {
  const std::string dir = scratch_dir();
  const auto path = write_file(dir + "/notobj.jsonl", "{\"i\":1}\n[1,2]\n");
  const std::string msg = error_of([&] { r1::read_jsonl(path); });
  EXPECT_EQ(msg.rfind(path + ":2: expected a JSON object", 0), 0u) << msg;
  const auto str = write_file(dir + "/str.jsonl", "\n\"text\"\n");
  EXPECT_EQ(error_of([&] { r1::read_jsonl(str); }).rfind(str + ":2: expected a JSON object", 0), 0u);
}

TEST(Jsonl, MissingFile) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/does_not_exist.jsonl";
  const std::string msg = error_of([&] { r1::JsonlReader reader(path); });
  EXPECT_EQ(msg.rfind(path + ": cannot open: ", 0), 0u) << msg;
  EXPECT_NE(error_of([&] { r1::JsonlReader reader(dir); }).find("is a directory"), std::string::npos);
}

TEST(Jsonl, StringField) {
  const nlohmann::json row = {{"text", "hi"}, {"n", 3}, {"z", nullptr}, {"a", {1, 2}}};
  EXPECT_EQ(r1::jsonl_string_field(row, "text", "data.jsonl", 17), "hi");
  EXPECT_EQ(error_of([&] { r1::jsonl_string_field(row, "txt", "data.jsonl", 17); }),
            "data.jsonl:17: field 'txt' is missing");
  EXPECT_EQ(error_of([&] { r1::jsonl_string_field(row, "n", "data.jsonl", 17); }),
            "data.jsonl:17: field 'n' must be a string, got number");
  EXPECT_EQ(error_of([&] { r1::jsonl_string_field(row, "z", "data.jsonl", 2); }),
            "data.jsonl:2: field 'z' must be a string, got null");
  EXPECT_EQ(error_of([&] { r1::jsonl_string_field(row, "a", "data.jsonl", 2); }),
            "data.jsonl:2: field 'a' must be a string, got array");
}

TEST(Jsonl, StringFieldFromReader) {
  const auto path = write_file(scratch_dir() + "/field.jsonl", "{\"text\":\"a\"}\n\n{\"text\":5}\n");
  r1::JsonlReader reader(path);
  nlohmann::json row;
  ASSERT_TRUE(reader.next(row));
  EXPECT_EQ(r1::jsonl_string_field(row, "text", reader.path(), reader.line()), "a");
  ASSERT_TRUE(reader.next(row));
  EXPECT_EQ(error_of([&] { r1::jsonl_string_field(row, "text", reader.path(), reader.line()); }),
            path + ":3: field 'text' must be a string, got number");
}

TEST(Jsonl, StreamsManyRows) {
  std::string content;
  for (int i = 0; i < 20000; ++i)
    content += "{\"i\":" + std::to_string(i) + "}" + (i % 3 == 0 ? "\r\n" : "\n");
  const auto path = write_file(scratch_dir() + "/many.jsonl", content);
  const auto rows = rows_and_lines(path);
  ASSERT_EQ(rows.size(), 20000u);
  for (size_t k = 0; k < rows.size(); ++k) {
    ASSERT_EQ(rows[k].first, static_cast<int>(k));
    ASSERT_EQ(rows[k].second, k + 1);
  }
}
