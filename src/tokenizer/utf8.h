// UTF-8 helpers for the tokenizers. Text reaching a tokenizer may hold invalid UTF-8 (the
// byte-level tokenizers must round-trip any bytes), so every helper says what it does with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace r1::utf8 {

// Length (1-4) of the well-formed UTF-8 sequence starting at s[i], or 0 when the bytes there
// are not one (a stray continuation byte, an overlong form, a surrogate, a code point past
// U+10FFFF, or a sequence cut short by the end of s or by a non-continuation byte).
size_t valid_len(std::string_view s, size_t i);

// Length of the unit starting at s[i]: the well-formed sequence, or 1 for a byte that does not
// start one. Walking s with unit_len visits every byte exactly once.
inline size_t unit_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  const size_t n = valid_len(s, i);
  return n == 0 ? 1 : n;
}

// Number of bytes at the end of s that are a proper prefix of a well-formed sequence (a lead
// byte and fewer continuation bytes than it announces, all of them still valid): 0 to 3.
// A streaming decoder holds these back until the rest arrives.
size_t incomplete_tail(std::string_view s);

// True when s is well-formed UTF-8.
bool is_valid(std::string_view s);

// The code point of the well-formed sequence at s[i] of length n (n from valid_len).
uint32_t decode_at(std::string_view s, size_t i, size_t n);

// Appends the UTF-8 encoding of code point cp (cp <= U+10FFFF, not a surrogate).
void append(std::string& out, uint32_t cp);

// True when every byte is ASCII (< 0x80).
bool is_ascii(std::string_view s);

// The byte that GPT-2's byte-level alphabet writes as code point cp (the inverse of
// r1::byte_level_char), or -1 when cp is not one of its 256 characters.
int byte_level_byte(uint32_t cp);

// GPT-2 byte-level text back to raw bytes: false when a character is not a byte character
// (out is then unspecified).
bool byte_level_to_bytes(std::string_view text, std::string& out);

// s with control bytes and bytes >= 0x80 that are not well-formed UTF-8 escaped as \xNN, cut to
// about `limit` bytes: for quoting file contents in one-line error messages.
std::string printable(std::string_view s, size_t limit = 80);

}  // namespace r1::utf8
