// The one JSON reader: every JSON text the program reads (files, JSON Lines rows, stdin, grader
// replies, command-line values) goes through parse_json or its variants here, never through
// nlohmann::json::parse directly. One-line errors name the file (and line).
//
// Nesting is limited to kJsonMaxDepth levels of arrays and objects. The limit is checked by a
// scan of the text before nlohmann builds anything, so a hostile document nested hundreds of
// thousands of levels deep is refused in linear time instead of overflowing the stack (in
// nlohmann's recursive copy and dump, or in our own walkers over the value). Real files nest a
// handful of levels (a tokenizer.json about 6). The scan costs under 5% of nlohmann's parse
// (Qwen3's 11 MB tokenizer.json: 28 ms against 700 ms).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace r1 {

// The deepest nesting of arrays and objects accepted: "[[1]]" nests 2 levels.
inline constexpr int kJsonMaxDepth = 512;

// What a text is, for positions in messages: a whole document (positions are "line L, column
// C"), or one line of a JSON Lines file whose `where` already names the line ("column C").
enum class JsonText { Document, Line };

// nlohmann's exception text without its "[json.exception.x.y]" tag, with control and non-ASCII
// bytes escaped as \xNN so a message quoting hostile input stays one printable line.
std::string json_error_message(const nlohmann::json::exception& e);

struct JsonPosition {
  size_t line = 1, column = 1;  // 1-based; the column counts bytes
};

// Where text first nests deeper than max_depth (at the bracket that opens level max_depth + 1);
// nullopt when it does not. Brackets inside strings do not count. Linear in the text's size.
std::optional<JsonPosition> json_too_deep(std::string_view text, int max_depth = kJsonMaxDepth);

// Fails with "WHERE: JSON nests deeper than 512 levels (line L, column C)" (kind Line:
// "(column C)") when text does.
void check_json_depth(std::string_view text, const std::string& where, JsonText kind = JsonText::Document);

// Parses text (Json: nlohmann::json or nlohmann::ordered_json, which keeps key order). Fails
// with "WHERE: the file is UTF-16 ...; r1 reads UTF-8" (see require_utf8; kind Document only: a
// JSON Lines reader checks its first line with the file's name), "WHERE: JSON nests
// deeper than ...", or "WHERE: malformed JSON: ..." (kind Line: nlohmann's "at line 1, " dropped;
// a NUL byte anywhere is malformed: nlohmann would stop reading there and accept the rest).
template <class Json = nlohmann::json>
Json parse_json(std::string_view text, const std::string& where, JsonText kind = JsonText::Document);
extern template nlohmann::json parse_json<nlohmann::json>(std::string_view, const std::string&, JsonText);
extern template nlohmann::ordered_json parse_json<nlohmann::ordered_json>(std::string_view,
                                                                          const std::string&, JsonText);

// For input whose malformed JSON is not an error (a gold answer that may be JSON, a grader's
// reply, a metrics row): a discarded value (is_discarded()) when text is not JSON (a NUL byte
// included) or nests more than kJsonMaxDepth levels. Never throws for bad input.
template <class Json = nlohmann::json>
Json parse_json_or_discarded(std::string_view text);
extern template nlohmann::json parse_json_or_discarded<nlohmann::json>(std::string_view);
extern template nlohmann::ordered_json parse_json_or_discarded<nlohmann::ordered_json>(std::string_view);

// For a reader that needs nlohmann's parser callback (the safetensors header, which rejects
// duplicate keys): the depth check as parse_json, then nlohmann's parser with cb (which stops at
// a NUL byte, as the safetensors reader always has: its header is a binary file's field).
// nlohmann's parse errors propagate as nlohmann::json::exception for the caller to word.
nlohmann::json parse_json_with_callback(std::string_view text, const std::string& where,
                                        const nlohmann::json::parser_callback_t& cb);

// Reads and parses a whole JSON file; fails as parse_json, naming path.
nlohmann::json read_json_file(const std::string& path);

}  // namespace r1
