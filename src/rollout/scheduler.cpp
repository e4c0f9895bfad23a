#include "rollout/scheduler.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <span>

#include "core/error.h"
#include "model/infer.h"
#include "model/kv_cache.h"
#include "model/memory.h"

namespace r1 {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// What a prompt of P tokens reserves in a pool of B-token blocks: its samples' new tokens at
// most (max_new_tokens, or fewer at the context), its own blocks, and each sample's.
struct PromptNeeds {
  int64_t max_new, shared_blocks, per_sample_blocks;
  int64_t total(int n) const { return shared_blocks + n * per_sample_blocks; }
};

PromptNeeds needs_of(int64_t context, int max_new_tokens, int64_t P, int64_t B) {
  const int64_t max_new = context > 0 ? std::clamp<int64_t>(context - P, 0, max_new_tokens) : max_new_tokens;
  return {max_new, ceil_div(P, B), ceil_div(P + max_new, B) - P / B};
}

}  // namespace

struct Scheduler::Request {
  RequestId id = 0;
  std::vector<int32_t> tokens;
  RequestParams params;
  Callbacks callbacks;
  PromptNeeds need{};
  KvCache::SeqId seq = -1;  // the prompt's own sequence until it is forked
  int64_t prefilled = 0;    // prompt tokens already in the cache
  bool admitted = false;
  int live_samples = 0;  // samples not yet finished (started or not), once admitted
};

struct Scheduler::Sample {
  Request* req = nullptr;
  KvCache::SeqId seq = -1;
  Completion c;
  std::optional<StreamDecoder> decoder;
  std::optional<StopMatcher> stops;
  int32_t next = -1;  // the token to feed at the next step
};

Scheduler::Scheduler(Model& model, const Tokenizer* tokenizer, SchedulerConfig config)
    : model_(model), tok_(tokenizer), sample_vocab_(model.config().vocab_size) {
  if (tok_ && tok_->vocab_size() > 0) sample_vocab_ = std::min<int64_t>(sample_vocab_, tok_->vocab_size());
  reconfigure(std::move(config));
}

Scheduler::~Scheduler() = default;

void Scheduler::reconfigure(SchedulerConfig config) {
  R1_CHECK(idle());
  const SchedulerConfig& c = config;
  if (c.max_seqs < 1) fail("generation: max_seqs must be at least 1, got {}", c.max_seqs);
  if (c.max_batch_tokens < 1)
    fail("generation: max_batch_tokens must be at least 1, got {}", c.max_batch_tokens);
  if (c.context < 0) fail("generation: context must be >= 0 (0 = no limit), got {}", c.context);
  check_fits_in_memory(
      estimate_generation_memory(model_.config(), c.kv_budget_bytes, c.kv_block_size, c.compute),
      fmt::format("generation: a KV-cache budget of {} MiB (--kv-budget-mb, grpo.kv_budget_mb)",
                  c.kv_budget_bytes / 1048576.0));
  // The pool and the cached forward stay when what they were made for stays.
  if (c.kv_budget_bytes != config_.kv_budget_bytes || c.kv_block_size != config_.kv_block_size ||
      c.compute != config_.compute)
    cache_.reset();
  if (c.compute != config_.compute) forward_.reset();
  config_ = std::move(config);
}

void Scheduler::ensure_cache() {
  if (!cache_)
    cache_ = std::make_unique<KvCache>(model_.config(), config_.kv_budget_bytes, config_.kv_block_size,
                                       config_.compute);
}

int64_t Scheduler::num_blocks() const {
  return cache_ ? cache_->num_blocks() : 0;
}
int64_t Scheduler::blocks_in_use() const {
  return cache_ ? cache_->num_blocks() - cache_->free_blocks() : 0;
}
size_t Scheduler::bytes_per_block() const {
  return cache_ ? cache_->bytes_per_block() : 0;
}

void Scheduler::check_params(const RequestParams& p) const {
  p.sampling.validate();
  if (p.n < 1) fail("generation: n (samples per prompt) must be at least 1, got {}", p.n);
  if (p.max_new_tokens < 0) fail("generation: max_new_tokens must be >= 0, got {}", p.max_new_tokens);
  if (p.n > config_.max_seqs)
    fail("generation: n = {} samples per prompt exceeds max_seqs = {} live sequences", p.n, config_.max_seqs);
  if (p.top_logprobs < 0 || p.top_logprobs > 20)
    fail("generation: top_logprobs must be in [0, 20], got {}", p.top_logprobs);
  if (!p.stop_strings.empty() && tok_ == nullptr)
    fail("generation: stop strings need a tokenizer (the model has none)");
  for (const std::string& s : p.stop_strings)
    if (s.empty()) fail("generation: a stop string is empty");
  const int64_t V = model_.config().vocab_size;
  for (const int32_t id : p.stop_ids)
    if (id < 0 || id >= V) fail("generation: stop id {} is outside the vocabulary (size {})", id, V);
}

void Scheduler::check(const std::vector<int32_t>& prompt, const RequestParams& p, const std::string& name,
                      bool pool_check) {
  check_params(p);
  const int64_t V = model_.config().vocab_size;
  if (prompt.empty()) fail("generation: prompt {} is empty", name);
  for (const int32_t t : prompt)
    if (t < 0 || t >= V)
      fail("generation: prompt {}: token id {} is outside the vocabulary (size {})", name, t, V);
  if (config_.context > 0 && p.max_new_tokens > 0 && static_cast<int64_t>(prompt.size()) >= config_.context)
    fail("generation: prompt {} has {} tokens, which fills the model's context of {} tokens", name,
         prompt.size(), config_.context);
  if (!pool_check) return;
  ensure_cache();
  // The worst case must fit in an empty pool; say why it does not.
  const int64_t B = cache_->block_size(), pool = cache_->num_blocks();
  const int64_t P = static_cast<int64_t>(prompt.size());
  const PromptNeeds need = needs_of(config_.context, p.max_new_tokens, P, B);
  if (need.total(p.n) > pool)
    fail(
        "generation: prompt {} ({} tokens) with {} samples of up to {} new tokens needs {} KV-cache blocks "
        "({:.1f} MiB) but the budget of {:.1f} MiB holds {}: raise the KV budget or lower n or "
        "max_new_tokens",
        name, P, p.n, need.max_new, need.total(p.n), need.total(p.n) * cache_->bytes_per_block() / 1048576.0,
        config_.kv_budget_bytes / 1048576.0, pool);
}

Scheduler::RequestId Scheduler::submit(std::vector<int32_t> prompt, RequestParams params, Callbacks callbacks,
                                       const std::string& name) {
  check(prompt, params, name.empty() ? std::to_string(params.index) : name);
  auto r = std::make_unique<Request>();
  r->id = next_id_++;
  r->tokens = std::move(prompt);
  r->params = std::move(params);
  r->callbacks = std::move(callbacks);
  r->need = needs_of(config_.context, r->params.max_new_tokens, static_cast<int64_t>(r->tokens.size()),
                     cache_->block_size());
  waiting_.push_back(r.get());
  const RequestId id = r->id;
  requests_.emplace(id, std::move(r));
  return id;
}

void Scheduler::release(Sample& s) {
  cache_->free(s.seq);
  Request& r = *s.req;
  reserved_ -= r.need.per_sample_blocks;
  seats_ -= 1;
  if (--r.live_samples == 0) reserved_ -= r.need.shared_blocks;
}

bool Scheduler::cancel(RequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return false;
  Request* r = it->second.get();
  if (!r->admitted) {
    std::erase(waiting_, r);
  } else {
    for (auto s = live_.begin(); s != live_.end();) {
      if (s->req != r) {
        ++s;
        continue;
      }
      release(*s);
      s = live_.erase(s);
    }
    if (r->live_samples > 0) {  // still prefilling: no sample started
      R1_CHECK(std::find(active_.begin(), active_.end(), r) != active_.end());
      cache_->free(r->seq);
      reserved_ -= r->need.shared_blocks + r->live_samples * r->need.per_sample_blocks;
      seats_ -= r->live_samples;
      r->live_samples = 0;
      std::erase(active_, r);
    }
  }
  requests_.erase(it);
  return true;
}

void Scheduler::clear() {
  requests_.clear();
  waiting_.clear();
  active_.clear();
  live_.clear();
  reserved_ = seats_ = 0;
  if (cache_) cache_->reset();
}

void Scheduler::refresh_weights() {
  const double t_pack = now_seconds();
  const int64_t packs = forward_ ? forward_->weight_packs() : 0;
  if (forward_)
    forward_->refresh_weights();
  else
    forward_ = std::make_unique<CachedForward>(model_, config_.compute);
  if (forward_->weight_packs() != packs) {
    stats_.weight_packs += forward_->weight_packs() - packs;
    stats_.pack_seconds += now_seconds() - t_pack;
  }
}

void Scheduler::finish_request_if_done(Request& r) {
  if (r.admitted && r.live_samples == 0) requests_.erase(r.id);
}

void Scheduler::admit() {
  const int64_t pool = cache_->num_blocks();
  while (!waiting_.empty()) {
    Request& r = *waiting_.front();
    const int n = r.params.n;
    if (r.params.max_new_tokens == 0) {  // nothing to generate: no cache needed
      waiting_.pop_front();
      r.admitted = true;
      stats_.prompts++;
      stats_.samples += n;
      const Callbacks cb = r.callbacks;
      const int64_t index = r.params.index;
      requests_.erase(r.id);
      for (int s = 0; s < n; s++) {
        Completion c;
        c.prompt_index = index;
        c.sample_index = s;
        c.finish_reason = "length";
        if (cb.on_done) cb.on_done(std::move(c));
      }
      continue;
    }
    const int64_t need = r.need.total(n);
    if (reserved_ + need > pool || seats_ + n > config_.max_seqs) break;
    reserved_ += need;
    seats_ += n;
    r.live_samples = n;
    r.admitted = true;
    r.seq = cache_->create();
    active_.push_back(&r);
    waiting_.pop_front();
  }
}

void Scheduler::step() {
  if (idle()) return;
  ensure_cache();
  if (!forward_) refresh_weights();
  KvCache& cache = *cache_;
  CachedForward& forward = *forward_;
  const int64_t V = model_.config().vocab_size;
  admit();
  if (active_.empty() && live_.empty()) return;

  // One packed batch: every live sample's next token, then prefill chunks in admission order.
  std::vector<SeqTokens> batch;
  batch.reserve(live_.size() + active_.size());
  for (Sample& s : live_) batch.push_back({s.seq, std::span<const int32_t>(&s.next, 1)});
  const int64_t decode_rows = static_cast<int64_t>(batch.size());
  int64_t budget = std::max<int64_t>(0, config_.max_batch_tokens - decode_rows);
  if (decode_rows == 0) budget = config_.max_batch_tokens;
  std::vector<Request*> chunked;  // requests with a chunk in this batch
  for (Request* r : active_) {
    if (budget == 0) break;
    const int64_t P = static_cast<int64_t>(r->tokens.size());
    const int64_t n = std::min(budget, P - r->prefilled);
    batch.push_back(
        {r->seq, std::span<const int32_t>(r->tokens.data() + r->prefilled, static_cast<size_t>(n))});
    chunked.push_back(r);
    budget -= n;
  }
  logits_.resize(batch.size() * static_cast<size_t>(V));
  const double t0 = now_seconds();
  R1_CHECK(forward.run(cache, batch, logits_.data()));  // the reservation guarantees the blocks
  stats_.forward_seconds += now_seconds() - t0;
  stats_.steps++;
  stats_.decode_tokens += decode_rows;

  // Draws: each live sample from its row; each request whose prefill completed forks into its
  // samples, all drawing their first token from the prompt's last row.
  struct DrawJob {
    int64_t row;
    Sample* s;
    Draw draw{};
    std::vector<TokenLogprob> top;
  };
  std::vector<DrawJob> jobs;
  int64_t row = 0;
  for (Sample& s : live_) jobs.push_back({row++, &s, {}, {}});
  for (Request* r : chunked) {
    const int64_t n = static_cast<int64_t>(batch[static_cast<size_t>(row)].tokens.size());
    r->prefilled += n;
    stats_.prefill_tokens += n;
    if (r->prefilled == static_cast<int64_t>(r->tokens.size())) {
      const int ns = r->params.n;
      for (int s = 0; s < ns; s++) {
        Sample st;
        st.req = r;
        st.seq = s + 1 < ns ? cache.fork(r->seq) : r->seq;  // the last sample keeps the original
        st.c.prompt_index = r->params.index;
        st.c.sample_index = s;
        if (tok_) st.decoder.emplace(*tok_);
        if (!r->params.stop_strings.empty()) st.stops.emplace(r->params.stop_strings);
        live_.push_back(std::move(st));
        jobs.push_back({row, &live_.back(), {}, {}});
      }
      stats_.prompts++;
      stats_.samples += ns;
    }
    row++;
  }
  std::erase_if(active_,
                [](const Request* r) { return r->prefilled == static_cast<int64_t>(r->tokens.size()); });

  const int64_t njobs = static_cast<int64_t>(jobs.size());
  // An exception must not leave an OpenMP region: the first failing job's error (the lowest
  // index, so the message does not depend on scheduling) is rethrown after it.
  int64_t failed = njobs;
  std::string failure;
  std::vector<SamplerWorkspace>& workspaces = workspaces_;
  if (workspaces.size() < static_cast<size_t>(omp_get_max_threads()))
    workspaces.resize(static_cast<size_t>(omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic, 4) if (njobs > 1 && njobs * V >= (1 << 18))
  for (int64_t j = 0; j < njobs; j++) {
    DrawJob& job = jobs[static_cast<size_t>(j)];
    const RequestParams& p = job.s->req->params;
    const uint64_t key = sample_key(p.seed, static_cast<uint64_t>(job.s->c.prompt_index),
                                    static_cast<uint64_t>(job.s->c.sample_index), job.s->c.token_ids.size());
    try {
      const float* x = logits_.data() + job.row * V;
      job.draw = sample_token(x, sample_vocab_, p.sampling, key,
                              workspaces[static_cast<size_t>(omp_get_thread_num())]);
      if (p.top_logprobs > 0) job.top = top_logprobs(x, sample_vocab_, p.sampling, p.top_logprobs);
    } catch (const std::exception& e) {
#pragma omp critical(r1_scheduler_failure)
      if (j < failed) failed = j, failure = e.what();
    }
  }
  if (failed < njobs) {
    const Completion& c = jobs[static_cast<size_t>(failed)].s->c;
    fail("generation: prompt {} sample {} at new token {}: {} (have the weights diverged?)", c.prompt_index,
         c.sample_index, c.token_ids.size(), failure);
  }

  // Record the tokens, then retire finished samples (in a fixed order).
  for (DrawJob& job : jobs) {
    Sample& s = *job.s;
    const RequestParams& p = s.req->params;
    const int32_t t = job.draw.token;
    s.c.token_ids.push_back(t);
    s.c.logprobs.push_back(job.draw.logprob);
    if (p.top_logprobs > 0) s.c.top_logprobs.push_back(std::move(job.top));
    const bool stop_id = std::find(p.stop_ids.begin(), p.stop_ids.end(), t) != p.stop_ids.end();
    bool stop_str = false;
    if (!stop_id && s.decoder) {
      const std::string piece = s.decoder->put(t);
      s.c.text += piece;
      if (s.stops) stop_str = s.stops->feed(piece) != StopMatcher::npos;
    }
    if (s.req->callbacks.on_token) s.req->callbacks.on_token(s.c, t);
    const char* reason = nullptr;
    if (stop_id || stop_str)
      reason = "stop";
    else if (static_cast<int64_t>(s.c.token_ids.size()) >= s.req->need.max_new)
      reason = "length";
    else
      s.next = t;
    if (reason) {
      s.c.finish_reason = reason;
      if (s.decoder) s.c.text += s.decoder->finish();
    }
  }
  for (auto it = live_.begin(); it != live_.end();) {
    if (it->c.finish_reason.empty()) {
      ++it;
      continue;
    }
    Request& r = *it->req;
    release(*it);
    Completion c = std::move(it->c);
    it = live_.erase(it);
    const auto on_done = r.callbacks.on_done;  // the request may end below
    finish_request_if_done(r);
    if (on_done) on_done(std::move(c));
  }
  if (idle()) R1_CHECK(reserved_ == 0 && seats_ == 0 && cache.free_blocks() == cache.num_blocks());
}

}  // namespace r1
