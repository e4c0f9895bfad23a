// The external reward: a grader process kept running across calls, answering one JSON line per
// item; its failures (exit, crash, non-JSON, no reward, silence) are one-line errors naming the
// command; large batches do not deadlock; the process is reaped when the reward goes away.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "verify/external.h"
#include "verify/reward_spec.h"

namespace {

namespace v = r1::verify;

// A python3 grader: reward = the completion's length, plus a running count (kept across calls).
const char* kGrader = R"(import sys, json
n = 0
for line in sys.stdin:
    j = json.loads(line)
    n += 1
    print(json.dumps({"reward": len(j["completion"]), "n": n, "meta": j["metadata"]}), flush=True)
)";

// The script goes under a 150-character directory name, so the command is long wherever the
// build tree is: errors must still name the script (its end), not only the start of the path.
std::string grader(const std::string& dir, const std::string& name, const std::string& body) {
  const std::string deep = dir + "/" + std::string(150, 'd');
  std::filesystem::create_directories(deep);
  r1::testing::write_file(deep + "/" + name, body);
  return "python3 " + deep + "/" + name;
}

std::vector<v::ExternalItem> items_of(const std::vector<std::string>& completions) {
  std::vector<v::ExternalItem> items;
  for (const auto& c : completions) items.push_back({"p", c, nullptr});
  return items;
}

std::string error_of_score(v::ExternalReward& r, const std::vector<std::string>& completions) {
  return r1::testing::error_of([&] { r.score(items_of(completions)); });
}

TEST(ExternalReward, ScoresAndStaysRunning) {
  const std::string dir = r1::testing::scratch_dir();
  v::ExternalReward r(grader(dir, "g.py", kGrader));
  const std::vector<std::string> cs = {"a", "abc", ""};
  EXPECT_EQ(r.score(items_of(cs)), (std::vector<double>{1, 3, 0}));
  const nlohmann::json meta = {{"k", 1}};
  EXPECT_EQ(r.score_one({"p", "12345", &meta}), 5.0);
  EXPECT_EQ(r.score({}), std::vector<double>{});
  // The grader keeps its state between calls: a counting grader counts on.
  v::ExternalReward counter(grader(dir, "count.py", R"(import sys, json
n = 0
for line in sys.stdin:
    n += 1
    print(json.dumps({"reward": n}), flush=True)
)"));
  EXPECT_EQ(counter.score(items_of({"x", "y"})), (std::vector<double>{1, 2}));
  EXPECT_EQ(counter.score(items_of({"z"})), (std::vector<double>{3}));
}

TEST(ExternalReward, LargeBatchDoesNotDeadlock) {
  const std::string dir = r1::testing::scratch_dir();
  v::ExternalReward r(grader(dir, "g.py", kGrader));
  std::vector<std::string> cs;
  for (int i = 0; i < 5000; ++i) cs.push_back(std::string(static_cast<size_t>(500 + i % 700), 'x'));
  const auto got = r.score(items_of(cs));
  ASSERT_EQ(got.size(), cs.size());
  for (size_t i = 0; i < cs.size(); ++i) ASSERT_EQ(got[i], static_cast<double>(cs[i].size())) << i;
}

TEST(ExternalReward, CrashMidStream) {
  const std::string dir = r1::testing::scratch_dir();
  v::ExternalReward r(grader(dir, "crash.py", R"(import sys, json
for i, line in enumerate(sys.stdin):
    if i == 2:
        sys.exit(3)
    print(json.dumps({"reward": 1}), flush=True)
)"));
  std::vector<std::string> cs(100, std::string(1000, 'y'));
  const std::string e = error_of_score(r, cs);
  EXPECT_NE(e.find("crash.py'"), std::string::npos) << e;
  EXPECT_NE(e.find("'python3 /"), std::string::npos) << e;
  EXPECT_NE(e.find("exited with status 3"), std::string::npos) << e;
  EXPECT_NE(e.find("after 2 of 100"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  // Broken for good: the next call repeats the error.
  EXPECT_EQ(error_of_score(r, {"a"}), e);
}

TEST(ExternalReward, KilledBySignal) {
  v::ExternalReward r("read line; kill -9 $$");
  const std::string e = error_of_score(r, {"a", "b"});
  EXPECT_NE(e.find("killed by signal 9"), std::string::npos) << e;
}

TEST(ExternalReward, NonJsonAnswer) {
  const std::string dir = r1::testing::scratch_dir();
  v::ExternalReward r(grader(dir, "talk.py", R"(import sys
for line in sys.stdin:
    print("I think this one deserves a high reward, maybe 0.9, because it is well written and long enough", flush=True)
)"));
  const std::string e = error_of_score(r, {"a"});
  EXPECT_NE(e.find("answer 1 is not a JSON object"), std::string::npos) << e;
  const std::string said =
      "I think this one deserves a high reward, maybe 0.9, because it is well written and long enough";
  std::string want(1, '\'');
  want += said.substr(0, 80);
  want += "'...";
  EXPECT_NE(e.find(want), std::string::npos) << e;  // the first 80 characters
  EXPECT_NE(e.find("talk.py"), std::string::npos) << e;
}

TEST(ExternalReward, MissingOrNonNumericReward) {
  const std::string dir = r1::testing::scratch_dir();
  v::ExternalReward r(grader(dir, "noreward.py", R"(import sys, json
for line in sys.stdin:
    print(json.dumps({"score": 1}), flush=True)
)"));
  EXPECT_NE(error_of_score(r, {"a"}).find("answer 1 has no numeric \"reward\""), std::string::npos);
  v::ExternalReward s("while read line; do echo '{\"reward\": \"high\"}'; done");
  EXPECT_NE(error_of_score(s, {"a", "b"}).find("no numeric \"reward\""), std::string::npos);
}

TEST(ExternalReward, SilenceTimesOut) {
  v::ExternalReward r("sleep 30", 0.5);
  const std::string e = error_of_score(r, {"a"});
  EXPECT_NE(e.find("no answer for 0.5 s"), std::string::npos) << e;
  EXPECT_NE(e.find("sleep 30"), std::string::npos) << e;
}

TEST(ExternalReward, NoZombieAfterDestruction) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string pidfile = dir + "/pid";
  {
    // A grader that ignores end of input: the destructor must kill it (and its child).
    v::ExternalReward r("echo $$ > " + pidfile + "; trap '' TERM; while true; do sleep 1; done");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::ifstream in(pidfile);
  int pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid))) << "grader " << pid << " left behind";
  {
    v::ExternalReward r(grader(dir, "g.py", kGrader));
    EXPECT_EQ(r.score_one({"p", "ab", nullptr}), 2.0);
  }
}

TEST(ExternalReward, InASpec) {
  const std::string dir = r1::testing::scratch_dir();
  v::RewardOptions o;
  o.external_cmd = grader(dir, "g.py", kGrader);
  auto spec = v::RewardSpec::parse("external:0.5,format", o);
  std::vector<v::RewardInput> ins(2);
  ins[0].completion = "<think>a</think><answer>b</answer>";
  ins[1].completion = "xy";
  const auto s = spec.score_batch(ins);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s[0].total, 0.5 * 34 + 1);
  EXPECT_DOUBLE_EQ(s[1].total, 0.5 * 2);
  EXPECT_EQ(s[1].components[0].name, "external");
  EXPECT_EQ(s[1].components[0].value, 2.0);
}

}  // namespace
