// libFuzzer target for answer extraction and math equivalence. The input is split at its first
// NUL byte into a gold answer and a completion (no NUL: the whole input is both). Checked on
// every input: each extractor's result, when present, has a non-space character; an answer that
// does not parse is never "correct" as gold; a parseable answer is never "wrong" against itself;
// nothing crashes, hangs, leaks or hits undefined behaviour (time and memory are bounded by the
// verifier's own caps: kMaxInput, the depth cap, the 4096-bit exact range).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "verify/extract.h"
#include "verify/math.h"

namespace {

void check_present(const std::optional<std::string>& s) {
  if (!s) return;
  if (s->find_first_not_of(" \t\r\n\f\v") == std::string::npos) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t cut = in.find('\0');
  const std::string_view gold = cut == std::string_view::npos ? in : in.substr(0, cut);
  const std::string_view completion = cut == std::string_view::npos ? in : in.substr(cut + 1);

  using namespace r1::verify;
  check_present(extract_boxed(completion));
  check_present(extract_answer_tag(completion));
  check_present(extract_gsm8k(completion));
  check_present(extract_answer_is(completion));
  check_present(extract_last_number(completion));
  ExtractOptions all;
  all.last_number = true;
  const std::optional<std::string> pred = extract_answer(completion, all);
  check_present(pred);

  const Verdict v = verify_math(gold, pred ? std::string_view(*pred) : completion);
  if (v == Verdict::kCorrect && !math_parses(gold)) std::abort();
  if (math_parses(gold) && verify_math(gold, gold) == Verdict::kWrong) std::abort();
  return 0;
}
