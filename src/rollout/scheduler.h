// The generation scheduler: requests arrive at any time, each with its own sampling settings,
// stops, token budget and seed; step() runs every live sequence's next token and any pending
// prefill chunks through the model as one packed batch (continuous batching), admits waiting
// requests as the KV pool allows, and hands each request its tokens and its finished samples
// through its callbacks. cancel() drops a request at once and returns its blocks to the pool.
//
// Each request's prompt is prefilled once (in chunks, packed with other work) and then forked
// into its n samples, which share the prompt's cache blocks. A request is admitted (in arrival
// order) only when the pool can hold its worst case (prompt plus n samples of max_new_tokens),
// so a running sample never runs out of cache and nothing is preempted; a request that could not
// fit even in an empty pool is refused by submit() with a one-line error.
//
// Reproducibility: sample s of a request with seed S and index p draws its t-th token with the
// key sample_key(S, p, s, t), so what a sample produces does not depend on what else runs with
// it, when it was admitted, or the thread count (up to the last bits of the logits, which batched
// matrix products may round differently).
//
// Not thread-safe: one thread calls submit, cancel and step (a server posts to that thread).
// The batch API (`Engine`, rollout/engine.h) is a loop over this class.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

class CachedForward;
class KvCache;

// What one request asks for.
struct RequestParams {
  SamplingParams sampling;
  int n = 1;                 // samples
  int max_new_tokens = 256;  // per sample
  uint64_t seed = 0;
  int64_t index = 0;              // the prompt index of the sampling keys and of the completions
  std::vector<int32_t> stop_ids;  // a sample stops after producing one of these (it is kept)
  // A sample stops at the token that completes one of these in its text (needs a tokenizer);
  // the token is kept, so the text contains the stop string.
  std::vector<std::string> stop_strings;
  // Per token, the top_logprobs most likely tokens under the same distribution as the
  // token's log-prob (0 = none; at most 20).
  int top_logprobs = 0;
};

// The scheduler's own settings: its KV pool, batch limits and compute type.
struct SchedulerConfig {
  size_t kv_budget_bytes = size_t{1} << 30;  // the KV cache pool
  int kv_block_size = 16;                    // tokens per cache block
  int max_seqs = 256;                        // live samples at most (decode batch size)
  // Matrix products in F32, or BF16 (weights and activations rounded to bf16, fp32 sums; the
  // rest fp32): about 2-3x faster products on CPUs with AVX-512 BF16, logits within ~2%. The KV
  // cache then holds bf16 too (half the bytes per token).
  DType compute = DType::F32;
  int64_t max_batch_tokens = 2048;  // new tokens per forward pass (decode + prefill)
  // Tokens per sequence (prompt plus new tokens) at most: the model's context, usually
  // max_position_embeddings; 0 = no limit. A sample that reaches it stops with finish_reason
  // "length" even before max_new_tokens; a prompt that fills it is refused.
  int64_t context = 0;
};

struct Completion {
  int64_t prompt_index = 0;
  int64_t sample_index = 0;
  std::vector<int32_t> token_ids;
  std::vector<float> logprobs;  // of each token under softmax(logits / T), before truncation (sample_token)
  // With RequestParams::top_logprobs: per token, the most likely tokens, highest first.
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  std::string text;           // the tokens' text, without a final stop id (empty without tokenizer)
  std::string finish_reason;  // "stop" (stop id or stop string) or "length"
};

struct GenerationStats {
  int64_t prompts = 0, samples = 0;
  int64_t prefill_tokens = 0, decode_tokens = 0;
  int64_t steps = 0;           // forward passes
  double seconds = 0;          // wall time of generate() (Engine)
  double forward_seconds = 0;  // of which in the model
  // bf16 compute: packs of the weight copy (the first step, then one per change of the model's
  // parameters, Model::version()) and their time, part of seconds, not of forward_seconds.
  int64_t weight_packs = 0;
  double pack_seconds = 0;
};

class Scheduler {
 public:
  using RequestId = uint64_t;
  // on_token: after every token of a sample (the completion so far, and the token); on_done:
  // once per sample as it finishes. Both run inside step(), on the caller's thread, and must not
  // call submit() or cancel() (post to the loop instead); an exception from them ends step():
  // clear() before going on.
  struct Callbacks {
    std::function<void(const Completion&, int32_t token)> on_token;
    std::function<void(Completion&&)> on_done;
  };

  // tokenizer may be null: completions then carry no text and stop strings are refused.
  Scheduler(Model& model, const Tokenizer* tokenizer, SchedulerConfig config);
  ~Scheduler();
  // Other settings for what comes next; needs an empty scheduler. The KV pool and the cached
  // forward (with its bf16 weight copy) are kept unless the KV budget, block size or compute
  // dtype change.
  void reconfigure(SchedulerConfig config);
  const SchedulerConfig& config() const { return config_; }

  // Fails with one line unless the settings are valid (sampling, n within max_seqs, stops).
  void check_params(const RequestParams& params) const;
  // Fails with one line, naming the prompt as `name`, unless the request can run: settings
  // valid, prompt not empty, ids in the vocabulary, shorter than the context, its worst case
  // within an empty pool (unless !pool). Makes the KV pool if there is none yet.
  void check(const std::vector<int32_t>& prompt, const RequestParams& params, const std::string& name,
             bool pool = true);
  // Queues a request (check()ed first); it joins the batch at a later step.
  RequestId submit(std::vector<int32_t> prompt, RequestParams params, Callbacks callbacks,
                   const std::string& name = "");
  // Drops a request wherever it is (waiting, prefilling, decoding): its blocks return to the pool
  // now and its callbacks are not called again. False when it is not here (finished or unknown).
  bool cancel(RequestId id);
  // Drops every request and empties the pool (after an exception left a step half done).
  void clear();

  // One forward pass: admits what fits, runs every live sample's next token and pending
  // prefill chunks as one batch, draws, calls back, retires finished samples. A request with
  // max_new_tokens 0 finishes at admission without a pass. Does nothing when idle(). Throws
  // r1::Error when a draw fails (non-finite logits); clear() before going on.
  void step();
  bool idle() const { return requests_.empty(); }

  // Makes the KV pool and the cached forward (packing the bf16 weight copy) now rather than at
  // the first request; after it, check() changes nothing and may run beside step() (a server's
  // handler threads check requests while its generation thread steps).
  void prepare() {
    ensure_cache();
    refresh_weights();
  }
  // Packs the bf16 weight copy now if the model changed since the last pack (step() does it too).
  void refresh_weights();

  // Gauges.
  int64_t waiting() const { return static_cast<int64_t>(waiting_.size()); }  // not yet admitted
  int64_t running() const { return static_cast<int64_t>(requests_.size()) - waiting(); }
  int64_t live_samples() const { return static_cast<int64_t>(live_.size()); }
  int64_t blocks_in_use() const;
  int64_t num_blocks() const;
  size_t bytes_per_block() const;

  const GenerationStats& stats() const { return stats_; }
  GenerationStats& stats() { return stats_; }
  // Ids drawn are below this: the model's vocabulary, or the tokenizer's when that is smaller
  // (checkpoints pad the embedding past the tokenizer: Qwen2.5 has 151936 rows for 151665
  // tokens). The padding logits are left out of the draw and of the log-prob's normaliser, as
  // the training head leaves them out when given the same limit (HeadConfig::vocab in model/model.h).
  int64_t sample_vocab() const { return sample_vocab_; }

 private:
  struct Request;
  struct Sample;
  void ensure_cache();
  void admit();
  void release(Sample& s);
  void finish_request_if_done(Request& r);

  Model& model_;
  const Tokenizer* tok_;
  SchedulerConfig config_;
  GenerationStats stats_;
  int64_t sample_vocab_;
  std::unique_ptr<KvCache> cache_;          // made on first need; reset, not reallocated, by clear()
  std::unique_ptr<CachedForward> forward_;  // made on first step; keeps its bf16 weight copy
  RequestId next_id_ = 1;
  std::map<RequestId, std::unique_ptr<Request>> requests_;
  std::deque<Request*> waiting_;  // arrival order
  std::vector<Request*> active_;  // admitted, still prefilling, in admission order
  std::list<Sample> live_;        // decoding samples, in the order they started
  int64_t reserved_ = 0;          // blocks reserved by admitted requests
  int64_t seats_ = 0;             // samples of admitted requests, started or not
  std::vector<float> logits_;
  std::vector<SamplerWorkspace> workspaces_;  // one per thread of the draws
};

}  // namespace r1
