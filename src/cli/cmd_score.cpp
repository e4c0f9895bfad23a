// r1 score: scores completions with a reward spec. One pair from the options, or JSON lines
// {"gold", "completion", "prompt", "num_tokens", "metadata"} on stdin; one JSON line out per item:
// {"reward": total, "extracted": ..., "verdict": ..., "<component>": value, ...}.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/stop_signals.h"
#include "io/encoding.h"
#include "io/json.h"
#include "verify/reward_spec.h"

namespace r1::cli {

namespace {

struct ScoreArgs {
  std::string reward = "math";
  std::optional<std::string> gold, completion;
  std::string prompt;
  std::optional<int64_t> num_tokens;
  std::string reward_cmd;
  double reward_timeout = 60.0;
  bool extract_last_number = false;
  std::string language = "en";
  int64_t max_tokens = 0, cache_tokens = 0;
  bool countdown_at_most_once = false;
  bool code_fraction = false;
  bool explain = false;
  size_t batch = 256;
};

// One item read from stdin, owning its strings.
struct Row {
  std::string prompt, completion, gold;
  nlohmann::json metadata;
  bool has_metadata = false;
  std::optional<int64_t> num_tokens;
};

void print_score(const verify::Score& s, bool explain) {
  nlohmann::ordered_json j;
  j["reward"] = s.total;
  if (s.verdict) {
    j["extracted"] = s.extracted ? nlohmann::ordered_json(*s.extracted) : nlohmann::ordered_json();
    j["verdict"] = verify::verdict_name(*s.verdict);
  }
  for (const auto& c : s.components) j[c.name] = c.value;
  if (explain) {
    nlohmann::ordered_json why;
    for (const auto& c : s.components) why[c.name] = c.reason;
    j["reasons"] = why;
  }
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", line.c_str());
}

Row parse_row(const std::string& line, size_t line_no) {
  const nlohmann::json j = parse_json(line, fmt::format("stdin line {}", line_no), JsonText::Line);
  if (!j.is_object()) fail("stdin line {}: expected a JSON object, got {}", line_no, j.type_name());
  Row r;
  auto str = [&](const char* key, std::string* out, bool required) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) fail("stdin line {}: field '{}' is missing", line_no, key);
      return;
    }
    if (!it->is_string())
      fail("stdin line {}: field '{}' must be a string, got {}", line_no, key, it->type_name());
    *out = it->get<std::string>();
  };
  str("completion", &r.completion, true);
  str("prompt", &r.prompt, false);
  if (const auto g = j.find("gold"); g != j.end() && !g->is_null()) {
    // A number, a countdown object {"numbers", "target"} or code tests {"language", "io", ...}
    // is taken as its JSON text.
    r.gold = g->is_string() ? g->get<std::string>() : g->dump();
  }
  for (const char* key : {"num_tokens", "length"}) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      fail("stdin line {}: field '{}' must be a non-negative integer", line_no, key);
    r.num_tokens = it->get<int64_t>();
    break;
  }
  if (const auto m = j.find("metadata"); m != j.end()) {
    r.metadata = *m;
    r.has_metadata = true;
  }
  return r;
}

int run_score(const ScoreArgs& a) {
  verify::RewardOptions o;
  o.extract.last_number = a.extract_last_number;
  o.language = a.language;
  o.countdown.at_most_once = a.countdown_at_most_once;
  o.code.fraction = a.code_fraction;
  o.max_tokens = a.max_tokens;
  o.cache_tokens = a.cache_tokens;
  o.external_cmd = a.reward_cmd;
  o.external_timeout_s = a.reward_timeout;
  if (!a.reward_cmd.empty() && a.reward.find("external") == std::string::npos)
    fail("--reward-cmd is given but the reward spec '{}' has no 'external'", a.reward);
  verify::RewardSpec spec = verify::RewardSpec::parse(a.reward, o);

  if (a.completion || a.gold) {
    if (!a.completion) fail("--gold needs --completion (or give JSON lines on stdin)");
    if (!a.gold && spec.needs_gold()) fail("--completion needs --gold for the reward spec '{}'", a.reward);
    verify::RewardInput in;
    in.prompt = a.prompt;
    in.completion = *a.completion;
    in.gold = a.gold ? std::string_view(*a.gold) : std::string_view();
    in.num_tokens = a.num_tokens;
    print_score(spec.score(in), a.explain);
  } else {
    // SIGINT/SIGTERM: the rows read so far are scored and printed, then the command stops (130),
    // so every line on stdout is a whole score. The signal is seen after the line being read.
    const StopSignals signals;
    int64_t scored = 0;
    std::vector<Row> rows;
    auto flush = [&] {
      std::vector<verify::RewardInput> ins;
      ins.reserve(rows.size());
      for (const Row& r : rows) {
        verify::RewardInput in;
        in.prompt = r.prompt;
        in.completion = r.completion;
        in.gold = r.gold;
        in.metadata = r.has_metadata ? &r.metadata : nullptr;
        in.num_tokens = r.num_tokens;
        ins.push_back(in);
      }
      for (const auto& s : spec.score_batch(ins)) print_score(s, a.explain);
      std::fflush(stdout);
      scored += static_cast<int64_t>(rows.size());
      rows.clear();
    };
    bool stopped = false;
    std::string line;
    size_t line_no = 0;
    char* buf = nullptr;
    size_t cap = 0;
    for (ssize_t n; (n = getline(&buf, &cap, stdin)) >= 0;) {
      ++line_no;
      line.assign(buf, static_cast<size_t>(n));
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      try {
        if (line_no == 1) require_utf8(line, "stdin");
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        rows.push_back(parse_row(line, line_no));
        if (spec.needs_gold() && rows.back().gold.empty() && !rows.back().has_metadata)
          fail("stdin line {}: field 'gold' is missing (the reward spec '{}' needs it)", line_no, a.reward);
      } catch (...) {
        std::free(buf);
        throw;
      }
      if (rows.size() >= a.batch) flush();
      if (signals.raised() || test_stop_requested(scored)) {
        stopped = true;
        break;
      }
    }
    const bool read_error = std::ferror(stdin) != 0;
    std::free(buf);
    if (read_error) fail("stdin: read error");
    if (!rows.empty()) flush();
    if (stopped) {
      std::fprintf(stderr,
                   "score: interrupted after %lld rows (stdin line %zu); every score printed is complete\n",
                   static_cast<long long>(scored), line_no);
      return 130;
    }
  }
  std::fflush(stdout);
  if (std::ferror(stdout)) fail("stdout: write error");
  return 0;
}

}  // namespace

void add_score_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<ScoreArgs>();
  CLI::App* c =
      app.add_subcommand("score",
                         "score completions with rewards: one pair from --gold/--completion, or JSON lines "
                         "{\"gold\",\"completion\",\"prompt\",\"num_tokens\",\"metadata\"} on stdin; one "
                         "JSON line out per item");
  c->add_option("--reward", a->reward,
                "reward spec NAME[:WEIGHT][,NAME[:WEIGHT]...] (default math); rewards: " +
                    verify::known_reward_names());
  c->add_option("--gold", a->gold, "the gold answer (with --completion)");
  c->add_option("--completion", a->completion, "the completion to score (instead of stdin)");
  c->add_option("--prompt", a->prompt, "the prompt (with --completion; format and language read it)");
  c->add_option("--num-tokens", a->num_tokens, "the completion's length in tokens (with --completion)")
      ->check(at_least(0));
  c->add_option("--reward-cmd", a->reward_cmd, "external: the grader command, run with /bin/sh -c");
  c->add_option("--reward-timeout", a->reward_timeout,
                "external: seconds without an answer before failing (60)")
      ->check(positive());
  c->add_flag("--extract-last-number", a->extract_last_number,
              "accuracy rewards: fall back to the last number in the completion");
  c->add_option("--language", a->language, "language: the target language or script (en)");
  c->add_option("--max-tokens", a->max_tokens,
                "length: the maximum length L_max in tokens (the length is \"num_tokens\" or \"length\", "
                "else the completion's bytes)")
      ->check(at_least(1));
  c->add_option("--cache-tokens", a->cache_tokens, "length: the soft-penalty buffer L_cache in tokens (0)")
      ->check(at_least(0));
  c->add_flag("--countdown-at-most-once", a->countdown_at_most_once,
              "countdown: each number at most once (default: all of them, exactly once)");
  c->add_flag("--code-fraction", a->code_fraction,
              "code: score the share of test cases passed (default: 1 only when all pass)");
  c->add_flag("--explain", a->explain, "add \"reasons\": one line per component");
  c->add_option("--batch", a->batch,
                "stdin rows scored together (256; 1 prints each score as its row arrives)")
      ->check(in_range(1, 1 << 20));
  out.push_back({c, [a] { return run_score(*a); }});
}

}  // namespace r1::cli
