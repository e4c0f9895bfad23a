// r1 distill --demo --quick: the Table 6 pipeline end to end at tiny settings (a teacher by r1
// zero, a student base, the three arms, every model evaluated the same way): a smoke test of the
// plumbing, not of the result (bench/RESULTS.md and the README have the real run's table).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "run_r1.h"
#include "test_util.h"

namespace fs = std::filesystem;

TEST(DistillDemo, QuickRunWritesTheTableOfAllArms) {
  const std::string dir = r1::testing::scratch_dir() + "/demo";
  const auto r = r1::testing::run_r1({"distill", "--demo", "--quick", "--dir", dir}, 900);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  const nlohmann::json report = nlohmann::json::parse(r1::testing::read_file(dir + "/report.json"));
  ASSERT_EQ(report.size(), 5u);
  const char* names[] = {"teacher", "student base", "(a) GRPO on the student",
                         "(b) SFT on the teacher's traces", "(c) on-policy distillation"};
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(report[i]["model"], names[i]);
    const double p = report[i]["pass@1"].get<double>();
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 1.0);
    EXPECT_TRUE(fs::exists(report[i]["path"].get<std::string>() + "/model.safetensors")) << report[i].dump();
    if (i >= 2) {
      EXPECT_GT(report[i]["seconds"].get<double>(), 0.0);
    }
  }
  EXPECT_TRUE(report[4].contains("reverse_kl_first5"));
  EXPECT_NE(r.out.find("| (b) SFT on the teacher's traces |"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir + "/report.md"));
  // A second run reuses the teacher and the student base.
  const auto again = r1::testing::run_r1({"distill", "--demo", "--quick", "--dir", dir}, 900);
  ASSERT_EQ(again.exit_code, 0) << r1::testing::describe(again);
  EXPECT_NE(again.err.find("the teacher: r1 zero's model in"), std::string::npos) << again.err;
  EXPECT_EQ(again.err.find("the student's base: pretraining"), std::string::npos) << again.err;
  // Bad use: a recipe beside --demo.
  EXPECT_TRUE(r1::testing::IsOneLineError(r1::testing::run_r1({"distill", "--demo", "x.toml"}), {"--demo"}));
}
