// JSON helpers shared by every reader of JSON files: one-line errors naming the file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace r1 {

// nlohmann's exception text without its "[json.exception.x.y]" tag, with control and non-ASCII
// bytes escaped as \xNN so a message quoting hostile input stays one printable line.
std::string json_error_message(const nlohmann::json::exception& e);

// Reads and parses a whole JSON file; fails with "PATH: malformed JSON: ...".
nlohmann::json read_json_file(const std::string& path);

}  // namespace r1
