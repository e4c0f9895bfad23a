#include "eval/sample_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/comm.h"
#include "eval/eval_run.h"
#include "eval/judge.h"
#include "io/file.h"
#include "io/jsonl.h"
#include "verify/reward_spec.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;

// "0.2:0.8" -> [0.2, 0.8].
std::pair<double, double> parse_pass_rate(const std::string& s) {
  const size_t colon = s.find(':');
  double lo = 0, hi = 0;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("");
    size_t used = 0;
    lo = std::stod(s.substr(0, colon), &used);
    if (used != colon) throw std::invalid_argument("");
    hi = std::stod(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    fail("--pass-rate: expected LO:HI with 0 <= LO <= HI <= 1, got '{}'", s);
  }
  if (!(lo >= 0 && lo <= hi && hi <= 1))
    fail("--pass-rate: expected LO:HI with 0 <= LO <= HI <= 1, got '{}'", s);
  return {lo, hi};
}

// The data file's rows by line number (for pass-rate mode, which writes each kept problem's row).
std::map<int64_t, nlohmann::json> rows_by_line(const std::string& path) {
  std::map<int64_t, nlohmann::json> rows;
  JsonlReader reader(path);
  nlohmann::json row;
  while (reader.next(row)) rows[static_cast<int64_t>(reader.line())] = row;
  return rows;
}

}  // namespace

int run_sample(SampleRunArgs& a) {
  const bool pass_mode = !a.pass_rate.empty();
  const auto [lo, hi] = pass_mode ? parse_pass_rate(a.pass_rate) : std::pair<double, double>{0, 1};
  if (a.format != "prompt-completion" && a.format != "messages")
    fail("--format: expected prompt-completion or messages, got '{}'", a.format);
  if (a.filters.pick != "first" && a.filters.pick != "shortest" && a.filters.pick != "random")
    fail("--pick: expected first, shortest or random, got '{}'", a.filters.pick);
  a.filters.seed = a.gen.seed;

  verify::RewardOptions ro;
  ro.extract.last_number = a.last_number;
  ro.language = a.language;
  ro.max_tokens = a.gen.max_new_tokens;
  verify::RewardSpec spec = verify::RewardSpec::parse(a.reward, ro);
  if ((a.filters.correct || pass_mode) && !spec.needs_gold())
    fail("--reward: '{}' has no accuracy reward, which {} needs", a.reward,
         pass_mode ? "--pass-rate" : "--correct");
  if (a.filters.min_language >= 0)
    (void)verify::language_reward("", a.language);  // an unknown target fails now
  if (!a.judge.empty() && pass_mode) fail("--judge filters samples; it does not apply to --pass-rate");
  std::optional<Judge> judge;
  if (!a.judge.empty()) {
    JudgeConfig jc;
    jc.path = a.judge, jc.templ_file = a.judge_template, jc.max_new_tokens = a.judge_max_new_tokens;
    judge.emplace(jc);
  }

  const ProblemSource source = resolve_problem_source(a);
  // A finished run's OUT is never overwritten by accident; an interrupted one continues with --resume.
  if (fs::exists(a.out) && !a.resume)
    fail("--out: {} exists: remove it, choose another --out, or pass --resume to continue a run", a.out);
  if (fs::exists(a.out) && a.resume && !fs::exists(a.out + ".partial"))
    fail("--resume: {} is complete (no {} to continue)", a.out, a.out + ".partial");
  check_run_outputs(a.out, a.summary_json);
  ProblemRun run = load_problem_run(a, source);
  const int k = a.gen.n;
  const std::string force = a.force_think ? "<think>\n" : "";
  EvalProgressFile progress(a.out + ".partial", run.settings, a.resume, run.problems, run.prompts, k);
  start_problem_run(a, run);

  // The completion as the model wrote it: the forced "<think>\n" belongs to the response.
  double score_seconds = 0;  // in spec.score, during generation and after it
  auto score = [&](const EvalProblem& p, const std::string& text, int64_t tokens) {
    const auto s0 = std::chrono::steady_clock::now();
    verify::RewardInput in;
    const std::string completion = force + text;
    in.prompt = p.prompt;
    in.completion = completion;
    in.gold = p.gold;
    in.num_tokens = tokens;
    verify::Score out = spec.score(in);
    score_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    return out;
  };
  const EvalRunResult result =
      run_problems("sample", a.resume, run, progress, [&](const EvalProblem& p, const std::string& text) {
        SampleResult r;
        r.text = text;
        const verify::Score s = score(p, text, 0);
        r.extracted = s.extracted;
        r.verdict = s.verdict.value_or(verify::Verdict::kUnverifiable);
        return r;
      });
  if (result.interrupted) return 130;

  // Filters, the per-problem cap and the output rows, in problem and sample order.
  const auto f0 = std::chrono::steady_clock::now();
  SampleSummary sum;
  sum.problems = static_cast<int64_t>(run.problems.size());
  sum.correct_histogram.assign(static_cast<size_t>(k) + 1, 0);
  const GenerationStats& stats = run.engine->stats();
  sum.seconds = stats.seconds;
  sum.generated = stats.samples;
  sum.generated_tokens = stats.decode_tokens;
  const std::map<int64_t, nlohmann::json> rows =
      pass_mode ? rows_by_line(source.path) : std::map<int64_t, nlohmann::json>{};
  const std::string model_path = fs::absolute(a.model_path).lexically_normal().string();
  // Every sample's score and the first filter it fails; then the judge, in one batch, over the
  // samples that pass every other filter.
  std::vector<std::vector<verify::Score>> scores(run.problems.size());
  std::vector<std::vector<std::string>> why(run.problems.size());
  for (size_t i = 0; i < run.problems.size() && !pass_mode; i++) {
    std::set<std::string> seen;
    for (const SampleResult& r : result.results[i].samples) {
      scores[i].push_back(score(run.problems[i], r.text, r.num_tokens));
      std::string w = sample_rejection(a.filters, force + r.text, r, scores[i].back(), ro);
      if (w.empty() && a.filters.dedup && !seen.insert(r.text).second) w = "duplicate";
      why[i].push_back(std::move(w));
    }
  }
  if (judge) {
    std::vector<JudgeItem> items;
    std::vector<std::pair<size_t, size_t>> at;
    for (size_t i = 0; i < why.size(); i++)
      for (size_t j = 0; j < why[i].size(); j++)
        if (why[i][j].empty()) {
          items.push_back(
              {run.problems[i].prompt, run.problems[i].gold, force + result.results[i].samples[j].text});
          at.emplace_back(i, j);
        }
    const std::vector<JudgeResult> verdicts = judge->judge(items);
    for (size_t n = 0; n < at.size(); n++)
      if (!verdicts[n].accept.value_or(false)) why[at[n].first][at[n].second] = "judge";
  }
  std::string text;
  for (size_t i = 0; i < run.problems.size(); i++) {
    const EvalProblem& p = run.problems[i];
    const ProblemResult& pr = result.results[i];
    int c = 0;
    if (pass_mode)
      for (const SampleResult& r : pr.samples) scores[i].push_back(score(p, r.text, r.num_tokens));
    for (const verify::Score& s : scores[i]) c += s.verdict && *s.verdict == verify::Verdict::kCorrect;
    sum.samples += static_cast<int64_t>(pr.samples.size());
    sum.correct_histogram[static_cast<size_t>(std::min(c, k))]++;
    if (pass_mode) {
      const double rate = double(c) / double(k);
      if (rate < lo || rate > hi) continue;
      nlohmann::ordered_json row;
      for (const auto& [key, value] : rows.at(p.line).items()) row[key] = value;
      row["pass_rate"] = rate;
      row["correct"] = c;
      row["k"] = k;
      text += row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
      sum.kept++;
      continue;
    }
    std::vector<size_t> passing;
    std::vector<int64_t> lengths;
    for (size_t j = 0; j < pr.samples.size(); j++) {
      if (!why[i][j].empty()) {
        sum.rejected[why[i][j]]++;
        continue;
      }
      passing.push_back(j);
      lengths.push_back(pr.samples[j].num_tokens);
    }
    const std::vector<size_t> kept = pick_samples(a.filters, passing, lengths, static_cast<int64_t>(i));
    sum.rejected["over_per_problem_limit"] += static_cast<int64_t>(passing.size() - kept.size());
    for (size_t j : kept) {
      const SampleResult& r = pr.samples[j];
      const verify::Score& s = scores[i][j];
      const std::string completion = force + r.text;
      nlohmann::ordered_json row;
      const nlohmann::ordered_json assistant = {{"role", "assistant"}, {"content", completion}};
      // The user's turn as the model was asked it: the question with the instruction.
      nlohmann::ordered_json asked = p.messages;
      if (asked.is_null()) asked = nlohmann::ordered_json::array({{{"role", "user"}, {"content", p.prompt}}});
      asked.back()["content"] = run.prompt_builder->render(asked.back()["content"].get<std::string>());
      if (a.format == "messages") {
        asked.push_back(assistant);
        row["messages"] = std::move(asked);
      } else {
        row["prompt"] = p.messages.is_null() ? asked.back()["content"] : asked;
        row["completion"] = completion;
      }
      row["problem_index"] = i;
      row["id"] = p.id;
      row["sample_index"] = j;
      row["reward"] = s.total;
      nlohmann::ordered_json comps = nlohmann::ordered_json::object();
      for (const auto& cs : s.components) comps[cs.name] = cs.value;
      row["rewards"] = comps;
      if (s.verdict) row["verdict"] = verify::verdict_name(*s.verdict);
      row["num_tokens"] = r.num_tokens;
      row["finish_reason"] = r.finish_reason;
      row["model"] = model_path;
      row["seed"] = a.gen.seed;
      text += row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
      sum.kept++;
    }
  }
  sum.score_seconds = score_seconds;
  sum.select_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
  const nlohmann::ordered_json sj = sample_summary_json(sum, pass_mode ? "pass-rate" : "samples", k);
  if (world().root()) {  // rank 0 writes
    write_file_atomic(a.out, text);
    if (!a.summary_json.empty()) write_file_atomic(a.summary_json, sj.dump(2) + "\n");
  }
  progress.remove();
  std::printf("%s\n", sj.dump(2).c_str());
  std::fprintf(stderr, "sample: %lld of %lld %s kept in %s\n", static_cast<long long>(sum.kept),
               static_cast<long long>(pass_mode ? sum.problems : sum.samples),
               pass_mode ? "problems" : "samples", a.out.c_str());
  return 0;
}

}  // namespace r1
