#include "io/encoding.h"

#include "core/error.h"
#include "io/file.h"

namespace r1 {

std::string foreign_encoding(std::string_view head) {
  auto b = [&](size_t k) { return k < head.size() ? static_cast<unsigned char>(head[k]) : 0x100u; };
  // Byte order marks; UTF-32LE's starts with UTF-16LE's, so it is tested first.
  if (b(0) == 0xFF && b(1) == 0xFE && b(2) == 0 && b(3) == 0) return "UTF-32 (byte order mark FF FE 00 00)";
  if (b(0) == 0 && b(1) == 0 && b(2) == 0xFE && b(3) == 0xFF) return "UTF-32 (byte order mark 00 00 FE FF)";
  if (b(0) == 0xFF && b(1) == 0xFE) return "UTF-16 (byte order mark FF FE)";
  if (b(0) == 0xFE && b(1) == 0xFF) return "UTF-16 (byte order mark FE FF)";
  // No mark: the text starts with an ASCII character ('{', '[', a letter), which UTF-16 and
  // UTF-32 write with one or three NUL bytes beside it. UTF-8 text has no NUL bytes.
  if (head.size() >= 4 && b(0) != 0 && b(1) == 0 && b(2) == 0 && b(3) == 0)
    return "UTF-32 (little-endian, no byte order mark)";
  if (head.size() >= 4 && b(0) == 0 && b(1) == 0 && b(2) == 0 && b(3) != 0)
    return "UTF-32 (big-endian, no byte order mark)";
  if (head.size() >= 2 && b(0) != 0 && b(1) == 0) return "UTF-16 (little-endian, no byte order mark)";
  if (head.size() >= 2 && b(0) == 0 && b(1) != 0) return "UTF-16 (big-endian, no byte order mark)";
  return "";
}

void require_utf8(std::string_view head, const std::string& where) {
  const std::string enc = foreign_encoding(head);
  if (enc.empty()) return;
  const bool input = where.starts_with("stdin") || where == "-";
  fail("{}: the {} is {}; r1 reads UTF-8", where, input ? "input" : "file", enc);
}

std::string read_text_file(const std::string& path) {
  std::string text = read_file(path);
  require_utf8(text, path);
  return text;
}

}  // namespace r1
