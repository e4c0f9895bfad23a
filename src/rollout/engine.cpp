#include "rollout/engine.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
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

struct PromptState {
  int64_t index = 0;    // prompt index (keys, completions)
  int64_t max_new = 0;  // new tokens per sample at most: max_new_tokens, or less at the context
  const std::vector<int32_t>* tokens = nullptr;
  KvCache::SeqId seq = -1;        // the prompt's own sequence until it is forked
  int64_t prefilled = 0;          // prompt tokens already in the cache
  int64_t shared_blocks = 0;      // reserved for the prompt's blocks
  int64_t per_sample_blocks = 0;  // reserved for each sample's own blocks
  int live_samples = 0;
};

struct SampleState {
  PromptState* prompt = nullptr;
  KvCache::SeqId seq = -1;
  Completion c;
  std::optional<StreamDecoder> decoder;
  std::optional<StopMatcher> stops;
  int32_t next = -1;  // the token to feed at the next step
};

// One draw to make after a forward pass: from logits row `row`, for sample `s`.
struct DrawJob {
  int64_t row;
  SampleState* s;
  Draw draw{};
};

// What a prompt of P tokens reserves in a pool of B-token blocks: its samples' new tokens at
// most (max_new_tokens, or fewer at the context), its own blocks, and each sample's.
struct PromptNeeds {
  int64_t max_new, shared_blocks, per_sample_blocks;
  int64_t total(int n) const { return shared_blocks + n * per_sample_blocks; }
};

PromptNeeds needs_of(const GenerationConfig& cfg, int64_t P, int64_t B) {
  const int64_t max_new =
      cfg.context > 0 ? std::clamp<int64_t>(cfg.context - P, 0, cfg.max_new_tokens) : cfg.max_new_tokens;
  return {max_new, ceil_div(P, B), ceil_div(P + max_new, B) - P / B};
}

}  // namespace

Engine::Engine(Model& model, const Tokenizer* tokenizer, GenerationConfig config)
    : model_(model), tok_(tokenizer), sample_vocab_(model.config().vocab_size) {
  if (tok_ && tok_->vocab_size() > 0) sample_vocab_ = std::min<int64_t>(sample_vocab_, tok_->vocab_size());
  set_config(std::move(config));
}

void Engine::set_config(GenerationConfig config) {
  const GenerationConfig& c = config;
  c.sampling.validate();
  if (c.n < 1) fail("generation: n (samples per prompt) must be at least 1, got {}", c.n);
  if (c.max_new_tokens < 0) fail("generation: max_new_tokens must be >= 0, got {}", c.max_new_tokens);
  if (c.max_seqs < 1) fail("generation: max_seqs must be at least 1, got {}", c.max_seqs);
  if (c.max_batch_tokens < 1)
    fail("generation: max_batch_tokens must be at least 1, got {}", c.max_batch_tokens);
  if (c.context < 0) fail("generation: context must be >= 0 (0 = no limit), got {}", c.context);
  if (c.n > c.max_seqs)
    fail("generation: n = {} samples per prompt exceeds max_seqs = {} live sequences", c.n, c.max_seqs);
  check_fits_in_memory(
      estimate_generation_memory(model_.config(), c.kv_budget_bytes, c.kv_block_size, c.compute),
      fmt::format("generation: a KV-cache budget of {} MiB (--kv-budget-mb, grpo.kv_budget_mb)",
                  c.kv_budget_bytes / 1048576.0));
  if (!c.stop_strings.empty() && tok_ == nullptr)
    fail("generation: stop strings need a tokenizer (the model has none)");
  for (const int32_t id : c.stop_ids)
    if (id < 0 || id >= model_.config().vocab_size)
      fail("generation: stop id {} is outside the vocabulary (size {})", id, model_.config().vocab_size);
  // The pool and the cached forward stay when what they were made for stays.
  if (c.kv_budget_bytes != config_.kv_budget_bytes || c.kv_block_size != config_.kv_block_size ||
      c.compute != config_.compute)
    cache_.reset();
  if (c.compute != config_.compute) forward_.reset();
  config_ = std::move(config);
}

Engine::~Engine() = default;

void Engine::generate(const std::vector<std::vector<int32_t>>& prompts,
                      const std::function<void(Completion&&)>& on_done, int64_t first_index,
                      const std::function<void(const Completion&, int32_t)>& on_token) {
  std::vector<int64_t> indices(prompts.size());
  for (size_t i = 0; i < prompts.size(); i++) indices[i] = first_index + static_cast<int64_t>(i);
  generate(prompts, indices, on_done, on_token);
}

void Engine::check(const std::vector<std::vector<int32_t>>& prompts, const std::vector<int64_t>& indices) {
  const GenerationConfig& cfg = config_;
  const int64_t V = model_.config().vocab_size;
  R1_CHECK(indices.empty() || indices.size() == prompts.size());
  auto index = [&](size_t i) { return indices.empty() ? static_cast<int64_t>(i) : indices[i]; };
  for (size_t i = 0; i < prompts.size(); i++) {
    if (prompts[i].empty()) fail("generation: prompt {} is empty", index(i));
    for (const int32_t t : prompts[i])
      if (t < 0 || t >= V)
        fail("generation: prompt {}: token id {} is outside the vocabulary (size {})", index(i), t, V);
    if (cfg.context > 0 && cfg.max_new_tokens > 0 && static_cast<int64_t>(prompts[i].size()) >= cfg.context)
      fail("generation: prompt {} has {} tokens, which fills the model's context of {} tokens", index(i),
           prompts[i].size(), cfg.context);
  }
  if (!cache_)
    cache_ = std::make_unique<KvCache>(model_.config(), cfg.kv_budget_bytes, cfg.kv_block_size, cfg.compute);
  // Every prompt's worst case must fit in an empty pool; say which one does not, and why.
  const int64_t B = cache_->block_size(), pool = cache_->num_blocks();
  for (size_t i = 0; i < prompts.size(); i++) {
    const int64_t P = static_cast<int64_t>(prompts[i].size());
    const PromptNeeds need = needs_of(cfg, P, B);
    if (need.total(cfg.n) > pool)
      fail(
          "generation: prompt {} ({} tokens) with {} samples of up to {} new tokens needs {} KV-cache blocks "
          "({:.1f} MiB) but the budget of {:.1f} MiB holds {}: raise the KV budget or lower n or "
          "max_new_tokens",
          index(i), P, cfg.n, need.max_new, need.total(cfg.n),
          need.total(cfg.n) * cache_->bytes_per_block() / 1048576.0, cfg.kv_budget_bytes / 1048576.0, pool);
  }
}

void Engine::generate(const std::vector<std::vector<int32_t>>& prompts, const std::vector<int64_t>& indices,
                      const std::function<void(Completion&&)>& on_done,
                      const std::function<void(const Completion&, int32_t)>& on_token) {
  const double t_start = now_seconds();
  const GenerationConfig& cfg = config_;
  const int64_t V = model_.config().vocab_size;
  R1_CHECK(indices.size() == prompts.size());
  check(prompts, indices);
  KvCache& cache = *cache_;
  cache.reset();  // also after a call that ended in an exception
  {
    const double t_pack = now_seconds();
    const int64_t packs = forward_ ? forward_->weight_packs() : 0;
    if (forward_)
      forward_->refresh_weights();
    else
      forward_ = std::make_unique<CachedForward>(model_, cfg.compute);
    if (forward_->weight_packs() != packs) {
      stats_.weight_packs += forward_->weight_packs() - packs;
      stats_.pack_seconds += now_seconds() - t_pack;
    }
  }
  CachedForward& forward = *forward_;
  const int64_t B = cache.block_size(), pool = cache.num_blocks();

  auto finish = [&](SampleState& s, const char* reason) {
    s.c.finish_reason = reason;
    if (s.decoder) s.c.text += s.decoder->finish();
  };

  std::deque<PromptState> states;  // never grows after this loop, so addresses are stable
  for (size_t i = 0; i < prompts.size(); i++) {
    PromptState& p = states.emplace_back();
    p.index = indices[i];
    p.tokens = &prompts[i];
    const PromptNeeds need = needs_of(cfg, static_cast<int64_t>(prompts[i].size()), B);
    p.max_new = need.max_new;
    p.shared_blocks = need.shared_blocks;
    p.per_sample_blocks = need.per_sample_blocks;
  }

  size_t next_prompt = 0;            // the first prompt not yet admitted
  std::vector<PromptState*> active;  // admitted prompts still prefilling, in admission order
  std::list<SampleState> live;       // decoding samples, in the order they started
  int64_t reserved = 0;
  int64_t seats = 0;  // samples of admitted prompts, started or not
  std::vector<float> logits;
  std::vector<SeqTokens> batch;
  std::vector<DrawJob> jobs;
  std::vector<SamplerWorkspace> workspaces(static_cast<size_t>(omp_get_max_threads()));

  auto release_sample = [&](SampleState& s) {
    cache.free(s.seq);
    PromptState& p = *s.prompt;
    reserved -= p.per_sample_blocks;
    seats -= 1;
    if (--p.live_samples == 0) reserved -= p.shared_blocks;
  };

  while (next_prompt < states.size() || !active.empty() || !live.empty()) {
    // Admit prompts in order while their worst case fits.
    while (next_prompt < states.size()) {
      PromptState& p = states[next_prompt];
      if (cfg.max_new_tokens == 0) {  // nothing to generate: no cache needed
        for (int s = 0; s < cfg.n; s++) {
          Completion c;
          c.prompt_index = p.index;
          c.sample_index = s;
          c.finish_reason = "length";
          on_done(std::move(c));
        }
        stats_.prompts++;
        stats_.samples += cfg.n;
        next_prompt++;
        continue;
      }
      const int64_t need = p.shared_blocks + cfg.n * p.per_sample_blocks;
      if (reserved + need > pool || seats + cfg.n > cfg.max_seqs) break;
      reserved += need;
      seats += cfg.n;
      p.live_samples = cfg.n;
      p.seq = cache.create();
      active.push_back(&p);
      next_prompt++;
    }
    if (active.empty() && live.empty()) continue;
    if (stop_ && stop_()) throw GenerationStopped();

    // One packed batch: every live sample's next token, then prefill chunks in admission order.
    batch.clear();
    for (SampleState& s : live) batch.push_back({s.seq, std::span<const int32_t>(&s.next, 1)});
    const int64_t decode_rows = static_cast<int64_t>(batch.size());
    int64_t budget = std::max<int64_t>(0, cfg.max_batch_tokens - decode_rows);
    if (decode_rows == 0) budget = cfg.max_batch_tokens;
    std::vector<PromptState*> chunked;  // prompts with a chunk in this batch
    for (PromptState* p : active) {
      if (budget == 0) break;
      const int64_t P = static_cast<int64_t>(p->tokens->size());
      const int64_t n = std::min(budget, P - p->prefilled);
      batch.push_back(
          {p->seq, std::span<const int32_t>(p->tokens->data() + p->prefilled, static_cast<size_t>(n))});
      chunked.push_back(p);
      budget -= n;
    }
    logits.resize(batch.size() * static_cast<size_t>(V));
    const double t0 = now_seconds();
    R1_CHECK(forward.run(cache, batch, logits.data()));  // the reservation guarantees the blocks
    stats_.forward_seconds += now_seconds() - t0;
    stats_.steps++;
    stats_.decode_tokens += decode_rows;

    // Draws: each live sample from its row; each prompt whose prefill completed forks into its
    // samples, all drawing their first token from the prompt's last row.
    jobs.clear();
    int64_t row = 0;
    for (SampleState& s : live) jobs.push_back({row++, &s});
    for (PromptState* p : chunked) {
      const int64_t n = static_cast<int64_t>(batch[static_cast<size_t>(row)].tokens.size());
      p->prefilled += n;
      stats_.prefill_tokens += n;
      if (p->prefilled == static_cast<int64_t>(p->tokens->size())) {
        for (int s = 0; s < cfg.n; s++) {
          SampleState st;
          st.prompt = p;
          st.seq = s + 1 < cfg.n ? cache.fork(p->seq) : p->seq;  // the last sample keeps the original
          st.c.prompt_index = p->index;
          st.c.sample_index = s;
          if (tok_) st.decoder.emplace(*tok_);
          if (!cfg.stop_strings.empty()) st.stops.emplace(cfg.stop_strings);
          live.push_back(std::move(st));
          jobs.push_back({row, &live.back()});
        }
        stats_.prompts++;
        stats_.samples += cfg.n;
      }
      row++;
    }
    std::erase_if(
        active, [](const PromptState* p) { return p->prefilled == static_cast<int64_t>(p->tokens->size()); });

    const int64_t njobs = static_cast<int64_t>(jobs.size());
    // An exception must not leave an OpenMP region: the first failing job's error (the lowest
    // index, so the message does not depend on scheduling) is rethrown after it.
    int64_t failed = njobs;
    std::string failure;
#pragma omp parallel for schedule(dynamic, 4) if (njobs > 1 && njobs * V >= (1 << 18))
    for (int64_t j = 0; j < njobs; j++) {
      DrawJob& job = jobs[static_cast<size_t>(j)];
      const uint64_t key =
          sample_key(cfg.seed, static_cast<uint64_t>(job.s->c.prompt_index),
                     static_cast<uint64_t>(job.s->c.sample_index), job.s->c.token_ids.size());
      try {
        job.draw = sample_token(logits.data() + job.row * V, sample_vocab_, cfg.sampling, key,
                                workspaces[static_cast<size_t>(omp_get_thread_num())]);
      } catch (const std::exception& e) {
#pragma omp critical(r1_engine_failure)
        if (j < failed) failed = j, failure = e.what();
      }
    }
    if (failed < njobs) {
      const Completion& c = jobs[static_cast<size_t>(failed)].s->c;
      fail("generation: prompt {} sample {} at new token {}: {} (have the weights diverged?)", c.prompt_index,
           c.sample_index, c.token_ids.size(), failure);
    }

    // Record the tokens and retire finished samples (in a fixed order).
    for (DrawJob& job : jobs) {
      SampleState& s = *job.s;
      const int32_t t = job.draw.token;
      s.c.token_ids.push_back(t);
      s.c.logprobs.push_back(job.draw.logprob);
      const bool stop_id = std::find(cfg.stop_ids.begin(), cfg.stop_ids.end(), t) != cfg.stop_ids.end();
      bool stop_str = false;
      if (!stop_id && s.decoder) {
        const std::string piece = s.decoder->put(t);
        s.c.text += piece;
        if (s.stops) stop_str = s.stops->feed(piece) != StopMatcher::npos;
      }
      if (on_token) on_token(s.c, t);
      if (stop_id || stop_str)
        finish(s, "stop");
      else if (static_cast<int64_t>(s.c.token_ids.size()) >= s.prompt->max_new)
        finish(s, "length");
      else
        s.next = t;
    }
    for (auto it = live.begin(); it != live.end();) {
      if (it->c.finish_reason.empty()) {
        ++it;
        continue;
      }
      release_sample(*it);
      on_done(std::move(it->c));
      it = live.erase(it);
    }
  }
  R1_CHECK(reserved == 0 && cache.free_blocks() == pool);
  stats_.seconds += now_seconds() - t_start;
}

std::vector<Completion> Engine::generate_all(const std::vector<std::vector<int32_t>>& prompts,
                                             int64_t first_index) {
  std::vector<Completion> out;
  generate(
      prompts, [&out](Completion&& c) { out.push_back(std::move(c)); }, first_index);
  std::sort(out.begin(), out.end(), [](const Completion& a, const Completion& b) {
    return a.prompt_index != b.prompt_index ? a.prompt_index < b.prompt_index
                                            : a.sample_index < b.sample_index;
  });
  return out;
}

}  // namespace r1
