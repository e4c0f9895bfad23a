// The openai npm client against r1 zero's shipped base model (its replies have a <think> part).
#include <gtest/gtest.h>

#include "serve/openai_drive.h"

namespace {

TEST(ServeOpenAiClient, ZeroModelReasoningAndAnswerApart) {
  r1::testing::drive_with_openai_client(std::string(R1_SOURCE_DIR) + "/models/zero-base", true,
                                        "Compute 4+9+7+8");
}

}  // namespace
