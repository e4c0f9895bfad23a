#include "serve/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "core/error.h"
#include "model/checkpoint.h"
#include "rollout/prompts.h"
#include "rollout/think_split.h"
#include "serve/gen_loop.h"
#include "serve/http.h"
#include "serve/openai.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::serve {

namespace {

using json = nlohmann::ordered_json;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A Prometheus histogram.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double x) {
    std::lock_guard lock(mu_);
    size_t i = 0;
    while (i < bounds_.size() && x > bounds_[i]) i++;
    counts_[i]++;
    sum_ += x;
    count_++;
  }
  void render(std::string& out, const std::string& name, const std::string& help) const {
    std::lock_guard lock(mu_);
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds_.size(); i++) {
      cum += counts_[i];
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cum);
    }
    cum += counts_.back();
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cum, name, sum_, name,
                       count_);
  }

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

// What one sample has produced so far, on its way to the client: the raw text is cut at the
// client's stop strings, then (chat) split into reasoning and answer.
struct SampleOut {
  std::string raw;                     // text received
  size_t released = 0;                 // bytes of raw passed on
  bool cut = false;                    // a client stop string ended it
  std::optional<ThinkSplitter> split;  // chat only
  std::string content, reasoning;      // everything passed on (whole responses)
  json logprobs = json::array();       // entries not yet sent (streams) or all (whole responses)
  int64_t tokens = 0, reasoning_tokens = 0;
  std::string finish_reason;  // set when done
  double last_token_time = 0;
};

struct Piece {
  bool reasoning;
  std::string text;
};

class Service {
 public:
  explicit Service(const ServeOptions& o);
  void install(HttpServer& http);
  void begin_drain() { draining_ = true; }
  int64_t in_flight() const { return in_flight_; }
  GenerationLoop& loop() { return *loop_; }

 private:
  struct Prepared {
    std::vector<int32_t> ids;
    RequestParams params;
    std::vector<std::string> user_stops;
    bool chat = false;
    bool starts_in_think = false;
    bool stream = false, include_usage = false, logprobs = false;
  };

  void check_model(const std::string& model) const;
  void prepare_params(const SamplingRequest& r, Prepared& p) const;
  void chat(const httplib::Request& req, httplib::Response& res);
  void completion(const httplib::Request& req, httplib::Response& res);
  void run(const std::shared_ptr<Prepared>& p, httplib::Response& res, double t_start);
  std::vector<Piece> feed(const Prepared& p, SampleOut& s, const std::string& delta,
                          const std::string* final_text);
  json token_entry(const Prepared& p, const Job::Event& e) const;
  json usage(const Prepared& p, const std::vector<SampleOut>& outs) const;
  std::string metrics_text() const;

  ServeOptions o_;
  Model model_;
  std::unique_ptr<Tokenizer> tok_;
  std::optional<ChatTemplate> tmpl_;
  std::string templ_name_;
  std::vector<std::string> template_stops_;
  std::vector<int32_t> stop_ids_;
  int64_t context_ = 0;
  std::string model_id_;
  std::time_t started_ = 0;
  std::unique_ptr<GenerationLoop> loop_;
  RequestLimits limits_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> next_id_{0};
  uint64_t id_salt_ = 0;

  // Metrics.
  mutable std::mutex metrics_mu_;
  std::map<std::pair<std::string, int>, uint64_t> responses_;  // (path, status)
  std::atomic<uint64_t> cancelled_{0};
  Histogram ttft_{latency_buckets()}, itl_{latency_buckets()}, e2e_{latency_buckets()};
};

Service::Service(const ServeOptions& o) : o_(o), model_(load_model(o.model_path)) {
  tok_ = load_tokenizer(o.model_path);
  templ_name_ = o.templ;
  if (templ_name_ == "auto") {
    try {
      tmpl_ = ChatTemplate::load(o.model_path);
      templ_name_ = "chat";
    } catch (const Error& e) {
      std::fprintf(stderr, "serve: no chat template in %s (%s); chat uses the r1zero template\n",
                   o.model_path.c_str(), e.what());
      templ_name_ = "r1zero";
    }
  }
  if (!tmpl_) {
    tmpl_ = load_prompt_template(templ_name_, o.model_path, false);
    if (!tmpl_) fail("--template: r1 serve needs a chat template (chat, r1zero, distill)");
  }
  template_stops_ = template_stop_strings(templ_name_);
  stop_ids_ = stop_ids_of(model_, tok_.get());
  context_ = model_.config().max_position_embeddings;
  model_id_ = o.model_id.empty() ? o.model_path : o.model_id;
  limits_.max_n = std::min(o.max_n, o.sched.max_seqs);
  started_ = std::time(nullptr);
  id_salt_ = std::random_device{}();
  SchedulerConfig sc = o.sched;
  sc.context = context_;
  loop_ = std::make_unique<GenerationLoop>(model_, tok_.get(), sc);
}

void Service::check_model(const std::string& model) const {
  if (!model.empty() && model != model_id_)
    throw ApiError(404,
                   fmt::format("The model '{}' does not exist (this server serves '{}')", model, model_id_),
                   "model", "invalid_request_error", "model_not_found");
}

void Service::prepare_params(const SamplingRequest& r, Prepared& p) const {
  const int64_t P = static_cast<int64_t>(p.ids.size());
  if (context_ > 0 && P >= context_)
    throw ApiError(
        400,
        fmt::format("The prompt has {} tokens, which fills the model's context of {} tokens", P, context_),
        "messages", "invalid_request_error", "context_length_exceeded");
  // Without max_tokens: to the context, or as far as the KV pool can take n samples (a request
  // is admitted only when its worst case fits, so a default the pool cannot hold would be refused).
  const int64_t B = o_.sched.kv_block_size, pool_tokens = loop_->stats().blocks_total * B;
  const int64_t fits = (pool_tokens - P - B) / std::max(1, r.params.n) - B;
  int64_t max_new = std::max<int64_t>(1, std::min<int64_t>(context_ > 0 ? context_ - P : 4096, fits));
  if (r.max_tokens) {
    if (context_ > 0 && P + *r.max_tokens > context_)
      throw ApiError(
          400,
          fmt::format("max_tokens = {} with a prompt of {} tokens exceeds the model's context of {} "
                      "tokens (at most {})",
                      *r.max_tokens, P, context_, context_ - P),
          "max_tokens", "invalid_request_error", "context_length_exceeded");
    max_new = *r.max_tokens;
  }
  p.params = r.params;
  p.params.max_new_tokens = static_cast<int>(max_new);
  p.params.index = 0;
  if (!r.has_seed) p.params.seed = std::random_device{}() * 0x100000000ull + std::random_device{}();
  if (!r.ignore_eos) p.params.stop_ids = stop_ids_;
  p.params.stop_strings = template_stops_;
  p.params.stop_strings.insert(p.params.stop_strings.end(), r.stop.begin(), r.stop.end());
  if (!p.chat) p.params.stop_strings = r.stop;  // a raw prompt: no template
  p.user_stops = r.stop;
  p.stream = r.stream;
  p.include_usage = r.include_usage;
  p.logprobs = r.logprobs;
}

std::vector<Piece> Service::feed(const Prepared& p, SampleOut& s, const std::string& delta,
                                 const std::string* final_text) {
  std::vector<Piece> out;
  if (s.cut) return out;
  if (final_text)
    s.raw = *final_text;
  else
    s.raw += delta;
  size_t end = s.raw.size();
  const size_t from = s.released;
  std::string tail = s.raw.substr(from);
  if (cut_at_stop(tail, p.user_stops)) {
    s.cut = true;
    end = from + tail.size();
  } else if (!final_text) {
    end -= stop_holdback(s.raw, p.user_stops);
    end = std::max(end, from);
  }
  const std::string text = s.raw.substr(from, end - from);
  s.released = end;
  const bool last = final_text || s.cut;
  if (s.split) {
    for (auto& x : s.split->put(text)) out.push_back({x.reasoning, std::move(x.text)});
    if (last)
      for (auto& x : s.split->finish()) out.push_back({x.reasoning, std::move(x.text)});
  } else if (!text.empty()) {
    out.push_back({false, text});
  }
  for (const Piece& x : out) (x.reasoning ? s.reasoning : s.content) += x.text;
  return out;
}

json Service::token_entry(const Prepared& p, const Job::Event& e) const {
  auto bytes_of = [](const std::string& t) {
    json b = json::array();
    for (const unsigned char c : t) b.push_back(static_cast<int>(c));
    return b;
  };
  const std::string text = tok_->decode(std::vector<int32_t>{e.token});
  json entry;
  if (p.chat) {
    entry = {{"token", text}, {"logprob", e.logprob}, {"bytes", bytes_of(text)}};
    json top = json::array();
    for (const TokenLogprob& t : e.top) {
      const std::string tt = tok_->decode(std::vector<int32_t>{t.token});
      top.push_back({{"token", tt}, {"logprob", t.logprob}, {"bytes", bytes_of(tt)}});
    }
    entry["top_logprobs"] = top;
  } else {
    json top = json::object();
    for (const TokenLogprob& t : e.top) top[tok_->decode(std::vector<int32_t>{t.token})] = t.logprob;
    entry = {{"token", text}, {"logprob", e.logprob}, {"top", top}};
  }
  return entry;
}

json Service::usage(const Prepared& p, const std::vector<SampleOut>& outs) const {
  int64_t completion = 0, reasoning = 0;
  for (const SampleOut& s : outs) completion += s.tokens, reasoning += s.reasoning_tokens;
  const int64_t prompt = static_cast<int64_t>(p.ids.size());
  json u{{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
  if (p.chat) u["completion_tokens_details"] = {{"reasoning_tokens", reasoning}};
  return u;
}

// Legacy completions logprobs from the chat-style entries.
json legacy_logprobs(const json& entries, size_t text_offset) {
  json l{{"tokens", json::array()},
         {"token_logprobs", json::array()},
         {"top_logprobs", json::array()},
         {"text_offset", json::array()}};
  size_t off = text_offset;
  for (const json& e : entries) {
    l["tokens"].push_back(e["token"]);
    l["token_logprobs"].push_back(e["logprob"]);
    l["top_logprobs"].push_back(e["top"]);
    l["text_offset"].push_back(off);
    off += e["token"].get<std::string>().size();
  }
  return l;
}

void Service::run(const std::shared_ptr<Prepared>& p, httplib::Response& res, double t_start) {
  if (loop_->stats().waiting >= o_.max_queue) {
    res.set_header("Retry-After", "1");
    throw ApiError(429, fmt::format("The server is busy ({} requests waiting); retry later", o_.max_queue),
                   "", "rate_limit_exceeded", "rate_limit_exceeded");
  }
  try {
    loop_->check(p->ids, p->params);
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  const std::string id =
      fmt::format("{}-{:016x}{:08x}", p->chat ? "chatcmpl" : "cmpl", id_salt_, next_id_.fetch_add(1) + 1);
  const std::time_t created = std::time(nullptr);
  const int n = p->params.n;
  auto outs = std::make_shared<std::vector<SampleOut>>(static_cast<size_t>(n));
  for (SampleOut& s : *outs)
    if (p->chat) s.split.emplace(p->starts_in_think);
  std::shared_ptr<Job> job = loop_->submit(p->ids, p->params);
  in_flight_++;
  auto first_token = std::make_shared<bool>(false);

  // Applies a batch of events to the samples; calls emit(sample, pieces, logprob entries, finish)
  // for each sample that changed.
  auto apply = [this, p, outs, first_token, t_start](
                   std::vector<Job::Event>& events,
                   const std::function<void(int64_t, std::vector<Piece>&, json&, const std::string&)>& emit) {
    const double now = now_seconds();
    std::map<int64_t, std::pair<std::vector<Piece>, json>> changed;
    std::map<int64_t, std::string> finished;
    for (Job::Event& e : events) {
      SampleOut& s = (*outs)[static_cast<size_t>(e.sample)];
      auto& [pieces, entries] = changed[e.sample];
      if (entries.is_null()) entries = json::array();
      if (e.kind == Job::Event::kToken) {
        if (!*first_token) {
          *first_token = true;
          ttft_.observe(now - t_start);
        }
        if (s.last_token_time > 0) itl_.observe(now - s.last_token_time);
        s.last_token_time = now;
        if (s.cut) continue;
        s.tokens++;
        const bool before = s.split && s.split->in_think();
        std::vector<Piece> got = feed(*p, s, e.text, nullptr);
        if (before || (s.split && s.split->in_think())) s.reasoning_tokens++;
        for (Piece& x : got) pieces.push_back(std::move(x));
        if (p->logprobs) entries.push_back(token_entry(*p, e));
      } else {
        std::vector<Piece> got = feed(*p, s, "", &e.completion->text);
        for (Piece& x : got) pieces.push_back(std::move(x));
        s.finish_reason = s.cut ? "stop" : e.completion->finish_reason;
        finished[e.sample] = s.finish_reason;
      }
    }
    for (auto& [sample, pe] : changed)
      emit(sample, pe.first, pe.second, finished.count(sample) ? finished[sample] : "");
  };

  // Once per request, however it ends: the duration, and the in-flight count.
  auto closed = std::make_shared<std::atomic<bool>>(false);
  auto finish_metrics = [this, t_start, closed]() {
    if (closed->exchange(true)) return;
    e2e_.observe(now_seconds() - t_start);
    in_flight_--;
  };

  if (!p->stream) {
    bool ended = false;
    while (!ended) {
      std::vector<Job::Event> events = job->wait(0.1, ended);
      apply(events, [&](int64_t sample, std::vector<Piece>&, json& entries, const std::string&) {
        SampleOut& s = (*outs)[static_cast<size_t>(sample)];
        for (json& e : entries) s.logprobs.push_back(std::move(e));
      });
      if (ended) break;
      if (HttpServer::client_gone()) {
        loop_->cancel(job);
        cancelled_++;
        finish_metrics();
        res.status = 499;  // nginx's "client closed request": nobody reads it
        return;
      }
      if (now_seconds() - t_start > o_.request_seconds) {
        loop_->cancel(job);
        cancelled_++;
        finish_metrics();
        throw ApiError(
            503, fmt::format("The request took longer than the server's limit of {} s", o_.request_seconds),
            "", "server_error", "timeout");
      }
    }
    finish_metrics();
    if (const std::string err = job->error(); !err.empty())
      throw ApiError(draining_ ? 503 : 500, err, "", "server_error");
    json choices = json::array();
    for (int i = 0; i < n; i++) {
      SampleOut& s = (*outs)[static_cast<size_t>(i)];
      json c;
      c["index"] = i;
      if (p->chat) {
        c["message"] = {{"role", "assistant"},
                        {"content", s.content},
                        {"reasoning_content",
                         s.reasoning.empty() && !p->starts_in_think ? json(nullptr) : json(s.reasoning)}};
        c["logprobs"] = p->logprobs ? json{{"content", s.logprobs}} : json(nullptr);
      } else {
        c["text"] = s.content;
        c["logprobs"] = p->logprobs ? legacy_logprobs(s.logprobs, 0) : json(nullptr);
      }
      c["finish_reason"] = s.finish_reason;
      choices.push_back(std::move(c));
    }
    json body{{"id", id},           {"object", p->chat ? "chat.completion" : "text_completion"},
              {"created", created}, {"model", model_id_},
              {"choices", choices}, {"usage", usage(*p, *outs)}};
    res.set_content(dump(body), "application/json");
    return;
  }

  // A stream of server-sent events: the role first, then deltas as tokens come, a last chunk per
  // choice with its finish_reason, usage when asked, and [DONE].
  auto started = std::make_shared<bool>(false);
  auto text_offsets = std::make_shared<std::vector<size_t>>(static_cast<size_t>(n), 0);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [this, p, outs, job, id, created, started, apply,
                                                         finish_metrics, text_offsets, t_start,
                                                         n](size_t, httplib::DataSink& sink) {
    auto chunk = [&](json choices, const json* usage_obj = nullptr) {
      json c{{"id", id},
             {"object", p->chat ? "chat.completion.chunk" : "text_completion"},
             {"created", created},
             {"model", model_id_},
             {"choices", std::move(choices)}};
      if (usage_obj) c["usage"] = *usage_obj;
      const std::string line = "data: " + dump(c) + "\n\n";
      return sink.write(line.data(), line.size());
    };
    auto give_up = [&] {
      if (!job->finished()) {
        loop_->cancel(job);
        cancelled_++;
      }
      finish_metrics();
      return false;
    };
    if (!*started) {
      *started = true;
      if (p->chat) {
        json choices = json::array();
        for (int i = 0; i < n; i++)
          choices.push_back({{"index", i},
                             {"delta", {{"role", "assistant"}, {"content", ""}}},
                             {"logprobs", nullptr},
                             {"finish_reason", nullptr}});
        if (!chunk(choices)) return give_up();
      }
      return true;
    }
    bool ended = false;
    std::vector<Job::Event> events = job->wait(0.1, ended);
    bool ok = true;
    apply(events, [&](int64_t sample, std::vector<Piece>& pieces, json& entries, const std::string& finish) {
      auto one = [&](json delta_or_text, const json& lp, const std::string& fr) {
        json c{{"index", sample}};
        if (p->chat)
          c["delta"] = std::move(delta_or_text);
        else
          c["text"] = std::move(delta_or_text);
        c["logprobs"] = lp;
        c["finish_reason"] = fr.empty() ? json(nullptr) : json(fr);
        ok = ok && chunk(json::array({c}));
      };
      json lp = nullptr;
      if (p->logprobs && !entries.empty()) {
        if (p->chat) {
          lp = json{{"content", entries}};
        } else {
          size_t& off = (*text_offsets)[static_cast<size_t>(sample)];
          lp = legacy_logprobs(entries, off);
        }
      }
      for (size_t k = 0; k < pieces.size(); k++) {
        const bool last = k + 1 == pieces.size();
        json d = p->chat ? json{{pieces[k].reasoning ? "reasoning_content" : "content", pieces[k].text}}
                         : json(pieces[k].text);
        if (!p->chat) (*text_offsets)[static_cast<size_t>(sample)] += pieces[k].text.size();
        one(std::move(d), last ? lp : json(nullptr), "");
        if (last) lp = nullptr;
      }
      if (!lp.is_null()) one(p->chat ? json::object() : json(""), lp, "");
      if (!finish.empty()) one(p->chat ? json::object() : json(""), nullptr, finish);
    });
    if (!ok || HttpServer::client_gone()) return give_up();
    if (!ended && now_seconds() - t_start > o_.request_seconds) {
      const std::string e = "data: " +
                            error_body(ApiError(503, "the request took longer than the server's limit", "",
                                                "server_error", "timeout")) +
                            "\n\n";
      sink.write(e.data(), e.size());
      give_up();
      sink.done();
      return true;
    }
    if (!ended) return true;
    finish_metrics();
    if (const std::string err = job->error(); !err.empty()) {
      const std::string e =
          "data: " + error_body(ApiError(draining_ ? 503 : 500, err, "", "server_error")) + "\n\n";
      sink.write(e.data(), e.size());
    } else if (p->include_usage) {
      const json u = usage(*p, *outs);
      if (!chunk(json::array(), &u)) return false;
    }
    const std::string done = "data: [DONE]\n\n";
    sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

void Service::chat(const httplib::Request& req, httplib::Response& res) {
  const double t0 = now_seconds();
  ChatRequest r = parse_chat_request(req.body, limits_);
  check_model(r.model);
  auto p = std::make_shared<Prepared>();
  p->chat = true;
  ChatOptions opt;
  opt.add_generation_prompt = true;
  for (auto& [k, v] : r.template_kwargs.items()) opt.extra[k] = v;
  std::string text;
  try {
    text = tmpl_->render(r.messages, opt);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("messages: the chat template refused them: {}", e.what()), "messages");
  }
  p->starts_in_think = ThinkSplitter::starts_in_think(text);
  p->ids = encode_with_bos(*tok_, text);
  prepare_params(r, *p);
  run(p, res, t0);
}

void Service::completion(const httplib::Request& req, httplib::Response& res) {
  const double t0 = now_seconds();
  CompletionRequest r = parse_completion_request(req.body, limits_);
  check_model(r.model);
  auto p = std::make_shared<Prepared>();
  p->chat = false;
  if (r.has_ids) {
    for (const int32_t t : r.prompt_ids)
      if (t >= model_.config().vocab_size)
        throw ApiError(400,
                       fmt::format("prompt: token id {} is outside the vocabulary (size {})", t,
                                   model_.config().vocab_size),
                       "prompt");
    p->ids = r.prompt_ids;
  } else {
    if (r.prompt.empty()) throw ApiError(400, "prompt: is empty", "prompt");
    p->ids = encode_with_bos(*tok_, r.prompt);
  }
  prepare_params(r, *p);
  run(p, res, t0);
}

std::string Service::metrics_text() const {
  std::string out;
  const LoopStats& s = loop_->stats();
  auto gauge = [&](const char* name, const char* help, double v, const char* type = "gauge") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  {
    std::lock_guard lock(metrics_mu_);
    out +=
        "# HELP r1_requests_total HTTP requests answered, by path and status.\n# TYPE r1_requests_total "
        "counter\n";
    for (const auto& [key, count] : responses_)
      out += fmt::format("r1_requests_total{{path=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
  }
  gauge("r1_requests_cancelled_total", "Requests cancelled (client gone, time limit).",
        static_cast<double>(cancelled_.load()), "counter");
  gauge("r1_prompt_tokens_total", "Prompt tokens prefilled.", static_cast<double>(s.prompt_tokens.load()),
        "counter");
  gauge("r1_generation_tokens_total", "Tokens generated.", static_cast<double>(s.generated_tokens.load()),
        "counter");
  gauge("r1_requests_waiting", "Requests waiting for admission (the queue).",
        static_cast<double>(s.waiting.load()));
  gauge("r1_requests_running", "Requests admitted and not finished.", static_cast<double>(s.running.load()));
  gauge("r1_requests_in_flight", "Generation requests being answered (HTTP).",
        static_cast<double>(in_flight_.load()));
  gauge("r1_sequences_running", "Samples being decoded.", static_cast<double>(s.live_samples.load()));
  gauge("r1_kv_blocks_used", "KV-cache blocks in use.", static_cast<double>(s.blocks_in_use.load()));
  gauge("r1_kv_blocks_total", "KV-cache blocks in the pool.", static_cast<double>(s.blocks_total.load()));
  gauge("r1_forward_passes_total", "Forward passes of the batch.", static_cast<double>(s.steps.load()),
        "counter");
  ttft_.render(out, "r1_time_to_first_token_seconds", "Time from a request's arrival to its first token.");
  itl_.render(out, "r1_inter_token_latency_seconds", "Time between consecutive tokens of a sample.");
  e2e_.render(out, "r1_request_duration_seconds", "Time from a request's arrival to its last token.");
  return out;
}

void Service::install(HttpServer& http) {
  http.set_payload_max_length(std::max<size_t>(o_.max_body_bytes, 32u << 20));
  http.set_read_timeout(static_cast<time_t>(std::max(1.0, o_.request_read_seconds)));
  http.set_write_timeout(30);
  http.set_keep_alive_max_count(1000);
  auto json_error = [](httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(error_body(e), "application/json");
  };
  // Every /v1 route: the body limit, the key, and no new work while shutting down (checked after
  // the body is read, so that a refused request leaves no unread bytes on a kept-alive connection).
  auto guarded = [this, json_error](auto fn) {
    return [this, fn, json_error](const httplib::Request& req, httplib::Response& res) {
      try {
        if (req.body.size() > o_.max_body_bytes)
          throw ApiError(413, fmt::format("request body: {} bytes is more than the server's limit of {}",
                                          req.body.size(), o_.max_body_bytes));
        if (!o_.api_key.empty() && req.get_header_value("Authorization") != "Bearer " + o_.api_key)
          throw ApiError(401,
                         req.has_header("Authorization") ? "Incorrect API key provided"
                                                         : "Missing API key (Authorization: Bearer KEY)",
                         "", "invalid_request_error", "invalid_api_key");
        if (draining_ && req.method == "POST")
          throw ApiError(503, "The server is shutting down", "", "server_error", "shutting_down");
        fn(req, res);
      } catch (const ApiError& e) {
        json_error(res, e);
      } catch (const std::exception& e) {
        json_error(res, ApiError(500, e.what(), "", "server_error"));
      }
    };
  };
  http.Post("/v1/chat/completions", guarded([this](const auto& req, auto& res) { chat(req, res); }));
  http.Post("/v1/completions", guarded([this](const auto& req, auto& res) { completion(req, res); }));
  http.Get("/v1/models", guarded([this](const auto&, auto& res) {
             json m{{"id", model_id_},
                    {"object", "model"},
                    {"created", started_},
                    {"owned_by", "r1.cpp"},
                    {"max_model_len", context_}};
             res.set_content(dump(json{{"object", "list"}, {"data", json::array({m})}}), "application/json");
           }));
  http.Get("/health",
           [](const auto&, auto& res) { res.set_content("{\"status\":\"ok\"}", "application/json"); });
  http.Get("/metrics",
           [this](const auto&, auto& res) { res.set_content(metrics_text(), "text/plain; version=0.0.4"); });
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([json_error](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string msg;
        switch (res.status) {
          case 404:
            msg = fmt::format("No route for {} {}", req.method, req.path);
            break;
          case 405:
            msg = fmt::format("Method {} is not allowed on {}", req.method, req.path);
            break;
          case 413:
            msg = "Request body too large";
            break;
          default:
            msg = fmt::format("HTTP {}", res.status);
        }
        json_error(
            res, ApiError(res.status, msg, "", res.status >= 500 ? "server_error" : "invalid_request_error"));
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [json_error](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string msg = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          msg = e.what();
        } catch (...) {
        }
        json_error(res, ApiError(500, msg, "", "server_error"));
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    std::lock_guard lock(metrics_mu_);
    const bool known = req.path == "/v1/chat/completions" || req.path == "/v1/completions" ||
                       req.path == "/v1/models" || req.path == "/health" || req.path == "/metrics";
    responses_[{known ? req.path : "other", res.status}]++;
  });
}

}  // namespace

int run_server(const ServeOptions& options, const std::function<bool()>& stop_requested,
               const std::function<void(int port)>& on_listening) {
  // The port first: a port in use is refused before a large model is loaded. Connections made
  // while it loads wait in the backlog.
  const int threads =
      options.http_threads > 0 ? options.http_threads : options.sched.max_seqs + options.max_queue + 16;
  HttpServer http(options.request_read_seconds, options.idle_seconds, std::min(threads, 1024));
  int port = options.port;
  if (port == 0) {
    port = http.bind_to_any_port(options.host);
    if (port < 0) fail("serve: cannot listen on {} (any port)", options.host);
  } else if (!http.bind_to_port(options.host, port)) {
    fail("serve: cannot listen on {}:{} (in use, or not an address of this machine)", options.host, port);
  }
  if (!http.set_backlog(1024))
    fail("serve: cannot set the listening socket's backlog: {}", std::strerror(errno));
  Service service(options);
  service.install(http);
  std::thread listener([&] { http.listen_after_bind(); });
  on_listening(port);
  while (!stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Stop accepting work, let what is in flight finish, then cancel the rest.
  service.begin_drain();
  http.begin_stop();
  const double until = now_seconds() + options.shutdown_seconds;
  while (service.in_flight() > 0 && now_seconds() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int64_t cut = service.in_flight();
  service.loop().cancel_all();
  const double until2 = now_seconds() + 5;
  while (service.in_flight() > 0 && now_seconds() < until2)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  http.stop();
  listener.join();
  std::fprintf(stderr, "serve: stopped (%lld request(s) cancelled at shutdown)\n",
               static_cast<long long>(cut));
  return 0;
}

}  // namespace r1::serve
