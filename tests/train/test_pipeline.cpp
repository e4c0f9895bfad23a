// r1 pipeline (issue 16 part 5) end to end on byte-level toys: a random base model learns to
// answer four animals' sounds in the R1-Zero format by cold-start SFT (stage 1), is trained by
// GRPO with the exact-answer and language-consistency rewards (stage 2), samples verified traces
// that, with two non-reasoning rows, fine-tune the base model again (stage 3), and is trained by
// GRPO on prompts routed to the rule reward or to a reward model (stage 4). Checked: each stage
// starts from the model the pipeline says (the recipes the stages saved), the traces and the
// extra rows reach stage 3's SFT, every model is evaluated alike and SFT lifts pass@1 above the
// random base, the report puts it all side by side; killed in stage 3 and resumed, the finished
// stages are reused and the final model equals the uninterrupted run's bit for bit; bad recipes
// are one-line errors before anything runs.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/recipe.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "train/distill.h"
#include "train/grpo_trainer.h"
#include "train/lm_trainer.h"
#include "train/pipeline.h"
#include "train/rm_trainer.h"
#include "train/run_dir.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using r1::testing::scratch_dir;
using r1::testing::write_file;

const char* kAnimals[][2] = {{"cat", "meow"}, {"dog", "woof"}, {"cow", "moo"}, {"owl", "hoot"}};

std::vector<json> jsonl(const std::string& path) {
  std::vector<json> rows;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) rows.push_back(json::parse(line));
  return rows;
}

// A random byte-level Llama (hidden 64) saved with the byte tokenizer.
std::string save_base(const std::string& dir) {
  r1::ModelConfig c = r1::testing::tiny_config(r1::Arch::Llama);
  c.vocab_size = r1::ByteTokenizer::kVocabSize;
  c.hidden_size = 64, c.intermediate_size = 128, c.num_heads = 2, c.num_kv_heads = 1, c.head_dim = 32;
  c.max_position_embeddings = 256;
  c.bos_token_id = r1::ByteTokenizer::kBos;
  c.eos_token_ids = {r1::ByteTokenizer::kEos};
  r1::Model m(c);
  m.init_random(3, 0.02f);
  r1::save_model(m, dir);
  write_file(dir + "/tokenizer.json", r1::ByteTokenizer().to_hf_tokenizer_json().dump());
  return dir;
}

struct Toy {
  std::string dir, base, rm, cold, problems, general, mixed;
};

Toy make_toy() {
  Toy t;
  t.dir = scratch_dir();
  t.base = save_base(t.dir + "/base");
  const std::string lm = r1::testing::save_tiny_byte_model(t.dir + "/lm", 256, 11);
  t.rm = t.dir + "/rm";
  r1::save_model(r1::with_score_head(r1::load_model(lm), 11), t.rm, lm);
  std::string cold, problems, mixed;
  for (const auto& a : kAnimals) {
    const std::string q = std::string(a[0]) + ":";
    cold += json{{"prompt", q},
                 {"completion", " <think> a " + std::string(a[0]) + " says " + a[1] + " </think> <answer> " +
                                    a[1] + " </answer>"}}
                .dump() +
            "\n";
    problems += json{{"prompt", q}, {"answer", a[1]}}.dump() + "\n";
    mixed += json{{"prompt", q}, {"answer", a[1]}, {"route", "rule"}}.dump() + "\n";
  }
  mixed += json{{"prompt", "hi:"}, {"route", "model"}}.dump() + "\n" +
           json{{"prompt", "yo:"}, {"route", "model"}}.dump() + "\n";
  t.cold = write_file(t.dir + "/cold.jsonl", cold);
  t.problems = write_file(t.dir + "/problems.jsonl", problems);
  t.mixed = write_file(t.dir + "/mixed.jsonl", mixed);
  t.general =
      write_file(t.dir + "/general.jsonl", json{{"prompt", "hi:"}, {"completion", " hello"}}.dump() + "\n" +
                                               json{{"prompt", "yo:"}, {"completion", " hey"}}.dump() + "\n");
  return t;
}

std::string pipeline_recipe(const Toy& t, const std::string& out) {
  const std::string train = "batch_tokens = 512\nlr = 1e-2\nwarmup_steps = 5\nthreads = 1\n";
  return write_file(
      out + ".toml",
      "[model]\npath = \"" + t.base + "\"\n[output]\ndir = \"" + out +
          "\"\n"
          "[eval]\ndata = \"" +
          t.problems +
          "\"\ntemplate = \"none\"\ninstruction = \"\"\nk = 4\nmax_new_tokens = 64\n\n"
          "[cold_start.data]\npath = \"" +
          t.cold + "\"\nseq_len = 128\n[cold_start.train]\nsteps = 80\n" + train +
          "[cold_start.output]\nsave_every = 0\n\n"
          "[reasoning_rl.data]\npath = \"" +
          t.problems +
          "\"\ntemplate = \"none\"\n[reasoning_rl.reward]\nexact = 1.0\nlanguage = 0.1\n"
          "[reasoning_rl.grpo]\nsteps = 3\nprompts_per_step = 2\ngroup_size = 4\nmax_new_tokens = 64\n"
          "[reasoning_rl.train]\nlr = 1e-4\nthreads = 1\n\n"
          "[rejection_sampling.teacher]\ntemplate = \"none\"\ninstruction = \"\"\n"
          "[rejection_sampling.problems]\ndata = \"" +
          t.problems +
          "\"\n[rejection_sampling.sample]\nk = 4\nmax_new_tokens = 64\nreward = \"exact\"\n"
          "[rejection_sampling.student]\ntemplate = \"none\"\ninstruction = \"\"\nextra_data = \"" +
          t.general +
          "\"\n[rejection_sampling.data]\nseq_len = 128\n[rejection_sampling.train]\nsteps = 120\n" + train +
          "[rejection_sampling.output]\nsave_every = 50\n\n"
          "[all_scenarios_rl.data]\npath = \"" +
          t.mixed +
          "\"\ntemplate = \"none\"\nreward_field = \"route\"\n[all_scenarios_rl.reward]\nexact = 1.0\n"
          "[all_scenarios_rl.reward.models.helpful]\npath = \"" +
          t.rm +
          "\"\nscope = \"summary\"\n"
          "[all_scenarios_rl.grpo]\nsteps = 2\nprompts_per_step = 3\ngroup_size = 4\nmax_new_tokens = 64\n"
          "[all_scenarios_rl.train]\nlr = 1e-4\nthreads = 1\n");
}

double pass1(const std::string& out, const std::string& name) {
  return json::parse(r1::read_file(out + "/eval/" + name + ".json")).at("pass@1").get<double>();
}

void expect_same_tensors(const std::string& a, const std::string& b) {
  r1::SafetensorsFile sa(a), sb(b);
  ASSERT_EQ(sa.tensors().size(), sb.tensors().size());
  for (const auto& t : sa.tensors()) {
    const r1::TensorInfo* u = sb.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.nbytes, u->nbytes) << t.name;
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes), 0) << t.name << " differs";
  }
}

}  // namespace

TEST(Pipeline, FourStagesEachFromTheLastEvaluatedAndReported) {
  const Toy t = make_toy();
  const std::string a = t.dir + "/a", b = t.dir + "/b";
  const auto ra = r1::testing::run_r1({"pipeline", pipeline_recipe(t, a)}, 600);
  ASSERT_EQ(ra.exit_code, 0) << r1::testing::describe(ra);

  // Each stage completed and started from the model the pipeline names.
  const std::string s1 = a + "/1-cold-start", s2 = a + "/2-reasoning-rl", s3 = a + "/3-rejection-sampling",
                    s4 = a + "/4-all-scenarios-rl";
  for (const std::string& run : {s1, s2, s3 + "/sft", s4}) EXPECT_TRUE(fs::exists(run + "/complete")) << run;
  auto saved = [](const std::string& run, const char* key) {
    return r1::Recipe::load(run + "/recipe.toml").get_string(key);
  };
  EXPECT_EQ(saved(s1, "model.path"), t.base);
  EXPECT_EQ(saved(s2, "model.path"), s1 + "/model");
  EXPECT_EQ(saved(s3, "teacher.model"), s2 + "/model");
  EXPECT_EQ(saved(s3 + "/sft", "model.path"), t.base);  // stage 3 fine-tunes the base model again
  EXPECT_EQ(saved(s4, "model.path"), s3 + "/sft/model");

  // Stage 3's SFT data: the verified traces, then the non-reasoning rows as they were.
  const auto traces = jsonl(s3 + "/traces.jsonl");
  const auto rows = jsonl(s3 + "/sft_data.jsonl");
  ASSERT_GE(traces.size(), 2u) << "stage 2's model answers some of its four problems";
  ASSERT_EQ(rows.size(), traces.size() + 2);
  for (size_t i = 0; i < traces.size(); i++) {
    EXPECT_EQ(traces[i]["verdict"], "correct");
    EXPECT_TRUE(rows[i].contains("problem_index"));
  }
  EXPECT_EQ(rows[rows.size() - 2],
            json::parse(r1::read_file(t.general).substr(0, r1::read_file(t.general).find('\n'))));
  EXPECT_EQ(rows.back()["completion"], " hey");

  // The stages' rewards: the language reward in stage 2, the reward model in stage 4.
  const std::string m2 = r1::read_file(s2 + "/metrics.jsonl"), m4 = r1::read_file(s4 + "/metrics.jsonl");
  EXPECT_NE(m2.find("\"reward/language\""), std::string::npos);
  EXPECT_NE(m4.find("\"reward/helpful\""), std::string::npos);
  EXPECT_NE(m4.find("\"reward/exact\""), std::string::npos);

  // Every model evaluated alike; cold-start SFT teaches the random base the answers.
  for (const char* name :
       {"base", "1-cold-start", "2-reasoning-rl", "3-rejection-sampling", "4-all-scenarios-rl"}) {
    const json e = json::parse(r1::read_file(a + "/eval/" + name + ".json"));
    EXPECT_EQ(e["problems"], 4) << name;
    EXPECT_EQ(e["k"], 4) << name;
  }
  EXPECT_EQ(pass1(a, "base"), 0.0);
  EXPECT_GE(pass1(a, "1-cold-start"), 0.5);
  EXPECT_GE(pass1(a, "3-rejection-sampling"), 0.5);

  // One report with every column, the evaluations, each stage's figures and links to its report.
  const std::string html = r1::read_file(a + "/report.html");
  for (const char* s :
       {"base", "1-cold-start", "2-reasoning-rl", "3-rejection-sampling", "4-all-scenarios-rl", "pass@1",
        "cons@4", "reward/helpful", "reward/language", "traces kept", "href=\"1-cold-start/report.html\"",
        "href=\"3-rejection-sampling/sft/report.html\"", "Held-out pass@1 after each stage"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  for (const std::string& run : {s1, s2, s3 + "/sft", s4})
    EXPECT_TRUE(fs::exists(run + "/report.html")) << run;

  // Started again without --resume: refused; the run's files stay.
  const auto again = r1::testing::run_r1({"pipeline", a + ".toml"});
  EXPECT_TRUE(r1::testing::IsOneLineError(again, {"holds a pipeline run; continue it with --resume"}));
  EXPECT_TRUE(fs::exists(s4 + "/complete"));

  // The same pipeline killed in stage 3's SFT (its step 100; stages 1 and 2 have fewer steps),
  // then resumed: stages 1 and 2 and the traces are reused, stage 3 continues from its step-50
  // checkpoint, and the final model is the uninterrupted run's, bit for bit.
  const std::string recipe_b = pipeline_recipe(t, b);
  setenv("R1_TEST_KILL_AT_STEP", "100", 1);
  const pid_t pid = r1::testing::spawn_r1({"pipeline", recipe_b});
  unsetenv("R1_TEST_KILL_AT_STEP");
  EXPECT_EQ(r1::testing::wait_exit(pid), 128 + SIGKILL);
  EXPECT_TRUE(fs::exists(b + "/2-reasoning-rl/complete"));
  EXPECT_FALSE(fs::exists(b + "/3-rejection-sampling/sft/complete"));
  const std::string changed = b + "-changed.toml";
  write_file(changed, r1::read_file(recipe_b) + "[all_scenarios_rl.output]\nsave_every = 1\n");
  const auto refused = r1::testing::run_r1({"pipeline", changed, "--resume"});
  EXPECT_TRUE(r1::testing::IsOneLineError(
      refused, {"differs from the saved run's", "all_scenarios_rl.output.save_every"}));
  const auto rb = r1::testing::run_r1({"pipeline", recipe_b, "--resume"}, 600);
  ASSERT_EQ(rb.exit_code, 0) << r1::testing::describe(rb);
  EXPECT_NE(rb.err.find("stage 1: cold-start SFT (1/4) has completed"), std::string::npos) << rb.err;
  EXPECT_NE(rb.err.find("stage 2: reasoning RL (2/4) has completed"), std::string::npos) << rb.err;
  EXPECT_NE(rb.err.find("using the teacher's traces"), std::string::npos) << rb.err;
  EXPECT_EQ(r1::read_file(a + "/eval/4-all-scenarios-rl.jsonl"),
            r1::read_file(b + "/eval/4-all-scenarios-rl.jsonl"));
  expect_same_tensors(s4 + "/state.safetensors", b + "/4-all-scenarios-rl/state.safetensors");
}

// A stage whose table is absent is skipped: the next starts from the last model made.
TEST(Pipeline, AbsentStagesAreSkipped) {
  const Toy t = make_toy();
  const std::string out = t.dir + "/only \"q\" \\b";  // quotes and a backslash stay as they are
  const std::string recipe = write_file(
      t.dir + "/only.toml", "[model]\npath = \"" + t.base + "\"\n[output]\ndir = '" + out +
                                "'\n[cold_start.data]\npath = \"" + t.cold +
                                "\"\nseq_len = 128\n[cold_start.train]\nsteps = 2\nthreads = 1\n"
                                "[all_scenarios_rl.data]\npath = \"" +
                                t.problems +
                                "\"\ntemplate = \"none\"\n[all_scenarios_rl.reward]\nexact = 1.0\n"
                                "[all_scenarios_rl.grpo]\nsteps = 1\nprompts_per_step = 2\ngroup_size = 2\n"
                                "max_new_tokens = 8\n[all_scenarios_rl.train]\nthreads = 1\n");
  const auto r = r1::testing::run_r1({"pipeline", recipe}, 300);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_EQ(r1::Recipe::load(out + "/4-all-scenarios-rl/recipe.toml").get_string("model.path"),
            out + "/1-cold-start/model");
  EXPECT_FALSE(fs::exists(out + "/2-reasoning-rl"));
  EXPECT_FALSE(fs::exists(out + "/eval"));  // no [eval]
  const std::string html = r1::read_file(out + "/report.html");
  EXPECT_NE(html.find("4-all-scenarios-rl"), std::string::npos);
  EXPECT_EQ(html.find("2-reasoning-rl"), std::string::npos);

  // While another process holds the directory, a second pipeline on it is refused.
  {
    const r1::DirLock held(out);
    EXPECT_TRUE(r1::testing::IsOneLineError(r1::testing::run_r1({"pipeline", recipe, "--resume"}),
                                            {"another r1 process", "is writing this run directory"}));
  }
  EXPECT_TRUE(r1::testing::IsOneLineError(
      r1::testing::run_r1({"pipeline", recipe, "--set", "output.dir=" + t.dir + "/nowhere", "--resume"}),
      {"nowhere: nothing to resume (no recipe.toml)"}));
  EXPECT_FALSE(fs::exists(t.dir + "/nowhere"));
  // Resumed when complete: every stage is reused.
  const auto again = r1::testing::run_r1({"pipeline", recipe, "--resume"});
  ASSERT_EQ(again.exit_code, 0) << r1::testing::describe(again);
  EXPECT_NE(again.err.find("stage 4: RL for all scenarios (2/2) has completed"), std::string::npos)
      << again.err;
}

// Every stage's recipe is checked before stage 1 runs; the keys the pipeline sets are refused.
TEST(Pipeline, BadRecipesAreOneLineErrorsBeforeAnythingRuns) {
  const Toy t = make_toy();
  const std::string good = r1::read_file(pipeline_recipe(t, t.dir + "/bad"));
  struct Case {
    std::string extra, want;
  };
  for (const Case& c : std::vector<Case>{
           {"[all_scenarios_rl.eval]\nevrey = 3\n", "[all_scenarios_rl]: unknown key 'eval.evrey'"},
           {"[all_scenarios_rl.reward.models.helpful2]\nscope = \"summary\"\n", "needs key 'path'"},
           {"[all_scenarios_rl.model]\npath = \"x\"\n",
            "key 'all_scenarios_rl.model.path' is set by the pipeline"},
           {"[rejection_sampling.teacher.x]\ny = 1\n", "[rejection_sampling]: unknown key 'teacher.x.y'"},
           {"[reasoning_rl.output]\ndir = \"x\"\n", "key 'reasoning_rl.output.dir' is set by the pipeline"},
           {"[cold_start.extra]\nlr = 1\n", "[cold_start]: unknown key 'extra.lr'"},
           {"[pipeline]\nbase = \"x\"\n", "unknown key 'pipeline.base'"},
       }) {
    const std::string recipe = write_file(t.dir + "/bad.toml", good + c.extra);
    EXPECT_TRUE(r1::testing::IsOneLineError(r1::testing::run_r1({"pipeline", recipe}), {c.want})) << c.extra;
    EXPECT_FALSE(fs::exists(t.dir + "/bad")) << c.extra << ": nothing may run";
  }
  // Input files that do not exist are named before anything runs, whichever stage needs them.
  write_file(t.dir + "/bad.toml", good);
  for (const auto& [set, want] : std::vector<std::pair<std::string, std::string>>{
           {"model.path=" + t.dir + "/nobase", "key 'model.path': " + t.dir + "/nobase: no such file"},
           {"all_scenarios_rl.data.path=" + t.dir + "/x.jsonl", "[all_scenarios_rl]: key 'data.path': "},
           {"all_scenarios_rl.reward.models.helpful.path=" + t.dir + "/norm",
            "[all_scenarios_rl]: key 'reward.models.helpful.path': "},
           {"rejection_sampling.student.extra_data=" + t.dir + "/none.jsonl",
            "[rejection_sampling]: key 'student.extra_data': "}}) {
    const auto r = r1::testing::run_r1({"pipeline", t.dir + "/bad.toml", "--set", set});
    EXPECT_TRUE(r1::testing::IsOneLineError(r, {want})) << set;
    EXPECT_FALSE(fs::exists(t.dir + "/bad")) << set << ": nothing may run";
  }
  // No stage at all; an empty base path.
  const std::string none = write_file(t.dir + "/none.toml", "[model]\npath = \"" + t.base + "\"\n");
  EXPECT_TRUE(
      r1::testing::IsOneLineError(r1::testing::run_r1({"pipeline", none}),
                                  {"no stage: the recipe needs at least one of the tables cold_start"}));
  // Extra data that is not SFT rows: named by file and line before the teacher samples.
  const std::string bad_extra =
      write_file(t.dir + "/extra.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"text\": 1}\n");
  r1::Recipe r = r1::Recipe::parse(good, "p.toml");
  r.set("rejection_sampling.student.extra_data=\"" + bad_extra + "\"");
  r.erase("cold_start");
  r.erase("reasoning_rl");
  r.set("output.dir=\"" + t.dir + "/bad2\"");
  r.erase("eval");
  EXPECT_EQ(
      r1::testing::error_of([&] { r1::run_pipeline(r); }),
      bad_extra + ":2: student.extra_data: expected an SFT row ('messages', or 'prompt' and 'completion')");
  EXPECT_FALSE(fs::exists(t.dir + "/bad2/3-rejection-sampling/traces.jsonl"));
}

// Every trainer's rules, and the pipeline's, name each key once.
TEST(Pipeline, EveryRecipesRulesNameEachKeyOnce) {
  for (const auto& rules : {r1::lm_recipe_rules(), r1::grpo_recipe_rules(), r1::distill_recipe_rules(),
                            r1::rm_recipe_rules(), r1::pipeline_recipe_rules()}) {
    std::set<std::string> seen;
    for (const r1::KeyRule& k : rules) EXPECT_TRUE(seen.insert(k.key).second) << k.key;
  }
}
