// r1 rm train and r1 rm score end to end, and preference data: the built-in run learns its rule,
// an interrupted run resumes to the same bits, conversations render through the chat template,
// long pairs are dropped and counted, and every bad input is a one-line error naming the file,
// line and field, with nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/file.h"
#include "model/checkpoint.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "tokenizer/tokenizer.h"
#include "train/preference_data.h"
#include "train/rm_trainer.h"
#include "train/run_dir.h"

namespace fs = std::filesystem;
using nlohmann::json;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::vector<json> metrics(const std::string& dir) {
  std::vector<json> rows;
  for (const std::string& line : split_lines(r1::read_file(dir + "/metrics.jsonl")))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

// The built-in recipe, shortened: the default tiny model on builtin:sort.
std::vector<std::string> rm_args(const std::string& dir, std::vector<std::string> sets) {
  std::vector<std::string> args = {"rm", "train", "--set", "output.dir=\"" + dir + "\""};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  return args;
}

// The loss falls and held-out accuracy on unseen lists rises from chance to >= 95%.
TEST(RmTrainCli, BuiltinRunLearnsItsRule) {
  const std::string dir = r1::testing::scratch_dir() + "/rm";
  const auto r = run_r1(rm_args(dir, {"train.eval_every=100"}), 300);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  double first_eval = -1, last_eval = -1, first_loss = -1, last_loss = -1;
  for (const json& row : metrics(dir)) {
    if (row.contains("eval/accuracy")) {
      if (first_eval < 0) first_eval = row["eval/accuracy"];
      last_eval = row["eval/accuracy"];
    }
    if (row.contains("loss")) {
      if (first_loss < 0) first_loss = row["loss"];
      last_loss = row["loss"];
    }
  }
  std::printf("held-out accuracy %.4f -> %.4f, loss %.4f -> %.4f\n", first_eval, last_eval, first_loss,
              last_loss);
  EXPECT_LT(first_eval, 0.65);
  EXPECT_GE(last_eval, 0.95);
  EXPECT_LT(last_loss, 0.5 * first_loss);
  const json cfg = json::parse(r1::read_file(dir + "/model/config.json"));
  EXPECT_EQ(cfg["architectures"][0], "LlamaForSequenceClassification");
  EXPECT_TRUE(r1::RunDir::is_complete(dir));

  // r1 rm score with the trained model: one line per row, the sorted answer scored higher.
  const std::string data = dir + "/score.jsonl";
  r1::testing::write_file(data,
                          "{\"prompt\": \"sort 5071938264:\", \"completion\": \"0123456789\"}\n"
                          "{\"prompt\": \"sort 5071938264:\", \"completion\": \"0123546789\"}\n"
                          "{\"prompt\": \"sort 8820147733:\", \"completion\": \"0123347788\"}\n"
                          "{\"prompt\": \"sort 8820147733:\", \"completion\": \"0123437788\"}\n");
  const auto s = run_r1({"rm", "score", "--model", dir + "/model", "--data", data});
  ASSERT_EQ(s.exit_code, 0) << r1::testing::describe(s);
  const auto lines = split_lines(s.out);
  ASSERT_GE(lines.size(), 4u) << s.out;
  EXPECT_GT(std::stod(lines[0]), std::stod(lines[1])) << s.out;
  EXPECT_GT(std::stod(lines[2]), std::stod(lines[3])) << s.out;
}

// Interrupted at step 7 (the test hook, as SIGINT would), then resumed: the same model, state
// and metrics (wall-clock fields aside) as an uninterrupted run.
TEST(RmTrainCli, ResumeIsBitExact) {
  const std::string root = r1::testing::scratch_dir();
  const std::vector<std::string> sets = {
      "train.steps=12",     "output.save_every=5",  "data.builtin_rows=300",       "data.eval_rows=30",
      "train.eval_every=4", "train.batch_pairs=16", "train.micro_batch_tokens=200"};
  ASSERT_EQ(run_r1(rm_args(root + "/whole", sets)).exit_code, 0);
  ASSERT_EQ(setenv("R1_TEST_INTERRUPT_AT_STEP", "7", 1), 0);
  const auto cut = run_r1(rm_args(root + "/cut", sets));
  unsetenv("R1_TEST_INTERRUPT_AT_STEP");
  ASSERT_EQ(cut.exit_code, 130) << r1::testing::describe(cut);
  EXPECT_FALSE(r1::RunDir::is_complete(root + "/cut"));
  const auto resumed = run_r1({"rm", "train", "--resume", root + "/cut"});
  ASSERT_EQ(resumed.exit_code, 0) << r1::testing::describe(resumed);
  EXPECT_NE(resumed.err.find("resuming at step 7"), std::string::npos) << resumed.err;
  EXPECT_EQ(r1::read_file(root + "/cut/model/model.safetensors"),
            r1::read_file(root + "/whole/model/model.safetensors"));
  EXPECT_EQ(r1::read_file(root + "/cut/state.safetensors"), r1::read_file(root + "/whole/state.safetensors"));
  auto strip = [](std::vector<json> rows) {
    for (json& row : rows)
      for (const char* k : {"elapsed_s", "tokens_per_s", "peak_rss_mb"}) row.erase(k);
    return rows;
  };
  EXPECT_EQ(strip(metrics(root + "/cut")), strip(metrics(root + "/whole")));
}

// Strings, message lists and implicit prompts; margins; long pairs dropped and counted.
TEST(PreferenceData, FormatsMarginsAndLongPairs) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string path = dir + "/pairs.jsonl";
  r1::testing::write_file(
      path,
      R"({"prompt": "2+2=", "chosen": "4", "rejected": "5", "margin": 1.5})"
      "\n"
      R"({"prompt": [{"role": "user", "content": "hi"}], "chosen": "hello", "rejected": [{"role": "assistant", "content": "go"}]})"
      "\n"
      R"({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]})"
      "\n"
      R"({"chosen": "a long answer that does not fit in forty bytes at all", "rejected": "no"})"
      "\n");
  const auto tok = r1::make_byte_tokenizer();
  const r1::ChatTemplate tmpl(
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}<end>\n{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}",
      "test");
  const r1::PreferenceFormat fmt{&tmpl, {"<end>"}};
  r1::PreferenceDataConfig cfg;
  cfg.path = path;
  cfg.max_len = 40;
  r1::PreferenceStats st;
  const auto pairs = r1::load_preference_pairs(cfg, *tok, fmt, &st);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(st.rows, 4);
  EXPECT_EQ(st.dropped_long, 1);
  EXPECT_EQ(st.conversations, 2);
  auto text = [&](const std::vector<int32_t>& ids) { return tok->decode(ids); };
  const std::string bos = tok->decode({tok->bos_id()}), eos = tok->decode({tok->eos_id()});
  EXPECT_EQ(text(pairs[0].chosen), bos + "2+2=4" + eos);
  EXPECT_EQ(text(pairs[0].rejected), bos + "2+2=5" + eos);
  EXPECT_FLOAT_EQ(pairs[0].margin, 1.5f);
  // A conversation ends at its last end-of-turn string, where its score is read.
  EXPECT_EQ(text(pairs[1].chosen), bos + "<user>hi<end>\n<assistant>hello<end>");
  EXPECT_EQ(text(pairs[1].rejected), bos + "<user>hi<end>\n<assistant>go<end>");
  EXPECT_EQ(pairs[1].margin, 0.f);
  EXPECT_EQ(text(pairs[2].chosen), bos + "<user>q<end>\n<assistant>a<end>");
  EXPECT_EQ(pairs[2].row, 2);

  // The same pair file without a template: conversations are refused naming the row and field.
  r1::testing::expect_error([&] { r1::load_preference_pairs(cfg, *tok, r1::PreferenceFormat{}); },
                            {path + ":2", "'prompt'", "chat template"});
}

// Bad preference data: one line naming the file, line and field; the run directory not created.
TEST(RmTrainCli, BadDataIsOneLineErrorNamingLineAndField) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string ok = R"({"prompt": "p", "chosen": "a", "rejected": "b"})";
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {ok + "\n{\"prompt\": \"p\", \"chosen\": \"a\",\n", {":2"}},
      {ok + "\n" + R"({"prompt": "p", "chosen": "a"})", {":2", "field 'rejected' is missing"}},
      {R"({"prompt": "p", "rejected": "a"})", {":1", "field 'chosen' is missing"}},
      {ok + "\n" + R"({"prompt": "p", "chosen": 5, "rejected": "b"})",
       {":2", "field 'chosen' must be a string or a list of messages, got number"}},
      {R"({"prompt": 3, "chosen": "a", "rejected": "b"})", {":1", "field 'prompt' must be a string"}},
      {R"({"prompt": "p", "chosen": "a", "rejected": "a"})", {":1", "'chosen' and 'rejected' are equal"}},
      {R"({"prompt": "p", "chosen": "a", "rejected": "b", "margin": "big"})",
       {":1", "field 'margin' must be a finite number"}},
      {R"({"prompt": "p", "chosen": [{"role": "assistant", "content": "x"}], "rejected": "b"})",
       {":1", "field 'chosen' is a list of messages but 'prompt' is a string"}},
      {R"({"chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "rejected": "b"})",
       {":1", "'chosen'", "chat template"}},
      {R"({"chosen": "a much longer answer", "rejected": "b"})", {"no preference pairs", "data.max_len 8"}},
      {"[1, 2]", {":1", "JSON object"}},
  };
  int i = 0;
  for (const auto& [content, needles] : cases) {
    const std::string data = dir + "/bad" + std::to_string(i) + ".jsonl",
                      out = dir + "/run" + std::to_string(i);
    i++;
    r1::testing::write_file(data, content + "\n");
    std::vector<std::string> want = needles;
    want.insert(want.begin(), data);
    const auto r = run_r1(rm_args(
        out, {"data.path=\"" + data + "\"", "data.eval_rows=0", "train.eval_every=0", "data.max_len=8"}));
    EXPECT_TRUE(IsOneLineError(r, want)) << content;
    EXPECT_FALSE(fs::exists(out)) << content << ": the run directory was created";
  }
}

// r1 rm score's refusals: a causal LM (naming --init-head), a reward-model checkpoint without
// score.weight, and a row without the field.
TEST(RmScoreCli, RefusesCausalLmsMissingHeadsAndBadRows) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string lm = r1::testing::save_tiny_byte_model(dir + "/lm");
  const std::string data = dir + "/rows.jsonl";
  r1::testing::write_file(data, "{\"prompt\": \"p\", \"completion\": \"a\"}\n{\"prompt\": \"p\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"rm", "score", "--model", lm, "--data", data}),
                             {lm, "LlamaForCausalLM", "score.weight", "--init-head"}));
  // --init-head scores it, up to the bad second row.
  EXPECT_TRUE(IsOneLineError(run_r1({"rm", "score", "--model", lm, "--data", data, "--init-head"}),
                             {data + ":2", "field 'completion' is missing"}));
  r1::testing::write_file(data, "{\"prompt\": \"p\", \"completion\": \"a\"}\n{\"completion\": \"bb\"}\n");
  const auto fine = run_r1({"rm", "score", "--model", lm, "--data", data, "--init-head"});
  ASSERT_EQ(fine.exit_code, 0) << r1::testing::describe(fine);
  EXPECT_EQ(split_lines(fine.out).size(), 2u) << fine.out;

  // A SequenceClassification config.json over weights without score.weight.
  const std::string rm = dir + "/rm";
  r1::Model m = r1::with_score_head(r1::load_model(lm), 1);
  r1::save_model(m, rm, lm);
  r1::save_model(r1::load_model(lm), dir + "/lm_weights");
  fs::copy_file(dir + "/lm_weights/model.safetensors", rm + "/model.safetensors",
                fs::copy_options::overwrite_existing);
  EXPECT_TRUE(IsOneLineError(run_r1({"rm", "score", "--model", rm, "--data", data}),
                             {"missing tensor 'score.weight'"}));
}

// train.epochs counts the steps from the data; data.eval_path is a held-out file.
TEST(RmTrainCli, EpochsAndHeldOutFile) {
  const std::string dir = r1::testing::scratch_dir();
  r1::testing::write_file(dir + "/eval.jsonl", R"({"prompt": "sort 21:", "chosen": "12", "rejected": "21"})"
                                               "\n"
                                               R"({"chosen": "0011", "rejected": "0101", "margin": 0.5})"
                                               "\n");
  // The built-in recipe with train.epochs = 2 in place of train.steps, as a file.
  std::string recipe = r1::default_rm_recipe();
  const size_t at = recipe.find("steps = 300\n");
  ASSERT_NE(at, std::string::npos);
  recipe.replace(at, 12, "epochs = 2\n");
  r1::testing::write_file(dir + "/rm.toml", recipe);
  const auto r = run_r1({"rm", "train", dir + "/rm.toml", "--set", "output.dir=\"" + dir + "/run\"", "--set",
                         "data.builtin_rows=100", "--set", "data.eval_rows=0", "--set",
                         "data.eval_path=\"" + dir + "/eval.jsonl\"", "--set", "train.batch_pairs=16",
                         "--set", "train.eval_every=0"},
                        120);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  const auto rows = metrics(dir + "/run");
  int64_t last_step = 0, eval_pairs = 0;
  for (const json& row : rows) {
    if (row.contains("loss")) last_step = row["step"];
    if (row.contains("eval/pairs")) eval_pairs = row["eval/pairs"];
  }
  EXPECT_EQ(last_step, 13);  // 2 x 100 pairs in steps of 16
  EXPECT_EQ(eval_pairs, 2);
}

// Usage errors name the nested command; recipe keys are checked before anything runs.
TEST(RmCli, UsageAndRecipeErrors) {
  EXPECT_TRUE(IsOneLineError(run_r1({"rm"}), {"r1 rm:", "subcommand is required"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"rm", "score"}), {"r1 rm score:", "--model is required"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"rm", "train", "--bogus"}), {"r1 rm train:", "--bogus"}));
  const std::string dir = r1::testing::scratch_dir() + "/run";
  EXPECT_TRUE(IsOneLineError(run_r1(rm_args(dir, {"train.center_rewards_coefficient=-1"})),
                             {"train.center_rewards_coefficient", ">= 0"}));
  EXPECT_TRUE(
      IsOneLineError(run_r1(rm_args(dir, {"train.batch_pairz=3"})), {"unknown key 'train.batch_pairz'"}));
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
