// r1 serve: the OpenAI-compatible server (serve/server.h does the work).
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/stop_signals.h"
#include "serve/server.h"

namespace r1::cli {

namespace {

struct ServeArgs {
  serve::ServeOptions o;
  double kv_budget_mb = 1024;
  double max_body_mb = 1;
  std::string dtype = "f32";
};

int run_serve(ServeArgs& a) {
  serve::ServeOptions o = a.o;
  o.sched.kv_budget_bytes = static_cast<size_t>(a.kv_budget_mb * 1048576.0);
  o.sched.compute = a.dtype == "bf16" ? DType::BF16 : DType::F32;
  o.max_body_bytes = static_cast<size_t>(a.max_body_mb * 1048576.0);
  if (o.api_key.empty())
    if (const char* k = std::getenv("R1_API_KEY")) o.api_key = k;
  // SIGINT/SIGTERM: stop accepting, finish or cancel what is in flight, exit 0.
  const StopSignals signals;
  return serve::run_server(
      o, [&] { return signals.raised(); },
      [&](int port) {
        std::fprintf(stderr, "serve: listening on http://%s:%d (model %s)\n", o.host.c_str(), port,
                     o.model_path.c_str());
        std::fflush(stderr);
      });
}

}  // namespace

void add_serve_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "OpenAI-compatible HTTP server (chat completions with reasoning_content, completions, metrics)");
  serve::ServeOptions& o = a->o;
  cmd->add_option("--model", o.model_path, "Hugging Face model directory or .gguf file")->required();
  cmd->add_option("--host", o.host, "address to listen on (127.0.0.1)");
  cmd->add_option("--port", o.port, "port (8080; 0 = any free port)")->check(in_range(0, 65535));
  cmd->add_option("--api-key", o.api_key,
                  "clients must send 'Authorization: Bearer KEY' (default: $R1_API_KEY, else no key)");
  cmd->add_option("--served-model-name", o.model_id, "the model's name in the API (--model as given)");
  cmd->add_option("--template", o.templ,
                  "chat template: auto (the model's own, else r1zero), chat, r1zero, distill (auto)")
      ->check(CLI::IsMember({"auto", "chat", "r1zero", "distill"}));
  cmd->add_option("--max-seqs", o.sched.max_seqs, "sequences decoded together at most (256)")
      ->check(in_range(1, 1 << 16));
  cmd->add_option("--kv-budget-mb", a->kv_budget_mb, "KV-cache memory in MiB (1024)")
      ->check(in_range(0.001, 1e7));
  cmd->add_option("--dtype", a->dtype, "matrix products in f32 or bf16 (f32)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  cmd->add_option("--max-queue", o.max_queue, "requests waiting for admission at most; more get 429 (64)")
      ->check(in_range(1, 1 << 20));
  cmd->add_option("--max-n", o.max_n, "samples per request at most (16)")->check(in_range(1, 1 << 16));
  cmd->add_option("--max-body-mb", a->max_body_mb, "request bodies larger than this get 413 (1)")
      ->check(in_range(0.001, 32));
  cmd->add_option("--read-timeout", o.request_read_seconds,
                  "seconds a whole request may take to arrive; slower connections are closed (10)")
      ->check(in_range(0.1, 3600));
  cmd->add_option("--request-timeout", o.request_seconds,
                  "seconds a request's generation may take; then it is cancelled with 503 (600)")
      ->check(in_range(0.1, 1e6));
  cmd->add_option("--shutdown-timeout", o.shutdown_seconds,
                  "on SIGTERM, seconds in-flight requests may take to finish before they are cancelled (10)")
      ->check(in_range(0, 3600));
  out.push_back({cmd, [a] { return run_serve(*a); }});
}

}  // namespace r1::cli
