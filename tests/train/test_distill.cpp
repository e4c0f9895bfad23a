// r1 distill end to end on byte-level toys: a teacher fine-tuned to answer four animals' sounds in
// the R1-Zero format samples k = 4 answers per problem, the exact-match verified ones are kept, re-rendered
// in the student's distill format (reasoning and answer), and a fresh student learns them; killed during its
// SFT and resumed, the run reuses the traces and ends with the uninterrupted run's student bit for bit. Then
// the reasoning split and bad recipes.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/recipe.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "tokenizer/tokenizer.h"
#include "train/distill.h"
#include "train/grpo_trainer.h"
#include "train/lm_trainer.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::scratch_dir;
using r1::testing::write_file;

const char* kAnimals[][2] = {{"cat", "meow"}, {"dog", "woof"}, {"cow", "moo"}, {"owl", "hoot"}};

// A teacher that answers "cat:" with " <think> a cat says meow </think> <answer> meow </answer>".
std::string train_teacher(const std::string& dir, const std::string& name = "teacher", int steps = 80,
                          int hidden = 64) {
  std::string rows;
  for (const auto& a : kAnimals)
    rows += nlohmann::json{{"prompt", std::string(a[0]) + ":"},
                           {"completion", " <think> a " + std::string(a[0]) + " says " + a[1] +
                                              " </think> <answer> " + a[1] + " </answer>"}}
                .dump() +
            "\n";
  const std::string data = write_file(dir + "/teacher.jsonl", rows);
  r1::Recipe r = r1::Recipe::parse(r1::default_pretrain_recipe(), "<teacher>");
  for (const std::string& s :
       {"data.path=" + data, "output.dir=" + dir + "/" + name, "train.steps=" + std::to_string(steps),
        std::string("train.warmup_steps=5"), std::string("train.batch_tokens=256"),
        std::string("train.lr=1e-2"), std::string("output.save_every=0"), std::string("model.num_layers=2"),
        "model.hidden_size=" + std::to_string(hidden),
        "model.intermediate_size=" + std::to_string(2 * hidden), std::string("model.num_heads=2"),
        std::string("model.num_kv_heads=1")})
    r.set(s);
  EXPECT_EQ(r1::run_lm_training("sft", r, {}), 0);
  return dir + "/" + name + "/model";
}

std::string distill_recipe(const std::string& dir, const std::string& teacher, const std::string& out) {
  std::string problems;
  for (const auto& a : kAnimals)
    problems += nlohmann::json{{"prompt", std::string(a[0]) + ":"}, {"answer", a[1]}}.dump() + "\n";
  write_file(dir + "/problems.jsonl", problems);
  return write_file(
      dir + "/distill.toml",
      "[teacher]\nmodel = \"" + teacher +
          "\"\ntemplate = \"none\"\ninstruction = \"\"\n\n"
          "[problems]\ndata = \"" +
          dir +
          "/problems.jsonl\"\n\n"
          "[sample]\nk = 4\ntemperature = 0.6\nmax_new_tokens = 80\nreward = \"exact\"\n\n"
          "[student]\ntemplate = \"distill\"\ninstruction = \"\"\n\n"
          "[model]\nhidden_size = 64\nintermediate_size = 128\nnum_layers = 2\nnum_heads = 2\n"
          "num_kv_heads = 1\nhead_dim = 32\n\n"
          "[data]\nseq_len = 256\n\n"
          "[train]\nsteps = 60\nbatch_tokens = 1024\nlr = 1e-2\nwarmup_steps = 5\nthreads = 1\n\n"
          "[output]\ndir = \"" +
          out + "\"\nsave_every = 20\n");
}

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace

TEST(Distill, TeacherTracesBecomeTheStudentsAndSurviveAKill) {
  const std::string dir = scratch_dir();
  const std::string teacher = train_teacher(dir);
  const std::string a = dir + "/a", b = dir + "/b";
  const std::string recipe = distill_recipe(dir, teacher, a);

  const auto ra = r1::testing::run_r1({"distill", recipe}, 300);
  ASSERT_EQ(ra.exit_code, 0) << r1::testing::describe(ra);
  // Every kept trace is one the exact-match reward accepted; one per problem (sample.keep = 1).
  const auto traces = jsonl(a + "/traces.jsonl");
  ASSERT_GE(traces.size(), 3u) << "the teacher answers most of its four problems";
  const auto rows = jsonl(a + "/sft_data.jsonl");
  ASSERT_EQ(rows.size(), traces.size());
  for (size_t i = 0; i < rows.size(); i++) {
    EXPECT_EQ(traces[i]["verdict"], "correct");
    const auto& animal = kAnimals[rows[i]["problem_index"].get<int>()];
    // Re-rendered for the student: the question alone, then reasoning and answer apart.
    ASSERT_EQ(rows[i]["messages"].size(), 2u);
    EXPECT_EQ(rows[i]["messages"][0]["content"], std::string(animal[0]) + ":");
    EXPECT_EQ(rows[i]["messages"][1]["reasoning_content"],
              "a " + std::string(animal[0]) + " says " + animal[1]);
    EXPECT_EQ(rows[i]["messages"][1]["content"], "<answer> " + std::string(animal[1]) + " </answer>");
  }
  // The student answers in its own format: it continues the distill prompt with the reasoning.
  r1::Model m = r1::load_model(a + "/sft/model");
  auto tok = r1::load_tokenizer(a + "/sft/model");
  const auto& first = kAnimals[rows[0]["problem_index"].get<int>()];
  std::vector<int32_t> prompt = {tok->bos_id()};
  for (int32_t id :
       tok->encode("<｜begin▁of▁sentence｜><｜User｜>" + std::string(first[0]) + ":<｜Assistant｜><think>\n"))
    prompt.push_back(id);
  const std::string out = tok->decode(r1::greedy_generate(m, prompt, 60, {tok->eos_id()}));
  EXPECT_EQ(out.rfind("a " + std::string(first[0]) + " says " + first[1] + "\n</think>\n\n<answer> " +
                          first[1] + " </answer>",
                      0),
            0u)
      << out;

  // The same run killed during the student's SFT (after step 30) and resumed: the traces are
  // reused and the student is the uninterrupted one, bit for bit.
  const std::string recipe_b = distill_recipe(dir, teacher, b);
  setenv("R1_TEST_KILL_AT_STEP", "30", 1);
  const pid_t pid = r1::testing::spawn_r1({"distill", recipe_b});
  unsetenv("R1_TEST_KILL_AT_STEP");
  EXPECT_EQ(r1::testing::wait_exit(pid), 128 + SIGKILL);
  EXPECT_TRUE(fs::exists(b + "/traces.jsonl"));
  EXPECT_FALSE(fs::exists(b + "/sft/complete"));
  const auto again = r1::testing::run_r1({"distill", recipe_b});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("holds a distill run; continue it with --resume"), std::string::npos) << again.err;
  const auto rb = r1::testing::run_r1({"distill", recipe_b, "--resume"}, 300);
  ASSERT_EQ(rb.exit_code, 0) << r1::testing::describe(rb);
  EXPECT_NE(rb.err.find("using the teacher's traces"), std::string::npos) << rb.err;
  EXPECT_EQ(r1::testing::read_file(a + "/traces.jsonl"), r1::testing::read_file(b + "/traces.jsonl"));
  r1::SafetensorsFile sa(a + "/sft/state.safetensors"), sb(b + "/sft/state.safetensors");
  ASSERT_EQ(sa.tensors().size(), sb.tensors().size());
  for (const auto& t : sa.tensors()) {
    const r1::TensorInfo* u = sb.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes), 0) << t.name << " differs";
  }
}

TEST(Distill, SplitsReasoningFromTheAnswer) {
  auto s = r1::split_reasoning(" <think> r </think> <answer> 4 </answer>");
  EXPECT_TRUE(s.has_reasoning);
  EXPECT_EQ(s.reasoning, "r");
  EXPECT_EQ(s.answer, "<answer> 4 </answer>");
  s = r1::split_reasoning("<think>\nstep 1\nstep 2\n</think>\n\nThe answer is \\boxed{4}.");
  EXPECT_EQ(s.reasoning, "step 1\nstep 2");
  EXPECT_EQ(s.answer, "The answer is \\boxed{4}.");
  s = r1::split_reasoning("forced think: no opening tag</think>42");  // a forced "<think>\n" prompt
  EXPECT_EQ(s.reasoning, "forced think: no opening tag");
  EXPECT_EQ(s.answer, "42");
  s = r1::split_reasoning("  just 42 ");
  EXPECT_FALSE(s.has_reasoning);
  EXPECT_EQ(s.answer, "just 42");
}

TEST(Distill, BadRecipesAreOneLineErrorsBeforeAnythingRuns) {
  const std::string dir = scratch_dir();
  const std::string recipe = distill_recipe(dir, dir + "/no-teacher", dir + "/out");
  auto expect = [&](const std::vector<std::string>& sets, const std::vector<std::string>& want) {
    std::vector<std::string> args = {"distill", recipe};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    EXPECT_TRUE(r1::testing::IsOneLineError(r1::testing::run_r1(args), want));
    EXPECT_FALSE(fs::exists(dir + "/out")) << "nothing is written";
  };
  expect({"sample.kk=3"}, {"unknown key 'sample.kk'", "sample.k"});
  expect({"sample.pick=longest"}, {"sample.pick"});
  expect({"train.stepz=3"}, {"unknown key 'train.stepz'"});
  expect({"train.epochs=3"}, {"set either train.steps or train.epochs"});  // a student key, checked first
  expect({"data.path=x.jsonl"}, {"unknown key 'data.path'"});              // r1 distill writes it
  expect({"student.template=nope"}, {"--template", "nope"});
}

namespace {

// A fresh student over the byte tokenizer (the teacher's vocabulary), saved as a model directory.
std::string make_student(const std::string& dir, int hidden = 32) {
  auto tok = r1::make_byte_tokenizer();
  r1::ModelConfig c;
  c.arch = r1::Arch::Llama;
  c.vocab_size = tok->vocab_size();
  c.hidden_size = hidden, c.intermediate_size = 2 * hidden, c.num_layers = 2, c.num_heads = 4,
  c.num_kv_heads = 2;
  c.head_dim = hidden / 4, c.tie_word_embeddings = true, c.max_position_embeddings = 256;
  c.bos_token_id = tok->bos_id();
  c.eos_token_ids = {tok->eos_id()};
  r1::Model m(c);
  m.init_random(11, 0.05f);
  r1::save_model(m, dir);
  tok->save(dir);
  return dir;
}

r1::Recipe on_policy_recipe(const std::string& dir, const std::string& student, const std::string& teacher,
                            int steps) {
  std::string problems;
  for (const auto& a : kAnimals)
    problems += nlohmann::json{{"prompt", std::string(a[0]) + ":"}, {"answer", a[1]}}.dump() + "\n";
  write_file(dir + "/problems.jsonl", problems);
  r1::Recipe r;
  for (const std::string& s : {"model.path=" + student,
                               "data.path=" + dir + "/problems.jsonl",
                               std::string("data.template=none"),
                               std::string("data.instruction="),
                               std::string("reward.exact=1.0"),
                               "distill.teacher=" + teacher,
                               std::string("distill.coef=1.0"),
                               "grpo.steps=" + std::to_string(steps),
                               std::string("grpo.prompts_per_step=4"),
                               std::string("grpo.group_size=4"),
                               std::string("grpo.max_new_tokens=64"),
                               std::string("grpo.beta=0"),
                               std::string("grpo.temperature=1.0"),
                               std::string("train.lr=3e-3"),
                               std::string("train.seed=3"),
                               "eval.data=" + dir + "/problems.jsonl",
                               std::string("eval.k=8"),
                               std::string("eval.temperature=0.6"),
                               "output.dir=" + dir + "/run",
                               std::string("output.save_every=0")})
    r.set(s);
  return r;
}

}  // namespace

// On-policy distillation on the toy: a student of the teacher's shape, fine-tuned too briefly to
// answer (25 SFT steps: pass@1 0), samples; the animal teacher scores every sampled token, and that
// per-token signal (the verifier pays nothing at first) pulls the student to the teacher in 400
// steps of 16 samples (about 10 s): the reverse KL per token falls from 2.2 to 0.4 (means of the
// first and last 20 steps), the accuracy of its samples (T 1) rises from 0 to 0.17 and its pass@1
// (k 8, T 0.6) from 0 to 0.25. The sanitizer build's rounding takes another trajectory (measured
// 2.2 -> 0.35, 0 -> 0.375, 0 -> 0.25), so the bounds leave room: KL halved, sample accuracy up by
// 0.08, pass@1 up by 0.1.
TEST(Distill, OnPolicyDistillationPullsTheStudentToTheTeacher) {
  const std::string dir = scratch_dir();
  const std::string teacher = train_teacher(dir);
  const std::string student = train_teacher(dir, "student", 25, 64);
  ASSERT_EQ(r1::run_grpo_training(on_policy_recipe(dir, student, teacher, 400), {}), 0);
  std::vector<double> kl, acc, eval;
  for (const auto& row : jsonl(dir + "/run/metrics.jsonl")) {
    if (row.contains("distill/reverse_kl")) {
      kl.push_back(row["distill/reverse_kl"].get<double>());
      acc.push_back(row["accuracy"].get<double>());
    }
    if (row.contains("eval/pass@1")) eval.push_back(row["eval/pass@1"].get<double>());
  }
  ASSERT_EQ(kl.size(), 400u);
  ASSERT_EQ(eval.size(), 2u);  // at the start and at the end
  auto mean = [](const std::vector<double>& v, size_t a, size_t b) {
    double s = 0;
    for (size_t i = a; i < b; i++) s += v[i];
    return s / double(b - a);
  };
  std::printf(
      "reverse KL per token %.3f -> %.3f; accuracy of the samples %.3f -> %.3f; pass@1 (k 8, T 0.6) %.3f -> "
      "%.3f\n",
      mean(kl, 0, 20), mean(kl, 380, 400), mean(acc, 0, 20), mean(acc, 380, 400), eval[0], eval[1]);
  EXPECT_LT(mean(kl, 380, 400), 0.5 * mean(kl, 0, 20));
  EXPECT_GT(eval[1], eval[0] + 0.1);
  EXPECT_GT(mean(acc, 380, 400), mean(acc, 0, 20) + 0.08);
}

TEST(Distill, OnPolicyTeacherWithAnotherVocabularyIsRefused) {
  const std::string dir = scratch_dir();
  const std::string student = make_student(dir + "/student");
  r1::Recipe r = on_policy_recipe(dir, student, r1::testing::save_tiny_byte_model(dir + "/same"), 2);
  // A teacher over another vocabulary: stories260K's SentencePiece tokenizer, or a byte model
  // whose tokenizer file was swapped for a different one.
  const std::string other = dir + "/other";
  fs::create_directories(other);
  r1::testing::save_tiny_byte_model(other);
  auto tok = r1::load_tokenizer(other);
  std::string tj = r1::testing::read_file(other + "/tokenizer.json");
  const size_t at = tj.find("\"<|eos|>\"");
  ASSERT_NE(at, std::string::npos);
  tj.replace(at, 9, "\"<|end|>\"");
  write_file(other + "/tokenizer.json", tj);
  r.set("distill.teacher=" + other);
  const std::string err = r1::testing::error_of([&] { r1::run_grpo_training(r, {}); });
  EXPECT_NE(err.find("distill.teacher " + other), std::string::npos) << err;
  EXPECT_NE(err.find("needs one vocabulary"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir + "/run")) << "refused before anything is written";
  r.set("distill.teacher=" + dir + "/same");
  r.set("grpo.loss=gspo");
  EXPECT_NE(r1::testing::error_of([&] { r1::run_grpo_training(r, {}); }).find("needs grpo.loss"),
            std::string::npos);
}
