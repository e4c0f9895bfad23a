#include "tokenizer/pretok_fast.h"

#include <array>
#include <cstdint>

#include "tokenizer/components.h"

namespace r1::tok {

namespace {

// Character classes of the patterns, for ASCII bytes: letters (\p{L}), digits (\p{N}),
// whitespace (\s: tab, LF, VT, FF, CR, space), anything else; kX for bytes >= 0x80, whose
// class only the regex may decide.
enum Cls : uint8_t { kL, kN, kS, kP, kX };

constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (int b = 0; b < 256; ++b) {
    if (b >= 0x80)
      t[b] = kX;
    else if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'))
      t[b] = kL;
    else if (b >= '0' && b <= '9')
      t[b] = kN;
    else if ((b >= 0x09 && b <= 0x0D) || b == ' ')
      t[b] = kS;
    else
      t[b] = kP;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kTable = make_table();

constexpr size_t kFallback = 0;  // "let the regex decide": a real match always ends after its start

struct Text {
  const unsigned char* t;
  size_t n;
  uint8_t cls(size_t k) const { return kTable[t[k]]; }
  // End of the run of class c starting at k; kFallback when the run stops at a non-ASCII byte
  // (which might continue it).
  size_t run(size_t k, uint8_t c) const {
    while (k < n && cls(k) == c) ++k;
    return (k < n && cls(k) == kX) ? kFallback : k;
  }
};

inline unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + 32) : c;
}

// The whitespace alternatives shared by all three patterns, at a whitespace byte i:
//   (Llama-3/Qwen2 only) \s*[\r\n]+  — through the last CR/LF of the whitespace run;
//   \s+(?!\S)                        — the run, less its last character unless it ends the text;
//   \s+                              — the run.
size_t whitespace(const Text& s, size_t i, bool newline_alt) {
  size_t j = i, last_nl = SIZE_MAX;
  while (j < s.n && s.cls(j) == kS) {
    if (s.t[j] == '\r' || s.t[j] == '\n') last_nl = j;
    ++j;
  }
  if (j < s.n && s.cls(j) == kX) return kFallback;  // a Unicode space would extend the run
  if (newline_alt && last_nl != SIZE_MAX) return last_nl + 1;
  if (j == s.n) return j;
  if (j - 1 > i) return j - 1;
  return j;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+   with D = 3 (Llama-3) or 1 (Qwen2).
size_t match_llama(const Text& s, size_t i, size_t max_digits) {
  const unsigned char c = s.t[i];
  const uint8_t ci = s.cls(i);
  if (ci == kX) return kFallback;
  if (c == '\'' && i + 1 < s.n) {
    const unsigned char d = s.t[i + 1];
    if (d >= 0x80) return kFallback;  // case-insensitive 's also matches U+017F
    const unsigned char ld = lower(d);
    if (ld == 's' || ld == 't' || ld == 'm' || ld == 'd') return i + 2;
    if (i + 2 < s.n) {
      const unsigned char le = lower(s.t[i + 2]);
      if (((ld == 'r' || ld == 'v') && le == 'e') || (ld == 'l' && le == 'l')) return i + 3;
    }
  }
  if (ci == kL) return s.run(i, kL);
  if (c != '\r' && c != '\n' && ci != kN && i + 1 < s.n) {
    const uint8_t c1 = s.cls(i + 1);
    if (c1 == kX) return kFallback;
    if (c1 == kL) return s.run(i + 1, kL);
  }
  if (ci == kN) {
    size_t k = i;
    while (k < s.n && k - i < max_digits && s.cls(k) == kN) ++k;
    if (k - i < max_digits && k < s.n && s.cls(k) == kX) return kFallback;  // maybe another digit
    return k;
  }
  size_t k = i;
  if (c == ' ' && i + 1 < s.n) {
    const uint8_t c1 = s.cls(i + 1);
    if (c1 == kX) return kFallback;
    if (c1 == kP) k = i + 1;
  }
  if (s.cls(k) == kP) {
    k = s.run(k, kP);
    if (k == kFallback) return kFallback;
    while (k < s.n && (s.t[k] == '\r' || s.t[k] == '\n')) ++k;
    return k;
  }
  return whitespace(s, i, true);
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const Text& s, size_t i) {
  const unsigned char c = s.t[i];
  const uint8_t ci = s.cls(i);
  if (ci == kX) return kFallback;
  if (c == '\'' && i + 1 < s.n) {
    const unsigned char d = s.t[i + 1];
    if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
    if (i + 2 < s.n) {
      const unsigned char e = s.t[i + 2];
      if (((d == 'r' || d == 'v') && e == 'e') || (d == 'l' && e == 'l')) return i + 3;
    }
  }
  size_t k = i;
  if (c == ' ' && i + 1 < s.n) {
    const uint8_t c1 = s.cls(i + 1);
    if (c1 == kX) return kFallback;
    if (c1 != kS) k = i + 1;
  }
  const uint8_t ck = s.cls(k);
  if (ck != kS) return s.run(k, ck);
  return whitespace(s, i, false);
}

}  // namespace

namespace {
bool g_fast = true;
}  // namespace

void set_fast_pretokenizer(bool on) {
  g_fast = on;
}
bool fast_pretokenizer() {
  return g_fast;
}

KnownPattern known_pattern(std::string_view pattern) {
  if (pattern == kGpt2Pattern) return KnownPattern::kGpt2;
  if (pattern == kLlama3Pattern) return KnownPattern::kLlama3;
  if (pattern == kQwen2Pattern) return KnownPattern::kQwen2;
  return KnownPattern::kNone;
}

void fast_find_all(KnownPattern kind, const Regex& re, std::string_view text,
                   std::vector<std::pair<size_t, size_t>>& out) {
  const Text s{reinterpret_cast<const unsigned char*>(text.data()), text.size()};
  size_t i = 0;
  while (i < s.n) {
    size_t e = kFallback;
    switch (kind) {
      case KnownPattern::kGpt2:
        e = match_gpt2(s, i);
        break;
      case KnownPattern::kLlama3:
        e = match_llama(s, i, 3);
        break;
      case KnownPattern::kQwen2:
        e = match_llama(s, i, 1);
        break;
      case KnownPattern::kNone:
        break;
    }
    if (e != kFallback) {
      out.emplace_back(i, e);
      i = e;
      continue;
    }
    size_t ms = 0, me = 0;
    if (!re.find_one(text, i, ms, me)) break;
    out.emplace_back(ms, me);
    i = me;
  }
}

}  // namespace r1::tok
