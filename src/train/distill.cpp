#include "train/distill.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/strings.h"
#include "eval/eval.h"
#include "eval/sample_run.h"
#include "io/file.h"
#include "io/jsonl.h"
#include "rollout/prompts.h"
#include "train/lm_trainer.h"

namespace r1 {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// The distill-only part of a recipe, typed.
struct DistillSettings {
  SampleRunArgs sample;  // the teacher's run of r1 sample
  std::string student_template = "auto", student_instruction = "auto";
  bool student_force_think = false;
  std::string student_extra_data;  // SFT rows trained beside the traces (R1's non-reasoning data)
};

const RecipeSchema<DistillSettings>& distill_schema() {
  using S = DistillSettings;
  static const RecipeSchema<S> schema = [] {
    RecipeSchema<S> s;
    s.add(
        KeyRule::string("teacher.model"), [](S& x) -> std::string& { return x.sample.model_path; }, true);
    s.add_part(problem_run_schema("teacher", "problems", "sample"),
               [](S& x) -> ProblemRunArgs& { return x.sample; });
    s.add(KeyRule::string("sample.reward"), [](S& x) -> std::string& { return x.sample.reward; });
    s.add(KeyRule::string("sample.language"), [](S& x) -> std::string& { return x.sample.language; });
    auto filt = [](auto SampleFilters::*m) {
      return [m](S & x) -> auto& {
        return x.sample.filters.*m;
      };
    };
    s.add(KeyRule::boolean("sample.correct"), filt(&SampleFilters::correct));
    s.add(KeyRule::boolean("sample.finished"), filt(&SampleFilters::finished));
    s.add(KeyRule::boolean("sample.strict_format"), filt(&SampleFilters::strict_format));
    s.add(KeyRule::real("sample.min_language", 0, 1), filt(&SampleFilters::min_language));
    s.add(KeyRule::boolean("sample.no_code_in_think"), filt(&SampleFilters::no_code_in_think));
    s.add(KeyRule::int_at_least("sample.max_paragraph", 1), filt(&SampleFilters::max_paragraph));
    s.add(KeyRule::real("sample.max_repetition", 0, 1), filt(&SampleFilters::max_repetition));
    s.add(KeyRule::int_at_least("sample.max_tokens", 1), filt(&SampleFilters::max_tokens));
    s.add(KeyRule::boolean("sample.dedup"), filt(&SampleFilters::dedup));
    s.add(KeyRule::int_at_least("sample.keep", 0), filt(&SampleFilters::keep));
    s.add(KeyRule::string("sample.pick", {"first", "shortest", "random"}), filt(&SampleFilters::pick));
    s.add(KeyRule::string("student.template"), &S::student_template);
    s.add(KeyRule::string("student.instruction"), &S::student_instruction);
    s.add(KeyRule::boolean("student.force_think"), &S::student_force_think);
    s.add(KeyRule::string("student.extra_data"), &S::student_extra_data);
    return s;
  }();
  return schema;
}

// What the distill recipe starts from before the user's keys: R1's sampling protocol and the
// usual rejection-sampling filters (correct and finished, one trace per problem).
DistillSettings distill_defaults() {
  DistillSettings d;
  SampleRunArgs& a = d.sample;
  a.gen.n = 4;
  a.gen.sampling.temperature = 0.6f;
  a.gen.sampling.top_p = 0.95f;
  a.gen.max_new_tokens = 1024;
  a.gen.seed = 1;
  a.filters.correct = true;
  a.filters.finished = true;
  a.filters.dedup = true;
  a.filters.keep = 1;
  a.filters.pick = "shortest";
  a.format = "messages";
  return d;
}

const char* const kDistillTables[] = {"teacher", "problems", "sample", "student"};

// The text inside <answer> ... </answer>, else all of it.
std::string answer_inner(const std::string& answer) {
  const size_t a = answer.find("<answer>"), b = answer.rfind("</answer>");
  if (a == std::string::npos || b == std::string::npos || b < a) return answer;
  return std::string(trim_ascii(std::string_view(answer).substr(a + 8, b - a - 8)));
}

}  // namespace

ReasonedAnswer split_reasoning(const std::string& completion) {
  ReasonedAnswer r;
  const size_t close = completion.find("</think>");
  if (close == std::string::npos) {
    r.answer = trim_ascii(completion);
    return r;
  }
  const size_t open = completion.find("<think>");
  const size_t start = open != std::string::npos && open < close ? open + 7 : 0;
  r.reasoning = trim_ascii(std::string_view(completion).substr(start, close - start));
  r.answer = trim_ascii(std::string_view(completion).substr(close + 8));
  r.has_reasoning = true;
  return r;
}

std::vector<KeyRule> distill_recipe_rules() {
  std::vector<KeyRule> rules = distill_schema().rules();
  for (KeyRule& k : lm_recipe_rules())
    if (k.key != "data.path" && k.key != "data.template") rules.push_back(std::move(k));
  return rules;
}

namespace {

// The distill tables read into their settings, and the SFT stage's recipe (everything but the
// distill tables, reading the converted traces), both checked whole; no file is read.
struct DistillPlan {
  DistillSettings d;
  Recipe sft;
  fs::path dir;
  bool overwrite = false;
};

DistillPlan plan_distill(const Recipe& recipe) {
  recipe.check(distill_recipe_rules());
  DistillPlan p;
  Recipe own = recipe;  // the distill tables alone
  for (const char* t : {"model", "data", "train", "output"}) own.erase(t);
  p.d = distill_schema().read(own, distill_defaults());
  p.dir = recipe.get_string("output.dir", "runs/distill");
  p.overwrite = recipe.get_bool("output.overwrite", false);
  p.sft = recipe;
  for (const char* t : kDistillTables) p.sft.erase(t);
  p.sft.set_string("data.path", (p.dir / "sft_data.jsonl").string());
  p.sft.set_string("output.dir", (p.dir / "sft").string());
  p.sft.set(std::string("output.overwrite=") + (p.overwrite ? "true" : "false"));
  p.sft.set("data.template=\"none\"");  // run_distill sets the student's format once it is known
  check_lm_recipe(p.sft);               // a typo in the student's keys must not cost the teacher's sampling
  return p;
}

// The rows of student.extra_data, each a JSON object an SFT row can be (messages, or prompt and
// completion), as JSONL text; their number in *rows.
std::string extra_rows(const std::string& path, int64_t* rows) {
  std::string out;
  JsonlReader reader(path);
  nlohmann::json r;
  while (reader.next(r)) {
    if (!r.is_object() || (!r.contains("messages") && !(r.contains("prompt") && r.contains("completion"))))
      fail("{}:{}: student.extra_data: expected an SFT row ('messages', or 'prompt' and 'completion')", path,
           reader.line());
    out += r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    (*rows)++;
  }
  return out;
}

}  // namespace

void check_distill_recipe(const Recipe& recipe) {
  plan_distill(recipe);
}

int run_distill(const Recipe& recipe, RunStart start) {
  DistillPlan plan = plan_distill(recipe);
  DistillSettings& d = plan.d;
  const fs::path& dir = plan.dir;
  const bool overwrite = plan.overwrite;
  const std::string traces = (dir / "traces.jsonl").string(), partial = traces + ".partial",
                    sft_data = (dir / "sft_data.jsonl").string(), sft_dir = (dir / "sft").string();

  // The student's format: how its prompts read and whether its rows are conversations.
  const std::string student_model = recipe.get_string("model.path", "");
  const PromptBuilder student(PromptFormat{d.student_template, d.student_instruction, d.student_force_think},
                              student_model);
  const bool student_chat = student.templ() != "r1zero" && student.templ() != "none";
  const PromptBuilder teacher(PromptFormat{d.sample.templ, d.sample.instruction, d.sample.force_think},
                              d.sample.model_path);
  Recipe& sft = plan.sft;
  sft.set_string("data.template", (student_chat ? student.templ() : std::string("none")));
  // The extra rows are read (and checked) before the teacher's sampling.
  int64_t extra = 0;
  const std::string extra_text = d.student_extra_data.empty() ? "" : extra_rows(d.student_extra_data, &extra);

  const DirLock lock(dir.string());  // a second r1 distill on this directory is refused
  // A directory holding a distill run continues with --resume, or is replaced with overwrite.
  const bool has_run = fs::exists(traces) || fs::exists(partial) || fs::exists(sft_dir);
  if (has_run && !start.resume) {
    if (!overwrite)
      fail("{}: holds a distill run; continue it with --resume, or set output.overwrite = true to start over",
           dir.string());
    fs::remove(traces);
    fs::remove(partial);
    fs::remove(sft_data);
    fs::remove_all(sft_dir);  // a completed student of the old run must not be taken for the new one's
  }
  make_dirs(dir.string());
  write_file_atomic((dir / "recipe.toml").string(), recipe.to_toml());

  // 1. The teacher's verified traces.
  SampleRunArgs& a = d.sample;
  a.out = traces;
  a.summary_json = (dir / "sample_summary.json").string();
  a.resume = fs::exists(partial);
  if (fs::exists(traces) && !fs::exists(partial)) {
    std::fprintf(stderr, "distill: stage 1/3: using the teacher's traces in %s\n", traces.c_str());
  } else {
    std::fprintf(stderr, "distill: stage 1/3: %s the teacher's traces (%s) into %s\n",
                 a.resume ? "resuming" : "sampling", a.model_path.c_str(), traces.c_str());
    if (const int rc = run_sample(a); rc != 0) return rc;
  }

  // 2. The traces in the student's format.
  const ProblemSource source = resolve_problem_source(a);
  const std::vector<EvalProblem> problems = load_eval_problems(source.path, source.spec, a.limit);
  const bool same_format =
      student.templ() == teacher.templ() && student.instruction() == teacher.instruction();
  std::string out;
  int64_t rows = 0;
  JsonlReader reader(traces);
  nlohmann::json t;
  while (reader.next(t)) {
    const std::string where = fmt::format("{}:{}", traces, reader.line());
    const auto idx = t.find("problem_index");
    if (idx == t.end() || !idx->is_number_integer() || idx->get<int64_t>() < 0 ||
        idx->get<int64_t>() >= static_cast<int64_t>(problems.size()))
      fail("{}: 'problem_index' is missing or not one of the {} problems", where, problems.size());
    const EvalProblem& p = problems[static_cast<size_t>(idx->get<int64_t>())];
    const auto& msgs = t.find("messages");
    if (msgs == t.end() || !msgs->is_array() || msgs->empty() || !msgs->back().contains("content") ||
        !msgs->back()["content"].is_string())
      fail("{}: expected a 'messages' row ending with the teacher's answer", where);
    const std::string completion = msgs->back()["content"].get<std::string>();
    const ReasonedAnswer ra = split_reasoning(completion);
    ojson row;
    if (student_chat) {
      ojson m = p.messages.is_null() ? ojson::array({{{"role", "user"}, {"content", p.prompt}}}) : p.messages;
      m.back()["content"] = student.render(m.back()["content"].get<std::string>());
      m.push_back({{"role", "assistant"}, {"content", ra.answer}, {"reasoning_content", ra.reasoning}});
      row["messages"] = std::move(m);
    } else {
      if (!p.messages.is_null())
        fail("{}: problem {} is a conversation, which the student's {} format cannot hold", where, p.id,
             student.templ());
      row["prompt"] = student.prompt_text(p.prompt);
      if (same_format)
        row["completion"] = completion;  // the teacher's own words in its own format
      else if (student.templ() == "r1zero")
        row["completion"] =
            " <think> " + ra.reasoning + " </think> <answer> " + answer_inner(ra.answer) + " </answer>";
      else
        row["completion"] =
            (ra.has_reasoning ? "<think>\n" + ra.reasoning + "\n</think>\n\n" : std::string()) + ra.answer;
    }
    row["problem_index"] = *idx;
    row["id"] = p.id;
    row["sample_index"] = t.value("sample_index", 0);
    out += row.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
    rows++;
  }
  if (rows == 0)
    fail("{}: the teacher kept no trace (see {}); loosen the [sample] filters or raise sample.k", traces,
         a.summary_json);
  write_file_atomic(sft_data, out + extra_text);
  std::fprintf(stderr, "distill: stage 2/3: %lld traces%s written for the student (%s format) to %s\n",
               static_cast<long long>(rows),
               extra > 0 ? fmt::format(" and {} rows of {}", extra, d.student_extra_data).c_str() : "",
               student.templ().c_str(), sft_data.c_str());

  // 3. The student's SFT.
  if (RunDir::is_complete(sft_dir)) {
    std::fprintf(stderr, "distill: stage 3/3: the student's SFT in %s has completed\n", sft_dir.c_str());
  } else {
    const bool resume_sft = start.resume && fs::exists(fs::path(sft_dir) / RunDir::kState);
    std::fprintf(stderr, "distill: stage 3/3: %s the student into %s\n",
                 resume_sft ? "resuming SFT of" : "SFT of", sft_dir.c_str());
    if (const int rc = run_lm_training("sft", sft, RunStart{resume_sft, start.allow_changes}); rc != 0)
      return rc;
  }
  std::printf("r1 distill: %lld teacher traces; student model in %s\n", static_cast<long long>(rows),
              (fs::path(sft_dir) / RunDir::kModel).string().c_str());
  return 0;
}

}  // namespace r1
