#include "verify/reward_spec.h"

#include <charconv>
#include <cmath>

#include "core/error.h"
#include "core/recipe.h"
#include "core/strings.h"
#include "io/json.h"

namespace r1::verify {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The gold answer for countdown may also be given as metadata {"numbers": [...], "target": N}.
std::string countdown_gold(const RewardInput& in) {
  if (!trim(in.gold).empty() || in.metadata == nullptr || !in.metadata->is_object())
    return std::string(in.gold);
  if (!in.metadata->contains("numbers") || !in.metadata->contains("target")) return std::string(in.gold);
  const nlohmann::json j = {{"numbers", (*in.metadata)["numbers"]}, {"target", (*in.metadata)["target"]}};
  return j.dump();
}

// The code reward's test cases: the metadata's "tests" field, else the gold parsed as JSON
// (both in CodeTests::from_json's form). Bad tests make the example unverifiable, not an error.
RewardResult code_of(const RewardInput& in, const RewardOptions& o) {
  RewardResult r;
  CodeTests tests;
  try {
    if (in.metadata != nullptr && in.metadata->is_object() && in.metadata->contains("tests")) {
      tests = CodeTests::from_json((*in.metadata)["tests"]);
    } else {
      const auto j = parse_json_or_discarded(in.gold);
      if (j.is_discarded()) fail("the gold is not JSON test cases and the metadata has no 'tests'");
      tests = CodeTests::from_json(j);
    }
  } catch (const Error& e) {
    r.verdict = Verdict::kUnverifiable;
    r.reason = std::string("unverifiable: ") + e.what();
    return r;
  }
  const CodeScore s = score_code(in.completion, tests, o.code);
  r.value = s.score;
  r.reason = s.reason;
  r.verdict = s.passed == s.total && s.total > 0 ? Verdict::kCorrect : Verdict::kWrong;
  return r;
}

RewardResult length_of(const RewardInput& in, const RewardOptions& o) {
  if (o.max_tokens <= 0) fail("reward 'length' needs the maximum length (--max-tokens, max_tokens > 0)");
  const int64_t n = in.num_tokens ? *in.num_tokens : static_cast<int64_t>(in.completion.size());
  return length_reward(n, o.max_tokens, o.cache_tokens);
}

}  // namespace

const std::vector<RewardDef>& reward_registry() {
  // To add a reward (the code reward, say): one row here. Accuracy rewards need a gold answer and
  // give the verdict.
  static const std::vector<RewardDef> defs = {
      {"math", true, "the extracted answer equals the gold by math equivalence",
       [](const RewardInput& in, const RewardOptions& o) {
         return math_reward(in.completion, in.gold, o.extract);
       }},
      {"gsm8k", true, "the extracted number equals the gold '#### N' or number",
       [](const RewardInput& in, const RewardOptions& o) {
         return gsm8k_reward(in.completion, in.gold, o.extract);
       }},
      {"exact", true, "the extracted answer equals the gold string (trimmed)",
       [](const RewardInput& in, const RewardOptions& o) {
         return exact_reward(in.completion, in.gold, o.extract);
       }},
      {"choice", true, "the extracted multiple-choice letter equals the gold letter",
       [](const RewardInput& in, const RewardOptions& o) {
         return choice_reward(in.completion, in.gold, o.extract);
       }},
      {"countdown", true, "the <answer> expression uses the given numbers and equals the target",
       [](const RewardInput& in, const RewardOptions& o) {
         return countdown_reward(in.completion, countdown_gold(in), o.countdown);
       }},
      {"code", true, "the last fenced code block passes the test cases (sandboxed; --code-fraction: share)",
       code_of},
      {"format", false, "strict R1-Zero format <think>...</think> <answer>...</answer>",
       [](const RewardInput& in, const RewardOptions&) { return format_reward(in.completion, in.prompt); }},
      {"format_lenient", false, "think and answer tags in order (0.5 for one of them)",
       [](const RewardInput& in, const RewardOptions&) {
         return format_lenient_reward(in.completion, in.prompt);
       }},
      {"language", false, "share of the chain of thought's words in the target language",
       [](const RewardInput& in, const RewardOptions& o) {
         return language_reward(in.completion, o.language, in.prompt);
       }},
      {"length", false, "DAPO overlong penalty: 0, down to -1 over the last cache_tokens before max_tokens",
       length_of},
      {"external", false, "a user command answering {\"reward\"} per JSON line (--reward-cmd)", nullptr},
  };
  return defs;
}

std::string known_reward_names() {
  std::string s;
  for (const auto& d : reward_registry()) s += (s.empty() ? "" : ", ") + d.name;
  return s;
}

namespace {

const RewardDef* find_def(std::string_view name) {
  for (const auto& d : reward_registry())
    if (d.name == name) return &d;
  return nullptr;
}

}  // namespace

std::vector<RewardTerm> parse_reward_spec(std::string_view spec) {
  std::vector<RewardTerm> terms;
  if (trim(spec).empty()) fail("reward spec is empty (known rewards: {})", known_reward_names());
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string_view::npos) end = spec.size();
    const std::string_view item = trim(spec.substr(start, end - start));
    start = end + 1;
    if (item.empty()) fail("reward spec '{}': an empty entry", printable(spec, 100));
    const size_t colon = item.find(':');
    RewardTerm t;
    t.name = std::string(trim(item.substr(0, colon)));
    if (colon != std::string_view::npos) {
      const std::string w(trim(item.substr(colon + 1)));
      double v = 0;
      const auto r = std::from_chars(w.data(), w.data() + w.size(), v);
      if (w.empty() || r.ec != std::errc() || r.ptr != w.data() + w.size() || !std::isfinite(v))
        fail("reward spec: the weight of '{}' is not a number: '{}'", printable(t.name, 40),
             printable(w, 40));
      t.weight = v;
    }
    if (find_def(t.name) == nullptr)
      fail("reward spec: unknown reward '{}' (known: {})", printable(t.name, 40), known_reward_names());
    for (const auto& o : terms)
      if (o.name == t.name) fail("reward spec: '{}' is given twice", t.name);
    terms.push_back(std::move(t));
  }
  return terms;
}

std::vector<std::string> reward_recipe_keys(std::string_view table) {
  std::vector<std::string> keys;
  for (const auto& d : reward_registry()) keys.push_back(std::string(table) + "." + d.name);
  return keys;
}

std::vector<RewardTerm> reward_terms_from_recipe(const Recipe& recipe, std::string_view table) {
  std::vector<RewardTerm> terms;
  for (const auto& d : reward_registry()) {
    const std::string key = std::string(table) + "." + d.name;
    if (recipe.has(key)) terms.push_back({d.name, recipe.get_float(key)});
  }
  if (terms.empty())
    fail("{}: no reward in table [{}] (known: {})", recipe.name(), table, known_reward_names());
  return terms;
}

RewardSpec::RewardSpec(std::vector<RewardTerm> terms, RewardOptions options)
    : terms_(std::move(terms)), options_(std::move(options)) {
  if (terms_.empty()) fail("reward spec is empty (known rewards: {})", known_reward_names());
  for (const auto& t : terms_) {
    const RewardDef* d = find_def(t.name);
    if (d == nullptr)
      fail("reward spec: unknown reward '{}' (known: {})", printable(t.name, 40), known_reward_names());
    defs_.push_back(d);
    if (t.name == "external") {
      if (options_.external_cmd.empty()) fail("reward 'external' needs the grader command (--reward-cmd)");
      external_ = std::make_unique<ExternalReward>(options_.external_cmd, options_.external_timeout_s);
    }
    if (t.name == "length" && options_.max_tokens <= 0)
      fail("reward 'length' needs the maximum length (--max-tokens, max_tokens > 0)");
    if (t.name == "length" && (options_.cache_tokens < 0 || options_.cache_tokens >= options_.max_tokens))
      fail(
          "reward 'length': the penalty buffer (--cache-tokens {}) must be >= 0 and less than the maximum "
          "length (--max-tokens {})",
          options_.cache_tokens, options_.max_tokens);
    if (t.name == "language") language_reward("", options_.language);  // an unknown target fails now
  }
}

RewardSpec::RewardSpec(RewardSpec&&) noexcept = default;
RewardSpec& RewardSpec::operator=(RewardSpec&&) noexcept = default;
RewardSpec::~RewardSpec() = default;

bool RewardSpec::needs_gold() const {
  for (const RewardDef* d : defs_)
    if (d->accuracy) return true;
  return false;
}

Score RewardSpec::score(const RewardInput& in) {
  return score_batch({in}).at(0);
}

std::vector<Score> RewardSpec::score_batch(const std::vector<RewardInput>& items) {
  std::vector<double> ext;
  if (external_) {
    std::vector<ExternalItem> xs;
    xs.reserve(items.size());
    for (const auto& in : items) xs.push_back({in.prompt, in.completion, in.metadata});
    ext = external_->score(xs);
  }
  std::vector<Score> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    Score& s = out[i];
    bool have_accuracy = false;
    for (size_t k = 0; k < terms_.size(); ++k) {
      ComponentScore c;
      c.name = terms_[k].name;
      c.weight = terms_[k].weight;
      if (defs_[k]->fn) {
        RewardResult r = defs_[k]->fn(items[i], options_);
        c.value = r.value;
        c.reason = std::move(r.reason);
        if (defs_[k]->accuracy && !have_accuracy) {
          have_accuracy = true;
          s.extracted = std::move(r.extracted);
          s.verdict = r.verdict;
        }
      } else {
        c.value = ext.at(i);
        c.reason = "external grader";
      }
      s.total += c.weight * c.value;
      s.components.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace r1::verify
