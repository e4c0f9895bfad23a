#include "tokenizer/utf8.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "tokenizer/byte_tokenizer.h"

namespace r1::utf8 {

namespace {

inline bool is_cont(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

}  // namespace

size_t valid_len(std::string_view s, size_t i) {
  const size_t n = s.size();
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  if (b0 < 0xC2) return 0;  // continuation byte, or an overlong two-byte lead (C0, C1)
  if (b0 < 0xE0) return (i + 1 < n && is_cont(static_cast<unsigned char>(s[i + 1]))) ? 2 : 0;
  if (b0 < 0xF0) {
    if (i + 2 >= n) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    const auto b2 = static_cast<unsigned char>(s[i + 2]);
    if (!is_cont(b1) || !is_cont(b2)) return 0;
    if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
    if (b0 == 0xED && b1 >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (b0 < 0xF5) {
    if (i + 3 >= n) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    const auto b2 = static_cast<unsigned char>(s[i + 2]);
    const auto b3 = static_cast<unsigned char>(s[i + 3]);
    if (!is_cont(b1) || !is_cont(b2) || !is_cont(b3)) return 0;
    if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && b1 >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

size_t incomplete_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if (is_cont(c)) continue;
    size_t need = 0;
    if (c >= 0xC2 && c < 0xE0)
      need = 2;
    else if (c >= 0xE0 && c < 0xF0)
      need = 3;
    else if (c >= 0xF0 && c < 0xF5)
      need = 4;
    if (need <= back) return 0;  // ASCII, invalid lead, or a sequence that is already complete
    // The bytes present must be a valid prefix (the same second-byte limits as valid_len).
    if (back >= 2) {
      const auto b1 = static_cast<unsigned char>(s[n - back + 1]);
      if ((c == 0xE0 && b1 < 0xA0) || (c == 0xED && b1 >= 0xA0) || (c == 0xF0 && b1 < 0x90) ||
          (c == 0xF4 && b1 >= 0x90))
        return 0;
    }
    return back;
  }
  return 0;
}

bool is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = valid_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

uint32_t decode_at(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i + k])); };
  switch (n) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_ascii(std::string_view s) {
  // Eight bytes at a time: any high bit set means non-ASCII.
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ULL) return false;
  }
  for (; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  return true;
}

int byte_level_byte(uint32_t cp) {
  static const std::array<int16_t, 0x144> table = [] {
    std::array<int16_t, 0x144> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b) {
      const std::string c = byte_level_char(static_cast<uint8_t>(b));
      t[decode_at(c, 0, c.size())] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

bool byte_level_to_bytes(std::string_view text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    const size_t n = valid_len(text, i);
    if (n == 0 || n > 2) return false;  // every byte character is below U+0144
    const int b = byte_level_byte(decode_at(text, i, n));
    if (b < 0) return false;
    out += static_cast<char>(b);
    i += n;
  }
  return true;
}

std::string printable(std::string_view s, size_t limit) {
  std::string out;
  size_t i = 0;
  for (; i < s.size() && out.size() < limit;) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = valid_len(s, i);
    if (c < 0x20 || c == 0x7F || n == 0) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

}  // namespace r1::utf8
