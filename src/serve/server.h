// r1 serve: an OpenAI-compatible HTTP server over the generation scheduler.
//
//   POST /v1/chat/completions   messages through the model's chat template (or a built-in); the
//                               <think> part returned as reasoning_content beside content, in
//                               whole responses and as separate deltas in streams (SSE)
//   POST /v1/completions        a raw prompt (text or token ids)
//   GET  /v1/models, /health, /metrics (Prometheus text)
//
// One generation thread steps the scheduler (rollout/scheduler.h) with every live request in one
// batch; handler threads parse, check and submit requests and write their answers as tokens come.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "rollout/scheduler.h"

namespace r1::serve {

struct ServeOptions {
  std::string model_path;
  std::string model_id;  // the name in /v1/models and responses; "" = --model as given (as vLLM names it)
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (the one chosen is passed to on_listening)
  std::string api_key;  // "" = no key needed
  // Chat template: "auto" (the model's own, else r1zero, the template r1 zero trains with),
  // "chat" (the model's own), "r1zero", "distill".
  std::string templ = "auto";
  SchedulerConfig sched;
  int max_queue = 64;                // requests waiting for admission at most; more get 429
  int max_n = 16;                    // samples per request at most
  size_t max_body_bytes = 1 << 20;   // larger bodies get 413
  double request_read_seconds = 10;  // a whole request must arrive within this (else the connection closes)
  double request_seconds = 600;      // a request's generation at most (then it is cancelled: 503)
  double idle_seconds = 5;           // keep-alive connections wait this long for the next request
  double shutdown_seconds = 10;      // SIGTERM: in-flight requests finish within this, else are cancelled
  int http_threads = 0;              // connections served at once; 0: max_seqs + max_queue + 16
};

// Loads the model, serves until stop_requested() returns true (polled every 0.1 s), then stops
// accepting, lets in-flight requests finish for up to shutdown_seconds, cancels the rest and
// returns 0. on_listening(port) is called once the socket listens. Errors before serving (a bad
// model, a port in use) are r1::Error.
int run_server(const ServeOptions& options, const std::function<bool()>& stop_requested,
               const std::function<void(int port)>& on_listening);

}  // namespace r1::serve
