#include "io/jsonl.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/encoding.h"
#include "io/json.h"

namespace r1 {

namespace {

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

}  // namespace

JsonlReader::JsonlReader(const std::string& path) : path_(path) {
  std::error_code ec;
  // An ifstream opens a directory without complaint and only fails on the first read.
  if (std::filesystem::is_directory(path, ec)) fail("{}: cannot read: is a directory", path);
  in_.open(path, std::ios::binary);
  if (!in_) fail("{}: cannot open: {}", path, std::strerror(errno));
}

bool JsonlReader::next(nlohmann::json& row) {
  while (std::getline(in_, buf_)) {
    ++line_no_;
    std::string_view text(buf_);
    if (line_no_ == 1) {
      require_utf8(text, path_);  // a UTF-16 file's first line holds its byte order mark or NULs
      if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    }
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (is_blank(text)) continue;
    row = parse_json(text, fmt::format("{}:{}", path_, line_no_), JsonText::Line);
    if (!row.is_object()) fail("{}:{}: expected a JSON object, got {}", path_, line_no_, row.type_name());
    row_line_ = line_no_;
    return true;
  }
  if (in_.bad()) fail("{}:{}: read error: {}", path_, line_no_ + 1, std::strerror(errno));
  return false;
}

std::string jsonl_string_field(const nlohmann::json& row, std::string_view field, const std::string& path,
                               size_t line) {
  if (!row.is_object()) fail("{}:{}: expected a JSON object, got {}", path, line, row.type_name());
  const auto it = row.find(field);
  if (it == row.end()) fail("{}:{}: field '{}' is missing", path, line, field);
  if (!it->is_string())
    fail("{}:{}: field '{}' must be a string, got {}", path, line, field, it->type_name());
  return it->get<std::string>();
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  JsonlReader reader(path);
  std::vector<nlohmann::json> rows;
  nlohmann::json row;
  while (reader.next(row)) rows.push_back(std::move(row));
  return rows;
}

}  // namespace r1
