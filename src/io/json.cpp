#include "io/json.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/strings.h"
#include "io/encoding.h"
#include "io/file.h"

namespace r1 {

std::string json_error_message(const nlohmann::json::exception& e) {
  std::string msg = e.what();
  if (msg.rfind("[json.exception.", 0) == 0) {
    const size_t close = msg.find("] ");
    if (close != std::string::npos) msg.erase(0, close + 2);
  }
  return printable(msg, msg.size(), /*ascii_only=*/true);
}

std::optional<JsonPosition> json_too_deep(std::string_view text, int max_depth) {
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* line_start = begin;
  size_t line = 1;
  int depth = 0;
  for (const char* p = begin; p < end; ++p) {
    switch (*p) {
      case '"': {
        // Skip the string: brackets in it are text. Its end is the next quote not escaped by an
        // odd run of backslashes (memchr keeps this fast: strings are most of a tokenizer.json).
        const char* q = p + 1;
        while ((q = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end - q)))) != nullptr) {
          const char* b = q;
          while (b > p + 1 && b[-1] == '\\') --b;
          if ((q - b) % 2 == 0) break;
          ++q;
        }
        const char* close = q ? q : end;
        // A raw newline in a string is invalid JSON (the parser reports it), but keep counting.
        for (const char* nl = p; (nl = static_cast<const char*>(std::memchr(
                                      nl + 1, '\n', static_cast<size_t>(close - nl - 1)))) != nullptr;) {
          ++line;
          line_start = nl + 1;
        }
        p = q ? q : end - 1;
        break;
      }
      case '[':
      case '{':
        if (++depth > max_depth) return JsonPosition{line, static_cast<size_t>(p - line_start) + 1};
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;  // unbalanced: the parser reports it
        break;
      case '\n':
        ++line;
        line_start = p + 1;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

void check_json_depth(std::string_view text, const std::string& where, JsonText kind) {
  const auto at = json_too_deep(text);
  if (!at) return;
  if (kind == JsonText::Line)
    fail("{}: JSON nests deeper than {} levels (column {})", where, kJsonMaxDepth, at->column);
  fail("{}: JSON nests deeper than {} levels (line {}, column {})", where, kJsonMaxDepth, at->line,
       at->column);
}

namespace {

// nlohmann's lexer takes a NUL byte for the end of the input and ignores what follows, so
// "{}\0garbage" would parse. A raw NUL is never valid JSON (not even inside a string).
std::optional<JsonPosition> nul_byte(std::string_view text) {
  const size_t at = text.find('\0');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view before = text.substr(0, at);
  const size_t nl = before.rfind('\n');
  const auto lines = static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  return JsonPosition{1 + lines, nl == std::string_view::npos ? at + 1 : at - nl};
}

}  // namespace

template <class Json>
Json parse_json(std::string_view text, const std::string& where, JsonText kind) {
  if (kind == JsonText::Document) require_utf8(text, where);  // JSON Lines readers check line 1
  if (const auto at = nul_byte(text)) {
    if (kind == JsonText::Line) fail("{}: malformed JSON: a NUL byte at column {}", where, at->column);
    fail("{}: malformed JSON: a NUL byte at line {}, column {}", where, at->line, at->column);
  }
  check_json_depth(text, where, kind);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string msg = json_error_message(e);
    // Each JSON Lines row is line 1 of its own parse: where already names the line.
    constexpr std::string_view kLine1 = "parse error at line 1, ";
    if (kind == JsonText::Line && msg.starts_with(kLine1)) msg.erase(0, kLine1.size());
    fail("{}: malformed JSON: {}", where, msg);
  }
}

template nlohmann::json parse_json<nlohmann::json>(std::string_view, const std::string&, JsonText);
template nlohmann::ordered_json parse_json<nlohmann::ordered_json>(std::string_view, const std::string&,
                                                                   JsonText);

template <class Json>
Json parse_json_or_discarded(std::string_view text) {
  if (nul_byte(text) || json_too_deep(text)) return Json(nlohmann::json::value_t::discarded);
  return Json::parse(text, nullptr, /*allow_exceptions=*/false);
}

template nlohmann::json parse_json_or_discarded<nlohmann::json>(std::string_view);
template nlohmann::ordered_json parse_json_or_discarded<nlohmann::ordered_json>(std::string_view);

nlohmann::json parse_json_with_callback(std::string_view text, const std::string& where,
                                        const nlohmann::json::parser_callback_t& cb) {
  check_json_depth(text, where);
  return nlohmann::json::parse(text, cb);
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_file(path), path);
}

}  // namespace r1
