#include "eval/sample.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>
#include <string_view>

#include "core/rng.h"
#include "verify/rewards.h"

namespace r1 {

const std::vector<std::string>& sample_rejection_reasons() {
  static const std::vector<std::string> kReasons = {
      "not_correct", "truncated", "format",    "language", "code_in_think",         "long_paragraph",
      "repetition",  "too_long",  "duplicate", "judge",    "over_per_problem_limit"};
  return kReasons;
}

double repeated_ngram_share(const std::string& text) {
  std::vector<std::string_view> words;
  const std::string_view s(text);
  for (size_t i = 0; i < s.size();) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
    const size_t b = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) i++;
    if (i > b) words.push_back(s.substr(b, i - b));
  }
  constexpr size_t n = 4;
  if (words.size() < n) return 0;
  std::set<std::vector<std::string_view>> seen;
  const size_t total = words.size() - n + 1;
  for (size_t i = 0; i < total; i++)
    seen.insert(std::vector<std::string_view>(words.begin() + i, words.begin() + i + n));
  return 1.0 - double(seen.size()) / double(total);
}

std::string reasoning_part(const std::string& text) {
  const size_t end = text.find("</think>");
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string sample_rejection(const SampleFilters& f, const std::string& completion, const SampleResult& r,
                             const verify::Score& score, const verify::RewardOptions& options) {
  if (f.correct && !(score.verdict && *score.verdict == verify::Verdict::kCorrect)) return "not_correct";
  if (f.finished && r.finish_reason == "length") return "truncated";
  if (f.strict_format && verify::format_reward(completion).value != 1.0) return "format";
  if (f.min_language >= 0 && verify::language_reward(completion, options.language).value < f.min_language)
    return "language";
  if (f.no_code_in_think && reasoning_part(completion).find("```") != std::string::npos)
    return "code_in_think";
  if (f.max_paragraph > 0) {
    for (size_t at = 0; at <= completion.size();) {
      size_t end = completion.find("\n\n", at);
      if (end == std::string::npos) end = completion.size();
      if (static_cast<int64_t>(end - at) > f.max_paragraph) return "long_paragraph";
      at = end + 2;
    }
  }
  if (f.max_repetition >= 0 && repeated_ngram_share(completion) > f.max_repetition) return "repetition";
  if (f.max_tokens > 0 && r.num_tokens > f.max_tokens) return "too_long";
  return "";
}

std::vector<size_t> pick_samples(const SampleFilters& f, const std::vector<size_t>& passing,
                                 const std::vector<int64_t>& lengths, int64_t problem_index) {
  if (f.keep <= 0 || static_cast<int64_t>(passing.size()) <= f.keep) return passing;
  std::vector<size_t> order(passing.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  if (f.pick == "shortest") {
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  } else if (f.pick == "random") {
    std::mt19937_64 rng(f.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(problem_index));
    shuffle_by(order, [&](size_t) { return rng(); });
  }
  order.resize(static_cast<size_t>(f.keep));
  std::sort(order.begin(), order.end());
  std::vector<size_t> out;
  for (size_t i : order) out.push_back(passing[i]);
  return out;
}

nlohmann::ordered_json sample_summary_json(const SampleSummary& s, const std::string& mode, int k) {
  nlohmann::ordered_json j;
  j["mode"] = mode;
  j["problems"] = s.problems;
  j["samples"] = s.samples;
  j["kept"] = s.kept;
  nlohmann::ordered_json rej = nlohmann::ordered_json::object();
  for (const std::string& r : sample_rejection_reasons()) {
    const auto it = s.rejected.find(r);
    rej[r] = it == s.rejected.end() ? 0 : it->second;
  }
  if (mode == "samples") j["rejected"] = rej;
  nlohmann::ordered_json hist = nlohmann::ordered_json::object();
  for (int c = 0; c <= k && c < static_cast<int>(s.correct_histogram.size()); c++)
    hist[fmt::format("{}/{}", c, k)] = s.correct_histogram[static_cast<size_t>(c)];
  j["pass_rate_histogram"] = hist;
  j["generated_samples"] = s.generated;
  j["generated_tokens"] = s.generated_tokens;
  j["seconds"] = s.seconds;
  j["score_seconds"] = s.score_seconds;
  j["select_seconds"] = s.select_seconds;
  j["samples_per_s"] = s.seconds > 0 ? double(s.generated) / s.seconds : 0.0;
  j["tokens_per_s"] = s.seconds > 0 ? double(s.generated_tokens) / s.seconds : 0.0;
  return j;
}

}  // namespace r1
