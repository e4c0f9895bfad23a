// Load client for r1 serve: N concurrent clients, each sending R streaming completions one after
// another (ignore_eos, so every request makes max_tokens tokens), measuring time to first token
// (from sending the request to the first chunk that carries text) and tokens per second over the
// whole run. Prints one JSON line. bench/bench_serve.sh starts the server and runs this beside
// offline `r1 generate` at the same batch size.
//   bench_serve --port P [--clients N] [--requests R] [--max-tokens M] [--prompt TEXT] [--chat]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8080, clients = 8, requests = 4, max_tokens = 64;
  bool chat = false;
  std::string prompt = "Compute 4+9+7+8";
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_serve: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port")
      port = std::stoi(next());
    else if (a == "--clients")
      clients = std::stoi(next());
    else if (a == "--requests")
      requests = std::stoi(next());
    else if (a == "--max-tokens")
      max_tokens = std::stoi(next());
    else if (a == "--prompt")
      prompt = next();
    else if (a == "--chat")
      chat = true;
    else {
      std::fprintf(stderr, "bench_serve: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::mutex mu;
  std::vector<double> ttft;
  std::atomic<int64_t> tokens{0};
  std::atomic<int> failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; c++)
    threads.emplace_back([&, c] {
      for (int r = 0; r < requests; r++) {
        httplib::Client cli("127.0.0.1", port);
        cli.set_read_timeout(600, 0);
        json body{{"max_tokens", max_tokens}, {"stream", true},
                  {"ignore_eos", true},       {"stream_options", {{"include_usage", true}}},
                  {"temperature", 1.0},       {"seed", c * 1000 + r}};
        if (chat)
          body["messages"] = {{{"role", "user"}, {"content", prompt}}};
        else
          body["prompt"] = prompt;
        httplib::Request req;
        req.method = "POST";
        req.path = chat ? "/v1/chat/completions" : "/v1/completions";
        req.body = body.dump();
        req.set_header("Content-Type", "application/json");
        std::string buf;
        bool first = false;
        int64_t used = 0;
        const auto start = Clock::now();
        req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
          buf.append(d, n);
          size_t at;
          while ((at = buf.find("\n\n")) != std::string::npos) {
            const std::string line = buf.substr(6, at - 6);
            buf.erase(0, at + 2);
            if (line == "[DONE]") continue;
            const json ch = json::parse(line, nullptr, false);
            if (ch.is_discarded()) continue;
            if (ch.contains("usage") && ch["usage"].is_object()) used = ch["usage"]["completion_tokens"];
            if (!first)
              for (const json& choice : ch["choices"]) {
                const bool text =
                    chat ? (choice["delta"].contains("content") && choice["delta"]["content"] != "") ||
                               choice["delta"].contains("reasoning_content")
                         : choice.contains("text") && choice["text"] != "";
                if (text) {
                  first = true;
                  std::lock_guard lock(mu);
                  ttft.push_back(std::chrono::duration<double>(Clock::now() - start).count());
                }
              }
          }
          return true;
        };
        auto res = cli.send(req);
        if (!res || res->status != 200 || used != max_tokens) failed++;
        tokens += used;
      }
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const json out{{"clients", clients},
                 {"requests", clients * requests},
                 {"failed", failed.load()},
                 {"tokens", tokens.load()},
                 {"seconds", secs},
                 {"tok_s", static_cast<double>(tokens.load()) / secs},
                 {"ttft_p50_s", percentile(ttft, 0.5)},
                 {"ttft_p99_s", percentile(ttft, 0.99)}};
  std::printf("%s\n", out.dump().c_str());
  return failed > 0 ? 1 : 0;
}
