// r1 sample (issue 14, item 1): kept rows re-verify as correct by the verifier called here, the
// per-filter rejection counts add up to samples minus kept, pass-rate mode gives r1 eval's
// per-problem rates for the same seed, an interrupted run (the test hook, or a progress file cut
// at an arbitrary byte as a SIGKILL leaves it) resumes to the bytes of an uninterrupted run, and
// bad options are one-line errors that leave nothing behind. Plus the filters' pieces. A tiny
// random byte-level model the test writes; no ../shared needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "eval/sample.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "verify/extract.h"
#include "verify/math.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::describe;
using r1::testing::IsOneLineError;
using r1::testing::read_file;
using r1::testing::run_r1;
using r1::testing::RunResult;
using r1::testing::ScopedEnv;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> v;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

class Sample : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = r1::testing::scratch_dir();
    model_ = r1::testing::save_tiny_byte_model(dir_ + "/model");
    // A random model's answers are random: the gold answers are chosen so that some samples are
    // right. A first run samples the problems (golds 0); each problem's gold becomes the last
    // number of its first sample that has one (the samples do not depend on the golds), and stays
    // 0 where none has.
    write_data(std::vector<std::string>(8, "0"));
    const RunResult probe = run_r1(args(dir_ + "/probe.jsonl"));
    ASSERT_EQ(probe.exit_code, 0) << describe(probe);
    std::vector<std::string> golds(8, "");
    r1::verify::ExtractOptions ex;
    ex.last_number = true;
    for (const auto& row : json_lines(read_file(dir_ + "/probe.jsonl"))) {
      const size_t i = row["problem_index"].get<size_t>();
      const auto n = r1::verify::extract_answer(row["completion"].get<std::string>(), ex);
      if (golds[i].empty() && n) golds[i] = *n;
    }
    for (auto& g : golds)
      if (g.empty()) g = "0";
    write_data(golds);
    fs::remove(dir_ + "/probe.jsonl");
  }

  void write_data(const std::vector<std::string>& golds) {
    std::string rows;
    for (size_t i = 0; i < golds.size(); i++)
      rows += "{\"id\": \"q" + std::to_string(i) + "\", \"prompt\": \"Say " + std::to_string(i) +
              ".\", \"answer\": \"" + golds[i] + "\", \"extra\": " + std::to_string(i) + "}\n";
    data_ = r1::testing::write_file(dir_ + "/data.jsonl", rows);
    golds_ = golds;
  }

  std::vector<std::string> args(const std::string& out, const std::vector<std::string>& more = {}) const {
    std::vector<std::string> a = {"sample", "--model",       model_,  "--data", data_, "--instruction",
                                  "",       "--k",           "8",     "--seed", "5",   "--max-new-tokens",
                                  "16",     "--last-number", "--out", out};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  std::string dir_, model_, data_;
  std::vector<std::string> golds_;
};

TEST_F(Sample, KeptRowsReverifyAndTheCountsAddUp) {
  const std::string out = dir_ + "/o.jsonl", summary = dir_ + "/o.json";
  const RunResult r =
      run_r1(args(out, {"--correct", "--finished", "--max-repetition", "0.5", "--max-tokens", "15", "--dedup",
                        "--keep", "2", "--pick", "random", "--summary-json", summary}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json s = nlohmann::json::parse(read_file(summary));
  EXPECT_EQ(s["problems"], 8);
  EXPECT_EQ(s["samples"], 64);
  EXPECT_EQ(s, nlohmann::json::parse(r.out)) << "stdout holds the same summary";
  int64_t rejected = 0;
  for (const auto& [reason, n] : s["rejected"].items()) rejected += n.get<int64_t>();
  EXPECT_EQ(rejected, s["samples"].get<int64_t>() - s["kept"].get<int64_t>()) << s.dump();
  EXPECT_GT(s["rejected"]["not_correct"].get<int64_t>(), 0) << s.dump();
  const auto rows = json_lines(read_file(out));
  ASSERT_EQ(static_cast<int64_t>(rows.size()), s["kept"].get<int64_t>());
  ASSERT_GT(rows.size(), 0u) << "no sample of the random model was right: change the seed";
  std::map<int64_t, int> per_problem;
  for (const auto& row : rows) {
    // Re-verified here: the last number of the completion, against the problem's gold.
    const int64_t i = row["problem_index"].get<int64_t>();
    const std::string gold = golds_.at(static_cast<size_t>(i));
    r1::verify::ExtractOptions ex;
    ex.last_number = true;
    const auto extracted = r1::verify::extract_answer(row["completion"].get<std::string>(), ex);
    ASSERT_TRUE(extracted.has_value()) << row.dump();
    EXPECT_EQ(r1::verify::verify_math(gold, *extracted), r1::verify::Verdict::kCorrect) << row.dump();
    EXPECT_EQ(row["verdict"], "correct");
    EXPECT_EQ(row["finish_reason"], "stop") << "--finished keeps no sample cut at the limit";
    EXPECT_LE(row["num_tokens"].get<int64_t>(), 15);
    EXPECT_LE(++per_problem[i], 2) << "--keep 2";
    EXPECT_EQ(row["prompt"], "Say " + std::to_string(i) + ".");
    EXPECT_EQ(row["id"], "q" + std::to_string(i));
    for (const char* key : {"sample_index", "reward", "rewards", "model", "seed"})
      EXPECT_TRUE(row.contains(key)) << key;
  }
  EXPECT_FALSE(fs::exists(out + ".partial"));

  // The same samples, written as messages; and with no filter every sample is kept.
  const std::string out2 = dir_ + "/m.jsonl";
  const RunResult m = run_r1(args(out2, {"--format", "messages"}));
  ASSERT_EQ(m.exit_code, 0) << describe(m);
  const auto all = json_lines(read_file(out2));
  ASSERT_EQ(all.size(), 64u);
  EXPECT_EQ(all[0]["messages"][0]["role"], "user");
  EXPECT_EQ(all[0]["messages"][0]["content"], "Say 0.");

  EXPECT_EQ(all[0]["messages"][1]["role"], "assistant");
}

TEST_F(Sample, PassRatesEqualEval) {
  const std::string out = dir_ + "/p.jsonl", eval_out = dir_ + "/e.jsonl";
  const RunResult r = run_r1(args(out, {"--pass-rate", "0:1"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const RunResult e = run_r1({"eval", "--model", model_, "--data", data_, "--instruction", "", "--k", "8",
                              "--seed", "5", "--max-new-tokens", "16", "--last-number", "--out", eval_out});
  ASSERT_EQ(e.exit_code, 0) << describe(e);
  std::map<int64_t, int> eval_correct;
  for (const auto& rec : json_lines(read_file(eval_out)))
    eval_correct[rec["problem_index"].get<int64_t>()] += rec["verdict"] == "correct";
  const auto rows = json_lines(read_file(out));
  ASSERT_EQ(rows.size(), 8u);
  int any = 0;
  for (size_t i = 0; i < rows.size(); i++) {
    EXPECT_EQ(rows[i]["extra"], static_cast<int>(i)) << "the problem's own row is written";
    EXPECT_EQ(rows[i]["correct"], eval_correct[static_cast<int64_t>(i)]) << i;
    EXPECT_DOUBLE_EQ(rows[i]["pass_rate"].get<double>(), eval_correct[static_cast<int64_t>(i)] / 8.0);
    any += eval_correct[static_cast<int64_t>(i)];
  }
  EXPECT_GT(any, 0);
  // A band keeps exactly the problems whose rate lies in it.
  const std::string band = dir_ + "/b.jsonl";
  const RunResult b = run_r1(args(band, {"--pass-rate", "0.1:0.5"}));
  ASSERT_EQ(b.exit_code, 0) << describe(b);
  size_t want = 0;
  for (const auto& [i, c] : eval_correct) want += c / 8.0 >= 0.1 && c / 8.0 <= 0.5;
  EXPECT_EQ(json_lines(read_file(band)).size(), want);
}

TEST_F(Sample, InterruptedOrKilledRunsResumeToTheSameBytes) {
  const std::vector<std::string> filters = {"--correct", "--keep", "1", "--pick", "shortest"};
  const std::string full = dir_ + "/full.jsonl";
  ASSERT_EQ(run_r1(args(full, filters)).exit_code, 0);
  const std::string full_text = read_file(full);
  const std::string out = dir_ + "/o.jsonl", partial = out + ".partial";
  {
    const ScopedEnv stop("R1_TEST_STOP_AFTER", "3");
    const RunResult r = run_r1(args(out, filters));
    ASSERT_EQ(r.exit_code, 130) << describe(r);
    EXPECT_NE(r.err.find("sample: interrupted after 3 of 8 problems"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(out));
  const std::string progress = read_file(partial);
  // A SIGKILL can stop the writer anywhere after the header (written atomically before any
  // sample): cut the progress file at arbitrary bytes past it and resume each time.
  const size_t header_end = progress.find('\n') + 1;
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 4; trial++) {
    const size_t cut = header_end + rng() % (progress.size() - header_end + 1);
    r1::testing::write_file(partial, progress.substr(0, cut));
    const RunResult resumed =
        run_r1(args(out, {"--correct", "--keep", "1", "--pick", "shortest", "--resume"}));
    ASSERT_EQ(resumed.exit_code, 0) << "cut at byte " << cut << "\n" << describe(resumed);
    EXPECT_EQ(read_file(out), full_text) << "cut at byte " << cut;
    EXPECT_FALSE(fs::exists(partial));
    fs::remove(out);
  }
}

TEST_F(Sample, BadOptionsAreOneLineErrors) {
  const std::string out = dir_ + "/o.jsonl";
  const std::string old = r1::testing::write_file(dir_ + "/old.jsonl", "an earlier run\n");
  EXPECT_TRUE(IsOneLineError(run_r1(args(old)), {"--out: " + old + " exists", "--resume"}));
  EXPECT_EQ(read_file(old), "an earlier run\n");
  EXPECT_TRUE(IsOneLineError(run_r1(args(old, {"--resume"})), {"--resume: " + old + " is complete"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--reward", "format", "--correct"})),
                             {"--reward: 'format' has no accuracy reward, which --correct needs"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--reward", "format", "--pass-rate", "0:1"})),
                             {"which --pass-rate needs"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--pass-rate", "0.5"})), {"--pass-rate: expected LO:HI"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--pass-rate", "0.8:0.2"})), {"--pass-rate: expected LO:HI"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--format", "csv"})),
                             {"--format: expected prompt-completion or messages"}));
  EXPECT_TRUE(
      IsOneLineError(run_r1(args(out, {"--pick", "best"})), {"--pick: expected first, shortest or random"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--reward", "nope"})), {"nope"}));
  EXPECT_TRUE(IsOneLineError(run_r1(args(out, {"--resume"})), {"--resume", "nothing to resume"}));
  // A problem without its gold field: the file, the line and the field.
  const std::string nogold = r1::testing::write_file(dir_ + "/nogold.jsonl", "{\"prompt\": \"Say 1.\"}\n");
  std::vector<std::string> a = args(out);
  for (size_t i = 0; i + 1 < a.size(); i++)
    if (a[i] == "--data") a[i + 1] = nogold;
  EXPECT_TRUE(IsOneLineError(run_r1(a), {nogold + ":1", "answer"}));
  // Nothing was written by any of them.
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));
}

TEST_F(Sample, ConversationsAsPrompts) {
  // Prompt fields that hold messages go through the template (distill: the byte model has none).
  const std::string conv = r1::testing::write_file(
      dir_ + "/conv.jsonl",
      "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
      "\"content\": \"Say 1.\"}], \"answer\": \"1\"}\n"
      "{\"prompt\": \"Say 2.\", \"answer\": \"2\"}\n");
  // The distill template's prompts are longer than the fixture model's 64-token context.
  const std::string model = r1::testing::save_tiny_byte_model(dir_ + "/model512", 512);
  auto with_data = [&](const std::string& data, const std::string& out, std::vector<std::string> more) {
    std::vector<std::string> a = args(out, std::move(more));
    for (size_t i = 0; i + 1 < a.size(); i++) {
      if (a[i] == "--data") a[i + 1] = data;
      if (a[i] == "--model") a[i + 1] = model;
    }
    return a;
  };
  const std::string out = dir_ + "/c.jsonl";
  const RunResult r = run_r1(with_data(conv, out, {"--template", "distill", "--format", "messages"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto rows = json_lines(read_file(out));
  ASSERT_EQ(rows.size(), 16u);
  EXPECT_EQ(rows[0]["messages"].size(), 3u);
  EXPECT_EQ(rows[0]["messages"][0]["role"], "system");
  EXPECT_EQ(rows[0]["messages"][1]["content"], "Say 1.");
  EXPECT_EQ(rows[0]["messages"][2]["role"], "assistant");
  EXPECT_EQ(rows[8]["messages"].size(), 2u) << "a string prompt is one user turn";
  // As prompt-completion rows the conversation stays the prompt.
  const std::string out2 = dir_ + "/c2.jsonl";
  ASSERT_EQ(run_r1(with_data(conv, out2, {"--template", "distill"})).exit_code, 0);
  const auto rows2 = json_lines(read_file(out2));
  EXPECT_TRUE(rows2[0]["prompt"].is_array());
  EXPECT_EQ(rows2[0]["completion"], rows[0]["messages"][2]["content"]) << "the same samples";

  // Malformed conversations: the file, line, field and message.
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {"[{\"role\": \"robot\", \"content\": \"x\"}]", {":1: field 'prompt' message 1: unknown role 'robot'"}},
      {"[{\"role\": \"user\"}]", {":1: field 'prompt' message 1: 'content' is missing"}},
      {"[{\"role\": \"user\", \"content\": 5}]", {"message 1: 'content' must be a string, got number"}},
      {"[{\"content\": \"x\"}]", {"message 1: 'role' is missing"}},
      {"[\"x\"]", {"message 1: expected an object"}},
      {"[]", {"field 'prompt' is an empty list of messages"}},
      {"[{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]",
       {"the last message must be the user's (it is the assistant's)"}},
  };
  for (const auto& [prompt, needles] : bad) {
    const std::string f =
        r1::testing::write_file(dir_ + "/bad.jsonl", "{\"prompt\": " + prompt + ", \"answer\": \"1\"}\n");
    std::vector<std::string> want = {f};
    want.insert(want.end(), needles.begin(), needles.end());
    EXPECT_TRUE(IsOneLineError(run_r1(with_data(f, dir_ + "/x.jsonl", {"--template", "distill"})), want))
        << prompt;
  }
  // A conversation needs a template.
  EXPECT_TRUE(IsOneLineError(run_r1(with_data(conv, dir_ + "/x.jsonl", {"--template", "none"})),
                             {"--template none: a conversation (a list of messages) needs a chat template"}));
  EXPECT_FALSE(fs::exists(dir_ + "/x.jsonl"));
  EXPECT_FALSE(fs::exists(dir_ + "/x.jsonl.partial"));
}

TEST(SampleFilters, Pieces) {
  EXPECT_DOUBLE_EQ(r1::repeated_ngram_share("a b c"), 0.0);
  EXPECT_DOUBLE_EQ(r1::repeated_ngram_share("one two three four five six"), 0.0);
  // "a b c d" four times: 13 4-grams, 4 distinct.
  EXPECT_NEAR(r1::repeated_ngram_share("a b c d a b c d a b c d a b c d"), 1.0 - 4.0 / 13.0, 1e-12);
  EXPECT_EQ(r1::reasoning_part("<think>x ``` y</think> ```"), "<think>x ``` y");
  EXPECT_EQ(r1::reasoning_part("no tags"), "no tags");

  r1::SampleFilters f;
  f.keep = 2;
  const std::vector<size_t> passing = {0, 2, 3, 5};
  const std::vector<int64_t> lengths = {9, 4, 7, 4};
  EXPECT_EQ(r1::pick_samples(f, passing, lengths, 0), (std::vector<size_t>{0, 2}));
  f.pick = "shortest";
  EXPECT_EQ(r1::pick_samples(f, passing, lengths, 0), (std::vector<size_t>{2, 5}));
  f.pick = "random";
  const auto r1a = r1::pick_samples(f, passing, lengths, 3), r1b = r1::pick_samples(f, passing, lengths, 3);
  EXPECT_EQ(r1a, r1b) << "seeded";
  EXPECT_EQ(r1a.size(), 2u);
  f.keep = 0;
  EXPECT_EQ(r1::pick_samples(f, passing, lengths, 0), passing);

  // Each filter names itself, in order.
  r1::SampleResult r;
  r.finish_reason = "length";
  r.num_tokens = 50;
  r1::verify::Score wrong;
  wrong.verdict = r1::verify::Verdict::kWrong;
  r1::verify::Score right;
  right.verdict = r1::verify::Verdict::kCorrect;
  const r1::verify::RewardOptions ro;
  const std::string good = "<think>a b c</think> <answer>1</answer>";
  r1::SampleFilters g;
  EXPECT_EQ(r1::sample_rejection(g, good, r, wrong, ro), "");
  g.correct = true;
  EXPECT_EQ(r1::sample_rejection(g, good, r, wrong, ro), "not_correct");
  g.finished = true;
  EXPECT_EQ(r1::sample_rejection(g, good, r, right, ro), "truncated");
  r.finish_reason = "stop";
  g.strict_format = true;
  EXPECT_EQ(r1::sample_rejection(g, "no tags", r, right, ro), "format");
  g.min_language = 0.9;
  EXPECT_EQ(r1::sample_rejection(g, "<think>это</think> <answer>1</answer>", r, right, ro), "language");
  g.no_code_in_think = true;
  EXPECT_EQ(r1::sample_rejection(g, "<think>a ```x``` b</think> <answer>1</answer>", r, right, ro),
            "code_in_think");
  g.max_paragraph = 10;
  EXPECT_EQ(r1::sample_rejection(g, good, r, right, ro), "long_paragraph");
  g.max_paragraph = 100;
  g.max_repetition = 0.1;
  EXPECT_EQ(
      r1::sample_rejection(g, "<think>a b c d a b c d a b c d</think> <answer>1</answer>", r, right, ro),
      "repetition");
  g.max_tokens = 49;
  EXPECT_EQ(r1::sample_rejection(g, good, r, right, ro), "too_long");
  g.max_tokens = 50;
  EXPECT_EQ(r1::sample_rejection(g, good, r, right, ro), "");
}

}  // namespace
