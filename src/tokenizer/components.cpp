#include "tokenizer/components.h"

#include <unicode/ucasemap.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <array>
#include <utility>

#include "core/error.h"
#include "tokenizer/pretok_fast.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace r1::tok {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// ---------------------------------------------------------------- field access

Where Where::at(std::string_view key) const {
  return {file, field.empty() ? std::string(key) : field + "." + std::string(key)};
}
Where Where::at(size_t index) const {
  return {file, field + "[" + std::to_string(index) + "]"};
}
void Where::fail(std::string_view what) const {
  if (field.empty()) r1::fail("{}: {}", file, what);
  r1::fail("{}: {} {}", file, field, what);
}

namespace {

const json* find_key(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string type_name(const json& v) {
  return v.type_name();
}

}  // namespace

bool get_bool(const json& obj, std::string_view key, const Where& w, bool def) {
  const json* v = find_key(obj, key);
  if (v == nullptr) return def;
  if (!v->is_boolean()) w.at(key).fail("must be true or false, not " + type_name(*v));
  return v->get<bool>();
}

std::string get_string(const json& obj, std::string_view key, const Where& w, const std::string& def) {
  const json* v = find_key(obj, key);
  if (v == nullptr) return def;
  if (!v->is_string()) w.at(key).fail("must be a string, not " + type_name(*v));
  return v->get<std::string>();
}

int64_t get_int(const json& obj, std::string_view key, const Where& w, int64_t def) {
  const json* v = find_key(obj, key);
  if (v == nullptr) return def;
  if (!v->is_number_integer()) w.at(key).fail("must be an integer, not " + type_name(*v));
  return v->get<int64_t>();
}

std::string get_type(const json& obj, const Where& w) {
  if (!obj.is_object()) w.fail("must be an object, not " + type_name(obj));
  const json* v = find_key(obj, "type");
  if (v == nullptr) w.at("type").fail("is missing");
  if (!v->is_string()) w.at("type").fail("must be a string, not " + type_name(*v));
  return v->get<std::string>();
}

namespace {

[[noreturn]] void unsupported(const Where& w, const std::string& type) {
  w.at("type").fail(fmt::format("'{}' is not supported", utf8::printable(type)));
}

const json& get_array(const json& obj, std::string_view key, const Where& w) {
  const json* v = find_key(obj, key);
  if (v == nullptr) w.at(key).fail("is missing");
  if (!v->is_array()) w.at(key).fail("must be an array, not " + type_name(*v));
  return *v;
}

// A {"String": s} or {"Regex": r} pattern object.
struct Pattern {
  std::string literal;
  std::unique_ptr<Regex> regex;
  KnownPattern known = KnownPattern::kNone;  // a pattern with a hand-written matcher

  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
    if (regex) {
      if (known != KnownPattern::kNone && fast_pretokenizer())
        fast_find_all(known, *regex, text, out);
      else
        regex->find_all(text, out);
      return;
    }
    if (literal.empty()) return;
    for (size_t pos = text.find(literal); pos != std::string_view::npos;
         pos = text.find(literal, pos + literal.size()))
      out.emplace_back(pos, pos + literal.size());
  }
};

Pattern get_pattern(const json& obj, const Where& w) {
  const json* p = find_key(obj, "pattern");
  const Where pw = w.at("pattern");
  if (p == nullptr) pw.fail("is missing");
  Pattern out;
  if (p->is_object() && p->size() == 1 && p->contains("String") && (*p)["String"].is_string()) {
    out.literal = (*p)["String"].get<std::string>();
  } else if (p->is_object() && p->size() == 1 && p->contains("Regex") && (*p)["Regex"].is_string()) {
    const std::string re = (*p)["Regex"].get<std::string>();
    out.regex = std::make_unique<Regex>(re, pw.file + ": " + pw.field + ".Regex");
    out.known = known_pattern(re);
  } else {
    pw.fail("must be {\"String\": ...} or {\"Regex\": ...}");
  }
  return out;
}

// Applies f to each maximal run of well-formed UTF-8 in s (invalid bytes stay as they are);
// f returns the run's replacement.
template <typename F>
void map_valid_runs(std::string& s, F&& f) {
  if (utf8::is_valid(s)) {
    s = f(std::string_view(s));
    return;
  }
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size()) {
      const size_t n = utf8::valid_len(s, j);
      if (n == 0) break;
      j += n;
    }
    if (j > i) out += f(std::string_view(s).substr(i, j - i));
    if (j < s.size()) out += s[j++];  // an invalid byte
    i = j;
  }
  s = std::move(out);
}

std::u16string to_utf16(std::string_view s) {
  std::u16string out(s.size(), u'\0');  // UTF-16 never needs more units than UTF-8 has bytes
  int32_t len = 0;
  UErrorCode st = U_ZERO_ERROR;
  u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len, s.data(),
                static_cast<int32_t>(s.size()), &st);
  if (U_FAILURE(st)) fail("internal error: UTF-8 to UTF-16: {}", u_errorName(st));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string to_utf8(const std::u16string& s) {
  std::string out(s.size() * 3, '\0');
  int32_t len = 0;
  UErrorCode st = U_ZERO_ERROR;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len, reinterpret_cast<const UChar*>(s.data()),
              static_cast<int32_t>(s.size()), &st);
  if (U_FAILURE(st)) fail("internal error: UTF-16 to UTF-8: {}", u_errorName(st));
  out.resize(static_cast<size_t>(len));
  return out;
}

// ---------------------------------------------------------------- normalizers

class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(const std::string& form, const Where& w) : nfc_(form == "NFC") {
    UErrorCode st = U_ZERO_ERROR;
    if (form == "NFC")
      norm_ = unorm2_getNFCInstance(&st);
    else if (form == "NFD")
      norm_ = unorm2_getNFDInstance(&st);
    else if (form == "NFKC")
      norm_ = unorm2_getNFKCInstance(&st);
    else
      norm_ = unorm2_getNFKDInstance(&st);
    if (U_FAILURE(st)) w.fail(fmt::format("{}: ICU has no such normalizer: {}", form, u_errorName(st)));
  }

  void normalize(std::string& text) const override {
    if (utf8::is_ascii(text)) return;  // ASCII is stable under all four forms
    if (nfc_ && below_u0300(text)) return;
    map_valid_runs(text, [&](std::string_view run) {
      if (utf8::is_ascii(run)) return std::string(run);
      const std::u16string u = to_utf16(run);
      UErrorCode st = U_ZERO_ERROR;
      const auto* src = reinterpret_cast<const UChar*>(u.data());
      const auto len = static_cast<int32_t>(u.size());
      if (unorm2_isNormalized(norm_, src, len, &st) && U_SUCCESS(st)) return std::string(run);
      st = U_ZERO_ERROR;
      const int32_t need = unorm2_normalize(norm_, src, len, nullptr, 0, &st);
      std::u16string out(static_cast<size_t>(need), u'\0');
      st = U_ZERO_ERROR;
      unorm2_normalize(norm_, src, len, reinterpret_cast<UChar*>(out.data()), need, &st);
      if (U_FAILURE(st)) fail("internal error: ICU normalization: {}", u_errorName(st));
      return to_utf8(out);
    });
  }

 private:
  // Every code point below U+0300 is NFC-stable (nothing there composes or decomposes under
  // NFC); lead bytes below 0xCC encode exactly those (and invalid bytes, left alone anyway).
  static bool below_u0300(std::string_view s) {
    for (const char c : s)
      if (static_cast<unsigned char>(c) >= 0xCC) return false;
    return true;
  }
  const UNormalizer2* norm_ = nullptr;
  bool nfc_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

void replace_all(std::string& text, const Pattern& pattern, const std::string& content) {
  std::vector<std::pair<size_t, size_t>> m;
  pattern.find_all(text, m);
  if (m.empty()) return;
  std::string out;
  out.reserve(text.size());
  size_t last = 0;
  for (const auto& [s, e] : m) {
    out.append(text, last, s - last);
    out += content;
    last = e;
  }
  out.append(text, last, std::string::npos);
  text = std::move(out);
}

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { replace_all(text, pattern_, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  LowercaseNormalizer() {
    UErrorCode st = U_ZERO_ERROR;
    csm_ = ucasemap_open("", 0, &st);
    if (U_FAILURE(st)) fail("internal error: ICU case map: {}", u_errorName(st));
  }
  ~LowercaseNormalizer() override { ucasemap_close(csm_); }
  LowercaseNormalizer(const LowercaseNormalizer&) = delete;
  LowercaseNormalizer& operator=(const LowercaseNormalizer&) = delete;
  void normalize(std::string& text) const override {
    map_valid_runs(text, [&](std::string_view run) {
      std::string out(run.size() + 16, '\0');
      for (int attempt = 0; attempt < 2; ++attempt) {
        UErrorCode st = U_ZERO_ERROR;
        const int32_t n = ucasemap_utf8ToLower(csm_, out.data(), static_cast<int32_t>(out.size()), run.data(),
                                               static_cast<int32_t>(run.size()), &st);
        if (st == U_BUFFER_OVERFLOW_ERROR) {
          out.resize(static_cast<size_t>(n));
          continue;
        }
        if (U_FAILURE(st)) fail("internal error: ICU lowercase: {}", u_errorName(st));
        out.resize(static_cast<size_t>(n));
        break;
      }
      return out;
    });
  }

 private:
  UCaseMap* csm_ = nullptr;
};

// Byte length of the whitespace character (Unicode White_Space) at s[i], or 0.
size_t space_at(std::string_view s, size_t i) {
  const size_t n = utf8::valid_len(s, i);
  if (n == 0) return 0;
  return u_isUWhiteSpace(static_cast<UChar32>(utf8::decode_at(s, i, n))) ? n : 0;
}

// Byte length of the whitespace character ending at s[end-1], or 0.
size_t space_before(std::string_view s, size_t end) {
  for (size_t back = 1; back <= 4 && back <= end; ++back) {
    const size_t n = utf8::valid_len(s, end - back);
    if (n == back) return space_at(s, end - back);
  }
  return 0;
}

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t b = 0, e = text.size();
    if (left_)
      while (b < e) {
        const size_t n = space_at(text, b);
        if (n == 0) break;
        b += n;
      }
    if (right_)
      while (e > b) {
        const size_t n = space_before(std::string_view(text).substr(0, e), e);
        if (n == 0) break;
        e -= n;
      }
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> s) : steps_(std::move(s)) {}
  void normalize(std::string& text) const override {
    for (const auto& n : steps_) n->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const Where& w) {
  if (j.is_null()) return nullptr;
  const std::string type = get_type(j, w);
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(type, w);
  if (type == "Prepend") {
    if (!j.contains("prepend")) w.at("prepend").fail("is missing");
    return std::make_unique<PrependNormalizer>(get_string(j, "prepend", w, ""));
  }
  if (type == "Replace")
    return std::make_unique<ReplaceNormalizer>(get_pattern(j, w), get_string(j, "content", w, ""));
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(get_bool(j, "strip_left", w, true),
                                             get_bool(j, "strip_right", w, true));
  if (type == "Sequence") {
    const Where sw = w.at("normalizers");
    const json& arr = get_array(j, "normalizers", w);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < arr.size(); ++i)
      if (auto n = make_normalizer(arr[i], sw.at(i))) steps.push_back(std::move(n));
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  unsupported(w, type);
}

// ---------------------------------------------------------------- pre-tokenizers

namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const json& j, const Where& w) {
  const std::string b = get_string(j, "behavior", w, "");
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  if (b.empty()) w.at("behavior").fail("is missing");
  w.at("behavior").fail(fmt::format("'{}' is not supported", utf8::printable(b)));
}

// Splits `piece` at the matches (delimiters) as `behavior` says and appends the non-empty
// parts to out. With invert, the matches are the content and the text between them the
// delimiters.
void split_piece(std::string_view piece, const std::vector<std::pair<size_t, size_t>>& matches, bool invert,
                 Behavior behavior, std::vector<std::string_view>& out) {
  struct Part {
    size_t b, e;
    bool delim;
  };
  // The piece as alternating runs of text and matches.
  std::vector<Part> parts;
  parts.reserve(matches.size() * 2 + 1);
  size_t last = 0;
  for (const auto& [s, e] : matches) {
    if (s > last) parts.push_back({last, s, invert});
    parts.push_back({s, e, !invert});
    last = e;
  }
  if (last < piece.size()) parts.push_back({last, piece.size(), invert});

  std::vector<Part> res;
  res.reserve(parts.size());
  switch (behavior) {
    case Behavior::kRemoved:
      for (const Part& p : parts)
        if (!p.delim) res.push_back(p);
      break;
    case Behavior::kIsolated:
      res = parts;
      break;
    case Behavior::kMergedWithPrevious: {
      // A delimiter joins the piece before it, unless that piece is itself a delimiter.
      bool prev_delim = false;
      for (const Part& p : parts) {
        if (p.delim && !prev_delim && !res.empty())
          res.back().e = p.e;
        else
          res.push_back(p);
        prev_delim = p.delim;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      // A delimiter joins the piece after it, unless that piece is itself a delimiter:
      // the mirror image of MergedWithPrevious.
      bool next_delim = false;
      for (size_t k = parts.size(); k-- > 0;) {
        const Part& p = parts[k];
        if (p.delim && !next_delim && !res.empty())
          res.back().b = p.b;
        else
          res.push_back(p);
        next_delim = p.delim;
      }
      std::reverse(res.begin(), res.end());
      break;
    }
    case Behavior::kContiguous:
      // Consecutive delimiters become one piece.
      for (const Part& p : parts) {
        if (p.delim && !res.empty() && res.back().delim)
          res.back().e = p.e;
        else
          res.push_back(p);
      }
      break;
  }
  for (const Part& p : res)
    if (p.e > p.b) out.push_back(piece.substr(p.b, p.e - p.b));
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern p, Behavior b, bool invert)
      : pattern_(std::move(p)), behavior_(b), invert_(invert) {}
  void split(std::vector<std::string_view>& pieces, const PreTokContext&) const override {
    std::vector<std::string_view> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (const std::string_view p : pieces) {
      m.clear();
      pattern_.find_all(p, m);
      if (behavior_ == Behavior::kIsolated && !invert_) {
        // The common case (every byte-level tokenizer): matches and gaps, in order.
        size_t last = 0;
        for (const auto& [s, e] : m) {
          if (s > last) out.push_back(p.substr(last, s - last));
          out.push_back(p.substr(s, e - s));
          last = e;
        }
        if (last < p.size()) out.push_back(p.substr(last));
      } else {
        split_piece(p, m, invert_, behavior_, out);
      }
    }
    pieces.swap(out);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const Where& w)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex) {
      gpt2_.regex = std::make_unique<Regex>(kGpt2Pattern, w.file + ": " + w.field);
      gpt2_.known = KnownPattern::kGpt2;
    }
  }
  void split(std::vector<std::string_view>& pieces, const PreTokContext& ctx) const override {
    if (add_prefix_space_)
      for (std::string_view& p : pieces)
        if (p.empty() || p[0] != ' ') {
          std::string& s = ctx.arena->emplace_back();
          s.reserve(p.size() + 1);
          s += ' ';
          s += p;
          p = s;
        }
    if (!use_regex_) return;
    std::vector<std::string_view> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (const std::string_view p : pieces) {
      m.clear();
      gpt2_.find_all(p, m);
      size_t last = 0;
      for (const auto& [s, e] : m) {
        if (s > last) out.push_back(p.substr(last, s - last));
        out.push_back(p.substr(s, e - s));
        last = e;
      }
      if (last < p.size()) out.push_back(p.substr(last));
    }
    pieces.swap(out);
  }
  bool byte_level() const override { return true; }

 private:
  bool add_prefix_space_;
  bool use_regex_;
  Pattern gpt2_;
};

enum class Prepend { kAlways, kNever, kFirst };

Prepend parse_prepend_scheme(const json& j, const Where& w) {
  if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
    const std::string s = get_string(j, "prepend_scheme", w, "");
    if (s == "always") return Prepend::kAlways;
    if (s == "never") return Prepend::kNever;
    if (s == "first") return Prepend::kFirst;
    w.at("prepend_scheme").fail(fmt::format("'{}' is not supported", utf8::printable(s)));
  }
  return get_bool(j, "add_prefix_space", w, true) ? Prepend::kAlways : Prepend::kNever;
}

std::string get_replacement(const json& j, const Where& w) {
  const std::string r = get_string(j, "replacement", w, "\xE2\x96\x81");  // U+2581
  if (r.empty() || utf8::valid_len(r, 0) != r.size()) w.at("replacement").fail("must be one character");
  return r;
}

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : repl_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void split(std::vector<std::string_view>& pieces, const PreTokContext& ctx) const override {
    std::vector<std::string_view> out;
    for (size_t k = 0; k < pieces.size(); ++k) {
      std::string s;
      s.reserve(pieces[k].size() + repl_.size());
      for (const char c : pieces[k]) {
        if (c == ' ')
          s += repl_;
        else
          s += c;
      }
      const bool want =
          prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && ctx.segment_at_start && k == 0);
      if (want && s.compare(0, repl_.size(), repl_) != 0) s.insert(0, repl_);
      ctx.arena->push_back(std::move(s));
      const std::string_view v = ctx.arena->back();
      if (!split_) {
        out.push_back(v);
        continue;
      }
      Pattern pat;
      pat.literal = repl_;
      std::vector<std::pair<size_t, size_t>> m;
      pat.find_all(v, m);
      split_piece(v, m, false, Behavior::kMergedWithNext, out);
    }
    pieces.swap(out);
  }

 private:
  std::string repl_;
  Prepend prepend_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> s) : steps_(std::move(s)) {}
  void split(std::vector<std::string_view>& pieces, const PreTokContext& ctx) const override {
    for (const auto& p : steps_) p->split(pieces, ctx);
  }
  bool byte_level() const override {
    return std::any_of(steps_.begin(), steps_.end(), [](const auto& p) { return p->byte_level(); });
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const Where& w) {
  if (j.is_null()) return nullptr;
  const std::string type = get_type(j, w);
  if (type == "Split")
    return std::make_unique<SplitPreTokenizer>(get_pattern(j, w), parse_behavior(j, w),
                                               get_bool(j, "invert", w, false));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(get_bool(j, "add_prefix_space", w, true),
                                                   get_bool(j, "use_regex", w, true), w);
  if (type == "Metaspace")
    return std::make_unique<MetaspacePreTokenizer>(get_replacement(j, w), parse_prepend_scheme(j, w),
                                                   get_bool(j, "split", w, true));
  if (type == "Sequence") {
    const Where sw = w.at("pretokenizers");
    const json& arr = get_array(j, "pretokenizers", w);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < arr.size(); ++i)
      if (auto p = make_pre_tokenizer(arr[i], sw.at(i))) steps.push_back(std::move(p));
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  unsupported(w, type);
}

// ---------------------------------------------------------------- decoders

namespace {

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) {
      const size_t mark = out.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        const size_t n = utf8::valid_len(t, i);
        const int b = n == 0 ? -1 : utf8::byte_level_byte(utf8::decode_at(t, i, n));
        if (b < 0) {
          ok = false;
          break;
        }
        out += static_cast<char>(b);
        i += n;
      }
      if (!ok) {  // a token that is not made of byte characters stands for itself
        out.resize(mark);
        out += t;
      }
    }
    tokens.assign(1, std::move(out));
  }
  bool is_byte_level() const override { return true; }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) replace_all(t, pattern_, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// "<0xNN>" -> NN, or -1.
int byte_token_value(std::string_view t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int v = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = t[i];
    v *= 16;
    if (c >= '0' && c <= '9')
      v += c - '0';
    else if (c >= 'A' && c <= 'F')
      v += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      v += c - 'a' + 10;
    else
      return -1;
  }
  return v;
}

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    // Consecutive byte tokens become one string of those bytes.
    std::vector<std::string> out;
    out.reserve(tokens.size());
    bool in_bytes = false;
    for (std::string& t : tokens) {
      const int v = byte_token_value(t);
      if (v >= 0) {
        if (!in_bytes) out.emplace_back();
        out.back() += static_cast<char>(v);
        in_bytes = true;
      } else {
        out.push_back(std::move(t));
        in_bytes = false;
      }
    }
    tokens.swap(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const size_t n = content_.size();
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && e - b >= n && t.compare(b, n, content_) == 0; ++k) b += n;
      for (size_t k = 0; k < stop_ && e - b >= n && t.compare(e - n, n, content_) == 0; ++k) e -= n;
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, Prepend prepend)
      : repl_(std::move(replacement)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      // The first token loses the marker the pre-tokenizer prepended.
      if (i == 0 && prepend_ != Prepend::kNever && t.compare(0, repl_.size(), repl_) == 0)
        t.erase(0, repl_.size());
      std::string out;
      out.reserve(t.size());
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, repl_.size(), repl_) == 0) {
          out += ' ';
          k += repl_.size();
        } else {
          out += t[k++];
        }
      }
      t = std::move(out);
    }
  }

 private:
  std::string repl_;
  Prepend prepend_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> s) : steps_(std::move(s)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : steps_) d->decode_chain(tokens);
  }
  bool is_byte_level() const override { return steps_.size() == 1 && steps_[0]->is_byte_level(); }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const Where& w) {
  if (j.is_null()) return nullptr;
  const std::string type = get_type(j, w);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(get_pattern(j, w), get_string(j, "content", w, ""));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const std::string content = get_string(j, "content", w, " ");
    if (content.empty() || utf8::valid_len(content, 0) != content.size())
      w.at("content").fail("must be one character");
    const int64_t start = get_int(j, "start", w, 0), stop = get_int(j, "stop", w, 0);
    if (start < 0 || stop < 0 || start > 1000000 || stop > 1000000)
      w.fail("start and stop must be small non-negative integers");
    return std::make_unique<StripDecoder>(content, static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Metaspace")
    return std::make_unique<MetaspaceDecoder>(get_replacement(j, w), parse_prepend_scheme(j, w));
  if (type == "Sequence") {
    const Where sw = w.at("decoders");
    const json& arr = get_array(j, "decoders", w);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < arr.size(); ++i)
      if (auto d = make_decoder(arr[i], sw.at(i))) steps.push_back(std::move(d));
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  unsupported(w, type);
}

// ---------------------------------------------------------------- post-processor

namespace {

std::vector<int32_t> special_ids(const json& specials, const std::string& name, const Where& w) {
  const Where sw = w.at("special_tokens");
  if (!specials.is_object() || !specials.contains(name))
    sw.fail(fmt::format("has no entry for '{}'", utf8::printable(name)));
  const json& e = specials[name];
  const Where ew = sw.at(name);
  const json& ids = get_array(e, "ids", ew);
  std::vector<int32_t> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].is_number_integer() || ids[i].get<int64_t>() < 0 || ids[i].get<int64_t>() > INT32_MAX)
      ew.at("ids").at(i).fail("must be a token id");
    out.push_back(static_cast<int32_t>(ids[i].get<int64_t>()));
  }
  return out;
}

SpecialAround template_processing(const json& j, const Where& w) {
  SpecialAround out;
  const json* single = find_key(j, "single");
  const Where sw = w.at("single");
  if (single == nullptr) sw.fail("is missing");
  const json specials = j.contains("special_tokens") ? j["special_tokens"] : json::object();
  bool seen_sequence = false;
  auto add_special = [&](const std::string& name) {
    const auto ids = special_ids(specials, name, w);
    auto& dst = seen_sequence ? out.suffix : out.prefix;
    dst.insert(dst.end(), ids.begin(), ids.end());
  };
  if (single->is_string()) {
    // "<s> $A </s>", items optionally suffixed with ":type_id".
    const std::string s = single->get<std::string>();
    size_t i = 0;
    while (i < s.size()) {
      const size_t j2 = std::min(s.find(' ', i), s.size());
      std::string item = s.substr(i, j2 - i);
      i = j2 + 1;
      if (item.empty()) continue;
      if (item[0] == '$') {
        seen_sequence = true;
        continue;
      }
      if (const size_t colon = item.rfind(':'); colon != std::string::npos && colon > 0) item.resize(colon);
      add_special(item);
    }
    return out;
  }
  if (!single->is_array()) sw.fail("must be an array or a string");
  for (size_t i = 0; i < single->size(); ++i) {
    const json& item = (*single)[i];
    if (item.is_object() && item.contains("Sequence")) {
      seen_sequence = true;
    } else if (item.is_object() && item.contains("SpecialToken") && item["SpecialToken"].is_object() &&
               item["SpecialToken"].contains("id") && item["SpecialToken"]["id"].is_string()) {
      add_special(item["SpecialToken"]["id"].get<std::string>());
    } else {
      sw.at(i).fail("must be {\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}");
    }
  }
  return out;
}

int32_t pair_id(const json& j, std::string_view key, const Where& w) {
  const json* v = find_key(j, key);
  if (v == nullptr || !v->is_array() || v->size() != 2 || !(*v)[1].is_number_integer() ||
      (*v)[1].get<int64_t>() < 0 || (*v)[1].get<int64_t>() > INT32_MAX)
    w.at(key).fail("must be [token, id]");
  return static_cast<int32_t>((*v)[1].get<int64_t>());
}

}  // namespace

SpecialAround make_post_processor(const json& j, const Where& w) {
  if (j.is_null()) return {};
  const std::string type = get_type(j, w);
  if (type == "ByteLevel") return {};
  if (type == "TemplateProcessing") return template_processing(j, w);
  if (type == "RobertaProcessing" || type == "BertProcessing")
    return {{pair_id(j, "cls", w)}, {pair_id(j, "sep", w)}};
  if (type == "Sequence") {
    const Where sw = w.at("processors");
    const json& arr = get_array(j, "processors", w);
    SpecialAround out;
    for (size_t i = 0; i < arr.size(); ++i) {
      const SpecialAround s = make_post_processor(arr[i], sw.at(i));
      out.prefix.insert(out.prefix.begin(), s.prefix.begin(), s.prefix.end());
      out.suffix.insert(out.suffix.end(), s.suffix.begin(), s.suffix.end());
    }
    return out;
  }
  unsupported(w, type);
}

}  // namespace r1::tok
