#include "eval/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/strings.h"
#include "dist/comm.h"
#include "io/jsonl.h"
#include "tokenizer/chat_template.h"

namespace r1 {

double pass_at_k(int n, int c, int k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n)
    fail("pass@k: needs 0 <= c <= n and 1 <= k <= n (n {}, c {}, k {})", n, c, k);
  if (n - c < k) return 1.0;
  // 1 - prod_{i = n-c+1}^{n} (1 - k / i): the stable form of 1 - C(n-c, k) / C(n, k).
  double p = 1.0;
  for (int i = n - c + 1; i <= n; i++) p *= 1.0 - double(k) / double(i);
  return 1.0 - p;
}

namespace {

bool same_answer(const std::string& rep, const std::string& a) {
  if (verify::math_parses(rep)) return verify::verify_math(rep, a) == verify::Verdict::kCorrect;
  return trim_ascii(rep) == trim_ascii(a);
}

}  // namespace

Vote majority_vote(const std::vector<std::optional<std::string>>& answers) {
  struct Group {
    std::string rep;
    int votes;
  };
  std::vector<Group> groups;
  for (const auto& a : answers) {
    if (!a) continue;
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return same_answer(g.rep, *a); });
    if (it == groups.end())
      groups.push_back({*a, 1});
    else
      it->votes++;
  }
  Vote v;
  for (const Group& g : groups)  // strictly greater: ties keep the earlier group
    if (g.votes > v.votes) v.answer = g.rep, v.votes = g.votes;
  return v;
}

std::optional<DatasetSpec> builtin_dataset(const std::string& name) {
  if (name == "gsm8k") return DatasetSpec{"gsm8k/test.jsonl", "question", "answer", true};
  if (name == "math500") return DatasetSpec{"math500/test.jsonl", "problem", "answer", false};
  if (name == "aime24") return DatasetSpec{"aime24/test.jsonl", "problem", "answer", false};
  return std::nullopt;
}

namespace {

// A conversation to continue: a non-empty list of {"role", "content"} ending with a user turn.
nlohmann::ordered_json conversation_field(const nlohmann::json& list, const std::string& field,
                                          const std::string& path, size_t line) {
  if (list.empty()) fail("{}:{}: field '{}' is an empty list of messages", path, line, field);
  for (size_t i = 0; i < list.size(); i++)
    check_message(list[i], fmt::format("{}:{}: field '{}' message {}", path, line, field, i + 1), false);
  if (list.back()["role"] != "user")
    fail("{}:{}: field '{}': the last message must be the user's (it is the {}'s)", path, line, field,
         list.back()["role"].get<std::string>());
  return nlohmann::ordered_json::parse(list.dump());
}

}  // namespace

std::vector<EvalProblem> load_eval_problems(const std::string& path, const DatasetSpec& spec, int64_t limit) {
  std::vector<EvalProblem> out;
  JsonlReader reader(path);
  nlohmann::json row;
  while ((limit < 0 || static_cast<int64_t>(out.size()) < limit) && reader.next(row)) {
    EvalProblem p;
    p.line = static_cast<int64_t>(reader.line());
    const auto pf = row.find(spec.prompt_field);
    if (spec.messages && pf != row.end() && pf->is_array()) {
      p.messages = conversation_field(*pf, spec.prompt_field, reader.path(), reader.line());
      p.prompt = p.messages.back()["content"].get<std::string>();
    } else {
      p.prompt = jsonl_string_field(row, spec.prompt_field, reader.path(), reader.line());
    }
    p.route = spec.route_default;
    if (!spec.route_field.empty() && row.contains(spec.route_field)) {
      p.route = jsonl_string_field(row, spec.route_field, reader.path(), reader.line());
      if (p.route != "rule" && p.route != "model" && p.route != "both")
        fail("{}:{}: field '{}' must be \"rule\", \"model\" or \"both\", got \"{}\"", reader.path(),
             reader.line(), spec.route_field, printable(p.route, 40));
    }
    // Answers are strings in these sets, but a number is a fine answer too.
    auto it = row.find(spec.answer_field);
    if (it != row.end() && it->is_number()) {
      p.gold = it->dump();
    } else if (p.route == "model" && (it == row.end() || it->is_null())) {
      p.gold.clear();  // scored by reward models alone: no reference answer needed
    } else {
      p.gold = jsonl_string_field(row, spec.answer_field, reader.path(), reader.line());
    }
    if (spec.gsm8k_answer) {
      auto n = verify::extract_gsm8k(p.gold);
      if (!n)
        fail("{}:{}: field '{}' has no \"#### N\" final answer", reader.path(), reader.line(),
             spec.answer_field);
      p.gold = *n;
    }
    auto id = row.find("id");
    if (id != row.end() && id->is_string())
      p.id = id->get<std::string>();
    else if (id != row.end() && id->is_number_integer())
      p.id = id->dump();
    else
      p.id = std::to_string(out.size());
    out.push_back(std::move(p));
  }
  if (out.empty()) fail("{}: no problems (the file has no rows)", path);
  return out;
}

SampleResult score_completion(const std::string& gold, const std::string& text,
                              const verify::ExtractOptions& extract) {
  SampleResult r;
  r.text = text;
  r.extracted = verify::extract_answer(text, extract);
  // verify_math itself says unverifiable for a gold that does not parse; without an answer,
  // only that question is left.
  if (r.extracted)
    r.verdict = verify::verify_math(gold, *r.extracted);
  else
    r.verdict = verify::math_parses(gold) ? verify::Verdict::kWrong : verify::Verdict::kUnverifiable;
  return r;
}

void score_problem(ProblemResult& pr, const EvalProblem& p, bool custom_scorer) {
  std::vector<std::optional<std::string>> answers;
  pr.correct = 0;
  bool all_unverifiable = !pr.samples.empty();
  for (const SampleResult& s : pr.samples) {
    pr.correct += s.verdict == verify::Verdict::kCorrect;
    all_unverifiable &= s.verdict == verify::Verdict::kUnverifiable;
    answers.push_back(s.extracted);
  }
  pr.vote = majority_vote(answers);
  if (!custom_scorer) {
    pr.cons_correct = !pr.unverifiable && pr.vote.answer &&
                      verify::verify_math(p.gold, *pr.vote.answer) == verify::Verdict::kCorrect;
    return;
  }
  pr.unverifiable = all_unverifiable;
  pr.cons_correct = false;
  if (!pr.unverifiable && pr.vote.answer)
    for (const SampleResult& s : pr.samples)
      if (s.extracted == pr.vote.answer) {
        pr.cons_correct = s.verdict == verify::Verdict::kCorrect;
        break;
      }
}

void run_eval_problems(Engine& engine, const std::vector<EvalProblem>& problems,
                       const std::vector<std::vector<int32_t>>& prompts, const std::vector<size_t>& todo,
                       const verify::ExtractOptions& extract, const EvalProblemFn& on_problem,
                       const EvalSampleFn& on_sample, const SampleScorer& scorer) {
  R1_CHECK(problems.size() == prompts.size());
  const int k = engine.config().n;
  std::vector<ProblemResult> results(problems.size());
  std::vector<int> left(problems.size(), 0);  // samples still to come
  std::vector<std::vector<int32_t>> todo_prompts;
  std::vector<int64_t> indices;
  for (const size_t i : todo) {
    R1_CHECK(i < problems.size());
    results[i].index = static_cast<int64_t>(i);
    results[i].unverifiable = !scorer && !verify::math_parses(problems[i].gold);
    results[i].samples.resize(k);
    left[i] = k;
    todo_prompts.push_back(prompts[i]);
    indices.push_back(static_cast<int64_t>(i));
  }
  engine.generate(todo_prompts, indices, [&](Completion&& c) {
    const size_t i = static_cast<size_t>(c.prompt_index);
    const EvalProblem& p = problems[i];
    SampleResult r = scorer ? scorer(p, c.text) : score_completion(p.gold, c.text, extract);
    r.text = c.text;
    r.num_tokens = static_cast<int64_t>(c.token_ids.size());
    r.finish_reason = c.finish_reason;
    if (on_sample) on_sample(p, c.sample_index, r);
    results[i].samples[static_cast<size_t>(c.sample_index)] = std::move(r);
    if (--left[i] == 0) {
      score_problem(results[i], p, static_cast<bool>(scorer));
      on_problem(i, std::move(results[i]));
    }
  });
}

std::vector<ProblemResult> run_eval(Engine& engine, const std::vector<EvalProblem>& problems,
                                    const std::vector<std::vector<int32_t>>& prompts,
                                    const verify::ExtractOptions& extract, const EvalSampleFn& on_sample,
                                    const SampleScorer& scorer) {
  R1_CHECK(problems.size() == prompts.size());
  const Shard mine = my_shard(static_cast<int64_t>(problems.size()));
  std::vector<size_t> todo;
  for (int64_t i = mine.begin; i < mine.end; i++) todo.push_back(static_cast<size_t>(i));
  std::vector<ProblemResult> results(problems.size());
  run_eval_problems(
      engine, problems, prompts, todo, extract,
      [&](size_t i, ProblemResult&& pr) { results[i] = std::move(pr); }, on_sample, scorer);
  if (world().distributed()) {
    const std::vector<ProblemResult> done(results.begin() + mine.begin, results.begin() + mine.end);
    for (ProblemResult& pr : gather_problem_results(done))
      results[static_cast<size_t>(pr.index)] = std::move(pr);
  }
  return results;
}

std::vector<ProblemResult> gather_problem_results(const std::vector<ProblemResult>& mine) {
  if (!world().distributed()) return mine;
  nlohmann::json a = nlohmann::json::array();
  for (const ProblemResult& pr : mine) {
    nlohmann::json samples = nlohmann::json::array();
    for (const SampleResult& s : pr.samples)
      samples.push_back({s.text, s.num_tokens, s.finish_reason,
                         s.extracted ? nlohmann::json(*s.extracted) : nlohmann::json(),
                         static_cast<int>(s.verdict)});
    a.push_back({pr.index, pr.unverifiable, std::move(samples), pr.correct,
                 pr.vote.answer ? nlohmann::json(*pr.vote.answer) : nlohmann::json(), pr.vote.votes,
                 pr.cons_correct});
  }
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(a);
  std::vector<ProblemResult> out;
  for (const std::string& b : world().all_gather(std::string(bytes.begin(), bytes.end())))
    for (const nlohmann::json& j : nlohmann::json::from_msgpack(b)) {
      ProblemResult pr;
      pr.index = j[0].get<int64_t>();
      pr.unverifiable = j[1].get<bool>();
      for (const nlohmann::json& s : j[2]) {
        SampleResult r;
        r.text = s[0].get<std::string>();
        r.num_tokens = s[1].get<int64_t>();
        r.finish_reason = s[2].get<std::string>();
        if (!s[3].is_null()) r.extracted = s[3].get<std::string>();
        r.verdict = static_cast<verify::Verdict>(s[4].get<int>());
        pr.samples.push_back(std::move(r));
      }
      pr.correct = j[3].get<int>();
      if (!j[4].is_null()) pr.vote.answer = j[4].get<std::string>();
      pr.vote.votes = j[5].get<int>();
      pr.cons_correct = j[6].get<bool>();
      out.push_back(std::move(pr));
    }
  return out;
}

EvalSummary summarise(const std::vector<ProblemResult>& results, int k) {
  EvalSummary s;
  s.k = k;
  s.problems = static_cast<int64_t>(results.size());
  s.pass_at.assign(k, 0.0);
  int64_t scored = 0, samples = 0, answered = 0, truncated = 0;
  double tokens = 0;
  for (const ProblemResult& pr : results) {
    for (const SampleResult& r : pr.samples) {
      samples++;
      tokens += double(r.num_tokens);
      s.max_tokens = std::max(s.max_tokens, r.num_tokens);
      answered += r.extracted.has_value();
      truncated += r.finish_reason == "length";
    }
    if (pr.unverifiable) {
      s.unverifiable++;
      continue;
    }
    const int n = static_cast<int>(pr.samples.size());
    if (n != k) fail("eval summary: problem {} has {} samples, expected k = {}", pr.index, n, k);
    scored++;
    s.pass1 += double(pr.correct) / k;
    s.cons += pr.cons_correct;
    for (int j = 1; j <= k; j++) s.pass_at[j - 1] += pass_at_k(k, pr.correct, j);
  }
  if (scored > 0) {
    s.pass1 /= double(scored), s.cons /= double(scored);
    for (double& v : s.pass_at) v /= double(scored);
  }
  if (samples > 0) {
    s.mean_tokens = tokens / double(samples);
    s.answered = double(answered) / double(samples);
    s.truncated = double(truncated) / double(samples);
  }
  return s;
}

std::string format_summary(const EvalSummary& s, const std::string& name) {
  std::string out;
  out += fmt::format("{:<24} {:>10}\n", "benchmark", name);
  out += fmt::format("{:<24} {:>10}\n", "problems scored", s.problems - s.unverifiable);
  if (s.unverifiable > 0) out += fmt::format("{:<24} {:>10}\n", "unverifiable (skipped)", s.unverifiable);
  out += fmt::format("{:<24} {:>10}\n", "samples per problem (k)", s.k);
  out += fmt::format("{:<24} {:>9.1f}%\n", "pass@1 (mean over k)", 100 * s.pass1);
  out += fmt::format("{:<24} {:>9.1f}%\n", fmt::format("cons@{}", s.k), 100 * s.cons);
  for (int j = 2; j <= s.k; j *= 2)
    out += fmt::format("{:<24} {:>9.1f}%\n", fmt::format("pass@{}", j), 100 * s.pass_at[j - 1]);
  if (s.k > 1 && (s.k & (s.k - 1)) != 0)
    out += fmt::format("{:<24} {:>9.1f}%\n", fmt::format("pass@{}", s.k), 100 * s.pass_at[s.k - 1]);
  out += fmt::format("{:<24} {:>9.1f}%\n", "answer extracted", 100 * s.answered);
  out += fmt::format("{:<24} {:>10.1f}\n", "mean response tokens", s.mean_tokens);
  out += fmt::format("{:<24} {:>10}\n", "max response tokens", s.max_tokens);
  out += fmt::format("{:<24} {:>9.1f}%\n", "truncated (length)", 100 * s.truncated);
  if (s.seconds > 0) out += fmt::format("{:<24} {:>9.1f}s\n", "time", s.seconds);
  return out;
}

}  // namespace r1
