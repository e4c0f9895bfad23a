#include "io/json.h"

#include "core/error.h"
#include "core/strings.h"
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

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed JSON: {}", path, json_error_message(e));
  }
}

}  // namespace r1
