#include "serve/openai.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/json.h"

namespace r1::serve {

using json = nlohmann::ordered_json;

ApiError::ApiError(int status_, std::string message_, std::string param_, std::string type_,
                   std::string code_)
    : status(status_),
      message(std::move(message_)),
      type(std::move(type_)),
      param(std::move(param_)),
      code(std::move(code_)) {}

std::string error_body(const ApiError& e) {
  json err;
  err["message"] = e.message;
  err["type"] = e.type;
  err["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  err["code"] = e.code.empty() ? json(nullptr) : json(e.code);
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

[[noreturn]] void bad(const std::string& param, const std::string& what) {
  throw ApiError(400, fmt::format("{}: {}", param, what), param);
}

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

double number(const json& body, const char* name, double def, double lo, double hi, bool lo_open = false) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_number()) bad(name, fmt::format("expected a number, got {}", type_name(*v)));
  const double x = v->get<double>();
  if (!(lo_open ? x > lo : x >= lo) || x > hi)
    bad(name, fmt::format("must be in {}{}, {}], got {}", lo_open ? "(" : "[", lo, hi, v->dump()));
  return x;
}

int64_t integer(const json& body, const char* name, int64_t def, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
                                   std::abs(v->get<double>()) < 9e15))
    bad(name, fmt::format("expected an integer, got {}", v->is_number() ? v->dump() : type_name(*v)));
  const double x = v->get<double>();
  if (x < static_cast<double>(lo) || x > static_cast<double>(hi))
    bad(name, fmt::format("must be in [{}, {}], got {}", lo, hi, v->dump()));
  return v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>();
}

bool boolean(const json& body, const char* name, bool def) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_boolean()) bad(name, fmt::format("expected a boolean, got {}", type_name(*v)));
  return v->get<bool>();
}

json parse_body(const std::string& body) {
  json j;
  try {
    j = parse_json<json>(body, "request body");
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  if (!j.is_object())
    throw ApiError(400, fmt::format("request body: expected a JSON object, got {}", type_name(j)));
  return j;
}

void parse_sampling(const json& b, SamplingRequest& r, const RequestLimits& limits, bool chat) {
  if (const json* m = field(b, "model")) {
    if (!m->is_string()) bad("model", fmt::format("expected a string, got {}", type_name(*m)));
    r.model = m->get<std::string>();
  }
  SamplingParams& s = r.params.sampling;
  s.temperature = static_cast<float>(number(b, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(number(b, "top_p", 1.0, 0.0, 1.0, true));
  const int64_t top_k = integer(b, "top_k", 0, -1, std::numeric_limits<int32_t>::max());
  s.top_k = top_k < 0 ? 0 : static_cast<int>(top_k);
  s.min_p = static_cast<float>(number(b, "min_p", 0.0, 0.0, 0.999999));
  for (const char* name : {"frequency_penalty", "presence_penalty"})
    if (number(b, name, 0.0, -2.0, 2.0) != 0.0) bad(name, "is not supported by r1 serve (only 0)");
  if (const json* rp = field(b, "repetition_penalty"); rp && (!rp->is_number() || rp->get<double>() != 1.0))
    bad("repetition_penalty", "is not supported by r1 serve (only 1)");
  if (field(b, "tools") || field(b, "functions")) bad("tools", "tool calling is not supported by r1 serve");
  if (const json* rf = field(b, "response_format")) {
    if (!rf->is_object() || !rf->contains("type") || (*rf)["type"] != "text")
      bad("response_format", "only {\"type\": \"text\"} is supported");
  }
  r.params.n = static_cast<int>(integer(b, "n", 1, 1, limits.max_n));
  const char* max_name = field(b, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (field(b, max_name)) r.max_tokens = integer(b, max_name, 0, 1, std::numeric_limits<int32_t>::max());
  if (field(b, "seed")) {
    r.params.seed = static_cast<uint64_t>(
        integer(b, "seed", 0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
    r.has_seed = true;
  }
  if (const json* st = field(b, "stop")) {
    if (st->is_string()) {
      r.stop.push_back(st->get<std::string>());
    } else if (st->is_array()) {
      if (st->size() > 16) bad("stop", fmt::format("at most 16 stop strings, got {}", st->size()));
      for (const json& x : *st) {
        if (!x.is_string()) bad("stop", fmt::format("expected strings, got {}", type_name(x)));
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      bad("stop", fmt::format("expected a string or an array of strings, got {}", type_name(*st)));
    }
    for (const std::string& x : r.stop)
      if (x.empty()) bad("stop", "a stop string is empty");
  }
  r.stream = boolean(b, "stream", false);
  r.ignore_eos = boolean(b, "ignore_eos", false);
  if (const json* so = field(b, "stream_options")) {
    if (!so->is_object()) bad("stream_options", fmt::format("expected an object, got {}", type_name(*so)));
    r.include_usage = boolean(*so, "include_usage", false);
  }
  if (chat) {
    r.logprobs = boolean(b, "logprobs", false);
    r.params.top_logprobs = static_cast<int>(integer(b, "top_logprobs", 0, 0, 20));
    if (r.params.top_logprobs > 0 && !r.logprobs) bad("top_logprobs", "needs logprobs: true");
  } else {
    // The legacy completions API: logprobs is the number of most likely tokens to return (0-5).
    if (field(b, "logprobs")) {
      r.params.top_logprobs = static_cast<int>(integer(b, "logprobs", 0, 0, 5));
      r.logprobs = true;
    }
    if (boolean(b, "echo", false)) bad("echo", "is not supported by r1 serve");
    if (field(b, "suffix")) bad("suffix", "is not supported by r1 serve");
    if (field(b, "best_of") && integer(b, "best_of", 1, 1, 1) != 1) bad("best_of", "only 1 is supported");
  }
}

std::string message_content(const json& m, size_t i, const std::string& role) {
  const std::string where = fmt::format("messages[{}].content", i);
  auto c = m.find("content");
  if (c == m.end() || c->is_null()) {
    if (role == "assistant" && m.contains("tool_calls")) return "";
    bad(where, "missing");
  }
  if (c->is_string()) return c->get<std::string>();
  if (c->is_array()) {  // content parts: text only
    std::string text;
    for (size_t k = 0; k < c->size(); k++) {
      const json& part = (*c)[k];
      const std::string pw = fmt::format("{}[{}]", where, k);
      if (!part.is_object()) bad(pw, fmt::format("expected an object, got {}", type_name(part)));
      auto type = part.find("type");
      if (type == part.end() || !type->is_string()) bad(pw + ".type", "missing");
      if (*type != "text")
        bad(pw + ".type", fmt::format("only text parts are supported, got {}", type->dump()));
      auto t = part.find("text");
      if (t == part.end() || !t->is_string()) bad(pw + ".text", "expected a string");
      text += t->get<std::string>();
    }
    return text;
  }
  bad(where, fmt::format("expected a string or an array of text parts, got {}", type_name(*c)));
}

}  // namespace

ChatRequest parse_chat_request(const std::string& body, const RequestLimits& limits) {
  const json b = parse_body(body);
  ChatRequest r;
  const json* msgs = field(b, "messages");
  if (!msgs) bad("messages", "missing");
  if (!msgs->is_array()) bad("messages", fmt::format("expected an array, got {}", type_name(*msgs)));
  if (msgs->empty()) bad("messages", "is empty");
  r.messages = json::array();
  for (size_t i = 0; i < msgs->size(); i++) {
    const json& m = (*msgs)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad(where, fmt::format("expected an object, got {}", type_name(m)));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad(where + ".role", "missing (a string)");
    std::string rs = role->get<std::string>();
    if (rs == "developer") rs = "system";
    if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool")
      bad(where + ".role",
          fmt::format("unknown role {} (system, developer, user, assistant, tool)", role->dump()));
    json out{{"role", rs}, {"content", message_content(m, i, rs)}};
    if (auto rc = m.find("reasoning_content"); rc != m.end() && rc->is_string())
      out["reasoning_content"] = *rc;
    r.messages.push_back(std::move(out));
  }
  if (const json* kw = field(b, "chat_template_kwargs")) {
    if (!kw->is_object())
      bad("chat_template_kwargs", fmt::format("expected an object, got {}", type_name(*kw)));
    r.template_kwargs = *kw;
  }
  parse_sampling(b, r, limits, true);
  return r;
}

CompletionRequest parse_completion_request(const std::string& body, const RequestLimits& limits) {
  const json b = parse_body(body);
  CompletionRequest r;
  const json* p = field(b, "prompt");
  if (!p) bad("prompt", "missing");
  const json* one = p;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) one = &(*p)[0];
  if (one->is_string()) {
    r.prompt = one->get<std::string>();
  } else if (one->is_array() && !one->empty() && (*one)[0].is_number()) {
    for (const json& x : *one) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 ||
          x.get<int64_t>() > std::numeric_limits<int32_t>::max())
        bad("prompt", "token ids must be non-negative integers");
      r.prompt_ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
    }
    r.has_ids = true;
  } else if (one->is_array()) {
    bad("prompt", "one prompt per request (a string, or an array of token ids)");
  } else {
    bad("prompt", fmt::format("expected a string or an array of token ids, got {}", type_name(*one)));
  }
  parse_sampling(b, r, limits, false);
  return r;
}

bool cut_at_stop(std::string& text, const std::vector<std::string>& stops) {
  size_t best = std::string::npos;
  for (const std::string& s : stops) best = std::min(best, text.find(s));
  if (best == std::string::npos) return false;
  text.resize(best);
  return true;
}

size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; k--)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return hold;
}

}  // namespace r1::serve
