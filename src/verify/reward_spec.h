// Reward composition: a spec "math:1.0,format:0.5,language:0.1" (names with optional weights,
// default 1) or a recipe table ([reward] math = 1.0 ...) becomes a RewardSpec that scores a
// completion as total = sum of weight x component, reporting every component, the verdict and
// the extracted answer of the first accuracy reward in the spec.
//
// The rewards are a table (reward_registry()): adding one (the code reward, say) is one row
// {name, accuracy?, function} in reward_spec.cpp. "external" is special: a user command
// (ExternalReward) started once by the spec and asked for a whole batch at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verify/code.h"
#include "verify/external.h"
#include "verify/rewards.h"

namespace r1 {
class Recipe;
}

namespace r1::verify {

// One item to score.
struct RewardInput {
  std::string_view prompt;
  std::string_view completion;
  std::string_view gold;
  const nlohmann::json* metadata = nullptr;
  std::optional<int64_t> num_tokens;  // the completion's length in tokens, for `length`
};

// Settings the rewards share.
struct RewardOptions {
  ExtractOptions extract;            // accuracy rewards: where the answer is taken from
  std::string language = "en";       // language: the target language or script
  CountdownOptions countdown;        // countdown: exactly / at most once
  int64_t max_tokens = 0;            // length: L_max (required by `length`)
  int64_t cache_tokens = 0;          // length: L_cache, the soft-penalty buffer
  std::string external_cmd;          // external: the grader command (required by `external`)
  double external_timeout_s = 60.0;  // external: seconds of silence before it is an error
  CodeOptions code;                  // code: all-pass or fraction, workers, sandbox limits
};

using RewardFunction = std::function<RewardResult(const RewardInput&, const RewardOptions&)>;

struct RewardDef {
  std::string name;
  bool accuracy;      // gives the verdict and extracted answer; needs a gold answer
  std::string help;   // one line
  RewardFunction fn;  // empty for "external" (scored in batches by RewardSpec)
};

// Every known reward, in the order they are listed to users.
const std::vector<RewardDef>& reward_registry();
// "math, gsm8k, exact, ...": for error messages and --help.
std::string known_reward_names();

struct RewardTerm {
  std::string name;
  double weight = 1.0;
};

// "math:1.0,format:0.5,language" -> terms. Spaces are allowed around names and weights. Errors
// (one line): an unknown name (listing the known ones), a bad weight, a name given twice, an
// empty spec.
std::vector<RewardTerm> parse_reward_spec(std::string_view spec);

// The terms of a recipe's reward table: every key `<table>.<name>` (a number, the weight) for a
// known reward name. Keys of the table that are not known rewards are reported by the recipe's
// own check_known(reward_recipe_keys()). No term at all is an error.
std::vector<RewardTerm> reward_terms_from_recipe(const Recipe& recipe, std::string_view table = "reward");
// "reward.math", "reward.format", ...: the keys reward_terms_from_recipe reads.
std::vector<std::string> reward_recipe_keys(std::string_view table = "reward");

struct ComponentScore {
  std::string name;
  double weight = 0.0;
  double value = 0.0;
  std::string reason;
};

struct Score {
  double total = 0.0;
  std::vector<ComponentScore> components;  // in spec order
  std::optional<std::string> extracted;    // from the first accuracy reward in the spec
  std::optional<Verdict> verdict;          // idem; nullopt when the spec has no accuracy reward
};

class RewardSpec {
 public:
  // Starts the external grader when the spec has "external".
  RewardSpec(std::vector<RewardTerm> terms, RewardOptions options);
  static RewardSpec parse(std::string_view spec, RewardOptions options) {
    return RewardSpec(parse_reward_spec(spec), std::move(options));
  }
  RewardSpec(RewardSpec&&) noexcept;
  RewardSpec& operator=(RewardSpec&&) noexcept;
  ~RewardSpec();

  Score score(const RewardInput& in);
  // The same, for many items; the external grader is asked for the whole batch at once.
  std::vector<Score> score_batch(const std::vector<RewardInput>& items);

  const std::vector<RewardTerm>& terms() const { return terms_; }
  const RewardOptions& options() const { return options_; }
  bool needs_gold() const;  // some term is an accuracy reward
  bool has_accuracy() const { return needs_gold(); }

 private:
  std::vector<RewardTerm> terms_;
  std::vector<const RewardDef*> defs_;  // per term; null for external
  RewardOptions options_;
  std::unique_ptr<ExternalReward> external_;
};

}  // namespace r1::verify
