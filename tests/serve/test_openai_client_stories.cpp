// The openai npm client against stories260K (a shared fixture; no <think> part).
#include <gtest/gtest.h>

#include "serve/openai_drive.h"
#include "stories260k.h"
#include "test_util.h"

namespace {

TEST(ServeOpenAiClientStories, WholeAndStreamedAnswers) {
  R1_SKIP_UNLESS_SHARED("models/stories260K/hf");
  r1::testing::drive_with_openai_client(r1::testing::kStoriesDir + "/hf", false, "Tell me a story");
}

}  // namespace
