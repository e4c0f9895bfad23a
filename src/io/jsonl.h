// JSON Lines input: one JSON object per line, read as a stream so data sets larger than
// memory work. Every data error names the file and the 1-based line, e.g.
// "data.jsonl:17: field 'text' is missing".
#pragma once

#include <cstddef>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class JsonlReader {
 public:
  explicit JsonlReader(const std::string& path);

  // Reads the next row into `row`; false at the end of the file. Blank lines are skipped;
  // CRLF line endings, a UTF-8 byte order mark on line 1 and a last line without a newline
  // are accepted. A line that is not valid JSON (parse_json: nesting deeper than
  // kJsonMaxDepth included), or not a JSON object, is an r1::Error, as is a UTF-16 or UTF-32
  // file (see require_utf8).
  bool next(nlohmann::json& row);

  // 1-based line number of the row last returned by next() (0 before the first).
  size_t line() const { return row_line_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::string buf_;  // reused between lines so streaming does not allocate per row
  size_t line_no_ = 0;
  size_t row_line_ = 0;
};

// The string field `field` of `row`; fails with "<path>:<line>: field 'text' is missing" or
// "... field 'text' must be a string, got number".
std::string jsonl_string_field(const nlohmann::json& row, std::string_view field, const std::string& path,
                               size_t line);

// Reads every row of a JSON Lines file; for small files (configs, evaluation sets).
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace r1
