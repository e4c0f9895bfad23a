// The OpenAI protocol of r1 serve: requests of /v1/chat/completions and /v1/completions read and
// checked field by field (a bad one is an ApiError naming the field, answered with OpenAI's error
// JSON), and the JSON objects the server answers with.
#pragma once

#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rollout/scheduler.h"

namespace r1::serve {

// An error answered to the client: HTTP status and OpenAI's error object.
struct ApiError : std::exception {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the request field at fault, or ""
  std::string code;   // "model_not_found", "invalid_api_key", ... or ""
  ApiError(int status, std::string message, std::string param = "",
           std::string type = "invalid_request_error", std::string code = "");
  const char* what() const noexcept override { return message.c_str(); }
};

// {"error": {"message", "type", "param", "code"}} (param and code null when empty).
std::string error_body(const ApiError& e);

// What both endpoints share: the sampling fields.
struct SamplingRequest {
  std::string model;                  // "" when the request names none
  RequestParams params;               // sampling, n, seed, top_logprobs (index 0, stops added by the server)
  std::optional<int64_t> max_tokens;  // max_tokens / max_completion_tokens; nullopt: up to the context
  bool has_seed = false;
  std::vector<std::string> stop;  // the client's stop strings: cut from the text returned
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  bool ignore_eos = false;  // vLLM's extension: end-of-sequence tokens do not stop a sample (benchmarks)
};

struct ChatRequest : SamplingRequest {
  nlohmann::ordered_json messages;  // checked: roles system, developer (as system), user, assistant, tool
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs
};

struct CompletionRequest : SamplingRequest {
  std::string prompt;
  std::vector<int32_t> prompt_ids;  // when the prompt was given as token ids
  bool has_ids = false;
};

// Limits the server puts on requests.
struct RequestLimits {
  int max_n = 16;  // samples per request
};

// Parse and check a request body; ApiError (400) on the first bad field.
ChatRequest parse_chat_request(const std::string& body, const RequestLimits& limits);
CompletionRequest parse_completion_request(const std::string& body, const RequestLimits& limits);

// Cuts text at the first of the stop strings, if any; returns whether it did.
bool cut_at_stop(std::string& text, const std::vector<std::string>& stops);
// How many bytes at the end of text could still grow into one of the stops (held back while streaming).
size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops);

}  // namespace r1::serve
