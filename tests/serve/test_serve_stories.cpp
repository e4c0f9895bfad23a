// r1 serve with stories260K (a shared fixture): at temperature 0 its answers equal `r1 generate
// --greedy`, with a seed `r1 generate` with that seed, whatever else runs at the same time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve/serve_process.h"
#include "stories260k.h"
#include "test_util.h"

namespace {

using json = nlohmann::json;
using r1::testing::generate;
using r1::testing::post;
using r1::testing::ServeProcess;
using r1::testing::stream;
using r1::testing::Stream;

TEST(ServeStories, GreedyAndSeededAnswersEqualR1Generate) {
  R1_SKIP_UNLESS_SHARED("models/stories260K/hf");
  const std::string model = r1::testing::kStoriesDir + "/hf";
  ServeProcess server(model);
  ASSERT_GT(server.port(), 0);
  httplib::Client c = server.client();

  // Temperature 0: r1 generate --greedy.
  const auto greedy = generate(
      {"generate", "--model", model, "--prompt", "Once upon a time", "--greedy", "--max-new-tokens", "40"});
  int status = 0;
  json r = post(c, "/v1/completions",
                {{"model", model}, {"prompt", "Once upon a time"}, {"temperature", 0}, {"max_tokens", 40}},
                &status);
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["choices"][0]["text"], greedy[0]["text"]);
  EXPECT_EQ(r["usage"]["completion_tokens"], greedy[0]["token_ids"].size());

  // A seed: r1 generate with the same seed and settings, n = 3, while other requests run beside it.
  const auto seeded =
      generate({"generate", "--model", model, "--prompt", "Once upon a time", "--seed", "7", "--temperature",
                "0.8", "--top-p", "0.9", "-n", "3", "--max-new-tokens", "60"});
  std::atomic<bool> stop{false};
  std::vector<std::thread> noise;
  for (int t = 0; t < 3; t++)
    noise.emplace_back([&, t] {
      httplib::Client nc = server.client();
      for (int i = 0; !stop; i++)
        nc.Post("/v1/completions",
                json{{"prompt", "The little dog " + std::to_string(t * 100 + i)},
                     {"max_tokens", 30 + 7 * i % 20},
                     {"temperature", 1.0}}
                    .dump(),
                "application/json");
    });
  for (int repeat = 0; repeat < 2; repeat++) {
    r = post(c, "/v1/completions",
             {{"prompt", "Once upon a time"},
              {"seed", 7},
              {"temperature", 0.8},
              {"top_p", 0.9},
              {"n", 3},
              {"max_tokens", 60}},
             &status);
    ASSERT_EQ(status, 200) << r.dump();
    ASSERT_EQ(r["choices"].size(), 3u);
    for (int i = 0; i < 3; i++)
      EXPECT_EQ(r["choices"][i]["text"], seeded[static_cast<size_t>(i)]["text"]) << i;
  }
  // The same through the chat endpoint: the r1zero template (stories260K has none), a streamed
  // answer equal to r1 generate --template r1zero with its stop string.
  const auto chat = generate({"generate", "--model", model, "--prompt", "Tell me a story", "--template",
                              "r1zero", "--stop", "</answer>", "--seed", "11", "--max-new-tokens", "50"});
  const Stream s = stream(c, "/v1/chat/completions",
                          {{"messages", {{{"role", "user"}, {"content", "Tell me a story"}}}},
                           {"seed", 11},
                           {"max_tokens", 50},
                           {"stream", true},
                           {"stream_options", {{"include_usage", true}}}});
  stop = true;
  for (auto& t : noise) t.join();
  EXPECT_TRUE(s.done);
  std::string streamed;
  for (const json& ch : s.chunks)
    for (const json& choice : ch["choices"])
      if (choice["delta"].contains("content")) streamed += choice["delta"]["content"].get<std::string>();
  const std::string text = chat[0]["text"];
  if (text.find("<think>") == std::string::npos) {
    EXPECT_EQ(streamed, text);
  }
  ASSERT_FALSE(s.chunks.empty());
  EXPECT_EQ(s.chunks.back()["usage"]["completion_tokens"], chat[0]["token_ids"].size());
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();
}

}  // namespace
