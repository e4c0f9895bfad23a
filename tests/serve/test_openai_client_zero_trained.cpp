// The openai npm client against a model trained by `r1 zero` (two GRPO steps from the shipped
// base: a short run, labelled slow).
#include <gtest/gtest.h>

#include "run_r1.h"
#include "serve/openai_drive.h"
#include "test_util.h"

namespace {

TEST(SlowServeOpenAiClient, ModelTrainedByR1Zero) {
  const std::string dir = r1::testing::scratch_dir() + "/zero";
  const auto r =
      r1::testing::run_program(R1_BINARY,
                               {"zero", "--dir", dir, "--set", "grpo.steps=2", "--set", "eval.every=0",
                                "--set", "eval.at_start=false", "--set", "eval.at_end=false"},
                               900);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r1::testing::drive_with_openai_client(dir + "/grpo/model", true, "Compute 3+8+5+9");
}

}  // namespace
