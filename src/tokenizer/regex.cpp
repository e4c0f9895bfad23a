#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace r1 {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return "error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf));
}

// Per-thread match state: match data (only the whole-match offsets are read), and a match
// context carrying a JIT stack big enough for long runs of one character class (the default
// 32 KiB stack can run out on, say, 100k spaces under `\s+(?!\S)`).
struct MatchState {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mc = nullptr;
  pcre2_jit_stack* js = nullptr;
  MatchState() {
    md = pcre2_match_data_create(1, nullptr);
    mc = pcre2_match_context_create(nullptr);
    js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (md == nullptr || mc == nullptr || js == nullptr) throw std::bad_alloc();
    pcre2_jit_stack_assign(mc, nullptr, js);
  }
  ~MatchState() {
    pcre2_jit_stack_free(js);
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
  if (code_ == nullptr)
    fail("{}: regex '{}' does not compile at offset {}: {}", where, utf8::printable(pattern), off,
         pcre2_message(err));
  uint32_t have_jit = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &have_jit);
  if (have_jit != 0) jit_ = pcre2_jit_compile(static_cast<pcre2_code*>(code_), PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::find_one(std::string_view text, size_t start, size_t& match_start, size_t& match_end) const {
  auto* code = static_cast<pcre2_code*>(code_);
  MatchState& st = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  while (start < n) {
    int rc = pcre2_match(code, subject, n, start, 0, st.md, st.mc);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // the interpreter keeps its backtracking on the heap
      rc = pcre2_match(code, subject, n, start, PCRE2_NO_JIT, st.md, st.mc);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) fail("regex '{}': matching failed: {}", utf8::printable(pattern_), pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
    if (ov[1] > ov[0]) {
      match_start = ov[0];
      match_end = ov[1];
      return true;
    }
    // An empty match: the next search starts one character further on (empty matches make
    // no piece).
    if (ov[0] >= n) return false;
    start = ov[0] + utf8::unit_len(text, ov[0]);
  }
  return false;
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  size_t s = 0, e = 0;
  for (size_t start = 0; find_one(text, start, s, e); start = e) out.emplace_back(s, e);
}

}  // namespace r1
