#include "verify/rewards.h"

#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "core/strings.h"
#include "io/json.h"
#include "verify/rational.h"

namespace r1::verify {

namespace {

bool blank(std::string_view s) {
  return trim_ascii(s).empty();
}

std::string quote(std::string_view s) {
  std::string q(1, '\'');  // (built by appending: GCC 12 misreports "'" + string under -Wrestrict)
  q += printable(s, 60);
  q += '\'';
  return q;
}

RewardResult verdict_result(Verdict v, std::optional<std::string> extracted, std::string reason) {
  RewardResult r;
  r.verdict = v;
  r.value = v == Verdict::kCorrect ? 1.0 : 0.0;
  r.extracted = std::move(extracted);
  r.reason = std::move(reason);
  return r;
}

RewardResult no_answer() {
  return verdict_result(Verdict::kWrong, std::nullopt, "no answer found");
}

RewardResult unverifiable(std::string why, std::optional<std::string> extracted = std::nullopt) {
  return verdict_result(Verdict::kUnverifiable, std::move(extracted), "unverifiable gold: " + why);
}

RewardResult compare_math(std::string_view gold, std::optional<std::string> pred) {
  if (!math_parses(gold)) return unverifiable("does not parse: " + quote(gold), std::move(pred));
  if (!pred) return no_answer();
  std::string why;
  const Verdict v = verify_math(gold, *pred, &why);
  if (v == Verdict::kUnverifiable) return unverifiable(why, std::move(pred));
  std::string reason = std::string(verdict_name(v)) + ": " + quote(*pred) + " vs gold " + quote(gold);
  if (!why.empty()) reason += " (" + why + ")";
  return verdict_result(v, std::move(pred), std::move(reason));
}

// Whether s is a plain number: optional sign, digits with optional thousands commas, optional
// decimals (what a GSM8K gold answer is).
bool is_plain_number(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  bool digits = false;
  for (; i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == ','); ++i)
    digits = digits || s[i] != ',';
  if (i < s.size() && s[i] == '.') {
    ++i;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) digits = true;
  }
  return digits && i == s.size();
}

}  // namespace

// --- accuracy -----------------------------------------------------------------------------------

RewardResult math_reward(std::string_view completion, std::string_view gold, const ExtractOptions& opts) {
  return compare_math(trim_ascii(gold), extract_answer(completion, opts));
}

RewardResult gsm8k_reward(std::string_view completion, std::string_view gold, const ExtractOptions& opts) {
  std::string g(trim_ascii(gold));
  if (g.find("####") != std::string::npos) {
    const auto e = extract_gsm8k(gold);
    if (!e) return unverifiable("nothing after '####'");
    g = std::string(trim_ascii(*e));
  }
  if (!is_plain_number(g)) return unverifiable("not a number: " + quote(g));
  std::string plain;  // thousands commas out of the gold: "1,000" is the number 1000
  for (char c : g)
    if (c != ',') plain += c;
  return compare_math(plain, extract_answer(completion, opts));
}

RewardResult exact_reward(std::string_view completion, std::string_view gold, const ExtractOptions& opts) {
  const std::string_view g = trim_ascii(gold);
  auto pred = extract_answer(completion, opts);
  if (g.empty()) return unverifiable("empty", std::move(pred));
  if (!pred) return no_answer();
  const std::string p(trim_ascii(*pred));
  const Verdict v = p == g ? Verdict::kCorrect : Verdict::kWrong;
  return verdict_result(v, p, std::string(verdict_name(v)) + ": " + quote(p) + " vs gold " + quote(g));
}

std::optional<char> choice_letter(std::string_view text) {
  std::string_view s = trim_ascii(text);
  while (!s.empty() && (s.front() == ':' || is_ascii_space(s.front()))) s.remove_prefix(1);
  // Peel wrappers: $...$, \text{...} / \textbf{...} / \mathrm{...}, (...), [...], **...**.
  for (int round = 0; round < 8; ++round) {
    s = trim_ascii(s);
    bool peeled = false;
    for (std::string_view w : {"\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{", "\\boxed{"}) {
      if (s.starts_with(w) && s.ends_with("}")) {
        s = s.substr(w.size(), s.size() - w.size() - 1);
        peeled = true;
      }
    }
    if (s.size() >= 2 && ((s.front() == '$' && s.back() == '$') || (s.front() == '(' && s.back() == ')') ||
                          (s.front() == '[' && s.back() == ']') || (s.front() == '*' && s.back() == '*'))) {
      s = s.substr(1, s.size() - 2);
      peeled = true;
    }
    if (!peeled) break;
  }
  s = trim_ascii(s);
  if (s.starts_with("(")) s.remove_prefix(1);
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return std::nullopt;
  const char letter = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  std::string_view rest = s.substr(1);
  // "B", "B)", "B.", "B:", "(B) 42", "B) text": the letter stands alone.
  if (!rest.empty() && rest[0] != ')' && rest[0] != '.' && rest[0] != ':' && !is_ascii_space(rest[0]))
    return std::nullopt;
  // A bare letter followed by more words ("A cat") is only a choice when punctuated.
  if (!rest.empty() && is_ascii_space(rest[0]) && !blank(rest)) return std::nullopt;
  return letter;
}

RewardResult choice_reward(std::string_view completion, std::string_view gold, const ExtractOptions& opts) {
  const auto g = choice_letter(gold);
  std::optional<std::string> pred = extract_answer(completion, opts);
  if (!pred && choice_letter(completion)) pred = std::string(trim_ascii(completion));
  if (!g) return unverifiable("not a choice letter: " + quote(gold), std::move(pred));
  if (!pred) return no_answer();
  const auto p = choice_letter(*pred);
  if (!p)
    return verdict_result(Verdict::kWrong, std::move(pred), "wrong: not a choice letter: " + quote(*pred));
  const Verdict v = *p == *g ? Verdict::kCorrect : Verdict::kWrong;
  return verdict_result(v, std::string(1, *p),
                        std::string(verdict_name(v)) + ": " + std::string(1, *p) + " vs gold " + *g);
}

// --- countdown ----------------------------------------------------------------------------------

namespace {

constexpr size_t kMaxExprBytes = 1000;
constexpr int kMaxExprDepth = 64;

class ExprParser {
 public:
  explicit ExprParser(std::string_view s) : s_(s) {}

  // The value of the whole expression; false with why_ set on any error.
  bool parse(Rat* out) {
    if (!expr(out, 0)) return false;
    skip();
    if (pos_ != s_.size()) return error("unexpected " + quote(s_.substr(pos_, 10)));
    return true;
  }
  const std::vector<int64_t>& numbers() const { return numbers_; }
  const std::string& why() const { return why_; }

 private:
  bool error(std::string w) {
    if (why_.empty()) why_ = std::move(w);
    return false;
  }
  void skip() {
    while (pos_ < s_.size() && is_ascii_space(s_[pos_])) ++pos_;
  }
  bool expr(Rat* out, int depth) {
    if (!term(out, depth)) return false;
    for (;;) {
      skip();
      if (pos_ >= s_.size() || (s_[pos_] != '+' && s_[pos_] != '-')) return true;
      const bool minus = s_[pos_++] == '-';
      Rat rhs;
      if (!term(&rhs, depth)) return false;
      if (!(minus ? rat_sub(*out, rhs, out) : rat_add(*out, rhs, out))) return error("overflow");
    }
  }
  bool term(Rat* out, int depth) {
    if (!factor(out, depth)) return false;
    for (;;) {
      skip();
      if (pos_ >= s_.size() || (s_[pos_] != '*' && s_[pos_] != '/')) return true;
      const bool divide = s_[pos_++] == '/';
      Rat rhs;
      if (!factor(&rhs, depth)) return false;
      if (divide && rat_sign(rhs) == 0) return error("division by zero");
      if (!(divide ? rat_div(*out, rhs, out) : rat_mul(*out, rhs, out))) return error("overflow");
    }
  }
  bool factor(Rat* out, int depth) {
    skip();
    if (pos_ >= s_.size()) return error("unexpected end of expression");
    const char c = s_[pos_];
    if (c == '(') {
      if (depth >= kMaxExprDepth) return error("parentheses nested too deeply");
      ++pos_;
      if (!expr(out, depth + 1)) return false;
      skip();
      if (pos_ >= s_.size() || s_[pos_] != ')') return error("missing ')'");
      ++pos_;
      return true;
    }
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return error("unexpected " + quote(s_.substr(pos_, 10)));
    int64_t v = 0;
    size_t digits = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (++digits > 15) return error("number too long");
      v = v * 10 + (s_[pos_++] - '0');
    }
    numbers_.push_back(v);
    *out = rat_int(v);
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::vector<int64_t> numbers_;
  std::string why_;
};

std::string join_numbers(std::vector<int64_t> v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(v[i]);
  }
  return s;
}

std::optional<int64_t> parse_int(std::string_view s) {
  s = trim_ascii(s);
  if (s.empty() || s.size() > 15) return std::nullopt;
  size_t i = 0;
  const bool neg = s[0] == '-';
  if (neg) ++i;
  if (i == s.size()) return std::nullopt;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

}  // namespace

std::optional<CountdownGold> parse_countdown_gold(std::string_view gold) {
  gold = trim_ascii(gold);
  CountdownGold g;
  if (gold.starts_with("{")) {
    const nlohmann::json j = parse_json_or_discarded(gold);
    if (!j.is_object() || !j.contains("numbers") || !j.contains("target")) return std::nullopt;
    const auto& n = j["numbers"];
    const auto& t = j["target"];
    if (!n.is_array() || n.empty() || !t.is_number_integer()) return std::nullopt;
    for (const auto& x : n) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > 999999999999999)
        return std::nullopt;
      g.numbers.push_back(x.get<int64_t>());
    }
    g.target = t.get<int64_t>();
    return g;
  }
  // "numbers: 3 5 7; target: 22"
  bool have_numbers = false, have_target = false;
  size_t start = 0;
  while (start <= gold.size()) {
    size_t end = gold.find_first_of(";\n", start);
    if (end == std::string_view::npos) end = gold.size();
    std::string_view part = trim_ascii(gold.substr(start, end - start));
    start = end + 1;
    if (part.empty()) continue;
    const size_t colon = part.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string key(trim_ascii(part.substr(0, colon)));
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string_view value = part.substr(colon + 1);
    if (key == "numbers" || key == "nums") {
      std::string cur;
      for (size_t i = 0; i <= value.size(); ++i) {
        const char c = i < value.size() ? value[i] : ' ';
        if (c == ',' || is_ascii_space(c)) {
          if (cur.empty()) continue;
          const auto v = parse_int(cur);
          if (!v || *v < 0) return std::nullopt;
          g.numbers.push_back(*v);
          cur.clear();
        } else {
          cur += c;
        }
      }
      have_numbers = !g.numbers.empty();
    } else if (key == "target") {
      const auto v = parse_int(value);
      if (!v) return std::nullopt;
      g.target = *v;
      have_target = true;
    } else {
      return std::nullopt;
    }
  }
  if (!have_numbers || !have_target) return std::nullopt;
  return g;
}

RewardResult countdown_reward(std::string_view completion, std::string_view gold,
                              const CountdownOptions& opts) {
  const auto g = parse_countdown_gold(gold);
  std::optional<std::string> expr = extract_answer_tag(completion);
  if (!expr) {  // the last non-empty line
    std::string_view t = trim_ascii(completion);
    const size_t nl = t.find_last_of('\n');
    if (!t.empty()) expr = std::string(trim_ascii(nl == std::string_view::npos ? t : t.substr(nl + 1)));
  }
  if (!g) return unverifiable("not a countdown spec (numbers and target): " + quote(gold), std::move(expr));
  if (!expr) return no_answer();
  std::string_view e = trim_ascii(*expr);
  if (e.size() > kMaxExprBytes)
    return verdict_result(Verdict::kWrong, std::string(e.substr(0, 80)), "wrong: expression too long");
  // "(3+5)*7 = 56": the part before '=' is the expression; the stated value must be the target.
  const size_t eq = e.find('=');
  if (eq != std::string_view::npos) {
    const auto stated = parse_int(e.substr(eq + 1));
    if (!stated || *stated != g->target)
      return verdict_result(Verdict::kWrong, std::string(e), "wrong: the stated value is not the target");
    e = trim_ascii(e.substr(0, eq));
  }
  ExprParser p(e);
  Rat value;
  if (!p.parse(&value))
    return verdict_result(Verdict::kWrong, std::string(e),
                          "wrong: cannot evaluate " + quote(e) + ": " + p.why());
  std::vector<int64_t> used = p.numbers(), given = g->numbers;
  std::sort(used.begin(), used.end());
  std::sort(given.begin(), given.end());
  const bool numbers_ok =
      opts.at_most_once ? std::includes(given.begin(), given.end(), used.begin(), used.end()) : used == given;
  if (!numbers_ok)
    return verdict_result(Verdict::kWrong, std::string(e),
                          "wrong: uses numbers [" + join_numbers(used) + "], given [" + join_numbers(given) +
                              "]" + (opts.at_most_once ? " (each at most once)" : ""));
  if (!rat_equal(value, rat_int(g->target))) {
    const std::string v = rat_str(value);
    return verdict_result(Verdict::kWrong, std::string(e),
                          "wrong: " + quote(e) + " = " + v + ", target " + std::to_string(g->target));
  }
  return verdict_result(Verdict::kCorrect, std::string(e),
                        "correct: " + quote(e) + " = " + std::to_string(g->target));
}

// --- format -------------------------------------------------------------------------------------

namespace {

size_t count_of(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string_view::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

// The completion as the model's whole response: "<think>" prepended when the prompt ends with it.
std::string response_of(std::string_view completion, std::string_view prompt) {
  if (trim_ascii(prompt).ends_with("<think>")) return "<think>" + std::string(completion);
  return std::string(completion);
}

RewardResult format_result(double v, std::string reason) {
  RewardResult r;
  r.value = v;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

RewardResult format_reward(std::string_view completion, std::string_view prompt) {
  const std::string whole = response_of(completion, prompt);
  const std::string_view s = trim_ascii(whole);
  for (std::string_view tag : {"<think>", "</think>", "<answer>", "</answer>"}) {
    const size_t n = count_of(s, tag);
    if (n != 1)
      return format_result(0, std::string(tag) + (n == 0 ? " is missing" : " appears more than once"));
  }
  if (!s.starts_with("<think>")) return format_result(0, "the response does not start with <think>");
  if (!s.ends_with("</answer>")) return format_result(0, "the response does not end with </answer>");
  const size_t think_end = s.find("</think>"), ans = s.find("<answer>"), ans_end = s.find("</answer>");
  if (!(think_end < ans && ans < ans_end)) return format_result(0, "the tags are out of order");
  if (blank(s.substr(7, think_end - 7))) return format_result(0, "the <think> part is empty");
  if (!blank(s.substr(think_end + 8, ans - think_end - 8)))
    return format_result(0, "text between </think> and <answer>");
  if (blank(s.substr(ans + 8, ans_end - ans - 8))) return format_result(0, "the <answer> part is empty");
  return format_result(1, "strict format");
}

RewardResult format_lenient_reward(std::string_view completion, std::string_view prompt) {
  const std::string s = response_of(completion, prompt);
  const size_t t0 = s.find("<think>");
  const size_t t1 = t0 == std::string::npos ? t0 : s.find("</think>", t0 + 7);
  const bool think = t1 != std::string::npos && !blank(std::string_view(s).substr(t0 + 7, t1 - t0 - 7));
  // The answer pair after the think pair when there is one, else anywhere.
  const size_t from = think ? t1 + 8 : 0;
  const size_t a0 = s.find("<answer>", from);
  const size_t a1 = a0 == std::string::npos ? a0 : s.find("</answer>", a0 + 8);
  const bool answer = a1 != std::string::npos && !blank(std::string_view(s).substr(a0 + 8, a1 - a0 - 8));
  if (think && answer) return format_result(1, "think then answer");
  if (think) return format_result(0.5, "think only (no non-blank <answer> pair after </think>)");
  if (answer) return format_result(0.5, "answer only (no non-blank <think> pair)");
  return format_result(0, "neither a <think> nor an <answer> pair");
}

// --- language -----------------------------------------------------------------------------------

namespace {

std::vector<UScriptCode> target_scripts(std::string_view target) {
  std::string name(trim_ascii(target));
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& alias : {std::pair<const char*, const char*>{"english", "en"},
                            {"chinese", "zh"},
                            {"japanese", "ja"},
                            {"korean", "ko"},
                            {"russian", "ru"}})
    if (lower == alias.first) name = alias.second;
  UScriptCode codes[16];
  UErrorCode err = U_ZERO_ERROR;
  int n = name.empty() ? 0 : uscript_getCode(name.c_str(), codes, 16, &err);
  if (U_FAILURE(err)) n = 0;
  std::vector<UScriptCode> out;
  for (int i = 0; i < n; ++i)
    if (codes[i] != USCRIPT_COMMON && codes[i] != USCRIPT_INHERITED && codes[i] != USCRIPT_INVALID_CODE)
      out.push_back(codes[i]);
  if (out.empty())
    fail("language: unknown target '{}' (a language such as en, zh, ja, ru, or a script such as Latin, Han)",
         printable(name, 60));
  // Japanese and Korean text mixes in Han; ICU already lists it for "ja". Korean: add Han too.
  if (std::find(out.begin(), out.end(), USCRIPT_HANGUL) != out.end() &&
      std::find(out.begin(), out.end(), USCRIPT_HAN) == out.end())
    out.push_back(USCRIPT_HAN);
  return out;
}

std::string_view chain_of_thought(std::string_view completion, std::string_view prompt) {
  const bool prefilled = trim_ascii(prompt).ends_with("<think>");
  size_t start = 0;
  if (!prefilled) {
    const size_t t0 = completion.find("<think>");
    if (t0 == std::string_view::npos) return completion;
    start = t0 + 7;
  }
  const size_t t1 = completion.find("</think>", start);
  return completion.substr(start, t1 == std::string_view::npos ? std::string_view::npos : t1 - start);
}

}  // namespace

RewardResult language_reward(std::string_view completion, std::string_view target, std::string_view prompt) {
  const std::vector<UScriptCode> want = target_scripts(target);
  const std::string_view cot = chain_of_thought(completion, prompt);
  size_t words = 0, in_target = 0;
  UScriptCode cur = USCRIPT_INVALID_CODE;  // script of the open word; COMMON while undetermined
  bool open = false;
  auto close_word = [&] {
    if (open && cur != USCRIPT_COMMON && cur != USCRIPT_INVALID_CODE) {
      ++words;
      if (std::find(want.begin(), want.end(), cur) != want.end()) ++in_target;
    }
    open = false;
    cur = USCRIPT_INVALID_CODE;
  };
  const auto* p = reinterpret_cast<const uint8_t*>(cot.data());
  const int32_t len = static_cast<int32_t>(std::min<size_t>(cot.size(), INT32_MAX));
  bool in_command = false;  // inside a LaTeX command name (\frac)
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(p, i, len, c);
    if (c < 0) {  // invalid UTF-8: a separator
      close_word();
      in_command = false;
      continue;
    }
    const bool letter = u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || (U_GET_GC_MASK(c) & U_GC_M_MASK) != 0;
    if (c == '\\') {
      close_word();
      in_command = true;
      continue;
    }
    if (in_command && letter && c < 0x80) continue;
    in_command = false;
    if (!letter) {
      close_word();
      continue;
    }
    UErrorCode err = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript(c, &err);
    if (U_FAILURE(err)) sc = USCRIPT_COMMON;
    if (sc == USCRIPT_INHERITED) sc = USCRIPT_COMMON;
    if (sc != USCRIPT_COMMON && uscript_breaksBetweenLetters(sc)) {
      close_word();  // every letter of a script without spaces is a word of its own
      open = true;
      cur = sc;
      close_word();
      continue;
    }
    if (open && sc != USCRIPT_COMMON && cur != USCRIPT_COMMON && cur != USCRIPT_INVALID_CODE && sc != cur)
      close_word();
    if (!open) {
      open = true;
      cur = USCRIPT_COMMON;
    }
    if (cur == USCRIPT_COMMON || cur == USCRIPT_INVALID_CODE) cur = sc;
  }
  close_word();
  RewardResult r;
  if (words == 0) {
    r.value = 0;
    r.reason = "no words in the chain of thought";
    return r;
  }
  r.value = static_cast<double>(in_target) / static_cast<double>(words);
  r.reason = std::to_string(in_target) + " of " + std::to_string(words) + " words in the target script";
  return r;
}

// --- length -------------------------------------------------------------------------------------

RewardResult length_reward(int64_t length, int64_t max_len, int64_t cache_len) {
  if (max_len <= 0) fail("length: the maximum length must be positive, got {}", max_len);
  RewardResult r;
  const int64_t soft = cache_len > 0 ? max_len - cache_len : max_len;
  if (length <= soft) {
    r.value = 0;
  } else if (length <= max_len) {
    r.value = static_cast<double>(soft - length) / static_cast<double>(cache_len);
  } else {
    r.value = -1;
  }
  r.reason = std::to_string(length) + " tokens (penalty from " + std::to_string(soft) + ", -1 beyond " +
             std::to_string(max_len) + ")";
  return r;
}

}  // namespace r1::verify
