// Text encodings: r1 reads UTF-8 (a UTF-8 byte order mark is accepted where a reader skips it).
// A file saved as UTF-16 or UTF-32 (by Windows editors, PowerShell's `>`, ...) would otherwise
// surface as a puzzling parse error about a NUL byte or a strange character; these name the
// encoding instead.
#pragma once

#include <string>
#include <string_view>

namespace r1 {

// The encoding of a text that is not UTF-8, recognised from its first bytes: a UTF-16 or UTF-32
// byte order mark ("UTF-16 (byte order mark FF FE)"), or text whose first characters have the
// NUL bytes of UTF-16 or UTF-32 ("UTF-16 (big-endian, no byte order mark)"). "" for anything
// else (UTF-8, with or without its byte order mark, and text that is merely not valid UTF-8).
std::string foreign_encoding(std::string_view head);

// Fails with "WHERE: the file is UTF-16 (byte order mark FF FE); r1 reads UTF-8" when
// foreign_encoding(head) names an encoding ("the input is" when where names stdin).
void require_utf8(std::string_view head, const std::string& where);

// read_file(path) that refuses a UTF-16 or UTF-32 file (require_utf8).
std::string read_text_file(const std::string& path);

}  // namespace r1
