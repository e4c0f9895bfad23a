// r1 serve with Qwen3's real tokenizer and chat template (a shared fixture) on a tiny random
// Qwen3 model: chat_template_kwargs reach the template (enable_thinking false closes the
// <think> part in the prompt, so the reply starts as answer), and logprobs come back per token.
#include <gtest/gtest.h>

#include <cmath>

#include "model/checkpoint.h"
#include "serve/serve_process.h"
#include "test_util.h"
#include "tiny_model.h"

namespace {

using json = nlohmann::json;
using r1::testing::post;
using r1::testing::ServeProcess;

TEST(ServeQwen3, ChatTemplateKwargsAndLogprobs) {
  R1_SKIP_UNLESS_SHARED("models/qwen3-tokenizer/tokenizer.json");
  r1::ModelConfig c = r1::testing::tiny_config(r1::Arch::Qwen3);
  c.vocab_size = 151936;  // Qwen3's embedding rows (past the tokenizer's 151669 ids)
  c.hidden_size = 16;
  c.tie_word_embeddings = true;
  c.max_position_embeddings = 512;
  c.eos_token_ids = {151645};  // <|im_end|>
  r1::Model m(c);
  m.init_random(3, 0.5f);
  const std::string dir = r1::testing::scratch_dir() + "/qwen3-tiny";
  r1::save_model(m, dir, r1::testing::shared_path("models/qwen3-tokenizer"));
  ServeProcess server(dir);
  ASSERT_GT(server.port(), 0);
  httplib::Client cl = server.client();
  const json msgs = {{{"role", "user"}, {"content", "What is 2+2?"}}};
  int status = 0;
  const json thinking =
      post(cl, "/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 8}, {"seed", 1}}, &status);
  ASSERT_EQ(status, 200) << thinking.dump();
  const json plain = post(cl, "/v1/chat/completions",
                          {{"messages", msgs},
                           {"max_tokens", 8},
                           {"seed", 1},
                           {"chat_template_kwargs", {{"enable_thinking", false}}},
                           {"logprobs", true},
                           {"top_logprobs", 3}},
                          &status);
  ASSERT_EQ(status, 200) << plain.dump();
  // Qwen3's template adds "<think>\n\n</think>\n\n" after the generation prompt when thinking is off.
  EXPECT_GT(plain["usage"]["prompt_tokens"].get<int>(), thinking["usage"]["prompt_tokens"].get<int>());
  EXPECT_TRUE(plain["choices"][0]["message"]["reasoning_content"].is_null()) << plain.dump();
  const json& lp = plain["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), plain["usage"]["completion_tokens"].get<size_t>());
  for (const json& e : lp) {
    ASSERT_EQ(e["top_logprobs"].size(), 3u);
    EXPECT_LE(e["logprob"].get<double>(), 0.0);
    double prev = 0;
    bool found = false;
    for (size_t k = 0; k < 3; k++) {
      const double v = e["top_logprobs"][k]["logprob"];
      if (k > 0) {
        EXPECT_LE(v, prev + 1e-6);
      }
      prev = v;
      if (e["top_logprobs"][k]["bytes"] == e["bytes"])
        found = found || std::abs(v - e["logprob"].get<double>()) < 1e-5;
    }
    // The sampled token is among the three most likely, or less likely than the third.
    if (!found) {
      EXPECT_LE(e["logprob"].get<double>(), prev + 1e-6);
    }
  }
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
