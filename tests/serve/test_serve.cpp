// r1 serve end to end: the OpenAI protocol over loopback against r1 zero's shipped base model (in
// the repository; its replies have a <think> part). With the shared fixtures: test_serve_stories.cpp.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "run_r1.h"
#include "serve/serve_process.h"
#include "test_util.h"

namespace {

using json = nlohmann::json;
using r1::testing::generate;
using r1::testing::metric;
using r1::testing::post;
using r1::testing::ServeProcess;
using r1::testing::stream;
using r1::testing::Stream;

const std::string kZeroBase = std::string(R1_SOURCE_DIR) + "/models/zero-base";
const std::string kZeroPrompt = "Compute 4+9+7+8";

TEST(Serve, ReasoningContentIsTheThinkPartInWholeAnswersAndStreams) {
  ServeProcess server(kZeroBase);
  ASSERT_GT(server.port(), 0);
  httplib::Client c = server.client();
  // The raw reply, from r1 generate with the same template, seed and settings.
  const auto raw =
      generate({"generate", "--model", kZeroBase, "--prompt", kZeroPrompt, "--template", "r1zero", "--stop",
                "</answer>", "--seed", "5", "--temperature", "0.6", "-n", "4", "--max-new-tokens", "120"});
  const json body{{"messages", {{{"role", "user"}, {"content", kZeroPrompt}}}},
                  {"seed", 5},
                  {"temperature", 0.6},
                  {"n", 4},
                  {"max_tokens", 120}};
  int status = 0;
  const json whole = post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << whole.dump();
  json sbody = body;
  sbody["stream"] = true;
  sbody["stream_options"] = {{"include_usage", true}};
  const Stream s = stream(c, "/v1/chat/completions", sbody);
  ASSERT_TRUE(s.done);
  int with_think = 0;
  int64_t reasoning_tokens = 0;
  for (int i = 0; i < 4; i++) {
    const std::string text = raw[static_cast<size_t>(i)]["text"];
    const size_t open = text.find("<think>"), close = text.find("</think>");
    const json& msg = whole["choices"][i]["message"];
    std::string reasoning, content = text;
    if (open != std::string::npos && close != std::string::npos) {
      with_think++;
      reasoning = text.substr(open + 7, close - open - 7);
      content = text.substr(0, open) + text.substr(close + 8);
      EXPECT_EQ(msg["reasoning_content"], reasoning) << text;
    }
    EXPECT_EQ(msg["content"], content) << text;
    // The stream: reasoning deltas and content deltas apart, adding up to the same.
    std::string sr, sc;
    bool finished = false;
    for (const json& ch : s.chunks)
      for (const json& choice : ch["choices"]) {
        if (choice["index"] != i) continue;
        const json& d = choice["delta"];
        if (d.contains("reasoning_content")) sr += d["reasoning_content"].get<std::string>();
        if (d.contains("content")) sc += d["content"].get<std::string>();
        if (!choice["finish_reason"].is_null()) finished = true;
      }
    EXPECT_EQ(sr, reasoning);
    EXPECT_EQ(sc, content);
    EXPECT_TRUE(finished);
  }
  EXPECT_GE(with_think, 3) << "the zero base writes a <think> part";
  reasoning_tokens = whole["usage"]["completion_tokens_details"]["reasoning_tokens"];
  EXPECT_GT(reasoning_tokens, 0);
  EXPECT_LT(reasoning_tokens, whole["usage"]["completion_tokens"].get<int64_t>());
  EXPECT_EQ(s.chunks.back()["usage"], whole["usage"]);
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServeCli, AMissingModelOrABusyPortIsAOneLineError) {
  auto r = r1::testing::run_program(R1_BINARY, {"serve", "--model", "/nonexistent/model"}, 60);
  EXPECT_TRUE(r1::testing::IsOneLineError(r, {"/nonexistent/model"})) << describe(r);
  ServeProcess first(kZeroBase);
  ASSERT_GT(first.port(), 0);
  r = r1::testing::run_program(R1_BINARY,
                               {"serve", "--model", kZeroBase, "--port", std::to_string(first.port())}, 60);
  EXPECT_TRUE(r1::testing::IsOneLineError(r, {"cannot listen on 127.0.0.1:" + std::to_string(first.port())}))
      << describe(r);
  EXPECT_EQ(first.terminate(), 0);
}

// Opens a raw TCP connection to the server.
int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

TEST(Serve, BadRequestsGetTheirStatusAndErrorJsonAndTheServerGoesOn) {
  ServeProcess server(kZeroBase, {"--api-key", "sekret", "--read-timeout", "1", "--max-body-mb", "1"});
  ASSERT_GT(server.port(), 0);
  httplib::Client c = server.client();
  c.set_bearer_token_auth("sekret");
  const json msg = {{{"role", "user"}, {"content", kZeroPrompt}}};
  struct Case {
    std::string name, body;
    int status;
    std::string param;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", "{\"messages\": [", 400, ""},
      {"not an object", "[1, 2]", 400, ""},
      {"no messages", "{}", 400, "messages"},
      {"temperature of a wrong type", json{{"messages", msg}, {"temperature", "hot"}}.dump(), 400,
       "temperature"},
      {"n of a wrong type", json{{"messages", msg}, {"n", 1.5}}.dump(), 400, "n"},
      {"negative max_tokens", json{{"messages", msg}, {"max_tokens", -5}}.dump(), 400, "max_tokens"},
      {"huge max_tokens", json{{"messages", msg}, {"max_tokens", 1000000000}}.dump(), 400, "max_tokens"},
      {"unknown role", json{{"messages", {{{"role", "wizard"}, {"content", "hi"}}}}}.dump(), 400,
       "messages[0].role"},
      {"content of a wrong type", json{{"messages", {{{"role", "user"}, {"content", 5}}}}}.dump(), 400,
       "messages[0].content"},
      {"over-long prompt",
       json{{"messages", {{{"role", "user"}, {"content", std::string(5000, 'x')}}}}}.dump(), 400, "messages"},
      {"unknown model", json{{"messages", msg}, {"model", "gpt-9"}}.dump(), 404, "model"},
      {"empty stop string", json{{"messages", msg}, {"stop", {""}}}.dump(), 400, "stop"},
      {"top_logprobs without logprobs", json{{"messages", msg}, {"top_logprobs", 3}}.dump(), 400,
       "top_logprobs"},
      {"a 10 MB body",
       json{{"messages", {{{"role", "user"}, {"content", std::string(10 << 20, 'a')}}}}}.dump(), 413, ""},
  };
  for (const Case& k : cases) {
    auto r = c.Post("/v1/chat/completions", k.body, "application/json");
    ASSERT_TRUE(r) << k.name;
    EXPECT_EQ(r->status, k.status) << k.name << ": " << r->body;
    const json e = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << k.name << ": " << r->body;
    EXPECT_TRUE(e["error"]["message"].is_string() && !e["error"]["message"].get<std::string>().empty())
        << k.name;
    EXPECT_TRUE(e["error"]["type"].is_string()) << k.name;
    if (!k.param.empty()) {
      EXPECT_EQ(e["error"]["param"], k.param) << k.name << ": " << r->body;
    }
  }
  // Completions: a token id outside the vocabulary, a prompt of a wrong type.
  for (const json& b : {json{{"prompt", {1, 2, 999999}}}, json{{"prompt", 5}}}) {
    auto r = c.Post("/v1/completions", b.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["param"], "prompt");
  }
  // No key, a wrong key: 401.
  {
    httplib::Client anon = server.client();
    auto r = anon.Post("/v1/chat/completions", json{{"messages", msg}}.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
    anon.set_bearer_token_auth("wrong");
    r = anon.Get("/v1/models");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  // A request sent one byte at a time: the server closes the connection once --read-timeout (1 s)
  // has passed since its first byte, long before the request is complete (it would take 60 s).
  {
    const std::string body = json{{"messages", msg}}.dump();
    const std::string request =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret\r\n"
        "Content-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    const int fd = connect_to(server.port());
    size_t sent = 0;
    bool closed = false;
    for (; sent < request.size() && !closed; sent++) {
      if (send(fd, request.data() + sent, 1, MSG_NOSIGNAL) != 1) {
        closed = true;
        break;
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 250) > 0) {  // the server answered or closed
        char buf[512];
        (void)recv(fd, buf, sizeof(buf), 0);  // an answer (a 4xx) or the end: either way it stopped reading
        closed = true;
      }
    }
    close(fd);
    EXPECT_TRUE(closed) << "the server let a trickled request through";
    EXPECT_LT(sent, request.size() / 2)
        << "closed only after " << sent << " of " << request.size() << " bytes";
  }
  // Still serving.
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  int status = 0;
  const json ok = post(c, "/v1/chat/completions", {{"messages", msg}, {"max_tokens", 20}}, &status);
  EXPECT_EQ(status, 200) << ok.dump();
  EXPECT_EQ(server.terminate(), 0);
}

// Waits (up to 20 s) until /metrics shows `name` at `value`; the last value seen.
double wait_metric(const ServeProcess& server, const std::string& name, double value) {
  httplib::Client m = server.client();
  double v = -1;
  for (int i = 0; i < 400 && v != value; i++) {
    if (auto r = m.Get("/metrics")) v = metric(r->body, name);
    if (v != value) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return v;
}

TEST(Serve, ADisconnectedStreamIsCancelledAndSigtermFinishesInFlightWork) {
  const r1::testing::ScopedEnv slow("R1_TEST_STEP_DELAY_MS", "2");  // 300 tokens: 0.6 s at least
  ServeProcess server(kZeroBase, {"--shutdown-timeout", "30"});
  ASSERT_GT(server.port(), 0);
  // A stream whose client goes away after a few chunks: its request is cancelled and its blocks freed.
  {
    httplib::Client c = server.client();
    int chunks = 0;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{
        {"prompt", "Compute 1+2+3"},
        {"max_tokens", 600},
        {"stream", true},
        {"n", 2},
        {"ignore_eos",
         true}}.dump();
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    c.send(req);  // ends with the receiver's false: the client closes the connection
  }
  httplib::Client m = server.client();
  std::string text;
  for (int i = 0; i < 200; i++) {  // the cancellation is asynchronous: wait for it (up to 20 s)
    text = m.Get("/metrics")->body;
    if (metric(text, "r1_requests_cancelled_total") >= 1 && metric(text, "r1_kv_blocks_used") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(metric(text, "r1_requests_cancelled_total"), 1) << text;
  EXPECT_EQ(metric(text, "r1_kv_blocks_used"), 0) << text;
  EXPECT_EQ(metric(text, "r1_requests_running"), 0) << text;
  // SIGTERM while a request runs: the request is answered in full, then the server exits 0.
  json answer;
  int status = 0;
  std::thread t([&] {
    httplib::Client c = server.client();
    auto r =
        c.Post("/v1/completions",
               json{{"prompt", "Compute 1+2+3"}, {"max_tokens", 300}, {"n", 4}, {"ignore_eos", true}}.dump(),
               "application/json");
    if (r) status = r->status, answer = json::parse(r->body, nullptr, false);
  });
  ASSERT_EQ(wait_metric(server, "r1_requests_running", 1), 1);
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();
  t.join();
  EXPECT_EQ(status, 200) << answer.dump();
  ASSERT_TRUE(answer.contains("choices"));
  EXPECT_EQ(answer["choices"].size(), 4u);
  EXPECT_EQ(answer["usage"]["completion_tokens"], 4 * 300) << "every sample in full";
  // After the exit nothing listens.
  httplib::Client late = server.client();
  EXPECT_FALSE(late.Get("/health"));
}

TEST(Serve, AFullQueueAnswers429WithRetryAfterAndShutdownCancelsWhatIsLeft) {
  // 700 tokens take 14 s at least: all are cancelled long before.
  const r1::testing::ScopedEnv slow("R1_TEST_STEP_DELAY_MS", "20");
  ServeProcess server(kZeroBase, {"--max-seqs", "1", "--max-queue", "1", "--shutdown-timeout", "0"});
  ASSERT_GT(server.port(), 0);
  const std::string body = json{
      {"prompt", "Compute 1+2+3"},
      {"max_tokens", 700},
      {"ignore_eos", true},
      {"temperature", 1.0}}.dump();
  // A runs (one sequence at most), B waits (the queue holds one), C is refused.
  int status_a = 0, status_b = 0;
  std::string body_a, body_b;
  std::thread a([&] {
    httplib::Client c = server.client();
    if (auto r = c.Post("/v1/completions", body, "application/json")) status_a = r->status, body_a = r->body;
  });
  ASSERT_EQ(wait_metric(server, "r1_requests_running", 1), 1);
  std::thread b([&] {
    httplib::Client c = server.client();
    if (auto r = c.Post("/v1/completions", body, "application/json")) status_b = r->status, body_b = r->body;
  });
  ASSERT_EQ(wait_metric(server, "r1_requests_waiting", 1), 1);
  httplib::Client c = server.client();
  auto r = c.Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "rate_limit_exceeded");
  // SIGTERM with no grace: both are cancelled and answered 503, and the server exits 0 at once.
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();
  a.join();
  b.join();
  EXPECT_EQ(status_a, 503) << body_a;
  EXPECT_EQ(status_b, 503) << body_b;
  EXPECT_NE(body_a.find("shutting down"), std::string::npos) << body_a;
}

TEST(Serve, SixtyFourClientsMixedLoadAnsweredInFullAndNothingLeftOver) {
  ServeProcess server(kZeroBase, {"--max-seqs", "64", "--max-queue", "512"});
  ASSERT_GT(server.port(), 0);
  std::atomic<int> full{0}, cancelled{0}, failed{0};
  std::mutex fail_mu;
  std::string first_failure;
  auto failure = [&](const std::string& what) {
    failed++;
    std::lock_guard lock(fail_mu);
    if (first_failure.size() < 4000) first_failure += what + "\n";
  };
  const int kClients = 64, kPerClient = 5;  // 320 requests
  std::vector<std::thread> clients;
  for (int k = 0; k < kClients; k++)
    clients.emplace_back([&, k] {
      httplib::Client c = server.client();
      std::mt19937 rng(static_cast<uint32_t>(k));
      for (int i = 0; i < kPerClient; i++) {
        const int kind = static_cast<int>((k * kPerClient + i) % 5);
        const int n = kind == 2 ? 3 : 1;
        const int max_tokens = 20 + static_cast<int>(rng() % 60);
        json body{
            {"messages",
             {{{"role", "user"},
               {"content", "Compute " + std::to_string(k % 9 + 1) + "+" + std::to_string(i + 2) + "+7"}}}},
            {"max_tokens", max_tokens},
            {"n", n},
            {"seed", k * 100 + i}};
        if (kind == 0 || kind == 3 || kind == 4) {  // streams; kind 4 is cancelled after 3 chunks
          body["stream"] = true;
          body["stream_options"] = {{"include_usage", true}};
          int chunks = 0;
          bool done = false;
          json usage;
          std::map<int, std::string> finish;
          std::string buf;
          httplib::Request req;
          req.method = "POST";
          req.path = "/v1/chat/completions";
          req.body = body.dump();
          req.content_receiver = [&](const char* d, size_t len, uint64_t, uint64_t) {
            buf.append(d, len);
            size_t at;
            while ((at = buf.find("\n\n")) != std::string::npos) {
              const std::string line = buf.substr(6, at - 6);
              buf.erase(0, at + 2);
              if (line == "[DONE]") {
                done = true;
                continue;
              }
              const json ch = json::parse(line);
              if (ch.contains("usage")) usage = ch["usage"];
              for (const json& choice : ch["choices"])
                if (!choice["finish_reason"].is_null()) finish[choice["index"]] = choice["finish_reason"];
              chunks++;
            }
            return kind != 4 || chunks < 3;
          };
          httplib::Client sc = server.client();  // its own connection: a cancelled one is closed
          auto r = sc.send(req);
          if (kind == 4) {
            cancelled++;
            continue;
          }
          if (!r || r->status != 200 || !done || static_cast<int>(finish.size()) != n || usage.is_null())
            failure("stream " + std::to_string(k) + "/" + std::to_string(i) + ": status " +
                    (r ? std::to_string(r->status) : "none (" + httplib::to_string(r.error()) + ")") +
                    ", done " + std::to_string(done) + ", finished " + std::to_string(finish.size()) +
                    " of " + std::to_string(n) + ", usage " + usage.dump());
          else
            full++;
        } else {
          auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
          const json a = r ? json::parse(r->body, nullptr, false) : json();
          bool ok =
              r && r->status == 200 && a.contains("choices") && static_cast<int>(a["choices"].size()) == n;
          if (ok)
            for (const json& ch : a["choices"])
              ok = ok && ch["finish_reason"].is_string() && ch["message"]["content"].is_string();
          if (ok)
            full++;
          else
            failure("request " + std::to_string(k) + "/" + std::to_string(i) + ": " +
                    (r ? r->body : "no answer"));
        }
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0) << first_failure;
  EXPECT_EQ(full + cancelled, kClients * kPerClient);
  httplib::Client m = server.client();
  std::string text;
  for (int i = 0; i < 200; i++) {  // cancellations land asynchronously
    text = m.Get("/metrics")->body;
    if (metric(text, "r1_kv_blocks_used") == 0 && metric(text, "r1_requests_running") == 0 &&
        metric(text, "r1_requests_in_flight") == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(metric(text, "r1_kv_blocks_used"), 0) << text;
  EXPECT_EQ(metric(text, "r1_requests_running"), 0) << text;
  EXPECT_EQ(metric(text, "r1_requests_waiting"), 0) << text;
  EXPECT_EQ(metric(text, "r1_requests_in_flight"), 0) << text;
  EXPECT_EQ(metric(text, "r1_sequences_running"), 0) << text;
  EXPECT_EQ(metric(text, "r1_requests_cancelled_total"), cancelled.load()) << text;
  EXPECT_EQ(server.terminate(), 0);
  if (failed > 0) ADD_FAILURE() << "server's stderr: " << server.stderr_text();
}

}  // namespace
