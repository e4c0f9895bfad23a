// Data parallelism over MPI (src/dist): `mpirun -np 2 r1 ...` against the one-process run of the
// same command. r1 pretrain, r1 sft and r1 grpo (through r1 zero) must take the same steps (the
// same samples, losses within 1e-5 relative, weights within a stated tolerance); r1 eval and
// r1 sample must write the same bytes; a rank killed mid-step must end the job, leave the last
// checkpoint intact and let --resume finish the run; and the same across two "hosts" (network
// namespaces). Tests that need mpirun fail under CI without it and skip elsewhere.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "model/checkpoint.h"
#include "run_r1.h"
#include "test_util.h"
#include "train/run_dir.h"

namespace {

using r1::testing::RunResult;

std::string find_mpirun() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  for (size_t at = 0; at <= p.size();) {
    const size_t end = std::min(p.find(':', at), p.size());
    const std::string cand = p.substr(at, end - at) + "/mpirun";
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    at = end + 1;
  }
  return "";
}

// Skips (or fails under CI) when this machine cannot run an MPI job of r1.
#define REQUIRE_MPI()                                                                             \
  do {                                                                                            \
    if (find_mpirun().empty() || !r1::mpi_available()) {                                          \
      if (r1::testing::under_ci()) FAIL() << "mpirun or an MPI build of r1 is missing under CI";  \
      GTEST_SKIP() << "mpirun or MPI support missing (scripts/install-deps.sh installs OpenMPI)"; \
    }                                                                                             \
  } while (0)

// Under the sanitizers the ranks run without LeakSanitizer: OpenMPI's runtime leaks at exit from
// plugins it has unloaded by then (their frames cannot be named, so no suppression can match).
// Address and UB checks stay on, and r1's own leaks are checked by the one-process runs.
std::vector<std::string> sanitizer_env(std::vector<std::string> env) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "detect_leaks=0");
  return env;
}

// mpirun -np N r1 ARGS (as root too; oversubscribed where the machine has fewer cores).
RunResult run_mpi(int np, const std::vector<std::string>& args, std::vector<std::string> env = {},
                  int timeout_s = 300) {
  env = sanitizer_env(std::move(env));
  std::vector<std::string> a = {"--allow-run-as-root", "--oversubscribe", "-np", std::to_string(np),
                                R1_BINARY};
  a.insert(a.end(), args.begin(), args.end());
  return r1::testing::run_program(find_mpirun(), a, timeout_s, "/dev/null", env);
}

std::vector<nlohmann::json> metric_rows(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// Every numeric field named in `keys` of every row: equal within rel (relative to the value,
// absolute below 1e-3 of scale).
void expect_same_metrics(const std::string& a, const std::string& b, const std::vector<std::string>& keys,
                         double rel) {
  const auto ra = metric_rows(a), rb = metric_rows(b);
  ASSERT_EQ(ra.size(), rb.size()) << a << " vs " << b;
  ASSERT_FALSE(ra.empty());
  int compared = 0;
  for (size_t i = 0; i < ra.size(); i++)
    for (const std::string& k : keys) {
      ASSERT_EQ(ra[i].contains(k), rb[i].contains(k)) << "row " << i << " key " << k;
      if (!ra[i].contains(k) || !ra[i][k].is_number()) continue;
      const double x = ra[i][k].get<double>(), y = rb[i][k].get<double>();
      EXPECT_LE(std::abs(x - y), rel * std::max(std::abs(x), 1e-3))
          << "row " << i << " " << k << ": " << x << " vs " << y;
      compared++;
    }
  EXPECT_GT(compared, 0);
}

// The largest |w_a - w_b| over the weights, relative to the largest |w_a|.
double weight_gap(const std::string& a, const std::string& b) {
  const r1::Model ma = r1::load_model(a), mb = r1::load_model(b);
  EXPECT_EQ(ma.num_params(), mb.num_params());
  double gap = 0, scale = 0;
  for (size_t i = 0; i < ma.num_params(); i++) {
    gap = std::max(gap, double(std::abs(ma.params()[i] - mb.params()[i])));
    scale = std::max(scale, double(std::abs(ma.params()[i])));
  }
  return gap / scale;
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) n++;
  return n;
}

const char* kLmRecipe = R"([model]
arch = "llama"
hidden_size = 64
intermediate_size = 160
num_layers = 2
num_heads = 4
num_kv_heads = 2
head_dim = 16
tie_word_embeddings = true
[data]
path = "builtin:arith"
seq_len = 64
builtin_docs = 1500
eval_rows = 40
[train]
steps = 8
batch_tokens = 1536
grad_accum = 2
lr = 3e-3
warmup_steps = 2
seed = 3
[output]
save_every = 2
overwrite = true
)";

// Weight tolerance: the ranks sum their gradients in another order than one process does, and
// AdamW's first steps move every weight by about lr whatever the gradient's size, so tiny
// gradients' rounding shows; 1e-4 of the largest weight after 8 steps of lr 3e-3 is far below
// what a wrong shard (a batch trained twice or not at all) gives (measured: about 3e-2).
constexpr double kWeightTol = 1e-4;
const std::vector<std::string> kLmKeys = {"loss", "eval/loss", "tokens", "target_tokens", "grad_norm"};

// The LM recipe in DIR/pre.toml and its one-process run in DIR/one; returns the recipe's path.
std::string lm_reference(const std::string& dir) {
  const std::string recipe = r1::testing::write_file(dir + "/pre.toml", kLmRecipe);
  const RunResult one = r1::testing::run_r1({"pretrain", recipe, "--set", "output.dir=\"" + dir + "/one\""});
  EXPECT_EQ(one.exit_code, 0) << describe(one);
  return recipe;
}

// DIR/two's run took DIR/one's steps: metrics within 1e-5, weights within kWeightTol.
void expect_lm_runs_alike(const std::string& dir) {
  expect_same_metrics(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl", kLmKeys, 1e-5);
  EXPECT_LT(weight_gap(dir + "/one/model", dir + "/two/model"), kWeightTol);
}

}  // namespace

TEST(Shards, BlocksCoverEveryItemOnceInRankOrder) {
  for (int64_t n : {0, 1, 5, 16})
    for (int size : {1, 2, 3, 5}) {
      int64_t next = 0;
      for (int r = 0; r < size; r++) {
        const r1::Shard s = r1::shard_of(n, r, size);
        EXPECT_EQ(s.begin, next) << n << " " << r << "/" << size;
        EXPECT_GE(s.size(), n / size);
        EXPECT_LE(s.size(), n / size + 1);
        next = s.end;
      }
      EXPECT_EQ(next, n);
    }
  // By cost: items of cost 10, 1, 1, 1, 1, 10 over two ranks split where the halves balance.
  const std::vector<int64_t> cum = {0, 10, 11, 12, 13, 14, 24};
  const r1::Shard a = r1::shard_by_cost(cum, 0, 2), b = r1::shard_by_cost(cum, 1, 2);
  EXPECT_EQ(a.begin, 0);
  EXPECT_EQ(a.end, b.begin);
  EXPECT_EQ(b.end, 6);
  EXPECT_EQ(a.end, 3);  // 10 + 1 + 1 = 12 of 24
  // More ranks than items: the extra ranks get empty blocks, every item is owned once.
  int64_t owned = 0;
  for (int r = 0; r < 4; r++) owned += r1::shard_by_cost({0, 5, 7}, r, 4).size();
  EXPECT_EQ(owned, 2);
}

TEST(Mpi, PretrainOnTwoRanksTakesTheOneProcessSteps) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  const std::string recipe = lm_reference(dir);
  const RunResult two = run_mpi(2, {"pretrain", recipe, "--set", "output.dir=\"" + dir + "/two\""});
  ASSERT_EQ(two.exit_code, 0) << describe(two);
  expect_lm_runs_alike(dir);
  // Rank 0 alone writes and prints: one progress line per update, one "done" line.
  EXPECT_EQ(count(two.err, "pretrain: done"), 1) << two.err;
}

TEST(Mpi, SftOnTwoRanksTakesTheOneProcessSteps) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  std::string rows;
  for (int i = 0; i < 24; i++)
    rows += fmt::format("{{\"prompt\": \"q{}:\", \"completion\": \" a{}\"}}\n", i, i * 7 % 13);
  const std::string data = r1::testing::write_file(dir + "/sft.jsonl", rows);
  std::string recipe_text = kLmRecipe;
  recipe_text.replace(recipe_text.find("path = \"builtin:arith\""), 22, "path = \"" + data + "\"");
  const std::string recipe = r1::testing::write_file(dir + "/sft.toml", recipe_text);
  const std::vector<std::string> set = {"--set", "train.batch_tokens=200", "--set", "data.eval_rows=4"};
  std::vector<std::string> a1 = {"sft", recipe, "--set", "output.dir=\"" + dir + "/one\""};
  a1.insert(a1.end(), set.begin(), set.end());
  std::vector<std::string> a2 = {"sft", recipe, "--set", "output.dir=\"" + dir + "/two\""};
  a2.insert(a2.end(), set.begin(), set.end());
  const RunResult one = r1::testing::run_r1(a1);
  ASSERT_EQ(one.exit_code, 0) << describe(one);
  const RunResult two = run_mpi(2, a2);
  ASSERT_EQ(two.exit_code, 0) << describe(two);
  expect_lm_runs_alike(dir);
}

TEST(Mpi, RewardModelTrainingOnTwoRanksTakesTheOneProcessSteps) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  for (const std::string who : {"one", "two"}) {
    const std::vector<std::string> a = {
        "rm",    "train",         "--set", "output.dir=\"" + dir + "/" + who + "\"",
        "--set", "train.steps=6", "--set", "train.eval_every=3"};
    const RunResult r = who == "one" ? r1::testing::run_r1(a) : run_mpi(2, a);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }
  expect_same_metrics(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl",
                      {"loss", "accuracy", "pairs", "tokens", "eval/loss", "eval/accuracy"}, 1e-5);
  // The gradient's norm sums many cancelling terms: its rounding shows at about 1e-5.
  expect_same_metrics(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl", {"grad_norm"}, 1e-4);
  EXPECT_LT(weight_gap(dir + "/one/model", dir + "/two/model"), kWeightTol);
}

// A command that does not run data-parallel is refused under mpirun (one line, from rank 0).
TEST(Mpi, CommandsThatAreNotDataParallelAreRefused) {
  REQUIRE_MPI();
  const RunResult r = run_mpi(2, {"template", "--tokenizer", "r1zero", "--messages", "/dev/null"}, {}, 60);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_EQ(count(r.err, "r1: error: r1 template does not run data-parallel"), 1) << r.err;
}

// r1 zero's GRPO: an odd number of groups (3 and 2 per rank), dynamic sampling, two mini-batches
// and two passes, the held-out evaluation sharded too.
TEST(Mpi, GrpoOnTwoRanksTakesTheOneProcessSteps) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  const std::vector<std::string> set = {"--set", "grpo.steps=2",
                                        "--set", "grpo.prompts_per_step=5",
                                        "--set", "grpo.group_size=4",
                                        "--set", "grpo.mu=2",
                                        "--set", "grpo.mini_batches=2",
                                        "--set", "grpo.dynamic_sampling=true",
                                        "--set", "grpo.max_new_tokens=120",
                                        "--set", "eval.limit=6",
                                        "--set", "eval.k=3",
                                        "--set", "eval.every=2",
                                        "--set", "output.sample_every=1"};
  std::vector<std::string> a1 = {"zero", "--dir", dir + "/one"}, a2 = {"zero", "--dir", dir + "/two"};
  a1.insert(a1.end(), set.begin(), set.end());
  a2.insert(a2.end(), set.begin(), set.end());
  const RunResult one = r1::testing::run_r1(a1, 300);
  ASSERT_EQ(one.exit_code, 0) << describe(one);
  const RunResult two = run_mpi(2, a2);
  ASSERT_EQ(two.exit_code, 0) << describe(two);
  // The same samples: every sample row (step, text, reward) alike.
  const auto sa = metric_rows(dir + "/one/grpo/samples.jsonl"),
             sb = metric_rows(dir + "/two/grpo/samples.jsonl");
  ASSERT_EQ(sa.size(), sb.size());
  ASSERT_FALSE(sa.empty());
  for (size_t i = 0; i < sa.size(); i++) EXPECT_EQ(sa[i].dump(), sb[i].dump()) << "sample row " << i;
  expect_same_metrics(dir + "/one/grpo/metrics.jsonl", dir + "/two/grpo/metrics.jsonl",
                      {"loss", "reward", "kl", "grad_norm", "response_length_mean", "groups_drawn",
                       "eval/pass@1", "eval/response_length_mean"},
                      1e-5);
  EXPECT_LT(weight_gap(dir + "/one/grpo/model", dir + "/two/grpo/model"), kWeightTol);
}

TEST(Mpi, EvalAndSampleOnTwoRanksWriteTheOneProcessBytes) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  std::string rows;
  for (int i = 0; i < 7; i++)
    rows += fmt::format("{{\"question\": \"{} + {}\", \"answer\": \"{}\"}}\n", 10 + i, 3 * i, 10 + 4 * i);
  const std::string data = r1::testing::write_file(dir + "/p.jsonl", rows);
  const std::string model = std::string(R1_SOURCE_DIR) + "/models/zero-base";
  const std::vector<std::string> common = {
      "--model", model, "--data",           data,  "--prompt-field", "question", "--template", "r1zero",
      "--k",     "3",   "--max-new-tokens", "100", "--temperature",  "1.0",      "--seed",     "5"};
  for (const std::string cmd : {"eval", "sample"}) {
    for (const std::string who : {"one", "two"}) {
      std::vector<std::string> a = {cmd};
      a.insert(a.end(), common.begin(), common.end());
      a.insert(a.end(), {"--out", dir + "/" + cmd + "_" + who + ".jsonl"});
      const RunResult r = who == "one" ? r1::testing::run_r1(a) : run_mpi(2, a);
      ASSERT_EQ(r.exit_code, 0) << describe(r);
    }
    const std::string a = r1::testing::read_file(dir + "/" + cmd + "_one.jsonl");
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, r1::testing::read_file(dir + "/" + cmd + "_two.jsonl")) << cmd;
  }
}

// A rank lost mid-step (SIGKILL inside step 5, before the gradients are summed): the job ends with
// a non-zero status and the launcher names the rank; the checkpoint of step 4 is intact, and
// --resume on two ranks finishes the run with the uninterrupted run's steps.
TEST(Mpi, RankKilledMidStepEndsTheJobAndResumeFinishesIt) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  const std::string recipe = lm_reference(dir);
  const std::vector<std::string> args = {"pretrain", recipe, "--set", "output.dir=\"" + dir + "/two\""};
  const RunResult killed = run_mpi(2, args, {"R1_TEST_RANK=1", "R1_TEST_KILL_IN_STEP=5"}, 120);
  EXPECT_NE(killed.exit_code, 0) << describe(killed);
  EXPECT_FALSE(killed.timed_out);
  EXPECT_LT(killed.seconds, 60) << describe(killed);
  EXPECT_NE(killed.err.find("rank 1"), std::string::npos) << killed.err;
  EXPECT_NE(killed.err.find("signal 9"), std::string::npos) << killed.err;
  EXPECT_FALSE(r1::RunDir::is_complete(dir + "/two"));
  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", dir + "/two"});
  const RunResult resumed = run_mpi(2, resume);
  ASSERT_EQ(resumed.exit_code, 0) << describe(resumed);
  EXPECT_NE(resumed.err.find("resuming at step 4"), std::string::npos) << resumed.err;
  expect_lm_runs_alike(dir);
}

// A stop request (the SIGINT hook, on rank 1 only: the ranks agree to stop at the same step) saves
// a checkpoint; the run resumes on another number of ranks (one process here) to the same end: a
// step's global batch does not depend on the ranks.
TEST(Mpi, InterruptedOnTwoRanksResumesOnOne) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  const std::string recipe = lm_reference(dir);
  const std::vector<std::string> args = {"pretrain", recipe, "--set", "output.dir=\"" + dir + "/two\""};
  const RunResult stopped = run_mpi(2, args, {"R1_TEST_RANK=1", "R1_TEST_INTERRUPT_AT_STEP=3"}, 120);
  EXPECT_EQ(stopped.exit_code, 130) << describe(stopped);
  EXPECT_NE(stopped.err.find("interrupted at step 3"), std::string::npos) << stopped.err;
  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", dir + "/two"});
  const RunResult resumed = r1::testing::run_r1(resume);
  ASSERT_EQ(resumed.exit_code, 0) << describe(resumed);
  EXPECT_NE(resumed.err.find("resuming at step 3"), std::string::npos) << resumed.err;
  expect_lm_runs_alike(dir);
}

// An error on one rank only ends every rank at once (no rank waits in a collective).
TEST(Mpi, AnErrorOnOneRankEndsTheJob) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  const std::string recipe = r1::testing::write_file(dir + "/pre.toml", kLmRecipe);
  // Rank 1 fails inside step 3 while rank 0 waits for its gradients.
  const RunResult r = run_mpi(2, {"pretrain", recipe, "--set", "output.dir=\"" + dir + "/x\""},
                              {"R1_TEST_RANK=1", "R1_TEST_FAIL_IN_STEP=3"}, 120);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(r.timed_out);
  EXPECT_LT(r.seconds, 60) << describe(r);
  EXPECT_NE(r.err.find("r1: error: rank 1 of 2: step 3: the R1_TEST_FAIL_IN_STEP hook"), std::string::npos)
      << r.err;
  EXPECT_FALSE(r1::RunDir::is_complete(dir + "/x"));
}

TEST(Mpi, TwoHostsOverTcpTakeTheOneProcessSteps) {
  REQUIRE_MPI();
  const std::string dir = r1::testing::scratch_dir();
  const std::string recipe = lm_reference(dir);
  const RunResult two = r1::testing::run_program(
      std::string(R1_SOURCE_DIR) + "/tests/dist/two_hosts.sh",
      {"--", R1_BINARY, "pretrain", recipe, "--set", "output.dir=\"" + dir + "/two\""}, 300, "/dev/null",
      sanitizer_env({}));
  if (two.exit_code == 77) GTEST_SKIP() << two.out << two.err;
  ASSERT_EQ(two.exit_code, 0) << describe(two);
  expect_lm_runs_alike(dir);
}
